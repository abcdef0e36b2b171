import Foundation
import LagoAPI
import LagoConfig

extension Renderer {
    mutating func drawSendTest(_ rect: Rect) {
        let pane = state.sendPane
        let status: [Span] = pane.sending ? [Span(" sending\(symbols.ellipsis) ", theme.warning)] : []
        let inner = paneBox(rect, pane: .sendTest, status: status)
        guard inner.height > 0 else { return }
        var y = inner.y
        let usage = pane.mode == .usage
        var modeLine: [Span] = [
            Span("Mode   ", theme.label),
            Span("\(usage ? symbols.bullet : "○") canonical usage", usage ? theme.title : theme.dim),
            Span("    "),
            Span("\(usage ? "○" : symbols.bullet) raw event", usage ? theme.dim : theme.title),
        ]
        if state.asciiOnly {
            modeLine[1].text = usage ? "[x] canonical usage" : "[ ] canonical usage"
            modeLine[3].text = usage ? "[ ] raw event" : "[x] raw event"
        }
        line(modeLine, in: inner, y: y)
        if state.readOnly {
            let note = "read-only: sending is disabled"
            grid.put(note, x: inner.maxX - 1 - displayWidth(of: note), y: y, style: theme.badgeReadOnly)
        }
        y += 2
        let fields = pane.fields
        let twoColumns = usage && inner.width >= 70
        let labelWidth = 16
        let columnWidth = twoColumns ? (inner.width - 3) / 2 : inner.width - 3
        let valueWidth = min(twoColumns ? 14 : 48, columnWidth - labelWidth - 2)
        let wideValueWidth = min(60, inner.width - 3 - labelWidth - 2)
        var rowOfField: [Int: (x: Int, y: Int, width: Int)] = [:]
        if usage {
            let canonical = CanonicalField.allCases.count
            let perColumn = twoColumns ? (canonical + 1) / 2 : canonical
            for index in 0..<canonical {
                let column = twoColumns ? index / perColumn : 0
                let row = twoColumns ? index % perColumn : index
                rowOfField[index] = (inner.x + 3 + column * columnWidth, y + row, valueWidth)
            }
            let after = y + perColumn
            rowOfField[canonical] = (inner.x + 3, after, wideValueWidth)
            rowOfField[canonical + 1] = (inner.x + 3, after + 1, wideValueWidth)
        } else {
            for index in fields.indices { rowOfField[index] = (inner.x + 3, y + index, wideValueWidth) }
        }
        let focused = state.focusedPane == .sendTest
        var lastRow = y
        for (index, field) in fields.enumerated() {
            guard let place = rowOfField[index], place.y < inner.maxY else { continue }
            lastRow = max(lastRow, place.y)
            let selected = index == pane.selectedField
            let hasError = pane.errors[field] != nil
            if selected && focused {
                grid.put(symbols.pointer, x: place.x - 2, y: place.y, style: theme.focusedTitle)
            }
            let labelStyle = hasError ? theme.error : (selected && focused ? theme.focusedTitle : theme.label)
            grid.put(padded(field.label, toWidth: labelWidth), x: place.x, y: place.y, style: labelStyle)
            let valueX = place.x + labelWidth + 1
            if selected, let editing = pane.editing {
                editing.render(into: &grid, x: valueX, y: place.y, width: place.width, style: theme.focusedField,
                               focused: true)
                continue
            }
            let value = pane.values[field] ?? ""
            if value.isEmpty {
                grid.put(placeholder(for: field), x: valueX, y: place.y, style: theme.dim, maxWidth: place.width)
            } else {
                grid.put(truncate(value, toWidth: place.width, ellipsis: symbols.ellipsis), x: valueX, y: place.y,
                         style: hasError ? theme.error : .plain, maxWidth: place.width)
            }
        }
        y = lastRow + 2
        // Validation errors and send failures.
        var problems: [String] = fields.compactMap { field in pane.errors[field].map { "\(field.label): \($0)" } }
        if let failure = pane.sendError { problems.append("send failed: \(failure)") }
        for problem in problems.prefix(2) where y < inner.maxY {
            line([Span("\(symbols.cross) \(problem)", theme.error)], in: inner, y: y)
            y += 1
        }
        if !problems.isEmpty { y += 1 }
        guard y < inner.maxY else { return }
        // The last send, followed to delivery.
        if pane.lastSent.isEmpty {
            let hint = state.readOnly
                ? "Test events are disabled in read-only mode."
                : "Enter edits a field \(symbols.dot) ctrl-s sends \(symbols.dot) the sent rows are highlighted in 1 Events."
            line([Span(hint, theme.dim)], in: inner, y: y)
            return
        }
        line([Span("Last sent", theme.title), Span("  \(pane.lastSent.count) event\(pane.lastSent.count == 1 ? "" : "s")",
                                                    theme.dim)], in: inner, y: y)
        y += 1
        let transactionWidth = min(38, max(14, inner.width / 3))
        let codeWidth = min(28, max(16, inner.width / 4))
        let stateWidth = 17
        let verifyWidth = max(0, inner.width - 3 - transactionWidth - codeWidth - stateWidth - 6)
        drawRow(["TRANSACTION", "CODE", "STATE", "IN LAGO (v verifies)"],
                [transactionWidth, codeWidth, stateWidth, verifyWidth], styles: [theme.header], x: inner.x + 3, y: y,
                gap: 2)
        y += 1
        let rows = max(0, inner.maxY - y)
        for transactionID in pane.lastSent.prefix(rows) {
            let record = state.history.record(transactionID: transactionID)
            let stateText: String
            let stateStyle: Style
            if let record {
                let mark = record.state == .delivered || record.state == .alreadyInLago ? "\(symbols.check) " : ""
                stateText = mark + record.state.label
                stateStyle = theme.style(for: record.state)
            } else {
                stateText = "not seen yet"
                stateStyle = theme.dim
            }
            let verify: (String, Style)
            switch pane.verifications[transactionID] {
            case nil: verify = ("", theme.dim)
            case .verifying: verify = ("checking\(symbols.ellipsis)", theme.warning)
            case .verified(let event):
                let properties = EventRecord.summary(of: event.properties)
                verify = ("\(symbols.check) \(event.timestamp) \(properties)", theme.ok)
            case .failed(let reason): verify = ("\(symbols.cross) \(reason)", theme.error)
            }
            drawRow([transactionID, record?.code ?? "", stateText, verify.0],
                    [transactionWidth, codeWidth, stateWidth, verifyWidth],
                    styles: [theme.highlight, .plain, stateStyle, verify.1], x: inner.x + 3, y: y, gap: 2,
                    leadingTruncation: [0])
            y += 1
        }
    }

    func placeholder(for field: SendField) -> String {
        switch field {
        case .usage: return "0"
        case .dimensions: return "key=value, key=value"
        case .usageSubscription, .rawSubscription:
            return state.defaultSubscription.map { "default: \($0)" } ?? "required (no default set)"
        case .rawCode: return "billable metric code"
        case .rawProperties: return "{}"
        case .rawTimestamp: return "now (or Unix seconds, ISO-8601)"
        }
    }
}
