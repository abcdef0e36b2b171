/// One cell of a frame as the terminal draws it.
public struct FrameCell: Sendable, Hashable {
    /// The text of the cell: one grapheme; empty for the second column of a wide character.
    public var symbol: String
    /// Columns the symbol takes: 1, 2 for a wide character, 0 for the column a wide character covers.
    public var width: Int
    /// Bold.
    public var bold: Bool
    /// Dim.
    public var dim: Bool
    /// Reverse video.
    public var reverse: Bool
    /// Underlined.
    public var underline: Bool
    /// Foreground colour (0–7), or the terminal's default.
    public var foreground: Int?
    /// Background colour (0–7), or the terminal's default.
    public var background: Int?

    /// Creates a cell.
    public init(
        symbol: String, width: Int = 1, bold: Bool = false, dim: Bool = false, reverse: Bool = false,
        underline: Bool = false, foreground: Int? = nil, background: Int? = nil
    ) {
        self.symbol = symbol
        self.width = width
        self.bold = bold
        self.dim = dim
        self.reverse = reverse
        self.underline = underline
        self.foreground = foreground
        self.background = background
    }

    /// Whether this is the column covered by a wide character before it.
    public var isContinuation: Bool { width == 0 }
}

/// A whole screen of cells, row by row (ratatui's `Buffer`, as the terminal sees it).
public struct Frame: Sendable, Hashable {
    /// Columns.
    public let width: Int
    /// Rows.
    public let height: Int
    /// `width × height` cells, row after row.
    public let cells: [FrameCell]

    /// Creates a frame; `cells` must hold `width × height` cells.
    public init(width: Int, height: Int, cells: [FrameCell]) {
        precondition(cells.count == width * height, "a frame of \(width)×\(height) needs \(width * height) cells")
        self.width = width
        self.height = height
        self.cells = cells
    }

    /// The cells to draw to turn `previous` into this frame, left to right and top to bottom; every cell when
    /// there is no previous frame or its size differs. A cell next to a wide character that changed is drawn
    /// again (the terminal may have overwritten it), and the column a wide character covers never is.
    public func changes(from previous: Frame?) -> [TerminalCell] {
        guard let previous, previous.width == width, previous.height == height else {
            return cells.indices.compactMap { index in
                cells[index].isContinuation ? nil : terminalCell(at: index)
            }
        }
        var changes: [TerminalCell] = []
        var invalidated = 0
        var toSkip = 0
        for index in cells.indices {
            let current = cells[index]
            let old = previous.cells[index]
            if !current.isContinuation && (current != old || invalidated > 0) && toSkip == 0 {
                changes.append(terminalCell(at: index))
            }
            toSkip = current.isContinuation ? max(0, toSkip - 1) : max(0, current.width - 1)
            let affected = max(current.width, old.width)
            invalidated = max(0, max(affected, invalidated) - 1)
            if index % width == width - 1 {
                invalidated = 0
                toSkip = 0
            }
        }
        return changes
    }

    private func terminalCell(at index: Int) -> TerminalCell {
        let cell = cells[index]
        return TerminalCell(
            x: index % width, y: index / width, symbol: cell.symbol, bold: cell.bold, dim: cell.dim,
            reverse: cell.reverse, underline: cell.underline, foreground: cell.foreground,
            background: cell.background)
    }
}

/// What ``FramePresenter`` asks of its caller after a change.
public enum FrameRequest: Sendable, Hashable {
    /// Render a frame now and hand it to ``FramePresenter/draw(_:now:)``.
    case draw
    /// Post a render tick at this instant and ask again then (``FramePresenter/tickFired(now:)``).
    case tick(at: ContinuousClock.Instant)
    /// Nothing to do: nothing changed, or a tick is already due in time.
    case nothing
}

/// The terminal side of drawing: the previous frame (only what changed is drawn, like ratatui's `Terminal` with
/// its two buffers) and the frame pacing. Pure: the caller passes the time.
///
/// Changes from the engine are drawn at most once per ``dataInterval`` (about 20 frames a second under any load);
/// a key or a resize is drawn at once unless a frame went out in the last ``keyInterval``, so the operator never
/// waits for a timer. Nothing changes, nothing is drawn and no timer runs.
public struct FramePresenter: Sendable {
    /// The shortest time between two frames for changes from the engine.
    public let dataInterval: Duration
    /// The shortest time between two frames for a key or a resize.
    public let keyInterval: Duration
    private var previous: Frame?
    private var dirty = true
    private var lastFrameAt: ContinuousClock.Instant
    private var tickAt: ContinuousClock.Instant?

    /// Creates a presenter that has drawn nothing yet (the first request draws at once).
    public init(
        dataInterval: Duration = .milliseconds(50), keyInterval: Duration = .milliseconds(16),
        now: ContinuousClock.Instant
    ) {
        self.dataInterval = dataInterval
        self.keyInterval = keyInterval
        lastFrameAt = now - dataInterval
    }

    /// The state changed; `urgent` for a key or a resize (drawn within ``keyInterval``), else within
    /// ``dataInterval``.
    public mutating func changed(urgent: Bool, now: ContinuousClock.Instant) -> FrameRequest {
        dirty = true
        return request(within: urgent ? keyInterval : dataInterval, now: now)
    }

    /// The render tick asked for by ``FrameRequest/tick(at:)`` came.
    public mutating func tickFired(now: ContinuousClock.Instant) -> FrameRequest {
        tickAt = nil
        return request(within: keyInterval, now: now)
    }

    /// The screen was resized or cleared: the next frame is drawn in full.
    public mutating func invalidate() {
        previous = nil
    }

    /// The cells to hand to the terminal for `frame` (``TerminalSession/present(_:fullFrame:)``), and whether
    /// they are a full frame; `nil` when nothing changed since the previous frame.
    public mutating func draw(
        _ frame: Frame, now: ContinuousClock.Instant
    ) -> (cells: [TerminalCell], fullFrame: Bool)? {
        let full = previous == nil || previous?.width != frame.width || previous?.height != frame.height
        let cells = frame.changes(from: previous)
        previous = frame
        dirty = false
        lastFrameAt = now
        guard !cells.isEmpty || full else { return nil }
        return (cells, full)
    }

    private mutating func request(within interval: Duration, now: ContinuousClock.Instant) -> FrameRequest {
        guard dirty else { return .nothing }
        let due = lastFrameAt + interval
        if now >= due { return .draw }
        if let tickAt, tickAt <= due { return .nothing }
        tickAt = due
        return .tick(at: due)
    }
}
