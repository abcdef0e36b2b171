import Foundation
import TestSupport
import Testing
import TmuxDriver

/// Drives a real binary inside a detached tmux session: type keys, read the screen.
///
/// Each session gets its own tmux server socket (`-L`), so tests run in parallel without seeing each other.
struct TmuxSession: Sendable {
    let name: String
    let socket: String

    /// Starts `command` in a new detached session of `width` × `height` cells with `environment` added.
    static func start(
        _ command: [String], width: Int = 120, height: Int = 40, environment: [String: String] = [:]
    ) throws -> TmuxSession {
        let id = UUID().uuidString.prefix(8)
        let session = TmuxSession(name: "lc-\(id)", socket: "lc-test-\(id)")
        var env = [
            "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TERM": "xterm-256color", "SWIFT_BACKTRACE": "interactive=no",
        ]
        env.merge(environment) { _, new in new }
        let exports = env.map { "\($0.key)=\(shellQuote($0.value))" }.joined(separator: " ")
        let shellCommand =
            "env \(exports) " + command.map(shellQuote).joined(separator: " ")
            + "; echo \"[exit $?]\"; stty -a; sleep 600"
        // The tmux server daemonizes from this first call and inherits the caller's descriptors. Foundation's
        // Process watches its child through a descriptor the child inherits, so a daemon keeping it open would make
        // waitUntilExit() wait for the server's end: `Tmux` starts it with posix_spawn, stdio on /dev/null, and
        // waitpid (see `TmuxDriver.spawnTmux`).
        try session.server.startServer(command: shellCommand, width: width, height: height)
        return session
    }

    /// Sends keys as tmux `send-keys` names (`"Enter"`, `"Escape"`, `"C-c"`, `"Tab"`) or literal text with `literal`.
    func send(_ keys: String..., literal: Bool = false) throws {
        try tmux(["send-keys", "-t", name] + (literal ? ["-l"] : []) + keys)
    }

    /// The visible screen as plain text lines.
    func screen() throws -> String {
        try tmux(["capture-pane", "-p", "-t", name])
    }

    /// Resizes the window.
    func resize(width: Int, height: Int) throws {
        try tmux(["resize-window", "-t", name, "-x", "\(width)", "-y", "\(height)"])
    }

    /// Polls the screen until `predicate` holds or `timeout` passes; returns the last screen either way.
    @discardableResult
    func waitFor(
        _ description: String, timeout: Duration = .seconds(20), _ predicate: (String) -> Bool
    ) async throws -> String {
        let deadline = ContinuousClock.now + timeout
        var last = ""
        while ContinuousClock.now < deadline {
            last = try screen()
            if predicate(last) { return last }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("timed out waiting for \(description); screen was:\n\(last)")
        return last
    }

    /// Waits until the screen contains `text`.
    @discardableResult
    func waitFor(text: String, timeout: Duration = .seconds(20)) async throws -> String {
        try await waitFor("'\(text)'", timeout: timeout) { $0.contains(text) }
    }

    /// Ends the session and its tmux server.
    func kill() {
        server.killServer()
    }

    /// This session's tmux server (the daemon inherits no descriptor and no blocked signal of the test process).
    private var server: Tmux { Tmux(socket: socket, session: name) }

    @discardableResult
    private func tmux(_ arguments: [String], captureOutput: Bool = true) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["tmux", "-L", socket] + arguments
        let output = Pipe()
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = captureOutput ? output : FileHandle.nullDevice
        process.standardError = captureOutput ? output : FileHandle.nullDevice
        try process.run()
        let data = captureOutput ? output.fileHandleForReading.readDataToEndOfFile() : Data()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        guard process.terminationStatus == 0 else {
            throw TmuxError(description: "tmux \(arguments.joined(separator: " ")) failed: \(text)")
        }
        return text
    }
}

/// Runs the `lago-console` binary to completion, reading `standardInput` (nothing when `nil`), and returns its exit
/// status and combined output.
///
/// Waits through `terminationHandler`, never `waitUntilExit()`: blocking a thread of the 2-thread concurrency pool
/// would starve an in-process sandbox the binary talks to.
func runLagoConsole(
    _ arguments: [String], environment: [String: String] = [:], standardInput: Data? = nil
) async throws -> (status: Int32, output: String) {
    try await runProgram(try lagoConsoleBinary(), arguments, environment: environment, standardInput: standardInput)
}
