import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An exclusive `flock` on `<spool>.lock`, held while an engine owns the spool. The kernel releases it when the
/// process dies, so a crashed engine never leaves a stale lock.
final class SpoolLock: Sendable {
    let path: String
    private let descriptor: Mutex<Int32>

    /// Takes the lock without waiting.
    /// - Throws: ``EngineError/Kind/spoolLocked`` when another process (or another engine in this process) holds
    ///   it; ``EngineError/Kind/spoolIO`` when the lock file cannot be opened.
    init(spoolPath: String) throws {
        let path = spoolPath + ".lock"
        self.path = path
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            let reason = String(cString: strerror(errno))
            throw EngineError(.spoolIO, "cannot open the spool lock file \(path): \(reason)", path: path)
        }
        if flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            var holder = ""
            var buffer = [UInt8](repeating: 0, count: 32)
            let count = pread(descriptor, &buffer, buffer.count, 0)
            if count > 0, let pid = Int(String(decoding: buffer[0..<count], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) {
                holder = " (process \(pid))"
            }
            close(descriptor)
            if code == EWOULDBLOCK {
                throw EngineError(
                    .spoolLocked,
                    "the spool \(spoolPath) is in use by another engine\(holder): only one engine may deliver from "
                        + "a spool; lock file \(path)",
                    path: spoolPath)
            }
            throw EngineError(
                .spoolIO, "cannot lock \(path): \(String(cString: strerror(code)))", path: path)
        }
        _ = ftruncate(descriptor, 0)
        let pid = Array("\(getpid())\n".utf8)
        _ = pwrite(descriptor, pid, pid.count, 0)
        self.descriptor = Mutex(descriptor)
    }

    /// Releases the lock (closing the descriptor releases the `flock`).
    func release() {
        descriptor.withLock { descriptor in
            if descriptor >= 0 { close(descriptor) }
            descriptor = -1
        }
    }
}
