import Foundation
import InMemoryLogging
import LagoAPI
import LagoEngine
import LagoSandbox
import Logging
import TestSupport
import Testing

/// The missing-events report after a stop, with real children killed by SIGKILL and a write-ahead log cut short
/// the way a power loss leaves it.
@Suite(.serialized) struct RecoveryReportTests {
    /// `<spool>-wal` keeps its header and the first `fraction` of its frames (4 KiB pages): what a power loss
    /// leaves when the tail of the log never reached the disk.
    static func truncateLog(_ spool: String, keeping fraction: Double) throws -> (before: Int, after: Int) {
        let wal = spool + "-wal"
        let size = fileSize(wal)
        let frameSize = 24 + 4096
        let frames = (size - 32) / frameSize
        let kept = 32 + Int(Double(frames) * fraction) * frameSize
        try truncateFile(wal, to: kept)
        return (size, kept)
    }

    static func engine(_ spool: String, _ sandbox: Sandbox) throws -> LagoEngine {
        try makeEngine(testConfiguration(spoolPath: spool), sandbox: sandbox)
    }

    /// A clean restart and a crash-only restart (kill -9, nothing cut from the log) report nothing missing.
    @Test(.disabled(if: EngineChildEntryPoint.environment["LAGO_ENGINE_CHILD_SPOOL"] != nil))
    func aCrashWithoutPowerLossReportsNothingMissing() async throws {
        let directory = try TemporaryDirectory()
        let spool = directory.file("spool.sqlite")
        try await Sandbox.withRunning { sandbox in
            let fresh = try Self.engine(spool, sandbox)
            #expect(
                fresh.recoveryReport
                    == SpoolRecoveryReport(uncleanStop: false, missingEvents: 0, missingEventsAtMost: 0))
            try await fresh.enqueue(event(1))
            await fresh.shutdown()
            let clean = try Self.engine(spool, sandbox)
            #expect(
                clean.recoveryReport
                    == SpoolRecoveryReport(uncleanStop: false, missingEvents: 0, missingEventsAtMost: 0))
            await clean.shutdown()

            // Delivering while killed, and killed with Lago down (everything still queued).
            for outage in [false, true] {
                if outage {
                    sandbox.faults.outage(for: .seconds(120), mode: .status503)
                } else {
                    sandbox.faults.clear()
                }
                let child = try EngineChild.launch(
                    spool: spool, url: sandbox.baseURL.absoluteString, key: sandbox.apiKey, count: 300,
                    prefix: "crash-\(outage)")
                _ = await eventually(timeout: .seconds(60)) { child.acknowledged.count >= 200 || child.isFinished }
                child.killHard()
                await child.wait()
                #expect(child.wasKilled)
                let after = try Self.engine(spool, sandbox)
                #expect(after.recoveryReport.uncleanStop)
                #expect(after.recoveryReport.missingEvents == 0 && after.recoveryReport.missingEventsAtMost == 0)
                await after.shutdown()
            }
        }
    }

    /// A spool left by kill -9 (its write-ahead log full of committed events) whose file is damaged where the log
    /// does not cover it: refused through the read-only check that reads the log, and nothing in the folder
    /// changes (the log is neither checkpointed nor removed, the lock file keeps its bytes).
    @Test(.disabled(if: EngineChildEntryPoint.environment["LAGO_ENGINE_CHILD_SPOOL"] != nil))
    func aDamagedSpoolLeftByACrashIsRefusedUntouched() async throws {
        let directory = try TemporaryDirectory()
        let spool = directory.file("spool.sqlite")
        try await makeSpoolFile(spool, count: 2_000)
        let pages = fileSize(spool) / 4096
        try await Sandbox.withRunning { sandbox in
            sandbox.faults.outage(for: .seconds(120), mode: .status503)
            let child = try EngineChild.launch(
                spool: spool, url: sandbox.baseURL.absoluteString, key: sandbox.apiKey, count: 100, prefix: "late")
            _ = await eventually(timeout: .seconds(60)) { child.acknowledged.count >= 100 || child.isFinished }
            child.killHard()
            await child.wait()
            #expect(child.wasKilled)
        }
        #expect(fileSize(spool + "-wal") > 32, "the log holds the child's commits")
        var random = SplitMix64(seed: 7)
        try overwrite(
            spool, at: pages / 2 * 4096, with: (0..<4096).map { _ in UInt8.random(in: 0...255, using: &random) })
        let before = try folderSnapshot(directory.path)
        #expect {
            try LagoEngine(
                configuration: testConfiguration(spoolPath: spool), baseURL: LagoBaseURL("http://127.0.0.1:9"),
                apiKey: "k")
        } throws: { error in
            guard let error = error as? EngineError, error.kind == .spoolUnreadable else { return false }
            return error.message.contains(spool) && error.message.contains("damaged")
        }
        #expect(try folderSnapshot(directory.path) == before)
    }

    /// kill -9 while Lago cannot be reached (nothing settled), then the log loses its second half: the acknowledged
    /// events that went with it are reported, exactly. The child's Lago refuses connections: a sandbox in an
    /// outage would still read requests the child wrote just before it died, and could store them once the outage
    /// is over (events in flight at a stop may reach Lago; another test covers that).
    @Test(.disabled(if: EngineChildEntryPoint.environment["LAGO_ENGINE_CHILD_SPOOL"] != nil))
    func aTruncatedLogReportsTheAcknowledgedEventsItLost() async throws {
        let directory = try TemporaryDirectory()
        let spool = directory.file("spool.sqlite")
        try await Sandbox.withRunning { sandbox in
            let child = try EngineChild.launch(
                spool: spool, url: "http://127.0.0.1:9", key: sandbox.apiKey, count: 300, prefix: "lost")
            _ = await eventually(timeout: .seconds(60)) { child.acknowledged.count >= 300 || child.isFinished }
            child.killHard()
            await child.wait()
            #expect(child.wasKilled)
            let acknowledged = child.acknowledged
            #expect(acknowledged.count == 300)
            let cut = try Self.truncateLog(spool, keeping: 0.5)
            #expect(cut.after < cut.before)

            let logs = InMemoryLogHandler()
            let after = try LagoEngine(
                configuration: testConfiguration(spoolPath: spool),
                baseURL: LagoBaseURL(sandbox.baseURL.absoluteString),
                apiKey: sandbox.apiKey, logger: Logger(label: "test", factory: { _ in logs }))
            let queued = await after.stats().queued
            #expect(queued < 300, "the cut log lost acknowledged events")
            #expect(
                logs.entries.contains { entry in
                    entry.level == .error && entry.metadata["missing"] == "\(300 - queued)"
                        && entry.metadata["spool"] == .string(spool)
                }, "the loss is logged at error level with the spool's path")
            #expect(after.recoveryReport.uncleanStop)
            #expect(after.recoveryReport.missingEvents == 300 - queued)
            #expect(after.recoveryReport.missingEventsAtMost == 300 - queued, "nothing was settled: the count is exact")
            #expect(after.recoveryReport.missingEvents > 0)
            // What is left is delivered; the report is not repeated on the next start.
            after.start()
            let result = await after.flush(deadline: .seconds(30))
            print("truncated log: log \(cut), queued \(queued), \(after.recoveryReport), flush \(result)")
            #expect(result.pending == 0 && result.delivered == queued)
            await after.shutdown()
            let next = try Self.engine(spool, sandbox)
            #expect(
                next.recoveryReport == SpoolRecoveryReport(uncleanStop: false, missingEvents: 0, missingEventsAtMost: 0)
            )
            await next.shutdown()
            let stored = Set(sandbox.events().map(\.transactionID))
            #expect(acknowledged.filter { !stored.contains($0) }.count == 300 - queued)
        }
    }

    /// The same while events were being delivered: the acknowledged events that are neither in Lago nor in the
    /// spool never exceed the report's upper bound, and the report counts beyond them only events that were in a
    /// request at the stop (sent, not yet settled: at most `max_in_flight` × 100).
    @Test(.disabled(if: EngineChildEntryPoint.environment["LAGO_ENGINE_CHILD_SPOOL"] != nil))
    func aTruncatedLogWhileDeliveringIsReportedWithinBounds() async throws {
        let directory = try TemporaryDirectory()
        let spool = directory.file("spool.sqlite")
        try await Sandbox.withRunning { sandbox in
            sandbox.faults.latency(.milliseconds(5))
            let child = try EngineChild.launch(
                spool: spool, url: sandbox.baseURL.absoluteString, key: sandbox.apiKey, count: 400, prefix: "mixed")
            _ = await eventually(timeout: .seconds(60)) { child.acknowledged.count >= 300 || child.isFinished }
            child.killHard()
            await child.wait()
            let acknowledged = child.acknowledged
            _ = try Self.truncateLog(spool, keeping: 0.5)
            sandbox.faults.clear()
            let after = try Self.engine(spool, sandbox)
            let report = after.recoveryReport
            after.start()
            let result = await after.flush(deadline: .seconds(30))
            #expect(result.pending == 0)
            await after.shutdown()
            let stored = Set(sandbox.events().map(\.transactionID))
            let lost = acknowledged.filter { !stored.contains($0) }.count
            print("truncated while delivering: acknowledged \(acknowledged.count), lost \(lost), reported \(report)")
            #expect(lost <= report.missingEventsAtMost)
            #expect(report.missingEvents - lost <= testConfiguration(spoolPath: spool).requestsInFlightAtMost * 100)
            #expect(report.uncleanStop)
        }
    }
}
