import Foundation
import LagoAPI
@testable import LagoEngine
import LagoSandbox
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A spool that cannot be written shows as the cause, in plain words, until a write succeeds (issue #11: nothing
/// silent).
@Suite("Spool write errors")
struct SpoolWriteErrorTests {
    /// An event whose body takes pages of its own (SQLite overflow pages), so that each append grows the file.
    static func largeEvent(_ index: Int) -> EventInput {
        EventInput(
            transactionID: "big-\(index)", externalSubscriptionID: SandboxSeed.subscriptionExternalID,
            code: "llm_input_tokens",
            properties: ["value": .integer(1), "note": .string(String(repeating: "x", count: 20_000))])
    }

    @Test func aFullSpoolFileIsShownAsDiskFullWithItsPathUntilAWriteSucceeds() async throws {
        let directory = try TemporaryDirectory()
        let spoolPath = directory.file("spool.sqlite")
        try await Sandbox.withRunning { sandbox in
            let engine = try makeEngine(testConfiguration(spoolPath: spoolPath), sandbox: sandbox)
            try await engine.enqueue(event(0, prefix: "before"))
            #expect(await engine.stats().spoolError == nil)

            // SQLite's own SQLITE_FULL on the spool's connection: the file may not grow by a single page.
            try await engine.limitSpoolGrowth(extraPages: 0)
            var failure: (any Error)?
            for index in 0..<50 where failure == nil {
                do { try await engine.enqueue(Self.largeEvent(index)) } catch { failure = error }
            }
            let error = try #require(failure, "no write failed with the file capped")
            #expect((error as? EngineError)?.kind == .spoolIO)
            let stats = await engine.stats()
            #expect(stats.spoolError == "spool write failed: disk full (\(spoolPath))")
            let at = try #require(stats.spoolErrorAt)
            #expect(abs(at.timeIntervalSinceNow) < 60)

            // Room again: the next write succeeds and clears the error.
            try await engine.limitSpoolGrowth(extraPages: nil)
            try await engine.enqueue(event(1, prefix: "after"))
            let cleared = await engine.stats()
            #expect(cleared.spoolError == nil && cleared.spoolErrorAt == nil)

            engine.start()
            let flushed = await engine.flush(deadline: .seconds(20))
            #expect(flushed.pending == 0 && flushed.dead == 0)
            #expect(Set(sandbox.events().map(\.transactionID)).isSuperset(of: ["before-0", "after-1"]))
            await engine.shutdown()
        }
    }

    /// A real full disk: a 1 MiB tmpfs, unmounted at the end. Needs root; where the mount is refused all the same
    /// (a container without the capability) there is nothing to test, and the max_page_count test above covers
    /// SQLITE_FULL.
    @Test(.enabled(if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/bin/mount")))
    func aSpoolOnAFullFileSystemShowsDiskFull() async throws {
        let directory = try TemporaryDirectory()
        let mountPoint = directory.file("tiny")
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        guard run("/bin/mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", mountPoint]) == 0 else { return }
        defer { _ = run("/bin/umount", ["-l", mountPoint]) }
        let spoolPath = mountPoint + "/spool.sqlite"
        try await Sandbox.withRunning { sandbox in
            let engine = try makeEngine(testConfiguration(spoolPath: spoolPath), sandbox: sandbox)
            var failure: (any Error)?
            for index in 0..<200 where failure == nil {
                do { try await engine.enqueue(Self.largeEvent(index)) } catch { failure = error }
            }
            #expect(failure != nil, "1 MiB took 200 events of 20 kB")
            let stats = await engine.stats()
            #expect(stats.spoolError == "spool write failed: disk full (\(spoolPath))")
            await engine.shutdown()
        }
    }

    @Test func sqliteErrorsReadAsPlainWords() {
        let wrapped = EngineError(
            kind: .spoolIO,
            message: "writing the spool /s.sqlite failed: SQLite error 13: database or disk is full - while "
                + "executing `INSERT INTO queue`")
        #expect(SpoolWriteFailure.plainWords(wrapped) == "disk full")
        let io = EngineError(kind: .spoolIO, message: "writing the spool /s failed: SQLite error 10: disk I/O error")
        #expect(SpoolWriteFailure.plainWords(io) == "disk I/O error")
    }
}

/// Runs a program and returns its exit status (-1 when it cannot start).
private func run(_ program: String, _ arguments: [String]) -> Int32 {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: program)
    process.arguments = arguments
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    do { try process.run() } catch { return -1 }
    process.waitUntilExit()
    return process.terminationStatus
}
