/// One of the 16 ANSI colours.
///
/// The console never uses 256-colour or true-colour values: the 16 ANSI colours follow the user's terminal
/// palette, so light and dark themes both work (btop#1048). `nil` in a ``Style`` means the terminal's default.
public enum TerminalColor: UInt8, Sendable, Hashable, CaseIterable {
    /// ANSI colours 0–7 (the raw value is the ANSI/curses colour number).
    case black = 0
    case red, green, yellow, blue, magenta, cyan, white
    /// ANSI colours 8–15.
    case brightBlack, brightRed, brightGreen, brightYellow, brightBlue, brightMagenta, brightCyan, brightWhite
}

/// How a cell is drawn: colours and attributes.
///
/// A backend maps `fg`/`bg` to curses colour pairs (`nil` is `-1`, the default colour after
/// `use_default_colors()`), and the flags to `A_BOLD`, `A_DIM`, `A_REVERSE`, `A_UNDERLINE`.
public struct Style: Sendable, Hashable {
    /// The foreground colour; `nil` is the terminal's default.
    public var fg: TerminalColor?
    /// The background colour; `nil` is the terminal's default (transparent backgrounds stay transparent).
    public var bg: TerminalColor?
    /// Bold (or bright) text.
    public var bold: Bool
    /// Dim (faint) text.
    public var dim: Bool
    /// Swapped foreground and background.
    public var reverse: Bool
    /// Underlined text.
    public var underline: Bool

    /// Creates a style; every attribute is off by default.
    public init(
        fg: TerminalColor? = nil, bg: TerminalColor? = nil, bold: Bool = false, dim: Bool = false,
        reverse: Bool = false, underline: Bool = false
    ) {
        self.fg = fg
        self.bg = bg
        self.bold = bold
        self.dim = dim
        self.reverse = reverse
        self.underline = underline
    }

    /// The default colours with no attributes.
    public static let plain = Style()

    /// This style with `other` laid on top: `other`'s colours win where set, attributes are combined.
    public func patched(with other: Style) -> Style {
        Style(
            fg: other.fg ?? fg, bg: other.bg ?? bg, bold: bold || other.bold, dim: dim || other.dim,
            reverse: reverse || other.reverse, underline: underline || other.underline)
    }
}

/// One cell of a ``Grid``: a grapheme and its style.
///
/// A wide grapheme (CJK, most emoji) occupies two cells: the first holds the grapheme, the second is a
/// *continuation* cell (empty `symbol`) that a backend must skip.
public struct Cell: Sendable, Hashable {
    /// One grapheme cluster (`" "` for an empty cell), or `""` for the continuation of a wide grapheme.
    public var symbol: String
    /// How the cell is drawn.
    public var style: Style

    /// Creates a cell.
    public init(symbol: String, style: Style = .plain) {
        self.symbol = symbol
        self.style = style
    }

    /// A space in the default style.
    public static let blank = Cell(symbol: " ")

    /// Whether this cell is the second half of a wide grapheme (skip it when drawing).
    public var isContinuation: Bool { symbol.isEmpty }

    /// The number of columns the symbol occupies (0 for a continuation cell).
    public var width: Int { symbol.isEmpty ? 0 : max(1, displayWidth(of: symbol)) }
}
