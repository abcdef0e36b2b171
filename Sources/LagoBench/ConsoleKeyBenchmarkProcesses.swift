import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The processes and threads of the console benchmark: blocking work off the pool, a free port, `/proc` figures.
extension ConsoleKeyBenchmark {
    /// A process's CPU time so far, all threads, user + system, in clock ticks (`/proc/<pid>/stat` fields 14, 15).
    static func cpuTicks(pid: Int32) -> Int? {
        guard let fields = statFields(pid: pid), fields.count > 12, let user = Int(fields[11]),
            let system = Int(fields[12])
        else { return nil }
        return user + system
    }

    /// The fields of `/proc/<pid>/stat` after the command name, starting with the state (field 3).
    static func statFields(pid: Int32) -> [Substring]? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = text.lastIndex(of: ")")
        else { return nil }
        return text[text.index(after: close)...].split(separator: " ")
    }

    /// Runs blocking work on a thread of its own, off the concurrency pool, and returns its result.
    ///
    /// SIGPIPE is blocked on that thread: a write to a tmux client that has gone (the session ended) then fails with
    /// EPIPE instead of killing the process; the pending signal is discarded when the thread ends.
    static func onThread<T: Sendable>(_ name: String, _ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                var pipeSignal = sigset_t()
                sigemptyset(&pipeSignal)
                sigaddset(&pipeSignal, SIGPIPE)
                pthread_sigmask(SIG_BLOCK, &pipeSignal, nil)
                continuation.resume(with: Result { try body() })
            }
            thread.name = name
            thread.start()
        }
    }

    /// A free TCP port on 127.0.0.1: bound to port 0, read, closed (another process could take it in between).
    static func freeLoopbackPort() throws -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else {
            throw ConsoleKeyBenchmarkError(description: "socket: errno \(errno)")
        }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(descriptor, pointer, length) == 0 && getsockname(descriptor, pointer, &length) == 0
            }
        }
        guard bound else {
            throw ConsoleKeyBenchmarkError(description: "bind 127.0.0.1:0: errno \(errno)")
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// The console's process, once known: the clean-up needs it whether the run succeeded or not.
final class ConsoleProcess: Sendable {
    let identity = Mutex<ProcessIdentity?>(nil)
}

/// A process known by its pid and its start time, so a recycled pid is never mistaken for it.
struct ProcessIdentity: Sendable, Hashable {
    var pid: Int32
    var startTime: String
    var command: String

    /// The process running as `pid` now; nil when there is none or it is a zombie.
    init?(pid: Int32) {
        guard let fields = ConsoleKeyBenchmark.statFields(pid: pid), fields.count > 19,
            fields[0] != "Z",
            let comm = try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)
        else { return nil }
        self.pid = pid
        startTime = String(fields[19])
        command = comm.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
