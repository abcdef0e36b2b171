import Foundation
import LagoEngine
import LagoSandbox

/// Settings of ``AdaptiveBenchmark/run(_:)``: issue #14's scenarios, every comparison measured in the same run.
public struct AdaptiveBenchmarkOptions: Sendable, Codable, Hashable {
    /// Events of each run against the far, rate-limited sandbox, spooled before delivery starts (a backlog: the queue
    /// that grew while Lago was away). 200k events are 2,000 requests: 4 s at the 500 requests/s limit, 50 s at a
    /// fixed 4 in flight 100 ms away, so the run is long enough for the limit to be reached and the ramp-up not to
    /// dominate.
    public var limitedEvents = 200_000
    /// The latency the sandbox adds to each request there.
    public var addedLatencyMilliseconds = 100
    /// The sandbox's rate limit there (Lago Cloud's for event ingestion).
    public var requestsPerSecond = 500
    /// The fixed `max_in_flight` values compared with `auto` there (and in the request-bound scenario).
    public var fixedMaxInFlight = [4, 16, 32, 64]
    /// Events of each request-bound run: the same latency and limit, batches of ``requestBoundBatchSize`` events, so
    /// that requests, not the events in them, are what the machine carries. 20k events of 10 are 2,000 requests, as
    /// above: 4 s at the limit, about 54 s at a fixed 4.
    public var requestBoundEvents = 20_000
    /// Events per request there (`engine.max_batch_size`).
    public var requestBoundBatchSize = 10
    /// The sandbox's random extra latency (0 to this) in the jittered request-bound runs: `auto` against fixed 64
    /// alone, as far Lagos answer (a round trip that varies must not end slow start; it once did, 0.44 of fixed 64).
    public var jitterMilliseconds = 20
    /// Events of the 429-burst run.
    public var burstEvents = 10_000
    /// Requests answered `429 Retry-After: 1` at the start of the burst run.
    public var burst429 = 20
    /// Events of each healthy loopback run.
    public var healthyEvents = 100_000
    /// Healthy runs of each kind, alternating; the medians are compared.
    public var healthyRepetitions = 3
    /// Directory for spool files (a temporary one when nil); removed afterwards.
    public var directory: String?

    /// The figures.
    public init() {}
}

/// One delivery run of the adaptive benchmark.
public struct AdaptiveRun: Sendable, Codable, Hashable {
    /// `auto` or the fixed number.
    public var maxInFlight: String
    public var events: Int
    /// From start until the sandbox held every event.
    public var seconds: Double
    public var eventsPerSecond: Double
    /// Requests the sandbox answered, and those answered 429.
    public var requests: Int
    /// Requests the sandbox answered per second of the run.
    public var requestsPerSecond: Double?
    public var rateLimited: Int
    /// The share of requests answered 429 after the run's first 2 seconds (nil: the run was shorter).
    public var rateLimitedShareAfter2s: Double?
    /// The concurrency limit when the run ended.
    public var finalLimit: Int?
    /// The engine every 100 ms of the run: how the limit moved.
    public var timeline: [AdaptiveSample]
    public var lost: Int
    public var duplicated: Int
}

/// The engine at one moment of an ``AdaptiveRun``.
public struct AdaptiveSample: Sendable, Codable, Hashable {
    /// Since the run started.
    public var seconds: Double
    /// The concurrency limit, and requests in flight.
    public var limit: Int?
    public var inFlight: Int?
    /// The round trip's moving average, milliseconds.
    public var roundTripMilliseconds: Double?
    /// Requests left in Lago's window as the engine estimates it.
    public var rateLimitRemaining: Int?
    /// Requests that have reached the sandbox (counted on arrival, before its added latency), and events it holds,
    /// so far: the delivery's own pace, sample to sample.
    public var sandboxRequests: Int
    public var sandboxEvents: Int
}

/// What ``AdaptiveBenchmark/run(_:)`` measured, with the ratios issue #14 states its goals in.
public struct AdaptiveBenchmarkResult: Sendable, Codable, Hashable {
    /// 100 ms latency and 500 requests/s, a spooled backlog delivered: `auto` first, then each fixed value.
    public var limited: [AdaptiveRun]
    /// `auto` ÷ the best fixed value of the same run (goal ≥ 0.8).
    public var autoVsBestFixed: Double
    /// `auto` ÷ fixed 4 (goal ≥ 10).
    public var autoVsFixed4: Double
    /// The same latency and limit with batches of 10 events: the scenario's requests at a tenth of the events, so
    /// that on a machine where the engine and the in-process sandbox share few cores the 500 requests/s limit, not
    /// the machine, is what binds (fixed 64 could send 640 requests/s). `auto` first, then each fixed value.
    public var requestBound: [AdaptiveRun]
    /// `auto` ÷ the best fixed value there.
    public var requestBoundAutoVsBestFixed: Double
    /// `auto` ÷ fixed 4 there.
    public var requestBoundAutoVsFixed4: Double
    /// The request-bound scenario with ``AdaptiveBenchmarkOptions/jitterMilliseconds`` of jitter: `auto`, then fixed
    /// 64 (the best fixed value there in every run so far).
    public var jitteredRequestBound: [AdaptiveRun]
    /// `auto` ÷ fixed 64 there (goal ≥ 0.8, as without jitter).
    public var jitteredAutoVsFixed64: Double
    /// 20 × 429 `Retry-After: 1`, 10k events, `auto`.
    public var burst: AdaptiveRun
    /// Healthy loopback: `auto` runs and fixed-4 runs, alternating.
    public var healthyAuto: [AdaptiveRun]
    public var healthyFixed4: [AdaptiveRun]
    /// Median `auto` ÷ median fixed 4 (goal ≥ 0.95).
    public var healthyAutoVsFixed4: Double
    /// The goals, in words.
    public var goals: [String: String]
}

/// Issue #14's benchmark: adaptive concurrency against fixed limits in one run.
public enum AdaptiveBenchmark {
    /// Runs every scenario in order.
    /// - Throws: when a sandbox cannot listen or a spool cannot be opened.
    public static func run(_ options: AdaptiveBenchmarkOptions = .init()) async throws -> AdaptiveBenchmarkResult {
        let root =
            options.directory
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("lago-bench-adaptive-\(UUID().uuidString)")
            .path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        var counter = 0
        func spool() -> String {
            counter += 1
            return root + "/spool-\(counter).sqlite"
        }
        /// `auto`, then each fixed value, behind the far, rate-limited sandbox (100-event batches unless `batchSize`).
        func farRuns(fixed: [Int], events: Int, batchSize: Int? = nil, jitter: Int = 0) async throws -> [AdaptiveRun] {
            var runs: [AdaptiveRun] = []
            for limit in [nil] + fixed.map(Optional.some) {
                runs.append(
                    try await measure(
                        events: events, maxInFlight: limit, spoolPath: spool(), backlog: true,
                        latency: options.addedLatencyMilliseconds, jitter: jitter,
                        requestsPerSecond: options.requestsPerSecond, batchSize: batchSize))
            }
            return runs
        }
        let limited = try await farRuns(fixed: options.fixedMaxInFlight, events: options.limitedEvents)
        let requestBound = try await farRuns(
            fixed: options.fixedMaxInFlight, events: options.requestBoundEvents,
            batchSize: options.requestBoundBatchSize)
        let jittered = try await farRuns(
            fixed: [64], events: options.requestBoundEvents, batchSize: options.requestBoundBatchSize,
            jitter: options.jitterMilliseconds)
        /// `auto` (the first run) ÷ the best fixed run, and ÷ fixed 4.
        func ratios(_ runs: [AdaptiveRun]) -> (bestFixed: Double, fixed4: Double) {
            let auto = runs[0].eventsPerSecond
            let bestFixed = runs.dropFirst().map(\.eventsPerSecond).max() ?? auto
            let fixed4 = runs.dropFirst().first { $0.maxInFlight == "4" }?.eventsPerSecond ?? auto
            return (auto / bestFixed, auto / fixed4)
        }
        let limitedRatios = ratios(limited)
        let requestBoundRatios = ratios(requestBound)
        let burst = try await measure(
            events: options.burstEvents, maxInFlight: nil, spoolPath: spool(), backlog: true,
            burst429: options.burst429)
        var healthyAuto: [AdaptiveRun] = []
        var healthyFixed4: [AdaptiveRun] = []
        for _ in 0..<max(1, options.healthyRepetitions) {
            healthyAuto.append(try await measure(events: options.healthyEvents, maxInFlight: nil, spoolPath: spool()))
            healthyFixed4.append(try await measure(events: options.healthyEvents, maxInFlight: 4, spoolPath: spool()))
        }
        func median(_ runs: [AdaptiveRun]) -> Double {
            let sorted = runs.map(\.eventsPerSecond).sorted()
            return sorted[sorted.count / 2]
        }
        return AdaptiveBenchmarkResult(
            limited: limited, autoVsBestFixed: limitedRatios.bestFixed, autoVsFixed4: limitedRatios.fixed4,
            requestBound: requestBound, requestBoundAutoVsBestFixed: requestBoundRatios.bestFixed,
            requestBoundAutoVsFixed4: requestBoundRatios.fixed4, jitteredRequestBound: jittered,
            jitteredAutoVsFixed64: jittered[0].eventsPerSecond / jittered[1].eventsPerSecond, burst: burst,
            healthyAuto: healthyAuto, healthyFixed4: healthyFixed4,
            healthyAutoVsFixed4: median(healthyAuto) / median(healthyFixed4),
            goals: [
                "autoVsBestFixed": ">= 0.8 (100 ms latency, 500 requests/s, a spooled backlog delivered)",
                "rateLimitedShareAfter2s": "< 0.01 (auto, same scenario)",
                "autoVsFixed4": ">= 10 (same scenario)",
                "requestBound": "the same three goals with batches of 10 events (the limiter, not the machine, binds)",
                "jitteredAutoVsFixed64": ">= 0.8 (batches of 10, 100 ms plus 0-20 ms of jitter)",
                "burst": "done within 3 s of the first 429 (20 x 429 Retry-After 1, 10k events; seconds from start)",
                "healthyAutoVsFixed4": ">= 0.95 (healthy loopback)",
            ])
    }

    /// One run: `events` enqueued by 8 producers in calls of 100, delivered with `maxInFlight` (nil: auto), the
    /// sandbox adding `latency` ms and up to `jitter` ms more to each request; with
    /// `backlog`, spooled before the engine starts and timed from its start, else enqueued while it delivers; sent
    /// in requests of at most `batchSize` events (nil: the engine's default, 100).
    static func measure(
        events: Int, maxInFlight: Int?, spoolPath: String, backlog: Bool = false, latency: Int = 0, jitter: Int = 0,
        requestsPerSecond: Int? = nil, burst429: Int = 0, batchSize: Int? = nil
    ) async throws -> AdaptiveRun {
        try await Sandbox.withRunning(SandboxOptions()) { sandbox in
            if latency > 0 {
                // Seeded: the same jitter in every run (and for `auto` as for the fixed value it is compared with).
                sandbox.faults.latency(.milliseconds(latency), jitter: .milliseconds(jitter), seed: 7)
            }
            sandbox.faults.rateLimiter(requestsPerSecond: requestsPerSecond)
            if burst429 > 0 { sandbox.faults.rateLimit(next: burst429, retryAfter: 1, pathPrefix: "/api/v1/events") }
            var configuration = EngineBenchmark.configuration(spoolPath: spoolPath, maxInFlight: maxInFlight ?? 4)
            configuration.maxInFlight = maxInFlight.map { .fixed($0) } ?? .auto
            if let batchSize { configuration.maxBatchSize = batchSize }
            let engine = try EngineBenchmark.engine(configuration, sandbox: sandbox)
            if backlog {
                // Spooled first: the run measures the delivery from the first request on.
                try await EngineBenchmark.enqueue(engine, count: events, producers: 8, batchSize: 100, prefix: "ad")
            }
            let start = ContinuousClock.now
            engine.start()
            // The 429 share after the first 2 seconds: the sandbox's counts at 2 s, then at the end.
            let early = Task { () -> SandboxStats? in
                try? await Task.sleep(for: .seconds(2))
                return Task.isCancelled ? nil : sandbox.stats()
            }
            // Every run is sampled alike (a snapshot costs the engine two small spool reads).
            let sampler = Task { () -> [AdaptiveSample] in
                var samples: [AdaptiveSample] = []
                while !Task.isCancelled {
                    let stats = await engine.stats()
                    let held = sandbox.stats()
                    samples.append(
                        AdaptiveSample(
                            seconds: (EngineBenchmark.seconds(since: start) * 1000).rounded() / 1000,
                            limit: stats.concurrencyLimit, inFlight: stats.requestsInFlight,
                            roundTripMilliseconds: stats.roundTripAverage.map {
                                ($0 / .milliseconds(1) * 10).rounded() / 10
                            }, rateLimitRemaining: stats.rateLimitRemaining, sandboxRequests: held.requestsTotal,
                            sandboxEvents: held.eventsStored))
                    try? await Task.sleep(for: .milliseconds(100))
                }
                return samples
            }
            if !backlog {
                try await EngineBenchmark.enqueue(engine, count: events, producers: 8, batchSize: 100, prefix: "ad")
            }
            _ = await engine.flush(deadline: .seconds(600))
            let total = EngineBenchmark.seconds(since: start)
            let limit = await engine.stats().concurrencyLimit
            early.cancel()
            sampler.cancel()
            let atTwoSeconds = await early.value
            let timeline = await sampler.value
            await engine.shutdown()
            let stats = sandbox.stats()
            var shareAfter2s: Double?
            if let atTwoSeconds, total > 2 {
                let requests = stats.requestsTotal - atTwoSeconds.requestsTotal
                let refused = stats.requests(status: 429) - atTwoSeconds.requests(status: 429)
                shareAfter2s = requests > 0 ? Double(refused) / Double(requests) : 0
            }
            return AdaptiveRun(
                maxInFlight: maxInFlight.map(String.init) ?? "auto", events: events, seconds: total,
                eventsPerSecond: Double(events) / total, requests: stats.requestsTotal,
                requestsPerSecond: Double(stats.requestsTotal) / total,
                rateLimited: stats.requests(status: 429), rateLimitedShareAfter2s: shareAfter2s, finalLimit: limit,
                timeline: timeline,
                lost: max(0, events - stats.uniqueTransactionIDs),
                duplicated: max(0, stats.eventsStored - stats.uniqueTransactionIDs))
        }
    }
}
