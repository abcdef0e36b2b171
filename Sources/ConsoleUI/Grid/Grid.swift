/// A column and row on the screen, zero-based from the top-left corner.
public struct Position: Sendable, Hashable {
    /// The column.
    public var x: Int
    /// The row.
    public var y: Int

    /// Creates a position.
    public init(x: Int, y: Int) {
        self.x = x
        self.y = y
    }
}

/// A rectangle of cells.
public struct Rect: Sendable, Hashable {
    /// The left column.
    public var x: Int
    /// The top row.
    public var y: Int
    /// The number of columns (never negative).
    public var width: Int
    /// The number of rows (never negative).
    public var height: Int

    /// Creates a rectangle; negative sizes become 0.
    public init(x: Int, y: Int, width: Int, height: Int) {
        self.x = x
        self.y = y
        self.width = max(0, width)
        self.height = max(0, height)
    }

    /// The column just right of the rectangle.
    public var maxX: Int { x + width }
    /// The row just below the rectangle.
    public var maxY: Int { y + height }
    /// Whether the rectangle has no cells.
    public var isEmpty: Bool { width == 0 || height == 0 }

    /// The rectangle shrunk by `amount` cells on every side.
    public func inset(by amount: Int) -> Rect {
        Rect(x: x + amount, y: y + amount, width: width - 2 * amount, height: height - 2 * amount)
    }

    /// The rectangle shrunk by the given amounts.
    public func inset(top: Int = 0, left: Int = 0, bottom: Int = 0, right: Int = 0) -> Rect {
        Rect(x: x + left, y: y + top, width: width - left - right, height: height - top - bottom)
    }

    /// A rectangle of the given size centred in this one (clipped to it).
    public func centered(width: Int, height: Int) -> Rect {
        let w = min(width, self.width)
        let h = min(height, self.height)
        return Rect(x: x + (self.width - w) / 2, y: y + (self.height - h) / 2, width: w, height: h)
    }
}

/// The characters used for box drawing.
public struct BoxSymbols: Sendable, Hashable {
    /// The horizontal edge.
    public var horizontal: String
    /// The vertical edge.
    public var vertical: String
    /// The top-left corner.
    public var topLeft: String
    /// The top-right corner.
    public var topRight: String
    /// The bottom-left corner.
    public var bottomLeft: String
    /// The bottom-right corner.
    public var bottomRight: String

    /// Creates a set of box symbols (each one column wide).
    public init(
        horizontal: String, vertical: String, topLeft: String, topRight: String, bottomLeft: String,
        bottomRight: String
    ) {
        self.horizontal = horizontal
        self.vertical = vertical
        self.topLeft = topLeft
        self.topRight = topRight
        self.bottomLeft = bottomLeft
        self.bottomRight = bottomRight
    }

    /// Unicode light box drawing (`┌─┐│└┘`).
    public static let unicode = BoxSymbols(
        horizontal: "─", vertical: "│", topLeft: "┌", topRight: "┐", bottomLeft: "└", bottomRight: "┘")
    /// Unicode rounded corners (`╭─╮│╰╯`).
    public static let rounded = BoxSymbols(
        horizontal: "─", vertical: "│", topLeft: "╭", topRight: "╮", bottomLeft: "╰", bottomRight: "╯")
    /// The ASCII fallback (`+-+|`) for terminals without UTF-8.
    public static let ascii = BoxSymbols(
        horizontal: "-", vertical: "|", topLeft: "+", topRight: "+", bottomLeft: "+", bottomRight: "+")
}

/// A frame of the screen as a grid of cells (ratatui's `Buffer`).
///
/// Views render into a grid; the terminal backend draws the cells returned by ``diff(from:)``. Writes outside
/// the grid are clipped, never trapped. A wide grapheme takes two cells, the second a continuation cell.
public struct Grid: Sendable, Hashable {
    /// The number of columns.
    public let width: Int
    /// The number of rows.
    public let height: Int
    /// The cells, row by row (`cells[y * width + x]`).
    public private(set) var cells: [Cell]
    /// Where the backend should put the hardware cursor (a text field being edited), or `nil` to hide it.
    public var cursor: Position?

    /// Creates a grid filled with spaces in `style`.
    public init(width: Int, height: Int, style: Style = .plain) {
        self.width = max(0, width)
        self.height = max(0, height)
        self.cells = Array(repeating: Cell(symbol: " ", style: style), count: self.width * self.height)
        self.cursor = nil
    }

    /// The whole grid as a rectangle.
    public var area: Rect { Rect(x: 0, y: 0, width: width, height: height) }

    /// The cell at a position; a blank cell outside the grid.
    public subscript(x: Int, y: Int) -> Cell {
        guard x >= 0, y >= 0, x < width, y < height else { return .blank }
        return cells[y * width + x]
    }

    /// Writes `text` from (`x`, `y`) in `style`, clipped to the grid and to `maxWidth` columns.
    ///
    /// Control characters are skipped. A wide grapheme that would straddle the limit is not written. With
    /// `pad`, the rest of the `maxWidth` columns (or of the row) is filled with spaces in `style`.
    /// - Returns: the number of columns written (excluding padding).
    @discardableResult
    public mutating func put(
        _ text: some StringProtocol, x: Int, y: Int, style: Style = .plain, maxWidth: Int? = nil, pad: Bool = false
    ) -> Int {
        guard y >= 0, y < height else { return 0 }
        let limit = min(width, maxWidth.map { x + max(0, $0) } ?? width)
        guard x < limit else { return 0 }
        var column = x
        for character in text {
            let w = displayWidth(of: character)
            if w == 0 { continue }
            if column + w > limit { break }
            if column >= 0 {
                setCell(x: column, y: y, symbol: String(character), wide: w == 2, style: style)
            } else if column + w > 0 {
                // A wide grapheme cut by the left edge: show the visible half as a space.
                setCell(x: 0, y: y, symbol: " ", wide: false, style: style)
            }
            column += w
        }
        let written = column - x
        if pad {
            var padColumn = max(0, column)
            while padColumn < limit {
                setCell(x: padColumn, y: y, symbol: " ", wide: false, style: style)
                padColumn += 1
            }
        }
        return written
    }

    /// Fills a rectangle (clipped to the grid) with a one-column symbol in `style`.
    public mutating func fill(_ rect: Rect, symbol: String = " ", style: Style = .plain) {
        let x0 = max(0, rect.x)
        let x1 = min(width, rect.maxX)
        let y0 = max(0, rect.y)
        let y1 = min(height, rect.maxY)
        guard x0 < x1, y0 < y1 else { return }
        for y in y0..<y1 {
            for x in x0..<x1 {
                setCell(x: x, y: y, symbol: symbol, wide: false, style: style)
            }
        }
    }

    /// Lays `style` over the existing cells of a rectangle (e.g. reverse video for a selected row).
    public mutating func patchStyle(_ rect: Rect, with style: Style) {
        let x0 = max(0, rect.x)
        let x1 = min(width, rect.maxX)
        let y0 = max(0, rect.y)
        let y1 = min(height, rect.maxY)
        guard x0 < x1, y0 < y1 else { return }
        for y in y0..<y1 {
            for x in x0..<x1 {
                cells[y * width + x].style = cells[y * width + x].style.patched(with: style)
            }
        }
    }

    /// Replaces the style of the cells of a rectangle.
    public mutating func setStyle(_ rect: Rect, style: Style) {
        let x0 = max(0, rect.x)
        let x1 = min(width, rect.maxX)
        let y0 = max(0, rect.y)
        let y1 = min(height, rect.maxY)
        guard x0 < x1, y0 < y1 else { return }
        for y in y0..<y1 {
            for x in x0..<x1 {
                cells[y * width + x].style = style
            }
        }
    }

    /// Draws the border of `rect` with `symbols` in `style`; the inside is left as it is.
    public mutating func drawBox(_ rect: Rect, symbols: BoxSymbols = .unicode, style: Style = .plain) {
        guard rect.width >= 2, rect.height >= 2 else { return }
        let right = rect.maxX - 1
        let bottom = rect.maxY - 1
        for x in (rect.x + 1)..<right {
            put(symbols.horizontal, x: x, y: rect.y, style: style)
            put(symbols.horizontal, x: x, y: bottom, style: style)
        }
        for y in (rect.y + 1)..<bottom {
            put(symbols.vertical, x: rect.x, y: y, style: style)
            put(symbols.vertical, x: right, y: y, style: style)
        }
        put(symbols.topLeft, x: rect.x, y: rect.y, style: style)
        put(symbols.topRight, x: right, y: rect.y, style: style)
        put(symbols.bottomLeft, x: rect.x, y: bottom, style: style)
        put(symbols.bottomRight, x: right, y: bottom, style: style)
    }

    /// Draws a horizontal line of `symbol` from (`x`, `y`) over `length` columns.
    public mutating func drawHorizontalLine(x: Int, y: Int, length: Int, symbol: String, style: Style = .plain) {
        guard length > 0 else { return }
        for column in x..<(x + length) {
            put(symbol, x: column, y: y, style: style)
        }
    }

    /// The rows as text, continuation cells skipped and trailing spaces trimmed (for golden tests).
    public var lines: [String] {
        (0..<height).map { y in
            var line = ""
            for x in 0..<width {
                let cell = cells[y * width + x]
                if !cell.isContinuation { line += cell.symbol }
            }
            while line.last == " " { line.removeLast() }
            return line
        }
    }

    /// ``lines`` joined with newlines.
    public var plainText: String { lines.joined(separator: "\n") }

    /// Writes one grapheme, repairing wide graphemes it partially overwrites.
    private mutating func setCell(x: Int, y: Int, symbol: String, wide: Bool, style: Style) {
        let index = y * width + x
        // Overwriting the second half of a wide grapheme: its first half becomes a space.
        if cells[index].isContinuation && x > 0 {
            cells[index - 1].symbol = " "
        }
        // Overwriting the first half of a wide grapheme: its continuation becomes a space.
        if x + 1 < width && cells[index + 1].isContinuation {
            cells[index + 1].symbol = " "
        }
        cells[index] = Cell(symbol: symbol, style: style)
        if wide && x + 1 < width {
            if x + 2 < width && cells[index + 2].isContinuation {
                cells[index + 2].symbol = " "
            }
            cells[index + 1] = Cell(symbol: "", style: style)
        }
    }
}
