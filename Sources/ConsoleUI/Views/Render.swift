import Foundation
import LagoAPI
import LagoUsage

/// Renders the whole screen for a state: a pure function from state to a full frame.
///
/// Only the visible rows of the events history are touched, so a frame costs the same with 10 or 10,000
/// events. The terminal diffs the frame made of it against the previous one (`Terminal`'s `Frame.changes(from:)`).
public func render(_ state: AppState) -> Grid {
    var renderer = Renderer(state: state)
    renderer.draw()
    return renderer.grid
}

/// A run of text in one style.
struct Span: Sendable {
    var text: String
    var style: Style

    init(_ text: String, _ style: Style = .plain) {
        self.text = text
        self.style = style
    }
}

struct Renderer {
    let state: AppState
    let theme: Theme
    let symbols: Symbols
    let layout: ScreenLayout
    var grid: Grid

    init(state: AppState) {
        self.state = state
        self.theme = state.noColor ? .monochrome : .color
        self.symbols = state.asciiOnly ? .ascii : .unicode
        self.layout = ScreenLayout(size: state.size)
        self.grid = Grid(width: state.size.width, height: state.size.height)
    }

    mutating func draw() {
        if layout.kind == .tooSmall {
            drawTooSmall()
            return
        }
        drawStatusLine()
        drawTabBar()
        drawPane(layout.mainPane(focused: state.focusedPane), in: layout.main)
        if let queue = layout.queue { drawPane(.queue, in: queue) }
        if let failures = layout.failures { drawPane(.failures, in: failures) }
        drawFooter()
        drawOverlay()
    }

    mutating func drawPane(_ pane: Pane, in rect: Rect) {
        switch pane {
        case .events: drawEvents(rect)
        case .queue: drawQueue(rect)
        case .failures: drawFailures(rect)
        case .mappings: drawMappings(rect)
        case .subscription: drawSubscription(rect)
        case .sendTest: drawSendTest(rect)
        case .billing: drawBilling(rect)
        case .usage: drawUsage(rect)
        }
    }

    // MARK: - Helpers

    /// Writes spans from `x`, not past `maxX`; returns the column after the last one written.
    @discardableResult
    ///
    /// Spans that do not fit are fitted as one line by ``truncate(_:toWidth:ellipsis:)``: cut at a word boundary,
    /// the ellipsis in the style of the span where the cut falls.
    mutating func put(_ spans: [Span], x: Int, y: Int, maxX: Int) -> Int {
        var column = x
        let room = maxX - x
        guard room > 0 else { return column }
        let whole = spans.map(\.text).joined()
        let fitted = truncate(whole, toWidth: room, ellipsis: symbols.ellipsis)
        guard fitted != whole else {
            for span in spans where column < maxX {
                column += grid.put(span.text, x: column, y: y, style: span.style, maxWidth: maxX - column)
            }
            return column
        }
        let cutMark = fitted.hasSuffix(symbols.ellipsis) && !whole.hasPrefix(fitted)
        var keep = fitted.count - (cutMark ? symbols.ellipsis.count : 0)
        var lastStyle = spans.first?.style ?? .plain
        for span in spans where keep > 0 {
            let part = String(span.text.prefix(keep))
            keep -= part.count
            lastStyle = span.style
            column += grid.put(part, x: column, y: y, style: span.style, maxWidth: maxX - column)
        }
        if cutMark { column += grid.put(symbols.ellipsis, x: column, y: y, style: lastStyle, maxWidth: maxX - column) }
        return column
    }

    func width(of spans: [Span]) -> Int { spans.reduce(0) { $0 + displayWidth(of: $1.text) } }

    /// Draws a pane's box with its title (left) and status (right) in the top border; returns the inside.
    mutating func paneBox(
        _ rect: Rect, pane: Pane, title: [Span] = [], status: [Span] = [], footer: [Span] = []
    )
        -> Rect
    {
        let focused = state.focusedPane == pane
        grid.fill(rect)
        grid.drawBox(rect, symbols: symbols.box, style: focused ? theme.focusedBorder : theme.border)
        return boxLabels(
            rect, heading: " \(pane.rawValue) \(pane.title) ", focused: focused, title: title,
            status: status, footer: footer)
    }

    /// Writes the heading and labels of a box drawn at `rect`; returns the inside.
    mutating func boxLabels(
        _ rect: Rect, heading: String, focused: Bool, title: [Span], status: [Span], footer: [Span]
    ) -> Rect {
        let maxX = rect.maxX - 2
        var x = rect.x + 1
        x = put([Span(heading, focused ? theme.focusedTitle : theme.title)], x: x, y: rect.y, maxX: maxX)
        x = put(title, x: x, y: rect.y, maxX: maxX)
        let statusWidth = width(of: status)
        if statusWidth > 0 && maxX - statusWidth > x + 1 {
            put(status, x: maxX - statusWidth, y: rect.y, maxX: maxX)
        }
        let footerWidth = width(of: footer)
        if footerWidth > 0 && rect.width > footerWidth + 4 {
            put(footer, x: maxX - footerWidth, y: rect.maxY - 1, maxX: maxX)
        }
        return rect.inset(by: 1)
    }

    /// Writes a line of text clipped to `rect`'s width at row `y`.
    mutating func line(_ spans: [Span], in rect: Rect, y: Int, indent: Int = 1) {
        guard y >= rect.y, y < rect.maxY else { return }
        put(spans, x: rect.x + indent, y: y, maxX: rect.maxX - (indent > 0 ? 1 : 0))
    }

    /// Writes text wrapped to the width of `rect` from row `y`; returns the number of rows written.
    @discardableResult
    mutating func paragraph(_ text: String, _ style: Style, in rect: Rect, y: Int, indent: Int = 1) -> Int {
        let lines = wrap(text, width: rect.width - indent - 1)
        for (offset, text) in lines.enumerated() where y + offset < rect.maxY {
            grid.put(text, x: rect.x + indent, y: y + offset, style: style, maxWidth: rect.width - indent - 1)
        }
        return lines.count
    }

    /// Splits text into lines of at most `width` columns at word boundaries (``wrapped(_:toWidth:ellipsis:)``).
    func wrap(_ text: String, width: Int) -> [String] {
        wrapped(text, toWidth: width, ellipsis: symbols.ellipsis)
    }

    /// ``ConsoleUI/padded(_:toWidth:ellipsis:)`` with the theme's ellipsis (`~` on a terminal without UTF-8).
    func padded(_ text: String, toWidth width: Int) -> String {
        ConsoleUI.padded(text, toWidth: width, ellipsis: symbols.ellipsis)
    }

    /// ``ConsoleUI/rightAligned(_:toWidth:ellipsis:)`` with the theme's ellipsis.
    func rightAligned(_ text: String, toWidth width: Int) -> String {
        ConsoleUI.rightAligned(text, toWidth: width, ellipsis: symbols.ellipsis)
    }

    var timeZone: TimeZone { state.timeZone }

    // MARK: - Too small

    mutating func drawTooSmall() {
        var lines = wrap(
            "terminal too small (need \(TerminalSize.minimum.width)×\(TerminalSize.minimum.height), "
                + "have \(state.size.width)×\(state.size.height))", width: max(1, grid.width - 2))
        if case .confirm(let dialog) = state.overlay {
            lines.append("")
            lines += wrap(confirmQuestion(dialog), width: max(1, grid.width - 2))
            lines.append(compactChoices(dialog))
        } else {
            lines.append("")
            lines.append("q quit · ctrl-c quit now")
        }
        let top = max(0, (grid.height - lines.count) / 2)
        for (index, text) in lines.enumerated() {
            let x = max(0, (grid.width - displayWidth(of: text)) / 2)
            grid.put(text, x: x, y: top + index, style: index == 0 ? theme.error : theme.hintText)
        }
    }

    // MARK: - Status line

    mutating func drawStatusLine() {
        let y = layout.statusRow
        grid.fill(Rect(x: 0, y: y, width: grid.width, height: 1), style: theme.statusBar)
        let connection = state.connection
        let bar = theme.statusBar
        var segments: [(spans: [Span], priority: Int)] = []
        segments.append(([Span(" Lago Console ", theme.statusStrong)], 2))
        var place: [Span] = [Span(" \(connection.url) ", bar)]
        if connection.isSandbox { place.append(Span(" SANDBOX ", theme.badgeSandbox)) }
        segments.append((place, 7))
        if let attached = connection.attachedTo {
            segments.append(([Span(" ATTACHED ", theme.badgeLive), Span(" \(attached) ", bar)], 7))
        }
        if state.readOnly { segments.append(([Span(" RO ", theme.badgeReadOnly)], 9)) }
        if connection.relayProblem != nil {
            // The Queue pane has the address and why; here, that local clients' events do not come in.
            segments.append(([Span(" \(symbols.cross) relay not listening ", theme.badgeReadOnly)], 7))
        }
        segments.append(([Span(" key \(connection.maskedKey) ", bar)], 5))
        let auth: String
        switch connection.auth {
        case .unknown: auth = "auth ?"
        case .checking: auth = "auth \(symbols.ellipsis)"
        case .ok: auth = "auth \(symbols.check)"
        case .failed: auth = "auth \(symbols.cross) failed"
        }
        let link: String
        switch connection.link {
        case .unknown: link = ""
        case .connected: link = "\(symbols.bullet) connected"
        case .unreachable(let reason): link = "\(symbols.cross) \(Format.linkWord(reason))"
        case .holderGone(let holder):
            link = ""
            segments.append(
                ([Span(" \(symbols.cross) \(holder) gone \(symbols.dash) reattaching ", theme.badgeReadOnly)], 9))
        }
        if case .failed = connection.auth {
            segments.append(([Span(" \(auth) ", theme.badgeReadOnly)], 6))
        } else {
            segments.append(([Span(" \(auth) ", bar)], 6))
        }
        if !link.isEmpty { segments.append(([Span(" \(link) ", bar)], 3)) }
        segments.append(
            (state.isPaused ? [Span(" PAUSED ", theme.badgePaused)] : [Span(" LIVE ", theme.badgeLive)], 8))
        segments.append(([Span(" queue \(Format.grouped(state.stats.pending)) ", theme.statusStrong)], 8))
        if state.stats.dead > 0 {
            segments.append(([Span(" dead \(Format.grouped(state.stats.dead)) ", theme.badgeReadOnly)], 1))
        }
        if state.stats.spoolError != nil {
            // The queue pane has the cause and the file; here, that new events cannot be kept.
            segments.append(([Span(" \(symbols.cross) SPOOL WRITE FAILED ", theme.badgeReadOnly)], 10))
        }
        let right = [
            Span(" ? ", theme.statusStrong), Span("help ", bar), Span(" q ", theme.statusStrong),
            Span("quit ", bar),
        ]
        let available = grid.width - width(of: right) - 1
        var kept = segments
        while width(of: kept.flatMap(\.spans)) > available,
            let lowest = kept.enumerated().min(by: { $0.element.priority < $1.element.priority })
        {
            kept.remove(at: lowest.offset)
        }
        put(kept.flatMap(\.spans), x: 0, y: y, maxX: available)
        put(right, x: grid.width - width(of: right), y: y, maxX: grid.width)
    }

    // MARK: - Tab bar

    mutating func drawTabBar() {
        let y = layout.tabRow
        let clock = "\(Format.clock(state.now, timeZone)) \(Format.zoneName(state.now, timeZone))"
        func labels(short: Bool) -> [String] {
            Pane.allCases.map { pane in
                var title = pane.title
                if short {
                    title =
                        [
                            .subscription: "Sub", .sendTest: "Send", .mappings: "Maps", .failures: "Fail",
                            .billing: "Bill",
                        ][pane]
                        ?? title
                }
                var label = " \(pane.rawValue) \(title) "
                if pane == .failures && !state.stats.deadLetters.isEmpty {
                    label = " \(pane.rawValue) \(title) \(symbols.cross)\(state.stats.deadLetters.count) "
                }
                if pane == .billing && state.stats.billing.held > 0 {
                    label = " \(pane.rawValue) \(title) \(symbols.warning)\(state.stats.billing.held) "
                }
                if pane == .mappings, let known = state.mappingsPane.knownCodes {
                    let unknown = CanonicalField.allCases.filter { !known.contains(state.code(for: $0)) }.count
                    if unknown > 0 { label = " \(pane.rawValue) \(title) \(symbols.cross)\(unknown) " }
                }
                return label
            }
        }
        var tabs = labels(short: false)
        var gap = 2
        let total = { (tabs: [String], gap: Int) in
            tabs.reduce(0) { $0 + displayWidth(of: $1) } + gap * (tabs.count - 1)
        }
        while gap > 0 && total(tabs, gap) > grid.width { gap -= 1 }
        if total(tabs, gap) > grid.width { tabs = labels(short: true) }
        var x = 0
        for (pane, label) in zip(Pane.allCases, tabs) {
            let active = pane == state.focusedPane
            x += grid.put(label, x: x, y: y, style: active ? theme.tabActive : theme.tabInactive)
            x += gap
        }
        let clockX = grid.width - displayWidth(of: clock) - 1
        if clockX > x { grid.put(clock, x: clockX, y: y, style: theme.dim) }
    }

    // MARK: - Footer

    mutating func drawFooter() {
        let y = layout.footerRow
        switch state.overlay {
        case .commandLine(let command):
            grid.put(":", x: 0, y: y, style: theme.hintKey)
            command.field.render(into: &grid, x: 1, y: y, width: grid.width - 1, style: .plain, focused: true)
            return
        case .filterPrompt(let prompt):
            grid.put("/", x: 0, y: y, style: theme.hintKey)
            let help = "  Enter apply · Esc clear · ↑↓ history · state:dead !text"
            let helpWidth = min(displayWidth(of: help), max(0, grid.width - 30))
            let fieldWidth = grid.width - 1 - helpWidth
            prompt.field.render(into: &grid, x: 1, y: y, width: fieldWidth, style: .plain, focused: true)
            grid.put(
                truncate(help, toWidth: helpWidth, ellipsis: symbols.ellipsis), x: 1 + fieldWidth, y: y,
                style: theme.dim, maxWidth: helpWidth)
            return
        default:
            break
        }
        var messageSpans: [Span] = []
        if let message = state.message {
            switch message.kind {
            case .info: messageSpans = [Span(message.text + " ", theme.hintText)]
            case .success: messageSpans = [Span("\(symbols.check) ", theme.ok), Span(message.text + " ", theme.ok)]
            case .error: messageSpans = [Span("\(symbols.cross) ", theme.error), Span(message.text + " ", theme.error)]
            }
        }
        let messageWidth = min(width(of: messageSpans), grid.width * 2 / 3)
        let hintsMaxX = grid.width - messageWidth - (messageWidth > 0 ? 2 : 0)
        var x = 1
        var shown = 0
        for binding in footerBindings() where shown < 6 {
            let spans = [
                Span(binding.footerLabel(ascii: state.asciiOnly), theme.hintKey),
                Span(
                    " " + (binding.action == .togglePause && state.isPaused ? "resume" : binding.hint!), theme.hintText),
            ]
            let w = width(of: spans)
            if x + w > hintsMaxX { break }
            x = put(spans, x: x, y: y, maxX: hintsMaxX) + 2
            shown += 1
        }
        if messageWidth > 0 {
            let messageX = max(x, grid.width - messageWidth)
            put(messageSpans, x: messageX, y: y, maxX: grid.width)
        }
    }

    /// The footer hints: bindings of the current mode with a hint, available now, `?`/`q` excluded (the
    /// status line shows them).
    func footerBindings() -> [KeyBinding] {
        state.activeBindings().filter { binding in
            binding.hint != nil && binding.action != .quit && binding.action != .showHelp
        }
    }
}
