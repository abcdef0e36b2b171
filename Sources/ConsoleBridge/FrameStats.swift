import Foundation
public import Logging

/// Frame counts as `lago-console bench --parts console` reads them (`LAGO_CONSOLE_FRAME_STATS`): the process, the
/// frames rendered (at most one per 50 ms render tick, only when something changed), handed to the terminal
/// (non-empty diffs) and drawn by the curses thread, and the Unix time they were read at.
public struct FrameStats: Codable, Sendable {
    /// The console's process id.
    public var pid: Int32
    /// Frames rendered.
    public var rendered: Int
    /// Frames handed to the terminal.
    public var presented: Int
    /// Frames the curses thread drew.
    public var drawn: Int
    /// Milliseconds from reading each key to drawing the next frame (the last 10,000 keys).
    public var keyToDrawMilliseconds: [Double]
    /// Unix time of the snapshot.
    public var time: Double

    /// Creates a snapshot.
    public init(
        pid: Int32, rendered: Int, presented: Int, drawn: Int, keyToDrawMilliseconds: [Double], time: Double
    ) {
        self.pid = pid
        self.rendered = rendered
        self.presented = presented
        self.drawn = drawn
        self.keyToDrawMilliseconds = keyToDrawMilliseconds
        self.time = time
    }

    /// Opt-in measurement: replaces the file at `path` with `snapshot()` every 250 ms and once more when the task
    /// is cancelled. Each snapshot carries its own time, so a reader computes rates from two snapshots whatever the
    /// interval. A failed write is logged, never thrown.
    public static func keepWriting(to path: String, logger: Logger, _ snapshot: @Sendable () -> FrameStats) async {
        func write() {
            do {
                try JSONEncoder().encode(snapshot()).write(to: URL(fileURLWithPath: path), options: .atomic)
            } catch {
                logger.warning("cannot write frame stats", metadata: ["path": "\(path)", "error": "\(error)"])
            }
        }
        while !Task.isCancelled {
            write()
            try? await Task.sleep(for: .milliseconds(250))
        }
        write()
    }
}
