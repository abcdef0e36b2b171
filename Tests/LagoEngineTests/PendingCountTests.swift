import Foundation
import GRDB
import LagoAPI
import LagoEngine
import LagoSandbox
import Synchronization
import TestSupport
import Testing

/// Events the producer of a test started and finished enqueueing.
private final class Progress: Sendable {
    let started = Atomic<Int>(0)
    let committed = Atomic<Int>(0)
    let producing = Atomic<Bool>(true)
}

@Suite(.serialized) struct PendingCountTests {
    /// Rows of the spool's queue, read from the file itself once the engine has let it go.
    private func spoolRows(_ path: String) throws -> Int {
        var configuration = Configuration()
        configuration.readonly = true
        let database = try DatabaseQueue(path: path, configuration: configuration)
        defer { try? database.close() }
        return try database.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM events") ?? 0 }
    }

    /// Dead letters in the spool file, read once the engine has let it go.
    private func deadLetterRows(_ path: String) throws -> Int {
        var configuration = Configuration()
        configuration.readonly = true
        let database = try DatabaseQueue(path: path, configuration: configuration)
        defer { try? database.close() }
        return try database.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM dead_letters") ?? 0 }
    }

    /// `stats()` reads one snapshot: hammered while producers enqueue and batches are delivered, retried (a fifth
    /// of the requests fail) and dead-lettered (every 7th event is refused by Lago), every sample counts each event
    /// once — none negative, the parts adding up to `pending`, and pending + settled equal to the events committed
    /// by then — and the final figures are the spool's own rows.
    @Test func statsIsOneSnapshotWhileEventsMove() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("spool.sqlite")
        try await Sandbox.withRunning { sandbox in
            sandbox.faults.failFraction(0.2, status: 503, seed: 7, pathPrefix: "/api/v1/events")
            var configuration = testConfiguration(spoolPath: path)
            configuration.maxBatchSize = 5
            let engine = try makeEngine(configuration, sandbox: sandbox)
            engine.start()
            let total = 400
            let progress = Progress()
            let maxInFlightEvents = configuration.requestsInFlightAtMost * configuration.maxBatchSize
            let samples = try await withThrowingTaskGroup(of: Int.self) { group in
                group.addTask {
                    for index in 0..<total {
                        var input = event(index, prefix: "snap")
                        // Lago refuses a blank code (`value_is_mandatory`): a dead letter.
                        if index % 7 == 0 { input.code = "   " }
                        progress.started.add(1, ordering: .sequentiallyConsistent)
                        try await engine.enqueue(input)
                        progress.committed.add(1, ordering: .sequentiallyConsistent)
                    }
                    progress.producing.store(false, ordering: .sequentiallyConsistent)
                    return 0
                }
                group.addTask {
                    var samples = 0
                    while progress.producing.load(ordering: .sequentiallyConsistent) || samples < 50 {
                        let before = progress.committed.load(ordering: .sequentiallyConsistent)
                        let stats = await engine.stats()
                        let after = progress.started.load(ordering: .sequentiallyConsistent)
                        samples += 1
                        let parts = "\(stats.queued) queued, \(stats.inFlight) in flight, \(stats.retrying) retrying"
                        #expect(stats.queued >= 0 && stats.inFlight >= 0 && stats.retrying >= 0, "\(parts)")
                        #expect(stats.retrying == stats.retryingBatches.reduce(0) { $0 + $1.eventCount }, "\(parts)")
                        let accounted = stats.pending + stats.delivered + stats.alreadyInLago + stats.deadSinceStart
                        let settled = "\(stats.delivered) delivered, \(stats.deadSinceStart) dead"
                        #expect(
                            accounted >= before && accounted <= after,
                            "\(accounted) accounted (\(parts), \(settled)), \(before)...\(after) committed")
                        #expect(stats.inFlight <= maxInFlightEvents)
                        // Paced, not to starve the 2-thread pool the other tests share (each sample sorts latencies).
                        try await Task.sleep(for: .milliseconds(2))
                    }
                    return samples
                }
                return try await group.reduce(0, +)
            }
            #expect(samples >= 50)
            sandbox.faults.clear()
            let flushed = await engine.flush(deadline: .seconds(60))
            #expect(flushed.pending == 0)
            let last = await engine.stats()
            #expect(last.pending == 0)
            #expect(last.delivered + last.alreadyInLago + last.dead == total)
            #expect(last.dead == (0..<total).count { $0 % 7 == 0 })
            await engine.shutdown()
            #expect(try spoolRows(path) == last.pending)
            #expect(try deadLetterRows(path) == last.dead)
        }
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
                #expect(
                    stats.pending == 10,
                    "pending \(stats.pending): \(stats.queued) queued, \(stats.inFlight) in flight, \(stats.retrying) retrying"
                )
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
