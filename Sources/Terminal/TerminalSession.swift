import Foundation
import CNCursesW
import Synchronization

/// One cell to draw: a grapheme with its style.
public struct TerminalCell: Sendable, Hashable {
    public var x: Int
    public var y: Int
    /// One grapheme; an empty string marks the continuation cell of a wide character (nothing is drawn).
    public var symbol: String
    public var bold: Bool
    public var dim: Bool
    public var reverse: Bool
    public var underline: Bool
    /// ANSI colour 0…15, or `nil` for the terminal's default.
    public var foreground: Int?
    /// ANSI colour 0…15, or `nil` for the terminal's default.
    public var background: Int?

    /// Creates a cell update.
    public init(
        x: Int, y: Int, symbol: String, bold: Bool = false, dim: Bool = false, reverse: Bool = false,
        underline: Bool = false, foreground: Int? = nil, background: Int? = nil
    ) {
        self.x = x
        self.y = y
        self.symbol = symbol
        self.bold = bold
        self.dim = dim
        self.reverse = reverse
        self.underline = underline
        self.foreground = foreground
        self.background = background
    }
}

/// Why the terminal could not be opened.
public struct TerminalError: Error, Sendable, CustomStringConvertible {
    public let description: String
}

/// The curses terminal, owned by one dedicated thread.
///
/// All curses calls happen on that thread: it sleeps in `poll(2)` on the terminal and on a wake-up pipe, reads keys
/// as soon as they arrive and draws the latest frame handed over through ``present(_:)`` as soon as it is handed
/// over (no timer in between). Input arrives on ``inputs``; it finishes when the session stops or
/// the terminal hangs up. Use ``withTerminal(noColor:_:)``: the terminal is restored on return, on throw, on
/// SIGTERM/SIGHUP/SIGQUIT/SIGINT and on a crash (C handlers that restore the saved termios, then re-raise).
public final class TerminalSession: Sendable {
    private struct Mailbox {
        var pendingFrame: [TerminalCell]? = nil
        var fullRedraw = false
        var stop = false
        var size: (width: Int, height: Int) = (80, 24)
    }

    private let mailbox = Mutex(Mailbox())
    private let inputContinuation: AsyncStream<TerminalInput>.Continuation
    /// Keys and resizes, in order. Finishes when the session ends.
    public let inputs: AsyncStream<TerminalInput>
    private let stopped = Mutex<CheckedContinuation<Void, Never>?>(nil)
    private let hasStopped = Mutex(false)
    /// Whether colours are used (false with `NO_COLOR`, `--no-color` or a monochrome terminal).
    public let usesColor: Bool
    private let drawnFrames = Atomic<Int>(0)

    /// Frames the curses thread has written to the terminal so far (one `doupdate` each); frames handed over with
    /// ``present(_:fullFrame:)`` faster than it draws are merged into one.
    public var framesDrawn: Int { drawnFrames.load(ordering: .relaxed) }

    /// When the curses thread read the oldest key not yet followed by a drawn frame (curses thread only).
    private let keyWaitingSince = Mutex<ContinuousClock.Instant?>(nil)
    private let keyToDraw = Mutex<[Double]>([])

    /// Milliseconds from reading a key to drawing the next frame, oldest first (the last 10,000 keys that were
    /// followed by a frame): the console's own answer time, without the terminal emulator's.
    public var keyToDrawMilliseconds: [Double] { keyToDraw.withLock { $0 } }

    private init(usesColor: Bool) {
        (inputs, inputContinuation) = AsyncStream.makeStream(of: TerminalInput.self, bufferingPolicy: .bufferingNewest(4096))
        self.usesColor = usesColor
    }

    /// The current size in cells.
    public var size: (width: Int, height: Int) { mailbox.withLock { $0.size } }

    /// Hands a set of changed cells to the curses thread; a newer frame replaces one not yet drawn only when
    /// `replacing` is true (full frames), otherwise changes accumulate.
    public func present(_ cells: [TerminalCell], fullFrame: Bool = false) {
        mailbox.withLock { box in
            if fullFrame || box.pendingFrame == nil {
                box.pendingFrame = cells
                box.fullRedraw = box.fullRedraw || fullFrame
            } else {
                box.pendingFrame! += cells
            }
        }
        lc_wake()
    }

    /// Runs `body` with the terminal in raw mode and restores it afterwards, whatever happens.
    /// - Throws: ``TerminalError`` when there is no usable terminal (`TERM` unset or unknown), or `body`'s error.
    public static func withTerminal<Result: Sendable>(
        noColor: Bool, _ body: (TerminalSession) async throws -> Result
    ) async throws -> Result {
        let session = try await TerminalSession.start(noColor: noColor)
        do {
            let result = try await body(session)
            await session.stop()
            return result
        } catch {
            await session.stop()
            throw error
        }
    }

    private static func start(noColor: Bool) async throws -> TerminalSession {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<TerminalSession, any Error>) in
            let thread = Thread {
                guard lc_open_terminal() == 0 else {
                    continuation.resume(throwing: TerminalError(description: "cannot open the terminal: TERM is unset or unknown (\(ProcessInfo.processInfo.environment["TERM"] ?? "unset"))"))
                    return
                }
                lc_install_crash_handlers()
                raw()
                noecho()
                nonl()
                keypad(lc_stdscr(), true)
                set_escdelay(25)
                curs_set(0)
                // Keys are read only once poll(2) says the terminal has input; get_wch must then not wait (it still
                // waits ESCDELAY for the rest of an escape sequence).
                wtimeout(lc_stdscr(), 0)
                _ = lc_wake_open()
                var color = !noColor && has_colors()
                if color {
                    color = start_color() == OK
                    if color { use_default_colors() }
                }
                let session = TerminalSession(usesColor: color)
                if color { session.initColorPairs() }
                session.mailbox.withLock { $0.size = (Int(lc_cols()), Int(lc_lines())) }
                continuation.resume(returning: session)
                session.runLoop()
            }
            thread.name = "curses"
            thread.start()
        }
    }

    private func stop() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let already = hasStopped.withLock { $0 }
            if already {
                continuation.resume()
                return
            }
            stopped.withLock { $0 = continuation }
            mailbox.withLock { $0.stop = true }
            lc_wake()
        }
    }

    // MARK: The curses thread

    /// Colour pairs: pair = 1 + fg * 17 + bg, with index 16 meaning "default".
    private func initColorPairs() {
        let colors = min(Int(lc_colors()), 16)
        for foreground in -1..<colors {
            for background in -1..<colors {
                let pair = TerminalSession.pairNumber(foreground: foreground < 0 ? nil : foreground, background: background < 0 ? nil : background)
                init_pair(Int16(pair), Int16(foreground), Int16(background))
            }
        }
    }

    private static func pairNumber(foreground: Int?, background: Int?) -> Int {
        1 + (foreground ?? 16) * 17 + (background ?? 16)
    }

    private func runLoop() {
        while true {
            let (frame, full, stop) = mailbox.withLock { box -> ([TerminalCell]?, Bool, Bool) in
                defer {
                    box.pendingFrame = nil
                    box.fullRedraw = false
                }
                return (box.pendingFrame, box.fullRedraw, box.stop)
            }
            if stop { break }
            if let frame { draw(frame, full: full) }
            // Keys curses buffered already (the rest of a paste, say) come first; then sleep until the terminal
            // has input or a frame arrives. The timeout bounds how late a resize is noticed when SIGWINCH is
            // handled on another thread.
            if readInput() { continue }
            if lc_wait_input(250) & 1 != 0 { _ = readInput() }
        }
        lc_restore_terminal()
        inputContinuation.finish()
        hasStopped.withLock { $0 = true }
        stopped.withLock { $0?.resume(); $0 = nil }
    }

    private func draw(_ cells: [TerminalCell], full: Bool) {
        if full { werase(lc_stdscr()) }
        let (width, height) = mailbox.withLock { $0.size }
        for cell in cells where cell.x >= 0 && cell.y >= 0 && cell.x < width && cell.y < height {
            if cell.symbol.isEmpty { continue }
            var attributes = lc_a_normal()
            if cell.bold { attributes |= lc_a_bold() }
            if cell.dim { attributes |= lc_a_dim() }
            if cell.reverse { attributes |= lc_a_reverse() }
            if cell.underline { attributes |= lc_a_underline() }
            var pair: Int16 = 0
            if usesColor, cell.foreground != nil || cell.background != nil {
                pair = Int16(TerminalSession.pairNumber(foreground: cell.foreground, background: cell.background))
            }
            _ = lc_put_utf8(Int32(cell.y), Int32(cell.x), cell.symbol, attributes, pair)
        }
        wnoutrefresh(lc_stdscr())
        doupdate()
        drawnFrames.add(1, ordering: .relaxed)
        if let since = keyWaitingSince.withLock({ value in defer { value = nil }; return value }) {
            let elapsed = ContinuousClock.now - since
            let milliseconds = elapsed / .milliseconds(1)
            keyToDraw.withLock { samples in
                if samples.count >= 10_000 { samples.removeFirst(samples.count - 9_999) }
                samples.append(milliseconds)
            }
        }
    }

    /// Reads one key (or resize) without waiting; returns whether there was one.
    @discardableResult
    private func readInput() -> Bool {
        var key: wint_t = 0
        let status = lc_get_wch(&key)
        if status == lc_err() {
            // A terminal that went away reads as an immediate error forever: stop instead of spinning.
            if lc_input_hung_up() != 0 { mailbox.withLock { $0.stop = true } }
            return false
        }
        if status == lc_key_code_yes() {
            if Int32(key) == lc_key_resize() {
                let size = (Int(lc_cols()), Int(lc_lines()))
                mailbox.withLock { $0.size = size }
                inputContinuation.yield(.resize(width: size.0, height: size.1))
                return true
            }
            if let input = TerminalSession.functionKey(Int32(key)) { keyRead(input) }
            return true
        }
        if let input = TerminalSession.characterKey(UInt32(key)) { keyRead(input) }
        return true
    }

    private func keyRead(_ input: TerminalInput) {
        keyWaitingSince.withLock { if $0 == nil { $0 = .now } }
        inputContinuation.yield(input)
    }

    static func functionKey(_ code: Int32) -> TerminalInput? {
        switch code {
        case KEY_UP: .up
        case KEY_DOWN: .down
        case KEY_LEFT: .left
        case KEY_RIGHT: .right
        case KEY_HOME: .home
        case KEY_END: .end
        case KEY_NPAGE: .pageDown
        case KEY_PPAGE: .pageUp
        case KEY_BACKSPACE: .backspace
        case KEY_DC: .delete
        case KEY_IC: .insert
        case KEY_ENTER: .enter
        case KEY_BTAB: .backTab
        case KEY_F0 + 1...KEY_F0 + 12: .function(Int(code - KEY_F0))
        default: nil
        }
    }

    static func characterKey(_ value: UInt32) -> TerminalInput? {
        switch value {
        case 9: return .tab
        case 10, 13: return .enter
        case 27: return .escape
        case 8, 127: return .backspace
        case 1...26:
            return .control(Character(Unicode.Scalar(value + 96)!))
        case 0...31: return nil
        default:
            guard let scalar = Unicode.Scalar(value) else { return nil }
            return .character(Character(scalar))
        }
    }
}
