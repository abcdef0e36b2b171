import Foundation

extension Renderer {
    mutating func drawQueue(_ rect: Rect) {
        let stats = state.stats
        let inner = paneBox(rect, pane: .queue, status: [Span(" \(engineLabel().text) ", engineLabel().style)])
        guard inner.height > 0 else { return }
        var y = inner.y
        let numberWidth = max(7, Format.grouped(max(stats.delivered, stats.pending)).count)
        func row(_ label: String, _ value: Int, _ style: Style, _ note: String = "") {
            let spans = [
                Span(padded(label, toWidth: 16), theme.label),
                Span(rightAligned(Format.grouped(value), toWidth: numberWidth), style),
                Span(note.isEmpty ? "" : "   " + note, theme.dim),
            ]
            line(spans, in: inner, y: y)
            y += 1
        }
        let pendingNote = "queued \(Format.grouped(stats.queued)) \(symbols.dot) in flight "
            + "\(Format.grouped(stats.inFlight)) \(symbols.dot) retrying \(Format.grouped(stats.retrying))"
        row("Pending", stats.pending, stats.pending > 0 ? theme.warning : .plain, pendingNote)
        let oldest = stats.oldestPendingAt.map { Format.age(state.now.timeIntervalSince($0)) } ?? symbols.dash
        line([Span(padded("Oldest pending", toWidth: 16), theme.label),
              Span(rightAligned(oldest, toWidth: numberWidth))], in: inner, y: y)
        y += 1
        row("Delivered", stats.delivered, theme.ok)
        row("Already in Lago", stats.alreadyInLago, theme.info, "duplicates Lago already had")
        row("Dead", stats.dead, stats.dead > 0 ? theme.error : .plain, stats.dead > 0 ? "see 3 Failures" : "")
        row("Refused", stats.refused, stats.refused > 0 ? theme.error : .plain)
        y += 1
        // Events per second.
        let samples = stats.eventsPerSecond
        let current = samples.last ?? 0
        let peak = samples.max() ?? 0
        let rateNote = "now \(Format.oneDecimal(current))/s \(symbols.dot) peak \(Format.oneDecimal(peak))/s"
        let label = "Events/s, last 60 s"
        line([Span(label, theme.label)], in: inner, y: y)
        let noteX = inner.maxX - 1 - displayWidth(of: rateNote)
        if noteX > inner.x + displayWidth(of: label) + 2 { grid.put(rateNote, x: noteX, y: y, style: theme.dim) }
        y += 1
        if y < inner.maxY {
            let sparkWidth = inner.width - 2
            grid.put(sparkline(samples, width: sparkWidth), x: inner.x + 1, y: y, style: theme.spark,
                     maxWidth: sparkWidth)
            y += 1
        }
        let latency: String
        if let p50 = stats.latencyP50, let p99 = stats.latencyP99 {
            latency = "p50 \(Format.duration(p50)) \(symbols.dot) p99 \(Format.duration(p99))"
        } else {
            latency = "no requests yet"
        }
        line([Span(padded("Latency", toWidth: 10), theme.label), Span(latency)], in: inner, y: y)
        y += 1
        line([Span(padded("Lago", toWidth: 10), theme.label)] + healthSpans(), in: inner, y: y)
        y += 1
        let engine = engineLabel()
        var engineSpans = [Span(padded("Engine", toWidth: 10), theme.label), Span(engine.text, engine.style)]
        if let detail = engineDetail() { engineSpans.append(Span(" \(symbols.dot) \(detail)", theme.dim)) }
        line(engineSpans, in: inner, y: y)
    }

    /// A sparkline of the last `width` samples, scaled to the largest; zero is blank.
    func sparkline(_ samples: [Double], width: Int) -> String {
        guard width > 0 else { return "" }
        let shown = samples.suffix(width)
        let peak = shown.max() ?? 0
        let levels = symbols.sparkLevels
        var text = String(repeating: levels[0], count: max(0, width - shown.count))
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
        case .unreachable(let reason): spans.append(Span("\(symbols.cross) unreachable: \(reason)", theme.error))
        }
        spans.append(Span(" \(symbols.dot) ", theme.dim))
        switch state.connection.auth {
        case .unknown: spans.append(Span("auth not checked", theme.dim))
        case .checking: spans.append(Span("checking key\(symbols.ellipsis)", theme.dim))
        case .ok: spans.append(Span("auth \(symbols.check) key accepted", theme.ok))
        case .failed(let reason): spans.append(Span("auth \(symbols.cross) \(reason)", theme.error))
        }
        return spans
    }

    func engineLabel() -> Span {
        switch state.stats.engineState {
        case .starting: Span("starting", theme.dim)
        case .running: Span("\(symbols.bullet) running", theme.ok)
        case .paused: Span("paused", theme.warning)
        case .authFailed: Span("\(symbols.cross) auth failed", theme.error)
        case .backingOff: Span("backing off", theme.warning)
        case .stopped: Span("stopped", theme.dim)
        }
    }

    func engineDetail() -> String? {
        switch state.stats.engineState {
        case .authFailed(let reason): reason
        case .backingOff(let until, let reason): "\(reason), next try \(Format.countdown(to: until, from: state.now))"
        default: nil
        }
    }
}
