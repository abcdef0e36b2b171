/// Where the parts of the screen go for a terminal size.
///
/// Row 0 is the status line and the last row the footer. Below 80×24 only the "too small" screen is drawn.
/// From 80 columns one main pane is shown under a pane tab bar; from 160 columns the events (or the focused
/// mappings/subscription/send pane) get a side column with the queue and the failures.
struct ScreenLayout: Sendable, Hashable {
    enum Kind: Sendable, Hashable { case tooSmall, narrow, wide }

    let kind: Kind
    let width: Int
    let height: Int
    /// The box of the main pane.
    let main: Rect
    /// The box of the queue pane in the side column (wide only).
    let queue: Rect?
    /// The box of the failures pane in the side column (wide only).
    let failures: Rect?

    var statusRow: Int { 0 }
    var tabRow: Int { 1 }
    var footerRow: Int { height - 1 }

    init(size: TerminalSize) {
        width = size.width
        height = size.height
        if size.width < TerminalSize.minimum.width || size.height < TerminalSize.minimum.height {
            kind = .tooSmall
            main = Rect(x: 0, y: 0, width: size.width, height: size.height)
            queue = nil
            failures = nil
            return
        }
        let body = Rect(x: 0, y: 2, width: size.width, height: size.height - 3)
        if size.width >= TerminalSize.wideWidth {
            kind = .wide
            let side = min(72, max(60, size.width * 38 / 100))
            main = Rect(x: 0, y: body.y, width: size.width - side, height: body.height)
            let queueHeight = min(16, body.height / 2)
            queue = Rect(x: main.maxX, y: body.y, width: side, height: queueHeight)
            failures = Rect(x: main.maxX, y: body.y + queueHeight, width: side, height: body.height - queueHeight)
        } else {
            kind = .narrow
            main = body
            queue = nil
            failures = nil
        }
    }

    /// The pane drawn in the main box when `focused` has the focus.
    func mainPane(focused: Pane) -> Pane {
        if kind == .wide && (focused == .queue || focused == .failures) { return .events }
        return focused
    }

    /// The box a pane is drawn in, if it is visible.
    func rect(for pane: Pane, focused: Pane) -> Rect? {
        switch kind {
        case .tooSmall: return nil
        case .narrow: return pane == focused ? main : nil
        case .wide:
            if pane == .queue { return queue }
            if pane == .failures { return failures }
            return mainPane(focused: focused) == pane ? main : nil
        }
    }

    /// The number of event rows visible in the events pane (inside the box, below the header).
    func eventRows(focused: Pane) -> Int {
        let box = rect(for: .events, focused: focused) ?? main
        return max(1, box.height - 3)
    }

    /// The number of list rows visible in a pane (an approximation used for paging).
    func listRows(for pane: Pane, focused: Pane) -> Int {
        let box = rect(for: pane, focused: focused) ?? main
        return max(1, box.height - 4)
    }
}
