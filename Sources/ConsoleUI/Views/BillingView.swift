import Foundation
import LagoAPI
import LagoBilling
import LagoUsage

extension Renderer {
    // MARK: - Billing

    /// The Billing pane: the catalogue and the policy, the issue groups, the held list, and the selected row's
    /// reasons with their fix.
    mutating func drawBilling(_ rect: Rect) {
        let groups = state.billingPane.groups
        let held = state.stats.heldEvents
        var status: [Span] = []
        if groups.isEmpty && held.isEmpty {
            status = [Span(" no issues ", theme.dim)]
        } else {
            status = [
                Span(
                    " \(symbols.warning) \(groups.count) issue\(groups.count == 1 ? "" : "s") \(symbols.dot) held "
                        + "\(Format.grouped(state.stats.billing.held)) ", theme.warning)
            ]
        }
        let inner = paneBox(rect, pane: .billing, status: status)
        guard inner.height > 0 else { return }
        var y = inner.y
        let labelWidth = 11
        let catalogue = catalogueSpans()
        line([Span(padded("Catalogue", toWidth: labelWidth), theme.label)] + catalogue.age, in: inner, y: y)
        y += 1
        if let error = catalogue.error {
            line([error], in: inner, y: y, indent: labelWidth + 1)
            y += 1
        }
        line([Span(padded("Policy", toWidth: labelWidth), theme.label)] + policySpans(), in: inner, y: y)
        if let lago = state.stats.billing.lago {
            // Lago's own verdicts (its webhooks) beside ours; the line exists once a webhook arrived.
            y += 1
            line([Span(padded("Lago said", toWidth: labelWidth), theme.label)] + lagoSpans(lago), in: inner, y: y)
        }
        // Short screens keep the rows for the lists: no blank lines around the tables' block.
        let roomy = inner.height >= 30
        y += roomy ? 2 : 1

        let selectedKey = state.selectedBillingItem?.key
        let focused = state.focusedPane == .billing
        let detail = selectedDetail(width: inner.width - 2)
        // Fixed rows: two headings, two table headers, the gap between the tables, the line above the detail.
        let fixed = (roomy ? 6 : 5) + (state.billingPane.lastRelease == nil ? 0 : 1)
        let forLists = inner.maxY - y - fixed
        let detailRows = min(detail.count, max(0, forLists - 2))
        let available = max(2, forLists - detailRows)
        let heldWanted = max(1, held.count)
        let groupsWanted = max(1, groups.count)
        var heldRows = min(heldWanted, max(1, available / 2))
        let groupRows = min(groupsWanted, max(1, available - heldRows))
        heldRows = min(heldWanted, max(1, available - groupRows))

        // Issue groups.
        let order = state.billingPane.order == .recent ? "most recent first" : "most frequent first"
        line(
            [
                Span("Issues", theme.title),
                Span("  \(groups.count) group\(groups.count == 1 ? "" : "s") \(symbols.dot) \(order)", theme.dim),
            ], in: inner, y: y)
        y += 1
        let wide = inner.width >= 90
        let groupWidths = wide ? [28, 20, 18, 6, 8, 8] : [22, 18, 15, 6, 8]
        let maxX = inner.maxX - 1
        drawRow(
            wide
                ? ["REASON", "CODE", "SUBSCRIPTION", "EVENTS", "FIRST", "LAST"]
                : ["REASON", "CODE", "SUBSCRIPTION", "EVENTS", "LAST"], groupWidths,
            styles: [theme.header], x: inner.x + 3, y: y, gap: 1, rightAligned: [3], maxX: maxX)
        y += 1
        if groups.isEmpty {
            line(
                [Span("none \(symbols.dash) every event seen is billable or unchecked", theme.dim)], in: inner, y: y,
                indent: 3)
        } else {
            let selectedIndex = groups.firstIndex { .group($0.key) == selectedKey }
            let top = max(0, min((selectedIndex ?? 0) - groupRows + 1, groups.count - groupRows))
            for (offset, group) in groups[top..<min(groups.count, top + groupRows)].enumerated() {
                let rowY = y + offset
                var texts = [
                    group.reason.rawValue, group.code, group.subscription ?? symbols.dash, Format.grouped(group.count),
                ]
                if wide { texts.append(Format.clock(group.firstSeen, timeZone)) }
                texts.append(Format.clock(group.lastSeen, timeZone))
                drawRow(
                    texts, groupWidths, styles: [theme.warning, .plain, .plain, .plain, theme.dim, theme.dim],
                    x: inner.x + 3, y: rowY, gap: 1, rightAligned: [3], maxX: maxX)
                markSelection(
                    isSelected: .group(group.key) == selectedKey, focused: focused, inner: inner, y: rowY)
            }
        }
        y += groupRows + 1

        // The held list.
        var heading = [Span("Held", theme.title), Span("  \(Format.grouped(state.stats.billing.held))", theme.dim)]
        if state.stats.billing.policy != "hold" {
            heading.append(Span("  (policy \(state.stats.billing.policy): nothing new is held)", theme.dim))
        }
        line(heading, in: inner, y: y)
        y += 1
        if let release = state.billingPane.lastRelease {
            line(releaseSpans(release), in: inner, y: y, indent: 3)
            y += 1
        }
        let heldWidths = wide ? [5, 24, 18, 16, 8] : [4, 16, 14, 14, 8]
        let reasonsWidth = max(0, inner.width - 3 - heldWidths.reduce(0, +) - heldWidths.count - 1)
        drawRow(
            ["ID", "TRANSACTION", "CODE", "SUBSCRIPTION", "ACCEPTED", "REASONS"], heldWidths + [reasonsWidth],
            styles: [theme.header], x: inner.x + 3, y: y, gap: 1, maxX: maxX)
        y += 1
        if held.isEmpty {
            line([Span("none \(symbols.dash) nothing waits for release", theme.dim)], in: inner, y: y, indent: 3)
        } else {
            let selectedIndex = held.firstIndex { .held(id: $0.id) == selectedKey }
            let top = max(0, min((selectedIndex ?? 0) - heldRows + 1, held.count - heldRows))
            for (offset, event) in held[top..<min(held.count, top + heldRows)].enumerated() {
                let rowY = y + offset
                drawRow(
                    [
                        event.id, event.transactionID, event.code, event.externalSubscriptionID ?? symbols.dash,
                        Format.clock(event.acceptedAt, timeZone), event.reasons.map(\.rawValue).joined(separator: ", "),
                    ], heldWidths + [reasonsWidth],
                    styles: [theme.dim, .plain, .plain, .plain, theme.dim, theme.warning], x: inner.x + 3, y: rowY,
                    gap: 1, leadingTruncation: [1], maxX: maxX)
                markSelection(isSelected: .held(id: event.id) == selectedKey, focused: focused, inner: inner, y: rowY)
            }
        }
        y += heldRows

        // The selected row's reasons and fix, at the bottom.
        guard detailRows > 0 else { return }
        y = inner.maxY - detailRows
        for (text, style) in detail.prefix(detailRows) {
            line([Span(text, style)], in: inner, y: y)
            y += 1
        }
    }

    private mutating func markSelection(isSelected: Bool, focused: Bool, inner: Rect, y: Int) {
        guard isSelected else { return }
        if focused { grid.put(symbols.pointer, x: inner.x + 1, y: y, style: theme.focusedTitle) }
        grid.patchStyle(
            Rect(x: inner.x, y: y, width: inner.width, height: 1),
            with: focused ? theme.selection : theme.inactiveSelection)
    }

    /// The console's catalogue (the one each row's verdict comes from), else the engine's as its stats report it.
    func catalogueSpans() -> (age: [Span], error: Span?) {
        let status = state.billingPane.catalogue
        let loadedAt = status?.loadedAt ?? state.stats.billing.catalogueLoadedAt
        let error = status?.lastError ?? (status == nil ? state.stats.billing.catalogueError : nil)
        var spans: [Span] = []
        if let loadedAt {
            var text = ""
            if let status {
                text = "\(status.metrics) metrics \(symbols.dot) \(status.subscriptions) subscriptions \(symbols.dot) "
            }
            text += "read \(Format.age(state.now.timeIntervalSince(loadedAt))) ago"
            spans.append(Span(text, theme.dim))
        } else {
            spans.append(Span("not read yet: events are unchecked until it is", theme.warning))
        }
        guard let error else { return (spans, nil) }
        let when = status?.lastErrorAt.map { " \(Format.age(state.now.timeIntervalSince($0))) ago" } ?? ""
        return (spans, Span("\(symbols.cross) last read failed\(when): \(error)", theme.error))
    }

    func policySpans() -> [Span] {
        let billing = state.stats.billing
        let text: String
        switch billing.policy {
        case "hold": text = "hold \(symbols.dash) unbillable events wait below"
        case "reject": text = "reject \(symbols.dash) the relay refuses them with a 422"
        default: text = "\(billing.policy) \(symbols.dash) sent as they are, flagged here"
        }
        var spans = [Span(text, billing.policy == "forward" ? .plain : theme.warning)]
        spans.append(Span(" (billing.unbillable)", theme.dim))
        return spans
    }

    /// `not billed 3 (invalid_code 2, …) · agrees 2 · ⚠ disagrees 1 (we predicted billable 1) · 06:12`.
    func lagoSpans(_ lago: LagoVerdictSummary) -> [Span] {
        var text = "not billed \(Format.grouped(lago.notBilled))"
        if !lago.byReason.isEmpty {
            text +=
                " ("
                + lago.byReason.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
                .joined(separator: ", ") + ")"
        }
        var spans = [Span(text, lago.notBilled > 0 ? theme.warning : .plain)]
        spans.append(Span(" \(symbols.dot) agrees \(Format.grouped(lago.agreed))", theme.dim))
        if lago.disagreements > 0 {
            var parts: [String] = []
            if lago.predictedBillable > 0 { parts.append("we predicted billable \(lago.predictedBillable)") }
            if lago.predictedUnbillableNotReported > 0 {
                parts.append("not reported by Lago \(lago.predictedUnbillableNotReported)")
            }
            spans.append(
                Span(
                    " \(symbols.dot) \(symbols.warning) disagrees \(lago.disagreements) ("
                        + parts.joined(separator: ", ") + ")", theme.error))
        }
        if let last = lago.lastWebhookAt {
            spans.append(Span(" \(symbols.dot) last webhook \(Format.clock(last, timeZone))", theme.dim))
        }
        return spans
    }

    func releaseSpans(_ release: HeldRelease) -> [Span] {
        let head = Span("last release: \(release.transactionID) queued, ", theme.dim)
        switch release.billing.status {
        case .billable: return [head, Span("\(symbols.check) Lago will bill it", theme.ok)]
        case .unchecked: return [head, Span("\(symbols.dot) unchecked", theme.dim)]
        case .unbillable:
            return [
                head,
                Span(
                    "\(symbols.warning) still not billable: "
                        + release.billing.reasons.map(\.rawValue).joined(separator: ", "), theme.warning),
            ]
        }
    }

    /// The selected group's or held event's reasons, each with its explanation and the fix where it stands.
    func selectedDetail(width: Int) -> [(String, Style)] {
        guard let item = state.selectedBillingItem else { return [] }
        var lines: [(String, Style)] = []
        func rule(_ title: String) {
            let head = String(repeating: symbols.box.horizontal, count: 2) + " \(title) "
            lines.append(
                (
                    truncate(head, toWidth: width, ellipsis: symbols.ellipsis)
                        + String(repeating: symbols.box.horizontal, count: max(0, width - displayWidth(of: head))),
                    theme.border
                ))
        }
        func add(_ text: String, _ style: Style = .plain) {
            for piece in wrap(text, width: max(1, width)) { lines.append((piece, style)) }
        }
        switch item {
        case .group(let group):
            rule(
                "\(group.reason.rawValue) \(symbols.dot) \(group.code) \(symbols.dot) \(group.subscription ?? "no subscription")"
            )
            add(
                "\(Format.grouped(group.count)) event\(group.count == 1 ? "" : "s") \(symbols.dot) first "
                    + "\(Format.clock(group.firstSeen, timeZone)) \(symbols.dot) last "
                    + "\(Format.clock(group.lastSeen, timeZone)) \(Format.zoneName(group.lastSeen, timeZone)) "
                    + "\(symbols.dot) e.g. \(group.exampleTransactionID)", theme.dim)
            add(group.reason.explanation)
            for (text, style) in fix(for: group.reason, code: group.code) { add(text, style) }
        case .held(let event):
            rule("held \(event.id) \(symbols.dot) \(event.transactionID)")
            add(
                "\(event.code) \(symbols.dot) \(event.externalSubscriptionID ?? "no subscription") \(symbols.dot) "
                    + "accepted \(Format.dateTime(event.acceptedAt, timeZone))", theme.dim)
            for reason in event.reasons {
                add("\(reason.rawValue): \(reason.explanation)")
                for (text, style) in fix(for: reason, code: event.code) where !text.hasPrefix("Fix: m ") {
                    add(text, style)
                }
            }
            if !state.readOnly {
                add(
                    "r releases it (checked again, then queued, billable or not) \(symbols.dot) x discards it",
                    theme.hintText)
            }
        }
        return lines
    }

    /// Whether Lago's post-validation reads the metric's `field_name` (as ``BillingCheck`` decides it): not for
    /// `count_agg` or `custom_agg`, nor when an expression computes the value at ingest.
    static func aggregatesProperty(_ metric: BillableMetric) -> Bool {
        switch metric.aggregationType {
        case .countAgg, .customAgg: return false
        default: return (metric.expression ?? "").isEmpty
        }
    }

    /// What fixes `reason` for events of `code`, from what the console knows (the catalogue, the mappings).
    func fix(for reason: BillingReason, code: String) -> [(String, Style)] {
        let metric = state.billingPane.metrics[code]
        switch reason {
        case .invalidCode:
            guard let field = state.field(sendingCode: code) else {
                return [
                    ("Fix: create metric \(code) in Lago, or send a code it has; no mapping sends it", theme.hintText)
                ]
            }
            if state.pickableMetrics.isEmpty {
                return [("Fix: c reads Lago's metrics, then m remaps \(field.rawValue) (now \(code))", theme.hintText)]
            }
            if state.readOnly {
                return [("Fix: remap \(field.rawValue) (now \(code)) to a code Lago has (Mappings)", theme.hintText)]
            }
            return [("Fix: m remaps \(field.rawValue) (now \(code)) to a code Lago has", theme.hintText)]
        case .subscriptionMissing, .subscriptionNotFound, .subscriptionNotActive:
            let current = state.defaultSubscription ?? "none"
            let key = state.readOnly ? "set" : "d sets"
            return [
                (
                    "Fix: \(key) the default subscription (now \(current)), used by events that name none",
                    theme.hintText
                )
            ]
        case .missingAggregationProperty, .invalidFilterValues:
            guard let metric else {
                return [("metric \(code) is not in the catalogue read (c reads it again)", theme.dim)]
            }
            var lines: [(String, Style)] = []
            if Self.aggregatesProperty(metric), let field = metric.fieldName, !field.isEmpty {
                let kind =
                    switch metric.aggregationType {
                    case .sumAgg, .maxAgg, .weightedSumAgg, .latestAgg: "a number (-?digits[.digits])"
                    default: "any value but null"
                    }
                lines.append(
                    ("Expected: property \"\(field)\", \(kind) \(symbols.dot) \(metric.aggregationType)", theme.ok))
            } else {
                lines.append(("Expected: no property (\(metric.aggregationType))", theme.ok))
            }
            for filter in metric.filters ?? [] {
                lines.append(("Filter \"\(filter.key)\": " + filter.values.joined(separator: ", "), theme.ok))
            }
            if reason == .invalidFilterValues && (metric.filters ?? []).isEmpty {
                lines.append(("the catalogue read has no filters for \(code) (c reads it again)", theme.dim))
            }
            return lines
        case .beforeSubscriptionStart, .customerHasNoActiveSubscription, .ambiguousCustomerSubscription:
            return []
        }
    }
}
