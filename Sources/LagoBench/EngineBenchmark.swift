import Foundation
import LagoAPI
import LagoEngine
import LagoSandbox

/// Settings of ``EngineBenchmark/run(_:)``.
public struct EngineBenchmarkOptions: Sendable, Codable, Hashable {
    /// Sequential enqueues timed one by one (durable spool, engine delivering meanwhile).
    public var enqueueLatencySamples: Int = 20_000
    /// Events of the healthy throughput run.
    public var throughputEvents: Int = 100_000
    /// Events of the run with added latency.
    public var latencyEvents: Int = 100_000
    /// The latency the sandbox adds to each request.
    public var addedLatencyMilliseconds: Int = 100
    /// `maxInFlight` values tried with added latency (the default configuration's first).
    public var latencyMaxInFlight: [Int] = [4, 8, 16]
    /// Events spooled before the resume run.
    public var resumeEvents: Int = 100_000
    /// Events spooled for the memory run (0 skips it).
    public var rssEvents: Int = 1_000_000
    /// Concurrent producers in throughput runs.
    public var producers: Int = 8
    /// Events per `enqueue` call of the headline healthy run's producers (the relay enqueues whole requests of up
    /// to 100 events).
    public var producerBatchSize: Int = 100
    /// A fixed `maxInFlight` for the healthy runs (4: the default before adaptive delivery; ``AdaptiveBenchmark``
    /// compares `auto`).
    public var healthyMaxInFlight: Int = 4
    /// Times the headline healthy run is repeated (each on a fresh sandbox and spool); the median run is reported,
    /// every run's figure beside it. A run of 100k events lasts about a second, so one run alone mostly measures
    /// what else the machine was doing at that second.
    public var healthyRepetitions: Int = 5
    /// Directory for spool files (a temporary one when nil); removed afterwards.
    public var directory: String?
    /// The runs to make: `rss`, `enqueue`, `healthy`, `healthy-single`, `latency`, `resume`, `ingest` (all by
    /// default), and `healthy-sync-full` (the healthy run with ``SpoolSynchronousMode/full``; only when named).
    public var parts: Set<String> = ["rss", "enqueue", "healthy", "healthy-single", "latency", "resume", "ingest"]

    /// Creates the default options (the figures).
    public init() {}
}

/// Latency percentiles in microseconds.
public struct LatencyFigures: Sendable, Codable, Hashable {
    public var samples: Int
    public var p50Microseconds: Double
    public var p99Microseconds: Double
    public var maxMicroseconds: Double
}

/// One delivery run.
public struct ThroughputFigures: Sendable, Codable, Hashable {
    public var events: Int
    public var maxInFlight: Int
    public var addedLatencyMilliseconds: Int
    /// From the first enqueue until the sandbox held every event.
    public var seconds: Double
    public var eventsPerSecond: Double
    /// Enqueue alone (producers finished), for comparison.
    public var enqueueSeconds: Double
    public var requests: Int
    public var lost: Int
    public var duplicated: Int
    /// Events per `enqueue` call of the producers (nil: not a producer-driven run).
    public var producerBatchSize: Int? = nil
}

/// Restarting on a full spool.
public struct ResumeFigures: Sendable, Codable, Hashable {
    public var spooledEvents: Int
    /// Opening the engine (lock, spool checks, counting).
    public var openSeconds: Double
    /// From opening until the first event is delivered.
    public var firstDeliverySeconds: Double
    /// From opening until the spool is empty.
    public var drainSeconds: Double
}

/// Memory with a large spool.
public struct MemoryFigures: Sendable, Codable, Hashable {
    public var spooledEvents: Int
    /// `VmHWM` of the process before the run (KiB).
    public var baselinePeakKiB: Int?
    /// `VmHWM` of the engine running on the full spool (KiB): since the fill when ``peakIsEngineRunOnly``, else
    /// of the whole process.
    public var peakKiB: Int?
    /// `VmRSS` at the end (KiB).
    public var residentKiB: Int?
    public var spoolFileBytes: Int64
    /// `VmHWM` once the spool was filled (the harness enqueueing 1M events), KiB.
    public var fillPeakKiB: Int? = nil
    /// `VmRSS` once the spool was filled, KiB: where the engine run's peak starts from.
    public var residentAfterFillKiB: Int? = nil
    /// Whether `VmHWM` was reset after the fill (`/proc/self/clear_refs`), so ``peakKiB`` covers the engine run only.
    public var peakIsEngineRunOnly: Bool = false
}

/// Everything ``EngineBenchmark/run(_:)`` measured.
public struct EngineBenchmarkResult: Sendable, Codable, Hashable {
    /// One producer, engine delivering to the in-process sandbox meanwhile (both share the machine's cores).
    public var enqueueLatency: LatencyFigures?
    /// One producer, engine not delivering: the spool's own commit latency.
    public var enqueueLatencySpoolOnly: LatencyFigures?
    /// `producers` concurrent producers filling the spool of the resume run, engine not delivering.
    public var enqueueThroughputSpoolOnly: ThroughputFigures?
    /// `producers` producers enqueueing `producerBatchSize` events per call while the engine delivers.
    public var healthy: ThroughputFigures?
    /// Events per second of every repetition of the healthy run, in the order run (``healthy`` is their median).
    public var healthyRunsEventsPerSecond: [Double]?
    /// The same with one event per `enqueue` call (each awaiting its commit).
    public var healthySingleEventProducers: ThroughputFigures?
    /// The healthy run with `synchronous = FULL` (an fsync per group commit), the median of as many repetitions.
    public var healthySyncFull: ThroughputFigures?
    /// Events per second of every repetition of the `synchronous = FULL` run, in the order run.
    public var healthySyncFullRunsEventsPerSecond: [Double]?
    public var withLatency: [ThroughputFigures]?
    public var resume: ResumeFigures?
    public var memory: MemoryFigures?
    public var sandboxIngest: ThroughputFigures?
    /// Targets from the issue, for the reader.
    public var targets: [String: String]
}

/// The engine's benchmark against the in-process sandbox (build in release: `swift build -c release`).
///
/// Runs, in order: memory with `rssEvents` spooled (first, so `VmHWM` is not inflated by the other runs), enqueue
/// latency, healthy throughput, throughput with added latency, resume on a full spool, and the sandbox's own ingest
/// ceiling (pre-encoded batches straight from a client, no engine).
public enum EngineBenchmark {
    /// Runs the benchmark.
    /// - Throws: when the sandbox cannot start or a spool cannot be written.
    public static func run(
        _ options: EngineBenchmarkOptions = EngineBenchmarkOptions()
    ) async throws -> EngineBenchmarkResult {
        let root =
            options.directory
            ?? FileManager.default.temporaryDirectory
            .appendingPathComponent("lago-bench-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        var counter = 0
        func spoolPath() -> String {
            counter += 1
            return root + "/spool-\(counter).sqlite"
        }

        let parts = options.parts
        var result = EngineBenchmarkResult(targets: [:])
        if parts.contains("rss") && options.rssEvents > 0 {
            result.memory = try await measureMemory(options, spoolPath: spoolPath())
        }
        if parts.contains("enqueue") {
            result.enqueueLatency = try await measureEnqueueLatency(options, spoolPath: spoolPath())
            result.enqueueLatencySpoolOnly = try await measureSpoolOnlyLatency(options, spoolPath: spoolPath())
        }
        // With both healthy runs named, their repetitions alternate, so both see the same moments of a shared machine.
        let modes = [SpoolSynchronousMode.normal, .full].filter {
            parts.contains($0 == .normal ? "healthy" : "healthy-sync-full")
        }
        var runsByMode: [SpoolSynchronousMode: [ThroughputFigures]] = [:]
        for _ in 0..<(modes.isEmpty ? 0 : max(1, options.healthyRepetitions)) {
            for mode in modes {
                runsByMode[mode, default: []].append(
                    try await measureThroughput(
                        events: options.throughputEvents, maxInFlight: options.healthyMaxInFlight, latency: 0,
                        producers: options.producers, batchSize: options.producerBatchSize, spoolPath: spoolPath(),
                        synchronous: mode))
            }
        }
        for (mode, runs) in runsByMode {
            // The median; a lost or duplicated event in any run is reported whichever run is the median.
            var median = runs.sorted { $0.eventsPerSecond < $1.eventsPerSecond }[runs.count / 2]
            median.lost = runs.map(\.lost).max() ?? 0
            median.duplicated = runs.map(\.duplicated).max() ?? 0
            if mode == .normal {
                result.healthyRunsEventsPerSecond = runs.map(\.eventsPerSecond)
                result.healthy = median
            } else {
                result.healthySyncFullRunsEventsPerSecond = runs.map(\.eventsPerSecond)
                result.healthySyncFull = median
            }
        }
        if parts.contains("healthy-single") {
            result.healthySingleEventProducers = try await measureThroughput(
                events: options.throughputEvents, maxInFlight: options.healthyMaxInFlight, latency: 0,
                producers: options.producers,
                batchSize: 1, spoolPath: spoolPath())
        }
        if parts.contains("latency") {
            var withLatency: [ThroughputFigures] = []
            for maxInFlight in options.latencyMaxInFlight {
                withLatency.append(
                    try await measureThroughput(
                        events: options.latencyEvents, maxInFlight: maxInFlight,
                        latency: options.addedLatencyMilliseconds, producers: options.producers,
                        batchSize: options.producerBatchSize, spoolPath: spoolPath()))
            }
            result.withLatency = withLatency
        }
        if parts.contains("resume") {
            let resumePath = spoolPath()
            let fillStart = ContinuousClock.now
            try await fillSpool(resumePath, count: options.resumeEvents, producers: options.producers, prefix: "resume")
            let fillSeconds = seconds(since: fillStart)
            result.enqueueThroughputSpoolOnly = ThroughputFigures(
                events: options.resumeEvents, maxInFlight: 0, addedLatencyMilliseconds: 0, seconds: fillSeconds,
                eventsPerSecond: Double(options.resumeEvents) / fillSeconds, enqueueSeconds: fillSeconds, requests: 0,
                lost: 0, duplicated: 0)
            result.resume = try await measureResume(options, spoolPath: resumePath)
        }
        if parts.contains("ingest") {
            result.sandboxIngest = try await measureSandboxIngest(events: options.throughputEvents)
        }
        result.targets = [
            "enqueueP99": "<= 100 us (enqueueLatencySpoolOnly; enqueueLatency, while delivering, is informational)",
            "healthy": ">= 100000 events/s (median of healthyRunsEventsPerSecond)",
            "latency100ms": ">= 7000 events/s (withLatency; max_in_flight x 100 events / 0.1 s bounds it: needs >= 8)",
            "resume": "<= 1 s", "rss": "<= 100 MB (VmHWM)",
        ]
        return result
    }

    static func configuration(
        spoolPath: String, maxInFlight: Int = 4, synchronous: SpoolSynchronousMode = .normal
    ) -> EngineConfiguration {
        var configuration = EngineConfiguration(spoolPath: spoolPath)
        configuration.synchronousMode = synchronous
        configuration.maxInFlight = .fixed(maxInFlight)
        configuration.flushInterval = .milliseconds(50)
        configuration.defaultSubscription = SandboxSeed.subscriptionExternalID
        return configuration
    }

    static func event(_ index: Int, prefix: String) -> EventInput {
        EventInput(
            transactionID: "\(prefix)-\(index)", externalSubscriptionID: SandboxSeed.subscriptionExternalID,
            code: "llm_input_tokens", timestamp: 1_720_000_000 + Double(index % 86_400),
            properties: ["value": .integer(Int64(index % 5000 + 1)), "model": "claude-sonnet", "region": "eu"])
    }

    static func engine(_ configuration: EngineConfiguration, sandbox: Sandbox) throws -> LagoEngine {
        try LagoEngine(
            configuration: configuration, baseURL: LagoBaseURL(sandbox.baseURL.absoluteString), apiKey: sandbox.apiKey)
    }

    /// `producers` concurrent producers enqueue `count` events, `batchSize` per call (1: one event per call, each
    /// awaiting its own commit).
    static func enqueue(
        _ engine: LagoEngine, count: Int, producers: Int, batchSize: Int = 1, prefix: String
    ) async throws {
        let batchSize = max(1, batchSize)
        let chunks = (count + batchSize - 1) / batchSize
        try await withThrowingTaskGroup(of: Void.self) { group in
            for producer in 0..<producers {
                group.addTask {
                    var chunk = producer
                    while chunk < chunks {
                        let range = (chunk * batchSize)..<min(count, (chunk + 1) * batchSize)
                        if range.count == 1 {
                            try await engine.enqueue(event(range.lowerBound, prefix: prefix))
                        } else {
                            try await engine.enqueue(range.map { event($0, prefix: prefix) })
                        }
                        chunk += producers
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    static func seconds(since start: ContinuousClock.Instant) -> Double {
        let elapsed = ContinuousClock.now - start
        return elapsed / .seconds(1)
    }

    static func measureEnqueueLatency(
        _ options: EngineBenchmarkOptions, spoolPath: String
    ) async throws -> LatencyFigures {
        try await Sandbox.withRunning(SandboxOptions()) { sandbox in
            let engine = try engine(configuration(spoolPath: spoolPath), sandbox: sandbox)
            engine.start()
            var samples: [Double] = []
            samples.reserveCapacity(options.enqueueLatencySamples)
            let clock = ContinuousClock()
            for index in 0..<options.enqueueLatencySamples {
                let event = event(index, prefix: "lat")
                let elapsed = try await clock.measure { try await engine.enqueue(event) }
                samples.append(elapsed / .microseconds(1))
            }
            _ = await engine.flush(deadline: .seconds(60))
            await engine.shutdown()
            return latencyFigures(samples)
        }
    }

    static func measureThroughput(
        events: Int, maxInFlight: Int, latency: Int, producers: Int, batchSize: Int, spoolPath: String,
        synchronous: SpoolSynchronousMode = .normal
    ) async throws -> ThroughputFigures {
        try await Sandbox.withRunning(SandboxOptions()) { sandbox in
            if latency > 0 { sandbox.faults.latency(.milliseconds(latency)) }
            let engine = try engine(
                configuration(spoolPath: spoolPath, maxInFlight: maxInFlight, synchronous: synchronous),
                sandbox: sandbox)
            engine.start()
            let start = ContinuousClock.now
            try await enqueue(engine, count: events, producers: producers, batchSize: batchSize, prefix: "tp")
            let enqueueSeconds = seconds(since: start)
            _ = await engine.flush(deadline: .seconds(600))
            let total = seconds(since: start)
            await engine.shutdown()
            let stats = sandbox.stats()
            let stored = stats.eventsStored
            return ThroughputFigures(
                events: events, maxInFlight: maxInFlight, addedLatencyMilliseconds: latency, seconds: total,
                eventsPerSecond: Double(events) / total, enqueueSeconds: enqueueSeconds, requests: stats.requestsTotal,
                lost: max(0, events - stats.uniqueTransactionIDs),
                duplicated: max(0, stored - stats.uniqueTransactionIDs),
                producerBatchSize: batchSize)
        }
    }

    static func fillSpool(_ spoolPath: String, count: Int, producers: Int, prefix: String) async throws {
        var configuration = configuration(spoolPath: spoolPath)
        configuration.spoolLimit = max(configuration.spoolLimit, count + 1)
        // Never started: the events only go to the spool.
        let engine = try LagoEngine(
            configuration: configuration, baseURL: LagoBaseURL("http://127.0.0.1:9"), apiKey: "unused")
        try await enqueue(engine, count: count, producers: producers, prefix: prefix)
        await engine.shutdown()
    }

    /// Sequential enqueues into a spool nobody delivers from.
    static func measureSpoolOnlyLatency(
        _ options: EngineBenchmarkOptions, spoolPath: String
    ) async throws -> LatencyFigures {
        let engine = try LagoEngine(
            configuration: configuration(spoolPath: spoolPath), baseURL: LagoBaseURL("http://127.0.0.1:9"),
            apiKey: "unused")
        var samples: [Double] = []
        samples.reserveCapacity(options.enqueueLatencySamples)
        let clock = ContinuousClock()
        for index in 0..<options.enqueueLatencySamples {
            let event = event(index, prefix: "solo")
            let elapsed = try await clock.measure { try await engine.enqueue(event) }
            samples.append(elapsed / .microseconds(1))
        }
        await engine.shutdown()
        return latencyFigures(samples)
    }

    static func latencyFigures(_ unsorted: [Double]) -> LatencyFigures {
        let samples = unsorted.sorted()
        return LatencyFigures(
            samples: samples.count, p50Microseconds: BenchStatistics.percentile(samples, 0.5),
            p99Microseconds: BenchStatistics.percentile(samples, 0.99),
            maxMicroseconds: samples.last ?? 0)
    }

    static func measureResume(_ options: EngineBenchmarkOptions, spoolPath: String) async throws -> ResumeFigures {
        try await Sandbox.withRunning(SandboxOptions()) { sandbox in
            let start = ContinuousClock.now
            let engine = try engine(configuration(spoolPath: spoolPath), sandbox: sandbox)
            let openSeconds = seconds(since: start)
            let changes = engine.lifecycleEvents(bufferSize: 16)
            engine.start()
            var firstDelivery = 0.0
            for await change in changes {
                if case .delivered = change.stage {
                    firstDelivery = seconds(since: start)
                    break
                }
            }
            _ = await engine.flush(deadline: .seconds(600))
            let drain = seconds(since: start)
            await engine.shutdown()
            return ResumeFigures(
                spooledEvents: options.resumeEvents, openSeconds: openSeconds, firstDeliverySeconds: firstDelivery,
                drainSeconds: drain)
        }
    }

    static func measureMemory(_ options: EngineBenchmarkOptions, spoolPath: String) async throws -> MemoryFigures {
        let baseline = ProcessMemory.read("VmHWM")
        try await fillSpool(spoolPath, count: options.rssEvents, producers: options.producers, prefix: "rss")
        // Filling is the harness's work, not the engine's: measure the engine on the full spool from here (writing
        // 5 to clear_refs resets VmHWM to the current RSS, Linux ≥ 4.0).
        let fillPeak = ProcessMemory.read("VmHWM")
        let resetWorked = (try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)) != nil
        let afterFill = ProcessMemory.read("VmRSS")
        // Reopen the full spool and run the engine against a server that is down: it reads batches, fails, backs
        // off and probes, with the whole backlog spooled.
        try await Sandbox.withRunning(SandboxOptions()) { sandbox in
            sandbox.faults.outage(for: .seconds(3600), mode: .status503)
            let engine = try engine(configuration(spoolPath: spoolPath), sandbox: sandbox)
            engine.start()
            try await Task.sleep(for: .seconds(2))
            _ = await engine.stats()
            await engine.shutdown()
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: spoolPath)[.size] as? NSNumber)?.int64Value ?? 0
        return MemoryFigures(
            spooledEvents: options.rssEvents, baselinePeakKiB: baseline, peakKiB: ProcessMemory.read("VmHWM"),
            residentKiB: ProcessMemory.read("VmRSS"), spoolFileBytes: size, fillPeakKiB: fillPeak,
            residentAfterFillKiB: afterFill, peakIsEngineRunOnly: resetWorked)
    }

    /// The sandbox's own ceiling: pre-encoded batches of 100 from 4 concurrent clients, no engine, no spool.
    static func measureSandboxIngest(events: Int) async throws -> ThroughputFigures {
        try await Sandbox.withRunning(SandboxOptions()) { sandbox in
            let client = LagoClient(
                configuration: LagoClientConfiguration(
                    baseURL: try LagoBaseURL(sandbox.baseURL.absoluteString), apiKey: sandbox.apiKey))
            let encoder = JSONEncoder()
            let batches = stride(from: 0, to: events, by: 100).map { start in
                (start..<min(events, start + 100)).map { event($0, prefix: "raw") }
            }
            let bodies = try batches.map { try encoder.encode(["events": $0]) }
            let start = ContinuousClock.now
            try await withThrowingTaskGroup(of: Void.self) { group in
                for lane in 0..<4 {
                    group.addTask {
                        for index in stride(from: lane, to: bodies.count, by: 4) {
                            try await client.deliverBatch(encodedBody: bodies[index])
                        }
                    }
                }
                try await group.waitForAll()
            }
            let total = seconds(since: start)
            try await client.shutdown()
            let stats = sandbox.stats()
            return ThroughputFigures(
                events: events, maxInFlight: 4, addedLatencyMilliseconds: 0, seconds: total,
                eventsPerSecond: Double(events) / total, enqueueSeconds: 0, requests: stats.requestsTotal,
                lost: max(0, events - stats.uniqueTransactionIDs), duplicated: 0)
        }
    }
}

/// Reads `/proc/self/status`.
enum ProcessMemory {
    /// A field such as `VmHWM` or `VmRSS`, in KiB (nil where /proc is absent).
    static func read(_ field: String) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(field + ":") {
            let digits = line.dropFirst(field.count + 1).trimmingCharacters(in: .whitespaces).split(separator: " ")
                .first
            return digits.flatMap { Int($0) }
        }
        return nil
    }
}
