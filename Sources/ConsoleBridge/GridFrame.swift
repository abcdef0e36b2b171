public import ConsoleUI
public import Terminal

extension Frame {
    /// The frame the terminal draws for a rendered grid: each cell's symbol, its display width and its style
    /// (colours as the terminal's 0–7).
    public init(_ grid: Grid) {
        var cells: [FrameCell] = []
        cells.reserveCapacity(grid.width * grid.height)
        for y in 0..<grid.height {
            for x in 0..<grid.width {
                let cell = grid[x, y]
                let style = cell.style
                cells.append(
                    FrameCell(
                        symbol: cell.symbol, width: cell.width, bold: style.bold, dim: style.dim,
                        reverse: style.reverse, underline: style.underline,
                        foreground: style.fg.map { Int($0.rawValue) }, background: style.bg.map { Int($0.rawValue) }))
            }
        }
        self.init(width: grid.width, height: grid.height, cells: cells)
    }
}
