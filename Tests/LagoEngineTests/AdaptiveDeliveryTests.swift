import Foundation
import LagoAPI
import LagoEngine
import LagoSandbox
import Testing

// The adaptive engine against the sandbox's Lago Cloud-like limiter and latency: real HTTP, real faults. Bounds
// are generous (a loaded 2-core machine); what must hold exactly is that no event is lost or duplicated.

@Suite("Adaptive delivery against the sandbox", .serialized)
struct AdaptiveDeliveryTests {
    func adaptiveConfiguration(spoolPath: String, batchSize: Int) -> EngineConfiguration {
        var configuration = testConfiguration(spoolPath: spoolPath)
        configuration.maxInFlight = .auto
        configuration.maxBatchSize = batchSize
        return configuration
    }

    func status(_ sandbox: Sandbox, _ code: Int) -> Int { sandbox.stats().requests(status: code) }

    /// A limiter like Lago Cloud's, and how the events arrive.
    struct LimiterCase: Sendable, CustomTestStringConvertible {
        var requestsPerSecond: Int
        var latency: Duration
        var jitter: Duration
        var events: Int
        /// Enqueued while the engine delivers (else spooled first, a backlog).
        var whileDelivering: Bool
        var testDescription: String { "\(requestsPerSecond)/s, \(events) events" }
    }

    /// The pacer against Lago Cloud's kind of limiter (fixed 1-second windows whose edges the engine does not see):
    /// waves sent at a window's estimated start used to land across Lago's edge and overrun the next window.
    @Test(
        "Under a requests/s limit with jitter: every event once, under 2 % refused, the window learned from the headers",
        arguments: [
            LimiterCase(
                requestsPerSecond: 40, latency: .milliseconds(10), jitter: .milliseconds(10), events: 1_000,
                whileDelivering: true),
            LimiterCase(
                requestsPerSecond: 60, latency: .milliseconds(20), jitter: .milliseconds(15), events: 3_000,
                whileDelivering: false),
        ])
    func pacedToTheLimiter(_ limiter: LimiterCase) async throws {
        try await Sandbox.withRunning { sandbox in
            let directory = try TemporaryDirectory()
            sandbox.faults.rateLimiter(requestsPerSecond: limiter.requestsPerSecond)
            sandbox.faults.latency(limiter.latency, jitter: limiter.jitter)
            let engine = try makeEngine(
                adaptiveConfiguration(spoolPath: directory.file("spool.sqlite"), batchSize: 10), sandbox: sandbox)
            if limiter.whileDelivering { engine.start() }
            let ids = try await enqueueConcurrently(engine, count: limiter.events)
            if !limiter.whileDelivering { engine.start() }
            let result = await engine.flush(deadline: .seconds(90))
            let stats = await engine.stats()
            await engine.shutdown()
            #expect(result.pending == 0)
            expectExactlyOnce(sandbox, ids)
            let taken = status(sandbox, 200)
            let refused = status(sandbox, 429)
            #expect(taken >= limiter.events / 10)
            // Before the first answer names the limit, the first requests go unpaced (a few may be refused).
            #expect(refused <= taken / 50 + 4, "429: \(refused), 200: \(taken)")
            #expect(stats.rateLimitLimit == limiter.requestsPerSecond)
            #expect(stats.rateLimitRemaining != nil)
            #expect(stats.adaptiveConcurrency == true)
            #expect((1...64).contains(stats.concurrencyLimit ?? 0))
        }
    }

    @Test("With 50 ms of latency and no limit, the adaptive limit climbs above the old fixed 4")
    func climbsWithLatency() async throws {
        try await Sandbox.withRunning { sandbox in
            let directory = try TemporaryDirectory()
            sandbox.faults.latency(.milliseconds(50))
            let engine = try makeEngine(
                adaptiveConfiguration(spoolPath: directory.file("spool.sqlite"), batchSize: 10), sandbox: sandbox)
            engine.start()
            let ids = try await enqueueConcurrently(engine, count: 3_000)
            let result = await engine.flush(deadline: .seconds(60))
            let stats = await engine.stats()
            await engine.shutdown()
            #expect(result.pending == 0)
            expectExactlyOnce(sandbox, ids)
            #expect((stats.concurrencyLimit ?? 0) > 4, "limit \(stats.concurrencyLimit ?? 0)")
            #expect(stats.roundTripAverage.map { $0 >= .milliseconds(50) } == true)
        }
    }

    @Test("20 requests answered 429 Retry-After 1: every event once, and no one-probe-at-a-time crawl")
    func burstOf429() async throws {
        try await Sandbox.withRunning { sandbox in
            let directory = try TemporaryDirectory()
            sandbox.faults.rateLimit(next: 20, retryAfter: 1, pathPrefix: "/api/v1/events")
            let engine = try makeEngine(
                adaptiveConfiguration(spoolPath: directory.file("spool.sqlite"), batchSize: 100), sandbox: sandbox)
            let ids = (0..<3_000).map { "burst-\($0)" }
            for chunk in stride(from: 0, to: ids.count, by: 500) {
                try await engine.enqueue((chunk..<chunk + 500).map { event($0, prefix: "burst") })
            }
            let start = ContinuousClock.now
            engine.start()
            let result = await engine.flush(deadline: .seconds(60))
            let elapsed = ContinuousClock.now - start
            await engine.shutdown()
            #expect(result.pending == 0)
            expectExactlyOnce(sandbox, ids)
            #expect(status(sandbox, 429) == 20)
            // One wait per wave, waves as wide as the ceiling: a few seconds. One probe a second would need 20.
            #expect(elapsed < .seconds(12), "took \(elapsed)")
        }
    }
}
