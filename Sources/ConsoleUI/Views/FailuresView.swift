import Foundation
import LagoAPI

extension Renderer {
    mutating func drawFailures(_ rect: Rect) {
        let stats = state.stats
        let status = [
            Span(
                " retrying \(stats.retryingBatches.count) \(symbols.dot) dead \(stats.deadLetters.count) ",
                stats.deadLetters.isEmpty ? theme.dim : theme.error)
        ]
        let inner = paneBox(rect, pane: .failures, status: status)
        guard inner.height > 0 else { return }
        var y = inner.y
        let gap = inner.width >= 90 ? 2 : 1
        // Why nothing is being delivered.
        switch stats.engineState {
        case .authFailed(let reason):
            y +=
                paragraph(
                    "\(symbols.warning) auth failed: \(reason) \(symbols.dash) fix the key, then R retries now "
                        + "(a probe goes every 30 s)",
                    theme.error, in: inner, y: y) + 1
        case .wrongURL(let reason):
            y +=
                paragraph(
                    "\(symbols.warning) no Lago at this URL: \(reason) \(symbols.dash) fix lago.api_url, then R retries now",
                    theme.error, in: inner, y: y) + 1
        case .backingOff(let until, let reason):
            y +=
                paragraph(
                    "\(symbols.warning) backing off (\(reason)), next try "
                        + "\(Format.countdown(to: until, from: state.now)) \(symbols.dash) R retries now",
                    theme.warning, in: inner, y: y) + 1
        default:
            break
        }
        // Retrying batches.
        line(
            [Span("Retrying batches", theme.title), Span("  \(stats.retryingBatches.count)", theme.dim)],
            in: inner, y: y)
        y += 1
        let batchRows = max(1, min(stats.retryingBatches.count, (inner.maxY - y) / 3))
        if stats.retryingBatches.isEmpty {
            line([Span("none", theme.dim)], in: inner, y: y, indent: 3)
            y += 1
        } else {
            let widths = [10, 6, 7, 4, 7]
            let reasonWidth = max(0, inner.width - 3 - widths.reduce(0, +) - widths.count * gap)
            drawRow(
                ["BATCH", "EVENTS", "ATTEMPT", "HTTP", "NEXT", "REASON"], widths + [reasonWidth],
                styles: Array(repeating: theme.header, count: 6), x: inner.x + 3, y: y, gap: gap,
                rightAligned: [1], maxX: inner.maxX - 1)
            y += 1
            for batch in stats.retryingBatches.prefix(batchRows) {
                let attempt = batch.maxAttempts.map { "\(batch.attempt)/\($0)" } ?? "\(batch.attempt)"
                drawRow(
                    [
                        batch.id, String(batch.eventCount), attempt, batch.httpStatus.map(String.init) ?? symbols.dash,
                        Format.countdown(to: batch.nextRetryAt, from: state.now), batch.reason,
                    ],
                    widths + [reasonWidth],
                    styles: [.plain, .plain, theme.warning, theme.warning, .plain, theme.dim],
                    x: inner.x + 3, y: y, gap: gap, rightAligned: [1], maxX: inner.maxX - 1)
                y += 1
            }
            if stats.retryingBatches.count > batchRows {
                line([Span("+ \(stats.retryingBatches.count - batchRows) more", theme.dim)], in: inner, y: y, indent: 3)
                y += 1
            }
        }
        y += 1
        // Dead letters.
        line([Span("Dead letters", theme.title), Span("  \(stats.deadLetters.count)", theme.dim)], in: inner, y: y)
        y += 1
        guard y < inner.maxY else { return }
        if stats.deadLetters.isEmpty {
            line([Span("none \(symbols.dash) nothing to replay", theme.dim)], in: inner, y: y, indent: 3)
            return
        }
        let transactionWidth = inner.width >= 90 ? 24 : (inner.width >= 70 ? 18 : 13)
        let codeWidth = inner.width >= 90 ? 26 : (inner.width >= 70 ? 20 : 16)
        let widths = [transactionWidth, codeWidth, 4]
        let reasonWidth = max(0, inner.width - 3 - widths.reduce(0, +) - widths.count * gap)
        let maxX = inner.maxX - 1
        drawRow(
            ["TRANSACTION", "CODE", "HTTP", "LAGO'S REASON"], widths + [reasonWidth],
            styles: Array(repeating: theme.header, count: 4), x: inner.x + 3, y: y, gap: gap, maxX: maxX)
        y += 1
        let letters = stats.deadLetters
        let selected = letters.firstIndex { $0.id == state.selectedDeadLetterID } ?? 0
        let focused = state.focusedPane == .failures
        // The selected dead letter in full below the list, when there is room.
        let detail = deadLetterDetail(letters[selected], width: inner.width - 2)
        let showDetail =
            (focused || layout.kind == .narrow)
            && inner.maxY - y >= min(letters.count, 3) + detail.count + 1
        let rows = inner.maxY - y - (showDetail ? detail.count + 1 : 0)
        guard rows > 0 else { return }
        let top = max(0, min(selected - rows + 1, letters.count - rows))
        for index in top..<min(letters.count, top + rows) {
            let letter = letters[index]
            if index == selected && focused { grid.put(symbols.pointer, x: inner.x + 1, y: y, style: theme.error) }
            drawRow(
                [
                    letter.event.transactionID, letter.event.code, letter.httpStatus.map(String.init) ?? symbols.dash,
                    letter.reason,
                ], widths + [reasonWidth],
                styles: [.plain, .plain, theme.error, theme.dim], x: inner.x + 3, y: y, gap: gap,
                leadingTruncation: [0], maxX: maxX)
            if index == selected {
                grid.patchStyle(
                    Rect(x: inner.x, y: y, width: inner.width, height: 1),
                    with: focused ? theme.selection : theme.inactiveSelection)
            }
            y += 1
        }
        guard showDetail else { return }
        y = inner.maxY - detail.count
        for (text, style) in detail {
            line([Span(text, style)], in: inner, y: y)
            y += 1
        }
    }

    /// The selected dead letter, field by field, wrapped to `width`.
    func deadLetterDetail(_ letter: DeadLetter, width: Int) -> [(String, Style)] {
        let label = 14
        var lines: [(String, Style)] = [
            (
                String(repeating: symbols.box.horizontal, count: 2) + " selected dead letter "
                    + String(repeating: symbols.box.horizontal, count: max(0, width - 24)), theme.border
            )
        ]
        func add(_ name: String, _ value: String, _ style: Style = .plain) {
            for (index, text) in wrap(value, width: max(1, width - label)).enumerated() {
                lines.append(
                    (
                        (index == 0 ? padded(name, toWidth: label) : String(repeating: " ", count: label)) + text,
                        style
                    ))
            }
        }
        add("transaction", letter.event.transactionID)
        add("subscription", letter.event.externalSubscriptionID ?? symbols.dash)
        add("properties", EventRecord.summary(of: letter.event.properties))
        add(
            "failed",
            "\(Format.clock(letter.failedAt, timeZone)) \(Format.zoneName(letter.failedAt, timeZone)) "
                + "\(symbols.dot) \(letter.attempts) attempt" + (letter.attempts == 1 ? "" : "s"))
        add("reason", letter.reason, theme.error)
        return lines
    }

    /// Draws table cells left to right with fixed widths.
    mutating func drawRow(
        _ texts: [String], _ widths: [Int], styles: [Style], x: Int, y: Int, gap: Int,
        rightAligned right: Set<Int> = [],
        leadingTruncation: Set<Int> = [], maxX: Int? = nil
    ) {
        let limit = maxX ?? grid.width
        var column = x
        for (index, text) in texts.enumerated() where index < widths.count {
            let width = min(widths[index], limit - column)
            guard width > 0 else { break }
            var shown =
                leadingTruncation.contains(index)
                ? truncateLeading(text, toWidth: width, ellipsis: symbols.ellipsis)
                : truncate(text.replacingOccurrences(of: "\n", with: " "), toWidth: width, ellipsis: symbols.ellipsis)
            if right.contains(index) { shown = rightAligned(shown, toWidth: width) }
            grid.put(shown, x: column, y: y, style: styles[min(index, styles.count - 1)], maxWidth: width)
            column += width + gap
        }
    }
}
