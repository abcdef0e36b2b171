/// The styles of the console's parts, in colour (16 ANSI colours on the default background) or monochrome
/// (`NO_COLOR`: bold, dim, underline and reverse only).
struct Theme: Sendable {
    var statusBar: Style
    var statusStrong: Style
    var badgeSandbox: Style
    var badgeReadOnly: Style
    var badgeLive: Style
    var badgePaused: Style
    var border: Style
    var focusedBorder: Style
    var title: Style
    var focusedTitle: Style
    var header: Style
    var selection: Style
    var inactiveSelection: Style
    var highlight: Style
    var dim: Style
    var label: Style
    var ok: Style
    var info: Style
    var warning: Style
    var error: Style
    var hintKey: Style
    var hintText: Style
    var tabActive: Style
    var tabInactive: Style
    var field: Style
    var focusedField: Style
    var spark: Style
    var buttonSelected: Style
    var button: Style

    static let color = Theme(
        statusBar: Style(fg: .black, bg: .cyan),
        statusStrong: Style(fg: .black, bg: .cyan, bold: true),
        badgeSandbox: Style(fg: .black, bg: .yellow, bold: true),
        badgeReadOnly: Style(fg: .brightWhite, bg: .red, bold: true),
        badgeLive: Style(fg: .black, bg: .green, bold: true),
        badgePaused: Style(fg: .black, bg: .yellow, bold: true),
        border: Style(fg: .brightBlack),
        focusedBorder: Style(fg: .cyan, bold: true),
        title: Style(bold: true),
        focusedTitle: Style(fg: .cyan, bold: true),
        header: Style(fg: .brightBlack, bold: true),
        selection: Style(reverse: true),
        inactiveSelection: Style(underline: true),
        highlight: Style(fg: .brightMagenta, bold: true),
        dim: Style(fg: .brightBlack),
        label: Style(fg: .brightBlack),
        ok: Style(fg: .green),
        info: Style(fg: .cyan),
        warning: Style(fg: .yellow),
        error: Style(fg: .red, bold: true),
        hintKey: Style(fg: .cyan, bold: true),
        hintText: Style(),
        tabActive: Style(fg: .black, bg: .cyan, bold: true),
        tabInactive: Style(),
        field: Style(underline: true),
        focusedField: Style(fg: .brightWhite, bg: .blue),
        spark: Style(fg: .green),
        buttonSelected: Style(reverse: true, underline: false),
        button: Style()
    )

    static let monochrome = Theme(
        statusBar: Style(reverse: true),
        statusStrong: Style(bold: true, reverse: true),
        badgeSandbox: Style(bold: true),
        badgeReadOnly: Style(bold: true),
        badgeLive: Style(bold: true),
        badgePaused: Style(bold: true),
        border: Style(),
        focusedBorder: Style(bold: true),
        title: Style(),
        focusedTitle: Style(bold: true),
        header: Style(bold: true),
        selection: Style(reverse: true),
        inactiveSelection: Style(underline: true),
        highlight: Style(bold: true),
        dim: Style(dim: true),
        label: Style(),
        ok: Style(),
        info: Style(),
        warning: Style(bold: true),
        error: Style(bold: true),
        hintKey: Style(bold: true),
        hintText: Style(),
        tabActive: Style(bold: true, reverse: true),
        tabInactive: Style(),
        field: Style(underline: true),
        focusedField: Style(reverse: true),
        spark: Style(),
        buttonSelected: Style(reverse: true),
        button: Style()
    )

    /// The style of a delivery state in the events and detail views.
    func style(for state: DeliveryState) -> Style {
        switch state {
        case .queued: return dim
        case .inFlight: return warning
        case .delivered: return ok
        case .alreadyInLago: return info
        case .retrying: return warning
        case .dead: return error
        case .refused: return error
        case .held: return warning
        case .discarded: return dim
        case .released: return dim
        }
    }
}

/// The glyphs of the console, with ASCII fallbacks for non-UTF-8 terminals.
struct Symbols: Sendable {
    var box: BoxSymbols
    var check: String
    var cross: String
    var dot: String
    var bullet: String
    var pointer: String
    var ellipsis: String
    var arrow: String
    var separator: String
    var warning: String
    var sparkLevels: [String]
    var dash: String

    static let unicode = Symbols(
        box: .unicode, check: "✔", cross: "✗", dot: "·", bullet: "●", pointer: "▶", ellipsis: "…", arrow: "→",
        separator: "│", warning: "⚠", sparkLevels: [" ", "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"], dash: "—")

    static let ascii = Symbols(
        box: .ascii, check: "ok", cross: "x", dot: "-", bullet: "*", pointer: ">", ellipsis: "~", arrow: "->",
        separator: "|", warning: "!", sparkLevels: [" ", "_", ".", "-", ":", "=", "+", "*", "#"], dash: "-")
}
