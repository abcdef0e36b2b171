import Foundation
import LagoAPI
import LagoUsage

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
                editing.render(
                    into: &grid, x: valueX, y: place.y, width: place.width, style: theme.focusedField,
                    focused: true)
                continue
            }
            let value = pane.values[field] ?? ""
            if value.isEmpty {
                grid.put(
                    truncate(placeholder(for: field), toWidth: place.width, ellipsis: symbols.ellipsis), x: valueX,
                    y: place.y, style: theme.dim, maxWidth: place.width)
            } else {
                grid.put(
                    truncate(value, toWidth: place.width, ellipsis: symbols.ellipsis), x: valueX, y: place.y,
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
            let hint =
                state.readOnly
                ? "Test events are disabled in read-only mode."
                : "Enter edits a field, Tab moves to the next, ctrl-s sends. Sent events are highlighted in 1 Events "
                    + "and followed here until Lago has them."
            paragraph(hint, theme.dim, in: inner, y: y)
            return
        }
        let count = pane.lastSent.count
        line(
            [Span("Last sent", theme.title), Span("  \(count) event\(count == 1 ? "" : "s")", theme.dim)],
            in: inner, y: y)
        y += 1
        let transactionWidth = min(30, max(20, inner.width * 30 / 100))
        let codeWidth = min(28, max(18, inner.width / 4))
        let stateWidth = max(0, min(20, inner.width - 3 - transactionWidth - codeWidth - 4))
        let widths = [transactionWidth, codeWidth, stateWidth]
        drawRow(
            ["TRANSACTION", "CODE", "STATE"], widths, styles: [theme.header], x: inner.x + 3, y: y, gap: 2,
            maxX: inner.maxX - 1)
        y += 1
        var verifications: [(String, Style)] = []
        for transactionID in pane.lastSent where y < inner.maxY {
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
            drawRow(
                [transactionID, record?.code ?? "", stateText], widths,
                styles: [theme.highlight, .plain, stateStyle], x: inner.x + 3, y: y, gap: 2,
                leadingTruncation: [0], maxX: inner.maxX - 1)
            y += 1
            switch pane.verifications[transactionID] {
            case nil: break
            case .verifying:
                verifications.append(("\(symbols.ellipsis) \(transactionID)  checking in Lago", theme.warning))
            case .verified(let event):
                let properties = EventRecord.summary(of: event.properties)
                verifications.append(
                    (
                        "\(symbols.check) \(transactionID)  in Lago \(symbols.dot) \(event.timestamp) "
                            + "\(symbols.dot) \(properties)", theme.ok
                    ))
            case .failed(let reason):
                verifications.append(("\(symbols.cross) \(transactionID)  \(reason)", theme.error))
            }
        }
        if !verifications.isEmpty, y + 1 < inner.maxY {
            y += 1
            line([Span("Verified in Lago", theme.title), Span("  v checks again", theme.dim)], in: inner, y: y)
            y += 1
            for (text, style) in verifications where y < inner.maxY {
                y += paragraph(text, style, in: inner, y: y, indent: 3)
            }
        }
        let counts = pane.lastSent.compactMap { id in state.usageCount(of: id).map { (id, $0) } }
        guard !counts.isEmpty, y + 1 < inner.maxY else { return }
        y += 1
        line(
            [Span("Counted on the customer's usage", theme.title), Span("  8 shows the usage", theme.dim)], in: inner,
            y: y)
        y += 1
        for (transactionID, count) in counts where y < inner.maxY {
            let text = usageCountText(count)
            y += paragraph("\(text.mark) \(transactionID)  \(text.words)", text.style, in: inner, y: y, indent: 3)
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
