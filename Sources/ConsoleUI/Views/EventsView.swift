import Foundation
import LagoAPI

/// Column widths of the events table for an inner width.
struct EventColumns: Sendable, Hashable {
    var gap: Int
    var time = 8
    var state: Int
    /// Whether Lago will bill the event: ✔, ⚠ or · (unchecked).
    var billing = 2
    var code: Int
    var subscription: Int
    var transaction: Int
    /// How the event came in and the field whose mapping coded it (`otlp input`), from 110 columns on.
    var source: Int
    var properties: Int

    init(width: Int) {
        gap = width >= 100 ? 2 : 1
        state = width >= 120 ? 15 : 9
        let showTransaction = width >= 96
        source = width >= 140 ? 20 : width >= 110 ? 15 : 0
        let fixed = 2 + time + state + billing + (showTransaction ? 6 : 5) * gap + (source > 0 ? source + gap : 0)
        let rest = max(0, width - fixed)
        if showTransaction {
            code = min(26, max(12, rest * 36 / 100))
            subscription = min(22, max(8, rest * 22 / 100))
            transaction = min(28, max(8, rest * 22 / 100))
        } else {
            code = min(25, max(12, rest * 45 / 100))
            subscription = min(18, max(8, rest * 30 / 100))
            transaction = 0
        }
        properties = max(0, rest - code - subscription - transaction)
    }
}

extension Renderer {
    mutating func drawEvents(_ rect: Rect) {
        let history = state.history
        var title: [Span] = [Span("\(symbols.dot) \(Format.grouped(history.count)) ", theme.dim)]
        if let filter = history.filter {
            title = [
                Span(
                    "\(symbols.dot) \(Format.grouped(state.visibleEventCount)) of \(Format.grouped(history.count)) ",
                    theme.dim),
                Span("[filter: \(filter.text)] ", theme.warning),
            ]
        }
        if history.droppedCount > 0 {
            title.append(Span("\(symbols.dot) \(Format.grouped(history.droppedCount)) scrolled out ", theme.dim))
        }
        if state.missedLifecycleChanges > 0 {
            // Changes lost on the way to the console (a full buffer): rows may lag; the counts stay exact.
            title.append(Span("\(symbols.dot) missed \(Format.grouped(state.missedLifecycleChanges)) ", theme.warning))
        }
        var status: [Span] = []
        if state.isPaused {
            status.append(
                Span(" PAUSED \(symbols.dot) \(Format.grouped(state.newWhilePaused)) new ", theme.badgePaused))
        }
        let order: String
        switch state.events.order {
        case .follow: order = state.events.autoscroll && !state.isPaused ? "following" : "newest at bottom"
        case .newestFirst: order = "newest first"
        }
        // The order label goes first when the top border is too short for everything.
        let headingWidth = displayWidth(of: " 1 Events ") + width(of: title)
        if width(of: status) + displayWidth(of: "  \(order) ") + headingWidth + 5 <= rect.width || status.isEmpty {
            if !status.isEmpty { status.append(Span(" ")) }
            status.append(Span(" \(order) ", theme.dim))
        }
        let inner = paneBox(rect, pane: .events, title: title, status: status)
        guard inner.height > 0 else { return }
        let columns = EventColumns(width: inner.width)
        drawEventHeader(columns, x: inner.x, y: inner.y, maxX: inner.maxX)
        let rows = inner.height - 1
        let window = state.eventsWindow(rows: rows)
        if window.count == 0 {
            let text: String
            if let filter = history.filter {
                text = "No events match [filter: \(filter.text)] \(symbols.dash) Esc clears the filter"
            } else if state.isPaused {
                text = "No events when the view was paused \(symbols.dash) p resumes"
            } else {
                text = "No events yet \(symbols.dash) waiting for traffic. Press 6 to send a test event."
            }
            let lines = wrap(text, width: max(1, inner.width - 2))
            for (index, piece) in lines.enumerated() {
                let y = inner.y + max(1, (rows - lines.count + 1) / 2) + index
                guard y < inner.maxY else { break }
                let x = inner.x + max(0, (inner.width - displayWidth(of: piece)) / 2)
                grid.put(piece, x: x, y: y, style: theme.dim, maxWidth: inner.maxX - x)
            }
            return
        }
        let highlighted = Set(state.sendPane.lastSent)
        let focused = state.focusedPane == .events
        for offset in 0..<min(rows, window.count - window.top) {
            let display = window.top + offset
            guard let record = history.record(sequence: state.eventSequence(atDisplay: display)) else { continue }
            let y = inner.y + 1 + offset
            drawEventRow(
                record, columns, x: inner.x, y: y, maxX: inner.maxX,
                highlighted: highlighted.contains(record.transactionID))
            if display == window.selected {
                grid.patchStyle(
                    Rect(x: inner.x, y: y, width: inner.width, height: 1),
                    with: focused ? theme.selection : theme.inactiveSelection)
            }
        }
        if let selected = window.selected {
            let position = " \(Format.grouped(selected + 1))/\(Format.grouped(window.count)) "
            put(
                [Span(position, theme.dim)], x: rect.maxX - 2 - displayWidth(of: position), y: rect.maxY - 1,
                maxX: rect.maxX - 1)
        }
    }

    private mutating func drawEventHeader(_ columns: EventColumns, x: Int, y: Int, maxX: Int) {
        let cells: [(String, String, Int)] = [
            ("TIME", "TIME", columns.time), ("STATE", "STATE", columns.state), ("$", "$", columns.billing),
            ("CODE", "CODE", columns.code),
            ("SUBSCRIPTION", "SUB", columns.subscription), ("TRANSACTION", "TX", columns.transaction),
            ("SOURCE", "SOURCE", columns.source), ("PROPERTIES", "PROPS", columns.properties),
        ]
        var column = x + 2
        for (title, short, width) in cells where width > 0 {
            let text = displayWidth(of: title) <= width ? title : short
            let room = min(width, maxX - column)
            grid.put(
                truncate(text, toWidth: room, ellipsis: symbols.ellipsis), x: column, y: y, style: theme.header,
                maxWidth: room)
            column += width + columns.gap
        }
    }

    private mutating func drawEventRow(
        _ record: EventRecord, _ columns: EventColumns, x: Int, y: Int, maxX: Int, highlighted: Bool
    ) {
        let base = highlighted ? theme.highlight : Style.plain
        grid.put(highlighted ? symbols.pointer : " ", x: x, y: y, style: theme.highlight)
        var column = x + 2
        func cell(_ text: String, _ width: Int, _ style: Style, leading: Bool = false) {
            let shown =
                leading
                ? truncateLeading(text, toWidth: width, ellipsis: symbols.ellipsis)
                : truncate(text, toWidth: width, ellipsis: symbols.ellipsis)
            grid.put(shown, x: column, y: y, style: style, maxWidth: max(0, min(width, maxX - column)))
            column += width + columns.gap
        }
        // The usage time Lago bills the event at, once known (the time it was accepted, unless its sender gave one).
        cell(Format.clock(record.timestamp ?? record.firstSeen, timeZone), columns.time, theme.dim)
        switch state.usageCount(of: record.transactionID) {
        case .counted?:
            // A test event counted on the customer's usage: the last of its marks (delivered, verified, counted).
            cell("\(symbols.check) counted", columns.state, theme.ok)
        case .notCounted?:
            cell(columns.state >= 15 ? "\(symbols.cross) not counted" : "uncounted", columns.state, theme.error)
        default:
            let label = columns.state >= 15 ? record.state.label : record.state.shortLabel
            cell(label, columns.state, theme.style(for: record.state))
        }
        switch record.billing?.status {
        case .billable?: cell(symbols.check, columns.billing, theme.ok)
        case .unbillable?: cell(symbols.warning, columns.billing, theme.warning)
        case .unchecked?: cell(symbols.dot, columns.billing, theme.dim)
        case nil: cell("", columns.billing, base)
        }
        cell(record.code, columns.code, base)
        cell(record.externalSubscriptionID ?? symbols.dash, columns.subscription, base)
        if columns.transaction > 0 { cell(record.transactionID, columns.transaction, base, leading: true) }
        if columns.source > 0 {
            let origin = record.origin
            cell(
                origin.map { $0.source.word + ($0.coding.storageText.map { " " + $0 } ?? "") } ?? "",
                columns.source, highlighted ? base : theme.dim)
        }
        if columns.properties > 0 {
            cell(record.propertiesSummary, columns.properties, highlighted ? base : theme.dim)
        }
    }
}
