import Foundation
import LagoAPI
import LagoUsage

/// One line of the help overlay.
struct HelpLine: Sendable, Hashable {
    enum Kind: Sendable, Hashable { case heading, entry, note, blank }
    var kind: Kind
    var keys: String
    var text: String
}

extension AppState {
    /// The help overlay's lines, generated from the key-binding table: the focused pane's section first, then
    /// navigation, global keys and the rest. Read-only mode has no mutating bindings, so none are listed.
    func helpLines() -> [HelpLine] {
        let paneSection: HelpSection
        switch focusedPane {
        case .events: paneSection = .events
        case .queue: paneSection = .queue
        case .failures: paneSection = .failures
        case .mappings: paneSection = .mappings
        case .subscription: paneSection = .subscription
        case .sendTest: paneSection = .sendTest
        case .billing: paneSection = .billing
        case .usage: paneSection = .usage
        }
        var order: [HelpSection] = [paneSection, .navigation, .global]
        order += HelpSection.allCases.filter { !order.contains($0) }
        var lines: [HelpLine] = []
        if readOnly {
            lines.append(
                HelpLine(kind: .note, keys: "", text: "read-only mode: actions that change something are hidden"))
            lines.append(HelpLine(kind: .blank, keys: "", text: ""))
        }
        for section in order where section != .commands {
            let bindings = keyBindings.filter { $0.section == section }
            guard !bindings.isEmpty else { continue }
            lines.append(HelpLine(kind: .heading, keys: "", text: section.title))
            for binding in bindings {
                var text = binding.isDestructive ? binding.help + " !" : binding.help
                if readOnly {
                    // Help that names a command read-only mode removed (`:flush`) names it no more.
                    let disabled = Set(readOnlyDisabledBindings.flatMap(\.commands).map { ":" + $0 })
                    for command in disabled {
                        text = text.replacingOccurrences(of: "(\(command) ", with: "(")
                            .replacingOccurrences(of: " \(command) ", with: " ")
                            .replacingOccurrences(of: " \(command))", with: ")")
                    }
                }
                lines.append(HelpLine(kind: .entry, keys: binding.label(ascii: asciiOnly), text: text))
            }
            lines.append(HelpLine(kind: .blank, keys: "", text: ""))
        }
        lines.append(HelpLine(kind: .heading, keys: "", text: HelpSection.commands.title))
        for binding in keyBindings where binding.section == .commands {
            guard let name = binding.commands.first else { continue }
            lines.append(HelpLine(kind: .entry, keys: ":" + name, text: binding.help))
        }
        return lines
    }

    /// The number of help lines (for scrolling).
    func helpLineCount() -> Int { helpLines().count }

    /// The event detail as plain text: what was sent, what Lago answered, every attempt.
    ///
    /// This is what `y` copies: no box characters, no styling.
    /// `OTLP span (POST /v1/traces); mapping input → llm_input_tokens`: how the event came in and what coded it.
    static func originWords(_ origin: EventOrigin, code: String) -> String {
        let source =
            switch origin.source {
            case .relay: "relay (a client's Lago event)"
            case .usage: "usage record (POST /v1/usage)"
            case .otlp: "OTLP span (POST /v1/traces)"
            case .console: "lago-console (a test event or send)"
            }
        switch origin.coding {
        case .client: return source + "; the client wrote its code"
        case .field(let field): return source + "; mapping \(field.rawValue) \u{2192} \(code)"
        case .cost: return source + "; cost event (usage.cost_code)"
        }
    }

    func detailLines(for record: EventRecord) -> [String] {
        var lines = [
            "Transaction   \(record.transactionID)",
            "Code          \(record.code)",
            "Subscription  \(record.externalSubscriptionID ?? "—")",
            "Timestamp     \(record.timestamp.map { Format.dateTime($0, timeZone) } ?? "—")",
            "State         \(record.state.label)" + (record.httpStatus.map { "  (HTTP \($0))" } ?? ""),
            "First seen    \(Format.dateTime(record.firstSeen, timeZone))",
            "Updated       \(Format.dateTime(record.updatedAt, timeZone))",
        ]
        if let reason = record.reason { lines.append("Reason        \(reason)") }
        if let origin = record.origin { lines.append("Source        " + Self.originWords(origin, code: record.code)) }
        switch record.billing?.status {
        case .billable?:
            lines.append(
                "Billing       Lago will bill it"
                    + (record.billing?.resolvedSubscriptionID.map { " (to \($0), found from the customer)" } ?? ""))
        case .unbillable?:
            let reasons = record.billing?.reasons ?? []
            lines.append("Billing       Lago will not bill it: " + reasons.map(\.rawValue).joined(separator: ", "))
            lines += reasons.map { "              \($0.explanation)" }
        case .unchecked?:
            lines.append("Billing       unchecked: Lago's metrics and subscriptions were not read yet")
        case nil:
            break
        }
        if let count = usageCount(of: record.transactionID) {
            lines.append("Usage         " + usageCountWords(count))
        }
        if let reported = stats.billing.lago?.reported[record.transactionID] {
            lines.append(
                "Lago said     not billed (\(reported.reasons.joined(separator: ", "))) at "
                    + Format.clock(reported.reportedAt, timeZone)
                    + (reported.predictedBillable ? "; we predicted billable: they disagree" : ""))
        }
        lines.append("")
        lines.append("Sent to Lago")
        if let payload = record.payloadJSON {
            lines += Format.prettyJSON(text: payload).map { "  " + $0 }
        } else {
            lines.append("  (not sent yet) properties: " + JSONValue.object(record.properties).jsonText)
        }
        lines.append("")
        lines.append("Lago's response")
        if let response = record.response {
            lines += Format.prettyJSON(text: response).map { "  " + $0 }
        } else {
            lines.append("  (no response yet)")
        }
        lines.append("")
        lines.append("Attempts")
        lines.append("  TIME      STATE            ATTEMPT  HTTP  REASON")
        for entry in record.timeline {
            let attempt = entry.attempt.map(String.init) ?? "—"
            let status = entry.httpStatus.map(String.init) ?? "—"
            lines.append(
                "  \(Format.clock(entry.time, timeZone))  \(padded(entry.state.label, toWidth: 15))  "
                    + "\(padded(attempt, toWidth: 7))  \(padded(status, toWidth: 4))  \(entry.reason ?? "")")
        }
        return lines.map { line in
            var trimmed = line
            while trimmed.last == " " { trimmed.removeLast() }
            return trimmed
        }
    }
}

extension Renderer {
    mutating func drawOverlay() {
        switch state.overlay {
        case .help(let scroll): drawHelp(scroll: scroll)
        case .detail(let sequence, let scroll): drawDetail(sequence: sequence, scroll: scroll)
        case .confirm(let dialog): drawConfirm(dialog)
        case .picker(let picker): drawPicker(picker)
        case .replayForm(let form): drawReplayForm(form)
        case .commandLine, .filterPrompt, nil: break
        }
    }

    /// Clears a rectangle (and a one-cell margin inside the panes around it) and draws a box around it with a
    /// heading; returns the inside.
    mutating func overlayBox(
        _ rect: Rect, heading: String, status: [Span] = [], footer: [Span] = [],
        border: Style? = nil
    ) -> Rect {
        clearMargin(around: rect)
        grid.fill(rect)
        grid.drawBox(rect, symbols: symbols.box, style: border ?? theme.focusedBorder)
        return boxLabels(rect, heading: " \(heading) ", focused: true, title: [], status: status, footer: footer)
    }

    /// Blanks the main pane's rows around a dialog (a band across the pane), so no half-cut row touches it.
    mutating func clearMargin(around rect: Rect) {
        let container = layout.main.inset(by: 1)
        if rect.x <= container.x || rect.maxX >= container.maxX { return }
        let x0 = container.x
        let x1 = container.maxX
        let y0 = max(container.y, rect.y - 1)
        let y1 = min(container.maxY, rect.maxY + 1)
        grid.fill(Rect(x: x0, y: y0, width: x1 - x0, height: y1 - y0))
    }

    /// The whole body (between the tab bar and the footer), for the help and detail overlays.
    var fullOverlayRect: Rect {
        Rect(x: 0, y: layout.main.y, width: grid.width, height: layout.main.height)
    }

    /// A dialog of at most `maxWidth` × `height`, centred over the main pane (over the screen when the main pane
    /// is too narrow for it).
    func dialogRect(maxWidth: Int, height: Int) -> Rect {
        let main = layout.main.inset(by: 1)
        let container =
            main.width - 4 >= min(maxWidth, 76)
            ? main : Rect(x: 0, y: main.y, width: grid.width, height: main.height)
        let width = min(maxWidth, container.width - 4)
        let boxHeight = min(height, container.height)
        return Rect(
            x: container.x + (container.width - width) / 2,
            y: container.y + max(0, (container.height - boxHeight) / 2), width: width, height: boxHeight)
    }

    // MARK: - Help

    mutating func drawHelp(scroll: Int) {
        let lines = state.helpLines()
        let rect = fullOverlayRect
        let inner = overlayBox(
            rect, heading: "Help \(symbols.dash) \(state.focusedPane.title)",
            status: [Span(" Esc close ", theme.dim)])
        guard inner.height > 0 else { return }
        let columns = inner.width >= 100 ? 2 : 1
        let columnWidth = (inner.width - 2) / columns
        let rows = inner.height
        // Lay sections out so that one that fits in a column does not straddle two.
        var laid: [HelpLine] = []
        var block: [HelpLine] = []
        func flush() {
            let used = laid.count % rows
            if columns > 1 && used != 0 && block.count <= rows && block.count > rows - used {
                laid += Array(repeating: HelpLine(kind: .blank, keys: "", text: ""), count: rows - used)
            }
            laid += block
            block = []
        }
        for help in lines {
            if help.kind == .heading { flush() }
            block.append(help)
        }
        flush()
        let perColumnPage = rows
        let start = max(0, min(scroll, max(0, laid.count - rows * columns)))
        let keyWidth = 13
        for index in 0..<(perColumnPage * columns) {
            let lineIndex = start + index
            guard lineIndex < laid.count else { break }
            let column = index / perColumnPage
            let row = index % perColumnPage
            let x = inner.x + 1 + column * columnWidth
            let y = inner.y + row
            let help = laid[lineIndex]
            switch help.kind {
            case .heading:
                grid.put(
                    truncate(help.text, toWidth: columnWidth - 1, ellipsis: symbols.ellipsis), x: x, y: y,
                    style: theme.focusedTitle, maxWidth: columnWidth - 1)
            case .entry:
                grid.put(
                    padded(help.keys, toWidth: keyWidth), x: x + 1, y: y,
                    style: theme.hintKey)
                let textStyle = help.text.hasSuffix(" !") ? theme.error : Style.plain
                grid.put(
                    truncate(help.text, toWidth: columnWidth - keyWidth - 3, ellipsis: symbols.ellipsis),
                    x: x + 2 + keyWidth, y: y, style: textStyle, maxWidth: columnWidth - keyWidth - 3)
            case .note:
                grid.put(
                    truncate(help.text, toWidth: columnWidth - 1, ellipsis: symbols.ellipsis), x: x, y: y,
                    style: theme.warning, maxWidth: columnWidth - 1)
            case .blank:
                break
            }
        }
        let shownEnd = start + perColumnPage * columns
        if start > 0 || shownEnd < laid.count {
            let more = " \(start > 0 ? "↑" : " ")\(shownEnd < laid.count ? "↓" : " ") j/k scroll "
            put(
                [Span(state.asciiOnly ? " j/k scroll " : more, theme.dim)], x: rect.maxX - 2 - displayWidth(of: more),
                y: rect.maxY - 1, maxX: rect.maxX - 1)
        }
    }

    // MARK: - Detail

    mutating func drawDetail(sequence: Int, scroll: Int) {
        let rect = fullOverlayRect
        guard let record = state.history.record(sequence: sequence) else {
            let inner = overlayBox(rect, heading: "Event", status: [Span(" Esc close ", theme.dim)])
            line([Span("This event scrolled out of the history.", theme.dim)], in: inner, y: inner.y)
            return
        }
        let footer = [Span(" y copy \(symbols.dot) j/k scroll \(symbols.dot) Esc close ", theme.dim)]
        let inner = overlayBox(
            rect, heading: "Event \(record.transactionID)",
            status: [Span(" \(record.state.label) ", theme.style(for: record.state))],
            footer: footer)
        guard inner.height > 0 else { return }
        let headings: Set<String> = ["Sent to Lago", "Lago's response", "Attempts"]
        var rendered: [(String, Style)] = []
        for text in state.detailLines(for: record) {
            let style: Style
            if headings.contains(text) {
                style = theme.focusedTitle
            } else if text.hasPrefix("  TIME ") {
                style = theme.header
            } else if text.hasPrefix("State ") {
                style = theme.style(for: record.state)
            } else if text.hasPrefix("Reason ") {
                style = theme.error
            } else {
                style = .plain
            }
            for piece in wrap(text, width: inner.width - 2) { rendered.append((piece, style)) }
        }
        let start = max(0, min(scroll, rendered.count - inner.height))
        for row in 0..<inner.height where start + row < rendered.count {
            let (text, style) = rendered[start + row]
            grid.put(text, x: inner.x + 1, y: inner.y + row, style: style, maxWidth: inner.width - 2)
        }
    }

    // MARK: - Confirm

    func confirmQuestion(_ dialog: ConfirmDialog) -> String {
        switch dialog.kind {
        case .quit(let pending):
            "flush \(Format.grouped(pending)) pending event\(pending == 1 ? "" : "s") before quitting? [y/N/c]"
        case .flushingBeforeQuit(let pending):
            "flushing before quitting: \(Format.grouped(pending)) event\(pending == 1 ? "" : "s") left to deliver…"
        case .replay(_, let transactionID, _):
            "Replay dead letter \(transactionID) to Lago? [y/N]"
        case .discard(let id, let transactionID):
            if let reason = state.stats.deadLetters.first(where: { $0.id == id })?.reason {
                "Discard dead letter \(transactionID) for good? Lago said: \(reason). It will not be billed. [y/N]"
            } else {
                "Discard dead letter \(transactionID) for good? It will not be billed. [y/N]"
            }
        case .releaseHeld(_, let transactionID):
            "Release held event \(transactionID)? It is checked again and queued for Lago, billable or not. [y/N]"
        case .discardHeld(_, let transactionID):
            "Discard held event \(transactionID) for good? It is never sent nor billed. [y/N]"
        }
    }

    func confirmChoices(_ dialog: ConfirmDialog) -> [Span] {
        let yes: String
        let no: String
        var extra: String?
        switch dialog.kind {
        case .quit:
            yes = "y flush, then quit"
            no = "N quit now (events stay queued)"
            extra = "c cancel"
        case .flushingBeforeQuit:
            return [Span("  ctrl-c quit now (the events left stay spooled)", theme.button)]
        case .replay:
            yes = "y replay"
            no = "N no"
        case .discard, .discardHeld:
            yes = "y discard"
            no = "N keep it"
        case .releaseHeld:
            yes = "y release"
            no = "N keep it held"
        }
        let mark = symbols.pointer
        var spans = [
            Span(
                dialog.yesHighlighted ? "\(mark) \(yes)" : "  \(yes)",
                dialog.yesHighlighted ? theme.buttonSelected : theme.button),
            Span("   "),
            Span(
                dialog.yesHighlighted ? "  \(no)" : "\(mark) \(no)",
                dialog.yesHighlighted ? theme.button : theme.buttonSelected),
        ]
        if let extra { spans += [Span("   "), Span("  \(extra)", theme.button)] }
        return spans
    }

    mutating func drawConfirm(_ dialog: ConfirmDialog) {
        let heading: String
        var borderStyle = theme.focusedBorder
        switch dialog.kind {
        case .quit, .flushingBeforeQuit: heading = "Quit"
        case .replay: heading = "Replay"
        case .releaseHeld: heading = "Release"
        case .discard, .discardHeld:
            heading = "Discard"
            borderStyle = theme.error
        }
        let question = confirmQuestion(dialog)
        let choices = confirmChoices(dialog)
        let width = min(grid.width - 6, max(displayWidth(of: question), width(of: choices)) + 6)
        let questionLines = wrap(question, width: width - 6)
        let rect = dialogRect(maxWidth: width, height: questionLines.count + 5)
        let inner = overlayBox(rect, heading: heading, border: borderStyle)
        for (index, text) in questionLines.enumerated() {
            line([Span(text, theme.title)], in: inner, y: inner.y + 1 + index, indent: 2)
        }
        line(choices, in: inner, y: inner.y + 2 + questionLines.count, indent: 1)
    }

    /// The answers on one short line, for the "too small" screen.
    func compactChoices(_ dialog: ConfirmDialog) -> String {
        switch dialog.kind {
        case .quit: "y flush & quit \(symbols.dot) N quit now \(symbols.dot) c cancel"
        case .flushingBeforeQuit: "ctrl-c quit now (events stay spooled)"
        case .replay: "y replay \(symbols.dot) N no"
        case .discard, .discardHeld: "y discard \(symbols.dot) N keep"
        case .releaseHeld: "y release \(symbols.dot) N keep held"
        }
    }

    // MARK: - Picker

    mutating func drawPicker(_ picker: PickerState) {
        let items = picker.filtered
        let rect = dialogRect(maxWidth: 76, height: max(8, items.count + 6))
        let inner = overlayBox(
            rect, heading: picker.heading,
            status: [Span(" \(items.count) of \(picker.items.count) ", theme.dim)],
            footer: [Span(" Enter pick \(symbols.dot) Esc cancel ", theme.dim)])
        guard inner.height > 2 else { return }
        grid.put("Search", x: inner.x + 1, y: inner.y, style: theme.label)
        picker.query.render(
            into: &grid, x: inner.x + 9, y: inner.y, width: inner.width - 10,
            style: theme.focusedField, focused: true)
        let rows = inner.height - 2
        let top = max(0, min(picker.selection - rows + 1, items.count - rows))
        if items.isEmpty {
            line([Span("no billable metric matches", theme.dim)], in: inner, y: inner.y + 2, indent: 3)
        }
        let codeWidth = min(32, max(16, inner.width / 2 - 4))
        for (offset, index) in (max(0, top)..<min(items.count, max(0, top) + rows)).enumerated() {
            let y = inner.y + 2 + offset
            let item = items[index]
            let selected = index == picker.selection
            if selected { grid.put(symbols.pointer, x: inner.x + 1, y: y, style: theme.focusedTitle) }
            drawRow(
                [item.value, item.detail], [codeWidth, inner.width - codeWidth - 6],
                styles: [.plain, theme.dim], x: inner.x + 3, y: y, gap: 2)
            if selected {
                grid.patchStyle(Rect(x: inner.x, y: y, width: inner.width, height: 1), with: theme.selection)
            }
        }
    }

    // MARK: - Edit and replay

    mutating func drawReplayForm(_ form: ReplayForm) {
        let rect = dialogRect(maxWidth: 90, height: 13)
        let inner = overlayBox(
            rect, heading: "Edit & replay",
            footer: [
                Span(
                    " Tab next field \(symbols.dot) Enter replay \(symbols.dot) Esc cancel ",
                    theme.dim)
            ])
        guard inner.height > 0 else { return }
        var y = inner.y + 1
        line(
            [Span("same transaction id: Lago deduplicates; a new one bills a new event", theme.dim)],
            in: inner, y: y, indent: 2)
        y += 2
        for (index, field) in form.fields.enumerated() {
            let focused = index == form.focused
            grid.put(
                padded(ReplayForm.labels[index], toWidth: 14), x: inner.x + 2, y: y,
                style: form.errors[index] != nil ? theme.error : (focused ? theme.focusedTitle : theme.label))
            field.render(
                into: &grid, x: inner.x + 16, y: y, width: inner.width - 18,
                style: focused ? theme.focusedField : theme.field, focused: focused)
            y += 1
            if let error = form.errors[index] {
                line([Span("\(symbols.cross) \(error)", theme.error)], in: inner, y: y, indent: 16)
            }
            y += 1
        }
    }
}
