import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// What the engine last committed to a spool, kept in the lock file beside it (outside the database and its
/// write-ahead log, so that losing the log's tail does not take this record with it).
///
/// Written after every commit that appended or settled events, before the callers of that commit resume, so an
/// acknowledged event is always counted here. Never `fsync`ed: after a power loss it may be older than the
/// database (then nothing can be concluded), never newer than what was committed.
struct SpoolMark: Sendable, Hashable {
    /// The spool's random identity (``Spool`` keeps it in its `meta` table), so a mark is never compared with
    /// another file at the same path.
    var spoolID: UUID
    /// Events ever appended (the `events` table's AUTOINCREMENT sequence).
    var appended: Int64
    /// Events ever settled: delivered, found already in Lago, or dead-lettered.
    var settled: Int64
    /// An engine had the spool open; `false` once it closed it cleanly.
    var open: Bool

    static let magic: [UInt8] = Array("LAGOMRK1".utf8)
    static let byteCount = 48

    var bytes: [UInt8] {
        var bytes = Self.magic
        withUnsafeBytes(of: spoolID.uuid) { bytes += $0 }
        withUnsafeBytes(of: appended.littleEndian) { bytes += $0 }
        withUnsafeBytes(of: settled.littleEndian) { bytes += $0 }
        withUnsafeBytes(of: Int64(open ? 1 : 0).littleEndian) { bytes += $0 }
        return bytes
    }

    init(spoolID: UUID, appended: Int64, settled: Int64, open: Bool) {
        self.spoolID = spoolID
        self.appended = appended
        self.settled = settled
        self.open = open
    }

    /// The mark in `bytes` (as ``bytes`` lays it out), if they hold one.
    init?(_ bytes: [UInt8]) {
        guard bytes.count == Self.byteCount, Array(bytes[0..<8]) == Self.magic else { return nil }
        func integer(at offset: Int) -> Int64 {
            bytes.withUnsafeBytes { Int64(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: Int64.self)) }
        }
        let uuid = bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 8, as: uuid_t.self) }
        self.init(
            spoolID: UUID(uuid: uuid), appended: integer(at: 24), settled: integer(at: 32), open: integer(at: 40) != 0)
    }
}

/// An exclusive `flock` on `<spool>.lock`, held while an engine owns the spool. The kernel releases it when the
/// process dies, so a crashed engine never leaves a stale lock.
///
/// The file (mode 0600) holds the owner's pid as text in its first 32 bytes and the ``SpoolMark`` at offset 64.
final class SpoolLock: Sendable {
    let path: String
    /// The mark the previous engine on this spool left, read when the lock was taken.
    let previousMark: SpoolMark?
    private let descriptor: Mutex<Int32>
    /// This lock created the file: a refused spool removes it again, leaving the folder as it was.
    private let createdFile: Bool

    static let markOffset: off_t = 64

    /// Takes the lock without waiting.
    /// - Throws: ``EngineError/Kind/spoolLocked`` when another process (or another engine in this process) holds
    ///   it; ``EngineError/Kind/spoolIO`` when the lock file cannot be opened.
    init(spoolPath: String) throws {
        let path = spoolPath + ".lock"
        self.path = path
        var created = true
        var descriptor = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if descriptor < 0 && errno == EEXIST {
            created = false
            descriptor = open(path, O_RDWR | O_CLOEXEC)
        }
        guard descriptor >= 0 else {
            let reason = String(cString: strerror(errno))
            throw EngineError(.spoolIO, "cannot open the spool lock file \(path): \(reason)", path: path)
        }
        if flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            var holder = ""
            var buffer = [UInt8](repeating: 0, count: 32)
            let count = pread(descriptor, &buffer, buffer.count, 0)
            let firstLine = buffer[0..<max(0, count)].split(separator: UInt8(ascii: "\n")).first.map(Array.init) ?? []
            if let pid = Int(String(decoding: firstLine, as: UTF8.self).trimmingCharacters(in: .whitespaces)) {
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
        var markBytes = [UInt8](repeating: 0, count: SpoolMark.byteCount)
        let markCount = pread(descriptor, &markBytes, markBytes.count, Self.markOffset)
        previousMark = markCount == SpoolMark.byteCount ? SpoolMark(markBytes) : nil
        self.descriptor = Mutex(descriptor)
        self.createdFile = created
    }

    /// Writes this process's pid into the file (for the message of a second engine refused) and gives it mode
    /// 0600 (a lock file of an earlier release may be 0644). Called once the spool passed its checks: a refused
    /// spool leaves its lock file as it was.
    func recordOwner() {
        // Padded to 32 bytes (older releases read those bytes and trim them); the mark stays until the spool
        // writes its own.
        var pid = Array("\(getpid())\n".utf8)
        pid += [UInt8](repeating: UInt8(ascii: " "), count: max(0, 32 - pid.count))
        descriptor.withLock { descriptor in
            guard descriptor >= 0 else { return }
            _ = fchmod(descriptor, 0o600)
            _ = pwrite(descriptor, pid, pid.count, 0)
        }
    }

    /// Records what the spool committed (see ``SpoolMark``); a failed write is ignored (the mark only serves the
    /// next start's report, which then knows less).
    func record(_ mark: SpoolMark) {
        let bytes = mark.bytes
        descriptor.withLock { descriptor in
            if descriptor >= 0 { _ = pwrite(descriptor, bytes, bytes.count, Self.markOffset) }
        }
    }

    /// Releases the lock (closing the descriptor releases the `flock`). With `removingCreatedFile`, a lock file
    /// this lock created is deleted first (the spool was refused: the folder is left as it was found).
    func release(removingCreatedFile: Bool = false) {
        descriptor.withLock { descriptor in
            if descriptor >= 0 {
                if removingCreatedFile && createdFile { unlink(path) }
                close(descriptor)
            }
            descriptor = -1
        }
    }
}
