import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Why a tmux command failed.
public struct TmuxError: Error, Sendable, CustomStringConvertible {
    /// What failed, for the test or benchmark report.
    public let description: String

    /// Creates an error.
    public init(description: String) {
        self.description = description
    }
}

/// `text` quoted for a POSIX shell (single quotes; an embedded `'` becomes `'\''`).
public func shellQuote(_ text: String) -> String {
    "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
}

/// A tmux server of its own (`-L socket`, no config file) with one session.
public struct Tmux: Sendable {
    /// The server's socket name (`tmux -L`): one per test or benchmark run, so runs never see each other.
    public let socket: String
    /// The session's name.
    public let session: String

    /// Names a server and its session; nothing starts until ``startServer(command:width:height:)``.
    public init(socket: String, session: String) {
        self.socket = socket
        self.session = session
    }

    /// Starts the server with a detached `width` × `height` session running `command`. Blocks until tmux returns.
    /// - Throws: ``TmuxError`` when tmux cannot start or `new-session` fails.
    public func startServer(command: String, width: Int, height: Int) throws {
        let status = try spawnAndWait([
            "new-session", "-d", "-s", session, "-x", "\(width)", "-y", "\(height)", command,
        ])
        guard status == 0 else {
            throw TmuxError(
                description: "tmux new-session failed (status \(status)); is tmux installed?")
        }
    }

    /// Ends the server and everything in it, and removes its socket file (tmux leaves it behind). Blocks until tmux
    /// returns.
    public func killServer() {
        _ = try? spawnAndWait(["kill-server"])
        let directory = ProcessInfo.processInfo.environment["TMUX_TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        try? FileManager.default.removeItem(atPath: "\(directory)/tmux-\(getuid())/\(socket)")
    }

    private func spawnAndWait(_ arguments: [String]) throws -> Int32 {
        let pid = try spawnTmux(socket: socket, arguments, standardInput: nil, standardOutput: nil)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        return status
    }
}

/// Starts `tmux -L socket -f /dev/null arguments…` through bash, which first closes every descriptor above 2: the
/// tmux server daemonizes from the first call and must hold none of this process's sockets or pipes. Standard
/// input and output go to the given descriptors, or to /dev/null; standard error to /dev/null.
///
/// The child starts with no signal blocked and every signal at its default action: a thread created from the
/// concurrency pool inherits the pool's mask, which blocks SIGTERM and SIGHUP, and a tmux server (and the console
/// in its pane) inheriting that would ignore `kill-server` and the hang-up that follows.
/// - Returns: the pid of the child, which the caller reaps (`waitpid`).
/// - Throws: ``TmuxError`` when `posix_spawnp` fails.
public func spawnTmux(
    socket: String, _ arguments: [String], standardInput: Int32? = nil, standardOutput: Int32? = nil
) throws -> Int32 {
    let closeInherited =
        #"for fd in /proc/$$/fd/*; do n=${fd##*/}; if [ "$n" -gt 2 ]; then eval "exec $n>&-"; fi; done 2>/dev/null; exec "$@""#
    let argv =
        ["bash", "-c", closeInherited, "tmux-spawn", "tmux", "-L", socket, "-f", "/dev/null"]
        + arguments
    var cArguments: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
    defer { cArguments.forEach { free($0) } }
    // A benchmark started from inside tmux must not make this server think it is nested.
    let environment = ProcessInfo.processInfo.environment.filter {
        $0.key != "TMUX" && $0.key != "TMUX_PANE"
    }
    var cEnvironment: [UnsafeMutablePointer<CChar>?] =
        environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer { cEnvironment.forEach { free($0) } }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    if let standardInput {
        posix_spawn_file_actions_adddup2(&actions, standardInput, 0)
    } else {
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    }
    if let standardOutput {
        posix_spawn_file_actions_adddup2(&actions, standardOutput, 1)
    } else {
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
    }
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var noSignals = sigset_t()
    sigemptyset(&noSignals)
    var defaultSignals = sigset_t()
    sigemptyset(&defaultSignals)
    for signal: Int32 in 1..<32 where signal != SIGKILL && signal != SIGSTOP {
        sigaddset(&defaultSignals, signal)
    }
    posix_spawnattr_setsigmask(&attributes, &noSignals)
    posix_spawnattr_setsigdefault(&attributes, &defaultSignals)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    var pid: pid_t = 0
    let result = posix_spawnp(&pid, "bash", &actions, &attributes, &cArguments, &cEnvironment)
    guard result == 0 else {
        throw TmuxError(description: "cannot start tmux: errno \(result)")
    }
    return pid
}
