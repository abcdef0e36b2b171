import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// One tmux control-mode client (`tmux -C attach`) on the session: commands go down a pipe and their output comes
/// back framed by `%begin`/`%end`, a round trip far below a process start. Pane output notifications are turned
/// off (`refresh-client -f no-output`). Calls block the calling thread: use it from a dedicated one.
public final class TmuxControl: Sendable {
    private struct Channel {
        var input: Int32
        var output: Int32
        var pid: pid_t
        var buffer: [UInt8] = []
        var closed = false
    }

    private let channel: Mutex<Channel>

    /// Attaches a control client to the session. Blocks until it answers.
    /// - Throws: when tmux cannot start or the session is gone.
    public init(_ tmux: Tmux) throws {
        var toClient: [Int32] = [0, 0]
        var fromClient: [Int32] = [0, 0]
        // Close-on-exec, so no other child inherits them; the client gets its ends through dup2.
        guard pipe(&toClient) == 0, pipe(&fromClient) == 0 else {
            throw TmuxError(description: "pipe: errno \(errno)")
        }
        for descriptor in toClient + fromClient { _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC) }
        let pid: pid_t
        do {
            pid = try spawnTmux(
                socket: tmux.socket, ["-C", "attach-session", "-t", tmux.session],
                standardInput: toClient[0],
                standardOutput: fromClient[1])
        } catch {
            for descriptor in toClient + fromClient { Glibc.close(descriptor) }
            throw error
        }
        Glibc.close(toClient[0])
        Glibc.close(fromClient[1])
        channel = Mutex(Channel(input: toClient[1], output: fromClient[0], pid: pid))
        do {
            _ = try? command("refresh-client -f no-output")
            _ = try command("display-message -p ok")
        } catch {
            close()
            throw error
        }
    }

    /// Runs one tmux command (targets default to the attached session's pane) and returns its output lines.
    /// - Throws: when tmux answers `%error`, the client ends (the session is gone) or nothing comes within `timeout`.
    public func command(_ line: String, timeout: Duration = .seconds(10)) throws -> [String] {
        try channel.withLock { channel in
            guard !channel.closed else {
                throw TmuxError(description: "tmux control client closed")
            }
            let bytes = Array((line + "\n").utf8)
            var written = 0
            while written < bytes.count {
                let count = bytes.withUnsafeBytes {
                    write(channel.input, $0.baseAddress! + written, $0.count - written)
                }
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else {
                    throw TmuxError(description: "tmux control client: write failed")
                }
                written += count
            }
            let deadline = ContinuousClock.now + timeout
            var block: [String]?
            while true {
                let text = try Self.readLine(&channel, deadline: deadline, command: line)
                if var lines = block {
                    if text.hasPrefix("%end ") || text.hasPrefix("%error ") {
                        // Only blocks flagged 1 answer this client's commands; others (the attach) are skipped.
                        guard text.split(separator: " ").last == "1" else {
                            block = nil
                            continue
                        }
                        if text.hasPrefix("%error ") {
                            throw TmuxError(
                                description: "tmux \(line): \(lines.joined(separator: " "))")
                        }
                        return lines
                    }
                    lines.append(text)
                    block = lines
                } else if text.hasPrefix("%begin ") {
                    block = []
                } else if text.hasPrefix("%exit") {
                    throw TmuxError(description: "tmux control client exited: \(text)")
                }
                // Anything else is a notification between blocks.
            }
        }
    }

    /// Captures the pane until `predicate` holds or `timeout` passes; returns the last screen either way.
    @discardableResult
    public func waitForScreen(timeout: Duration, _ predicate: (String) -> Bool) throws -> String {
        let deadline = ContinuousClock.now + timeout
        var screen = ""
        repeat {
            screen = try command("capture-pane -p").joined(separator: "\n")
            if predicate(screen) { return screen }
            Thread.sleep(forTimeInterval: 0.02)
        } while ContinuousClock.now < deadline
        return screen
    }

    /// Detaches the client (end of its input) and reaps it, killing it if it lingers.
    public func close() {
        channel.withLock { channel in
            guard !channel.closed else { return }
            channel.closed = true
            Glibc.close(channel.input)
            let deadline = ContinuousClock.now + .seconds(5)
            var status: Int32 = 0
            while waitpid(channel.pid, &status, WNOHANG) == 0 {
                if ContinuousClock.now > deadline {
                    kill(channel.pid, SIGKILL)
                    while waitpid(channel.pid, &status, 0) == -1 && errno == EINTR {}
                    break
                }
                Thread.sleep(forTimeInterval: 0.01)
            }
            Glibc.close(channel.output)
        }
    }

    private static func readLine(
        _ channel: inout Channel, deadline: ContinuousClock.Instant, command: String
    ) throws -> String {
        while true {
            if let newline = channel.buffer.firstIndex(of: UInt8(ascii: "\n")) {
                var line = channel.buffer[..<newline]
                if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
                let text = String(decoding: line, as: UTF8.self)
                channel.buffer.removeSubrange(...newline)
                return text
            }
            let remaining = deadline - .now
            guard remaining > .zero else {
                throw TmuxError(description: "tmux did not answer `\(command)` in time")
            }
            var descriptor = pollfd(fd: channel.output, events: Int16(POLLIN), revents: 0)
            let ready = poll(
                &descriptor, 1, Int32(max(1, (remaining / .milliseconds(1)).rounded(.up))))
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else { continue }
            var chunk = [UInt8](repeating: 0, count: 65_536)
            let count = chunk.withUnsafeMutableBytes { read(channel.output, $0.baseAddress!, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else {
                throw TmuxError(
                    description: "the tmux session ended (while running `\(command)`)")
            }
            channel.buffer.append(contentsOf: chunk[..<count])
        }
    }
}
