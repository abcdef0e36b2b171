import Foundation
import LagoAPI
import LagoEngine
import LagoSandbox
import LagoUsage
import Synchronization
import Testing

/// A clock whose wall time the test sets; scheduling runs on the real monotonic clock.
final class SettableWallClock: EngineClock {
    private let wall: Mutex<Date>

    init(_ date: Date) { wall = Mutex(date) }

    func set(_ date: Date) { wall.withLock { $0 = date } }
    func now() -> ContinuousClock.Instant { ContinuousClock.now }
    func wallNow() -> Date { wall.withLock { $0 } }
    func sleep(until deadline: ContinuousClock.Instant) async throws {
        try await ContinuousClock().sleep(until: deadline, tolerance: .milliseconds(1))
    }
}

@Suite(.serialized) struct AcceptanceTimeTests {
    @Test func usageSentDuringAnOutageIsStoredWithTheTimeItWasAccepted() async throws {
        let directory = try TemporaryDirectory()
        try await Sandbox.withRunning { sandbox in
            let accepted = Date(timeIntervalSince1970: 1_764_000_000.123456)
            let clock = SettableWallClock(accepted)
            // Lago fails the first requests: the events wait in the spool and go later.
            sandbox.faults.failNext(3, status: 503, pathPrefix: "/api/v1/events")
            let engine = try LagoEngine(
                configuration: testConfiguration(spoolPath: directory.file("spool.sqlite")),
                baseURL: LagoBaseURL(sandbox.baseURL.absoluteString), apiKey: sandbox.apiKey, clock: clock,
                random: SplitMix64(seed: 3))
            engine.start()
            let ids = try await engine.enqueue(UsageRecord(values: [.input: 120, .output: 40], idBase: "call-1"))
            let single = try await engine.enqueue(
                EventInput(transactionID: "plain-1", externalSubscriptionID: "sub_sandbox", code: "llm_input_tokens"))
            // Delivery happens after the failures, on a wall clock that moved on by an hour.
            clock.set(accepted.addingTimeInterval(3600))
            let result = await engine.flush(deadline: .seconds(20))
            #expect(result.pending == 0 && result.dead == 0)
            #expect(sandbox.stats().requests(status: 503) == 3)
            for id in ids + [single] {
                let stored = try #require(sandbox.events().first { $0.transactionID == id })
                #expect(stored.timestampMicroseconds == 1_764_000_000_123_456, "\(id) re-dated")
            }
            await engine.shutdown()
        }
    }

    @Test func anEventThatCarriesATimestampKeepsIt() async throws {
        let directory = try TemporaryDirectory()
        try await Sandbox.withRunning { sandbox in
            let engine = try makeEngine(testConfiguration(spoolPath: directory.file("spool.sqlite")), sandbox: sandbox)
            engine.start()
            try await engine.enqueue(
                EventInput(
                    transactionID: "dated-1", externalSubscriptionID: "sub_sandbox", code: "llm_input_tokens",
                    timestamp: 1_700_000_000.5))
            _ = await engine.flush(deadline: .seconds(10))
            #expect(sandbox.events().first?.timestampMicroseconds == 1_700_000_000_500_000)
            await engine.shutdown()
        }
    }
}

@Suite struct DedupIndexTests {
    private func encoded(_ id: String, subscription: String? = "sub_sandbox") -> EncodedEvent {
        var body = #"{"transaction_id":"\#(id)","#
        if let subscription { body += #""external_subscription_id":"\#(subscription)","# }
        body += #""code":"llm_input_tokens","timestamp":1764000000,"properties":{"value":1}}"#
        return EncodedEvent(
            event: EventInput(
                transactionID: id, externalSubscriptionID: subscription, code: "llm_input_tokens",
                timestamp: 1_764_000_000, properties: ["value": 1]),
            body: Array(body.utf8))
    }

    @Test func theIndexForgetsAfterTheWindowAndBeyondItsSize() async throws {
        let directory = try TemporaryDirectory()
        let start = Date(timeIntervalSince1970: 1_764_000_000)
        let clock = SettableWallClock(start)
        var configuration = testConfiguration(spoolPath: directory.file("spool.sqlite"))
        configuration.dedupWindow = .seconds(60)
        configuration.dedupMaxEntries = 10
        let engine = try LagoEngine(
            configuration: configuration, baseURL: LagoBaseURL("http://127.0.0.1:9/api/v1"), apiKey: "k",
            clock: clock)
        // Not started: nothing is delivered, the spool and its index are all there is.
        #expect(try await engine.enqueue(encoded: [encoded("a"), encoded("b")], deduplicate: true) == .queued)
        #expect(try await engine.enqueue(encoded: [encoded("c"), encoded("a")], deduplicate: true) == .duplicates([1]))
        #expect(await engine.stats().queued == 2, "nothing of a refused request is spooled")
        // Another subscription, or none (Lago's unique index does not apply), is not a duplicate.
        #expect(try await engine.enqueue(encoded: [encoded("a", subscription: "sub_other")], deduplicate: true) == .queued)
        #expect(try await engine.enqueue(encoded: [encoded("n", subscription: nil)], deduplicate: true) == .queued)
        #expect(try await engine.enqueue(encoded: [encoded("n", subscription: nil)], deduplicate: true) == .queued)
        // Without deduplication (the engine's own events) nothing is looked up.
        #expect(try await engine.enqueue(encoded: [encoded("b")], deduplicate: false) == .queued)

        clock.set(start.addingTimeInterval(61))
        #expect(try await engine.enqueue(encoded: [encoded("a")], deduplicate: true) == .queued, "past the window")
        #expect(try await engine.enqueue(encoded: [encoded("a")], deduplicate: true) == .duplicates([0]))

        // Twenty more ids: the index keeps the newest ten.
        for index in 0..<20 {
            clock.set(start.addingTimeInterval(100 + Double(index)))
            #expect(try await engine.enqueue(encoded: [encoded("many-\(index)")], deduplicate: true) == .queued)
        }
        #expect(try await engine.enqueue(encoded: [encoded("many-19")], deduplicate: true) == .duplicates([0]))
        #expect(try await engine.enqueue(encoded: [encoded("many-0")], deduplicate: true) == .queued, "forgotten")
        await engine.shutdown()
    }

    @Test func theIndexSurvivesARestart() async throws {
        let directory = try TemporaryDirectory()
        let configuration = testConfiguration(spoolPath: directory.file("spool.sqlite"))
        let base = try LagoBaseURL("http://127.0.0.1:9/api/v1")
        let first = try LagoEngine(configuration: configuration, baseURL: base, apiKey: "k")
        #expect(try await first.enqueue(encoded: [encoded("kept-1")], deduplicate: true) == .queued)
        await first.shutdown()
        let second = try LagoEngine(configuration: configuration, baseURL: base, apiKey: "k")
        #expect(try await second.enqueue(encoded: [encoded("kept-1")], deduplicate: true) == .duplicates([0]))
        await second.shutdown()
    }
}
