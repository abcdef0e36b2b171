import Foundation
import GRDB
import LagoAPI
import LagoEngine
import LagoSandbox
import TestSupport
import Testing

@Suite(.serialized) struct PendingCountTests {
    /// Rows of the spool's queue, read from the file itself once the engine has let it go.
    private func spoolRows(_ path: String) throws -> Int {
        var configuration = Configuration()
        configuration.readonly = true
        let database = try DatabaseQueue(path: path, configuration: configuration)
        defer { try? database.close() }
        return try database.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM events") ?? 0 }
    }

    @Test(arguments: [429, 503])
    func pendingCountsEachUndeliveredEventOnceWhileBatchesRetry(status: Int) async throws {
        let directory = try TemporaryDirectory()
        try await Sandbox.withRunning { sandbox in
            if status == 429 {
                sandbox.faults.rateLimit(next: 1_000, retryAfter: 30, pathPrefix: "/api/v1/events")
            } else {
                sandbox.faults.failNext(1_000, status: 503, pathPrefix: "/api/v1/events")
            }
            var configuration = testConfiguration(spoolPath: directory.file("spool.sqlite"))
            configuration.maxBatchSize = 4
            configuration.maxRetryBackoff = .seconds(60)
            configuration.retryBase = .seconds(30)
            let engine = try makeEngine(configuration, sandbox: sandbox)
            engine.start()
            for index in 0..<10 { try await engine.enqueue(event(index)) }
            // Batches fail and back off (while Lago fails the engine claims no more than it probes): sampled all
            // along, every event is counted once, as queued, in flight or retrying.
            var samples = 0
            let settled = await eventually {
                let stats = await engine.stats()
                samples += 1
                #expect(stats.pending == 10, "pending \(stats.pending): \(stats.queued) queued, \(stats.inFlight) in flight, \(stats.retrying) retrying")
                #expect(stats.retrying == stats.retryingBatches.reduce(0) { $0 + $1.eventCount })
                return stats.retrying > 0 && samples >= 20
            }
            #expect(settled)
            engine.pause()
            let last = await engine.stats()
            #expect(last.pending == 10 && last.retrying > 0)
            await engine.shutdown()
            #expect(try spoolRows(directory.file("spool.sqlite")) == last.pending)
        }
    }
}
