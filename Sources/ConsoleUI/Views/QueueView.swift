import Foundation
import LagoBilling

extension Renderer {
    mutating func drawQueue(_ rect: Rect) {
        let stats = state.stats
        let engine = engineLabel()
        let inner = paneBox(rect, pane: .queue, status: [Span(" \(engine.text) ", engine.style)])
        guard inner.height > 0 else { return }
        var y = inner.y
        // Counts in two columns.
        let labelWidth = 16
        let valueWidth = 8
        let secondX = inner.x + 1 + max(labelWidth + valueWidth + 3, min(40, (inner.width - 2) / 2))
        func count(_ label: String, _ value: String, _ style: Style, x: Int, y: Int, indent: Int = 0) {
            grid.put(
                padded(String(repeating: " ", count: indent) + label, toWidth: labelWidth), x: x, y: y,
                style: indent > 0 ? theme.dim : theme.label)
            grid.put(rightAligned(value, toWidth: valueWidth), x: x + labelWidth, y: y, style: style)
        }
        let leftX = inner.x + 1
        let oldest = stats.oldestPendingAt.map { Format.age(state.now.timeIntervalSince($0)) } ?? symbols.dash
        count("Pending", Format.grouped(stats.pending), stats.pending > 0 ? theme.warning : .plain, x: leftX, y: y)
        count("queued", Format.grouped(stats.queued), .plain, x: leftX, y: y + 1, indent: 2)
        count("in flight", Format.grouped(stats.inFlight), .plain, x: leftX, y: y + 2, indent: 2)
        count(
            "retrying", Format.grouped(stats.retrying), stats.retrying > 0 ? theme.warning : .plain, x: leftX,
            y: y + 3, indent: 2)
        count("oldest", oldest, .plain, x: leftX, y: y + 4, indent: 2)
        count("Delivered", Format.grouped(stats.delivered), theme.ok, x: secondX, y: y)
        count("Already in Lago", Format.grouped(stats.alreadyInLago), theme.info, x: secondX, y: y + 1)
        count("Dead", Format.grouped(stats.dead), stats.dead > 0 ? theme.error : .plain, x: secondX, y: y + 2)
        count(
            "Refused", Format.grouped(stats.refused), stats.refused > 0 ? theme.error : .plain, x: secondX,
            y: y + 3)
        y += 6
        // Events per second over the last minute.
        let samples = stats.eventsPerSecond
        let rateNote =
            "last 60 s \(symbols.dot) now \(Format.oneDecimal(samples.last ?? 0))/s \(symbols.dot) "
            + "peak \(Format.oneDecimal(samples.max() ?? 0))/s"
        let labelColumn = 10
        let sparkWidth = min(60, inner.width - 2 - labelColumn)
        line([Span(padded("Events/s", toWidth: labelColumn), theme.label)], in: inner, y: y)
        grid.put(
            sparkline(samples, width: sparkWidth), x: inner.x + 1 + labelColumn, y: y, style: theme.spark,
            maxWidth: sparkWidth)
        y += 1
        line([Span(rateNote, theme.dim)], in: inner, y: y, indent: 1 + labelColumn)
        y += 2
        let latency: String
        if let p50 = stats.latencyP50, let p99 = stats.latencyP99 {
            latency = "p50 \(Format.duration(p50)) \(symbols.dot) p99 \(Format.duration(p99))"
        } else {
            latency = "no requests yet"
        }
        line([Span(padded("Latency", toWidth: labelColumn), theme.label), Span(latency)], in: inner, y: y)
        y += 1
        if let limit = stats.delivery.limit {
            let pace = paceSpans(stats.delivery, limit: limit)
            let label = Span(padded("Requests", toWidth: labelColumn), theme.label)
            let width = (pace.limit + pace.window).reduce(0) { $0 + $1.text.count }
            if width <= inner.width - 2 - labelColumn {
                line([label] + pace.limit + pace.window, in: inner, y: y)
                y += 1
            } else {
                // Narrow: Lago's window on a line of its own.
                line([label] + pace.limit, in: inner, y: y)
                y += 1
                if !pace.window.isEmpty {
                    line(Array(pace.window.dropFirst()), in: inner, y: y, indent: 1 + labelColumn)
                    y += 1
                }
            }
        }
        line([Span(padded("Lago", toWidth: labelColumn), theme.label)] + healthSpans(), in: inner, y: y)
        y += 1
        if let problem = state.connection.relayProblem {
            // Local clients' events do not come in: the address and why, wrapped under the label.
            line([Span(padded("Relay", toWidth: labelColumn), theme.label)], in: inner, y: y)
            y += paragraph(
                "\(symbols.cross) not listening: \(problem)", theme.error, in: inner, y: y, indent: 1 + labelColumn)
        }
        var engineSpans = [Span(padded("Engine", toWidth: labelColumn), theme.label), Span(engine.text, engine.style)]
        if let detail = engineDetail() { engineSpans.append(Span(" \(symbols.dot) \(detail)", theme.dim)) }
        line(engineSpans, in: inner, y: y)
        y += 1
        if stats.billing.checking {
            let billing = billingSpans(stats.billing)
            line([Span(padded("Billing", toWidth: labelColumn), theme.label)] + billing.counts, in: inner, y: y)
            line(billing.detail, in: inner, y: y + 1, indent: 1 + labelColumn)
            y += 2
        }
        if let spoolError = stats.spoolError {
            // "spool write failed: disk full (/path)": the cause on one line, the file (often long) on the next.
            var cause = spoolError
            var file: String?
            if spoolError.hasSuffix(")"), let open = spoolError.range(of: " (", options: .backwards) {
                cause = String(spoolError[..<open.lowerBound])
                file = String(spoolError[open.upperBound...].dropLast())
            }
            var text = "\(symbols.cross) \(cause)"
            if let at = stats.spoolErrorAt {
                text += " \(symbols.dot) \(Format.age(state.now.timeIntervalSince(at))) ago"
            }
            line([Span(padded("Spool", toWidth: labelColumn), theme.label), Span(text, theme.error)], in: inner, y: y)
            y += 1
            if let file {
                line([Span(file, theme.dim)], in: inner, y: y, indent: 1 + labelColumn)
                y += 1
            }
        }
        if !stats.retryingBatches.isEmpty || !stats.deadLetters.isEmpty {
            var parts: [String] = []
            if let next = stats.retryingBatches.map(\.nextRetryAt).min() {
                let count = stats.retryingBatches.count
                parts.append("\(count) batch\(count == 1 ? "" : "es") retrying")
                parts.append("next \(Format.countdown(to: next, from: state.now))")
            }
            if !stats.deadLetters.isEmpty { parts.append("\(stats.deadLetters.count) dead") }
            let style = stats.deadLetters.isEmpty ? theme.warning : theme.error
            line(
                [
                    Span(padded("Failures", toWidth: labelColumn), theme.label),
                    Span(parts.joined(separator: " \(symbols.dot) "), style),
                    Span(layout.kind == .narrow ? " \(symbols.arrow) 3" : "", theme.dim),
                ], in: inner, y: y)
        }
    }

    /// "3 / 12 in flight (auto) · RTT 102 ms" and " · Lago window 312/500 left": requests in flight against the
    /// limit and the round trip's moving average; what Lago's rate-limit window has left, when Lago sends the headers
    /// (its first span is the separator, dropped when it goes on a line of its own).
    func paceSpans(_ pace: DeliveryPace, limit: Int) -> (limit: [Span], window: [Span]) {
        var spans = [Span("\(pace.requestsInFlight) / \(limit) in flight")]
        spans.append(Span(pace.adaptive ? " (auto)" : " (fixed)", theme.dim))
        if let roundTrip = pace.roundTrip {
            spans.append(Span(" \(symbols.dot) RTT \(Format.duration(roundTrip))"))
        }
        var window: [Span] = []
        if let remaining = pace.rateLimitRemaining {
            let of = pace.rateLimitLimit.map { "/\(Format.grouped($0))" } ?? ""
            window = [
                Span(" \(symbols.dot) "),
                Span("Lago window \(Format.grouped(remaining))\(of) left", remaining == 0 ? theme.warning : .plain),
            ]
        }
        return (spans, window)
    }

    /// A sparkline of the last `width` samples, scaled to the largest; zero is blank.
    func sparkline(_ samples: [Double], width: Int) -> String {
        guard width > 0 else { return "" }
        let shown = samples.suffix(width)
        let peak = shown.max() ?? 0
        let levels = symbols.sparkLevels
        var text = ""
        for sample in shown {
            if peak <= 0 || sample <= 0 {
                text += levels[0]
            } else {
                let level = Int((sample / peak * Double(levels.count - 1)).rounded(.up))
                text += levels[max(1, min(levels.count - 1, level))]
            }
        }
        return text
    }

    func healthSpans() -> [Span] {
        var spans: [Span] = []
        switch state.connection.link {
        case .unknown: spans.append(Span("not contacted yet", theme.dim))
        case .connected: spans.append(Span("\(symbols.bullet) connected", theme.ok))
        case .unreachable(let reason):
            spans.append(Span("\(symbols.cross) \(Format.linkWord(reason)): \(reason)", theme.error))
        case .holderGone(let holder):
            spans.append(Span("\(symbols.cross) \(holder) not answering, reattaching", theme.error))
        }
        spans.append(Span(" \(symbols.dot) ", theme.dim))
        switch state.connection.auth {
        case .unknown: spans.append(Span("auth not checked", theme.dim))
        case .checking: spans.append(Span("checking key\(symbols.ellipsis)", theme.dim))
        case .ok: spans.append(Span("\(symbols.check) key accepted", theme.ok))
        case .failed(let reason): spans.append(Span("\(symbols.cross) key rejected: \(reason)", theme.error))
        }
        return spans
    }

    func engineLabel() -> Span {
        switch state.stats.engineState {
        case .starting: Span("starting", theme.dim)
        case .running: Span("\(symbols.bullet) running", theme.ok)
        case .paused: Span("paused", theme.warning)
        case .authFailed: Span("\(symbols.cross) auth failed", theme.error)
        case .wrongURL: Span("\(symbols.cross) wrong URL", theme.error)
        case .backingOff: Span("backing off", theme.warning)
        case .stopped: Span("stopped", theme.dim)
        }
    }

    func engineDetail() -> String? {
        switch state.stats.engineState {
        case .authFailed(let reason), .wrongURL(let reason): reason
        case .backingOff(let until, let reason): "\(reason), next try \(Format.countdown(to: until, from: state.now))"
        default: nil
        }
    }

    /// Two lines: the spooled events by verdict and the held ones (`✔ 120 billable · 3 unchecked · ⚠ 4 unbillable ·
    /// held 2`), then the reasons and the catalogue's age (`invalid_code 3, subscription_not_found 1 · catalogue
    /// 12s old`).
    func billingSpans(_ billing: BillingSummary) -> (counts: [Span], detail: [Span]) {
        let counts = billing.spooled
        var spans = [
            Span(
                "\(symbols.check) \(Format.grouped(counts.billable)) billable",
                counts.billable > 0 ? theme.ok : theme.dim),
            Span(" \(symbols.dot) \(Format.grouped(counts.unchecked)) unchecked", theme.dim),
            Span(
                " \(symbols.dot) \(symbols.warning) \(Format.grouped(counts.unbillable)) unbillable",
                counts.unbillable > 0 ? theme.warning : theme.dim),
        ]
        if billing.held > 0 || billing.policy == "hold" {
            spans.append(
                Span(
                    " \(symbols.dot) held \(Format.grouped(billing.held))", billing.held > 0 ? theme.warning : theme.dim
                ))
        }
        var detail: [Span] = []
        if !counts.byReason.isEmpty {
            let reasons = counts.byReason.sorted { ($1.value, $0.key) < ($0.value, $1.key) }
            detail.append(
                Span(reasons.map { "\($0.key) \(Format.grouped($0.value))" }.joined(separator: ", "), theme.warning))
            detail.append(Span(" \(symbols.dot) ", theme.dim))
        }
        if let error = billing.catalogueError {
            detail.append(Span("\(symbols.cross) catalogue: \(error)", theme.error))
        } else if let loadedAt = billing.catalogueLoadedAt {
            detail.append(Span("catalogue \(Format.age(state.now.timeIntervalSince(loadedAt))) old", theme.dim))
        } else {
            detail.append(Span("catalogue loading: events are unchecked until it is read", theme.dim))
        }
        return (spans, detail)
    }
}
