import Foundation
import LagoAPI
import LagoUsage

extension Renderer {
    // MARK: - Mappings

    mutating func drawMappings(_ rect: Rect) {
        let pane = state.mappingsPane
        var status: [Span] = []
        switch pane.metrics {
        case .notLoaded: status = [Span(" not checked against Lago ", theme.dim)]
        case .loading: status = [Span(" checking\(symbols.ellipsis) ", theme.warning)]
        case .loaded(let metrics, let at):
            status = [
                Span(
                    " checked \(Format.clock(at, timeZone)) \(symbols.dot) \(metrics.count) metrics in Lago ",
                    theme.dim)
            ]
        case .failed: status = [Span(" check failed ", theme.error)]
        }
        let inner = paneBox(rect, pane: .mappings, status: status)
        guard inner.height > 0 else { return }
        var y = inner.y
        line(
            [Span("Canonical usage fields and the Lago billable metric codes they are sent as.", theme.dim)],
            in: inner, y: y)
        y += 2
        let fieldWidth = 15
        let codeWidth = min(32, max(25, (inner.width - 38) / 2))
        let minuteWidth = 8
        let statusWidth = max(0, inner.width - 3 - fieldWidth - codeWidth - minuteWidth - 6)
        drawRow(
            ["FIELD", "METRIC CODE", "LAST MIN", "IN LAGO"], [fieldWidth, codeWidth, minuteWidth, statusWidth],
            styles: [theme.header], x: inner.x + 3, y: y, gap: 2, maxX: inner.maxX - 1)
        y += 1
        let known = pane.knownCodes
        let metricsByCode = Dictionary(
            (state.knownMetrics ?? []).map { ($0.code, $0) }, uniquingKeysWith: { first, _ in first })
        let focused = state.focusedPane == .mappings
        // Fields that coded events in the last minute under a code Lago has no metric for: not billed.
        var unbilled: [(field: CanonicalField, count: Int)] = []
        for (index, field) in CanonicalField.allCases.enumerated() where y < inner.maxY {
            let code = state.code(for: field)
            let selected = index == pane.selection
            if selected && focused { grid.put(symbols.pointer, x: inner.x + 1, y: y, style: theme.focusedTitle) }
            grid.put(padded(field.rawValue, toWidth: fieldWidth), x: inner.x + 3, y: y, style: theme.label)
            let codeX = inner.x + 3 + fieldWidth + 2
            if let edit = pane.edit, edit.field == field {
                edit.text.render(
                    into: &grid, x: codeX, y: y, width: codeWidth, style: theme.focusedField, focused: true)
            } else {
                grid.put(
                    truncate(code, toWidth: codeWidth, ellipsis: symbols.ellipsis), x: codeX, y: y,
                    maxWidth: codeWidth)
            }
            let lastMinute = pane.activity.total(field, now: state.now)
            let minuteX = codeX + codeWidth + 2
            let minuteText = lastMinute == 0 ? symbols.dash : Format.grouped(lastMinute)
            grid.put(
                String(repeating: " ", count: max(0, minuteWidth - displayWidth(of: minuteText))) + minuteText,
                x: minuteX, y: y, style: lastMinute == 0 ? theme.dim : .plain, maxWidth: minuteWidth)
            var statusSpan: Span
            if pane.saving == field {
                statusSpan = Span("saving\(symbols.ellipsis)", theme.warning)
            } else if let known {
                if known.contains(code) {
                    var text = "\(symbols.check) " + (metricsByCode[code]?.name ?? "")
                    if let aggregation = metricsByCode[code]?.aggregationType.rawValue,
                        displayWidth(of: text) + aggregation.count + 3 <= statusWidth
                    {
                        text += " \(symbols.dot) \(aggregation)"
                    }
                    statusSpan = Span(text, theme.ok)
                } else {
                    if lastMinute > 0 { unbilled.append((field, lastMinute)) }
                    statusSpan = Span("\(symbols.cross) not in Lago", theme.error)
                }
            } else {
                statusSpan = Span(code == field.defaultMetricCode ? "default code" : "custom code", theme.dim)
            }
            let statusX = minuteX + minuteWidth + 2
            grid.put(
                truncate(statusSpan.text, toWidth: statusWidth, ellipsis: symbols.ellipsis), x: statusX, y: y,
                style: statusSpan.style, maxWidth: statusWidth)
            if selected && pane.edit == nil {
                grid.patchStyle(
                    Rect(x: inner.x, y: y, width: inner.width, height: 1),
                    with: focused ? theme.selection : theme.inactiveSelection)
            }
            y += 1
        }
        y += 1
        if let (field, count) = unbilled.first, pane.edit == nil {
            y +=
                paragraph(
                    "\(symbols.warning) \(field.rawValue) coded \(Format.grouped(count)) event\(count == 1 ? "" : "s") in "
                        + "the last minute as \(state.code(for: field)), which is not a billable metric in Lago: they "
                        + "are not billed. Enter on the row picks one of Lago's codes.", theme.error, in: inner, y: y)
        }
        if let (field, at) = pane.changedAt.max(by: { $0.value < $1.value }), pane.edit == nil, y < inner.maxY {
            let code = state.code(for: field)
            let older = pane.activity.counts(field, now: state.now).filter { $0.key != code }.values.reduce(0, +)
            y +=
                paragraph(
                    "\(field.rawValue) \u{2192} \(code) since \(Format.clock(at, timeZone)): records accepted from then "
                        + "on are coded with it; those accepted before keep their code"
                        + (older > 0 ? " (\(Format.grouped(older)) in the last minute)." : "."), theme.dim, in: inner,
                    y: y)
        }
        if let edit = pane.edit {
            if let error = edit.error {
                line([Span("\(symbols.cross) \(edit.field.rawValue): \(error)", theme.error)], in: inner, y: y)
            } else {
                line(
                    [
                        Span(
                            "Enter save \(symbols.dot) Esc cancel \(symbols.dot) letters, digits, _ . - only",
                            theme.dim)
                    ], in: inner, y: y)
            }
        } else if case .failed(let reason) = pane.metrics {
            line([Span("\(symbols.cross) could not list billable metrics: \(reason)", theme.error)], in: inner, y: y)
        } else if let known, CanonicalField.allCases.contains(where: { !known.contains(state.code(for: $0)) }) {
            y +=
                paragraph(
                    "Lago refuses events whose code is not a billable metric. Enter on a \(symbols.cross) row "
                        + "picks one of Lago's codes.", theme.warning, in: inner, y: y) - 1
        } else if known == nil {
            line([Span("Press c to check the codes against Lago's billable metrics.", theme.dim)], in: inner, y: y)
        }
        y += 1
        line([Span("Codes are saved to [metric_codes] in the config file.", theme.dim)], in: inner, y: y)
    }

    // MARK: - Subscription

    mutating func drawSubscription(_ rect: Rect) {
        let pane = state.subscriptionPane
        let inner = paneBox(rect, pane: .subscription)
        guard inner.height > 0 else { return }
        var y = inner.y
        var current: [Span] = [Span(padded("Default subscription", toWidth: 22), theme.label)]
        if let saving = pane.saving {
            current.append(Span("\(saving)  saving\(symbols.ellipsis)", theme.warning))
        } else if let id = state.defaultSubscription {
            current.append(Span(id, theme.title))
        } else {
            current.append(Span("none \(symbols.dash) events without a subscription are not billed", theme.error))
        }
        line(current, in: inner, y: y)
        y += 1
        line(
            [Span("used when an event names no subscription", theme.dim)], in: inner, y: y,
            indent: 23)
        y += 1
        if let input = pane.input {
            line([Span(padded("Type an id", toWidth: 22), theme.label)], in: inner, y: y)
            input.render(
                into: &grid, x: inner.x + 23, y: y, width: min(40, inner.width - 24),
                style: theme.focusedField, focused: true)
            y += 1
            line(
                [
                    Span(
                        pane.inputError.map { "\(symbols.cross) \($0)" }
                            ?? "Enter save (checked in Lago) \(symbols.dot) Esc cancel",
                        pane.inputError == nil ? theme.dim : theme.error)
                ], in: inner, y: y, indent: 23)
            y += 1
        }
        y += 1
        var heading: [Span] = [Span("Lago's active subscriptions", theme.title)]
        switch pane.list {
        case .notLoaded: break
        case .loading: heading.append(Span("  loading\(symbols.ellipsis)", theme.warning))
        case .loaded(let list, let at):
            heading.append(Span("  \(list.count) loaded at \(Format.clock(at, timeZone))", theme.dim))
        case .failed: heading.append(Span("  load failed", theme.error))
        }
        if let search = pane.search {
            heading.append(Span("   /", theme.hintKey))
            let x = put(heading, x: inner.x + 1, y: y, maxX: inner.maxX - 1)
            search.render(
                into: &grid, x: x, y: y, width: min(30, inner.maxX - 1 - x), style: theme.focusedField,
                focused: true)
        } else {
            if !pane.query.isEmpty { heading.append(Span("   [search: \(pane.query)]", theme.warning)) }
            line(heading, in: inner, y: y)
        }
        y += 1
        switch pane.list {
        case .notLoaded:
            y += 1
            line([Span("Press l to load them from Lago, or i to type an id.", theme.dim)], in: inner, y: y, indent: 3)
            return
        case .loading:
            return
        case .failed(let reason):
            y += 1
            line([Span("\(symbols.cross) \(reason)", theme.error)], in: inner, y: y, indent: 3)
            return
        case .loaded:
            break
        }
        let list = state.filteredSubscriptions
        if list.isEmpty {
            y += 1
            line(
                [
                    Span(
                        pane.query.isEmpty ? "no active subscriptions in Lago" : "nothing matches the search",
                        theme.dim)
                ], in: inner, y: y, indent: 3)
            return
        }
        let gap = 2
        let wide = inner.width >= 100
        let widths = wide ? [24, 16, 18, 10, 9, max(0, inner.width - 3 - 77 - 5 * gap)] : [18, 12, 14, 10, 9]
        drawRow(
            ["EXTERNAL ID", "CUSTOMER", "PLAN", "STARTED", "", "NAME"], widths, styles: [theme.header],
            x: inner.x + 3, y: y, gap: gap, maxX: inner.maxX - 1)
        y += 1
        let rows = inner.maxY - y
        guard rows > 0 else { return }
        let top = max(0, min(pane.selection - rows + 1, list.count - rows))
        let focused = state.focusedPane == .subscription
        for index in top..<min(list.count, top + rows) {
            let subscription = list[index]
            let isDefault = subscription.externalID == state.defaultSubscription
            if index == pane.selection && focused {
                grid.put(symbols.pointer, x: inner.x + 1, y: y, style: theme.focusedTitle)
            }
            let started = String((subscription.startedAt ?? subscription.subscriptionAt)?.text.prefix(10) ?? "")
            drawRow(
                [
                    subscription.externalID, subscription.externalCustomerID ?? symbols.dash,
                    subscription.planCode ?? symbols.dash, started.isEmpty ? symbols.dash : started,
                    isDefault ? "\(symbols.check) default" : "", subscription.name ?? "",
                ], widths,
                styles: [.plain, .plain, .plain, theme.dim, theme.ok, theme.dim], x: inner.x + 3, y: y, gap: gap,
                maxX: inner.maxX - 1)
            if index == pane.selection {
                grid.patchStyle(
                    Rect(x: inner.x, y: y, width: inner.width, height: 1),
                    with: focused ? theme.selection : theme.inactiveSelection)
            }
            y += 1
        }
    }
}
