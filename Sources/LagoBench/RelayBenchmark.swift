import AsyncHTTPClient
import Foundation
import LagoAPI
import LagoBilling
import LagoEngine
import LagoRelay
import LagoSandbox
import Logging
import NIOCore

/// Settings of ``RelayBenchmark/run(_:)``.
public struct RelayBenchmarkOptions: Sendable, Codable, Hashable {
    /// Events posted to the relay.
    public var events: Int = 100_000
    /// Events per `POST /api/v1/events/batch` (Lago's limit is 100).
    public var batchSize: Int = 100
    /// Concurrent HTTP/1.1 clients, each on one keep-alive connection posting its batches one after another.
    public var clients: Int = 4
    /// The engine's `max_in_flight` towards the sandbox.
    public var maxInFlight: Int = 4
    /// Directory for the spool (a temporary one when nil); removed afterwards.
    public var directory: String?
    /// The engine checks every event against the sandbox's catalogue, as `serve` does (the billing benchmark runs
    /// the relay with and without it).
    public var checkBilling = false

    /// Creates the default options: 100k events in batches of 100 from 4 clients.
    public init() {}
}

/// What ``RelayBenchmark/run(_:)`` measured.
public struct RelayBenchmarkResult: Sendable, Codable, Hashable {
    public var events: Int
    public var batchSize: Int
    public var clients: Int
    public var maxInFlight: Int
    /// The engine checked every event (``RelayBenchmarkOptions/checkBilling``).
    public var checkBilling = false
    /// Events the check called billable (all of them in this benchmark; `nil` without the check).
    public var billable: Int?
    /// Batch requests sent.
    public var requests: Int
    /// Answers other than 200 (each is a batch the relay did not spool; 0 in a healthy run).
    public var refusedRequests: Int
    /// The first refusal, `"<status> <body>"`, when there was one.
    public var firstRefusal: String?
    /// From the first request until every batch was answered 200, i.e. durably spooled.
    public var ingestSeconds: Double
    /// `events / ingestSeconds`: the relay's ingest rate.
    public var ingestEventsPerSecond: Double
    /// Per-request round trip (client to relay answer), microseconds.
    public var batchLatency: LatencyFigures
    /// From the first request until the engine's flush returned (everything delivered to the sandbox).
    public var deliveredSeconds: Double
    /// Distinct transaction ids the sandbox stored after the flush; equals `events` when nothing was lost.
    public var delivered: Int
    public var lost: Int
    public var duplicated: Int
    /// Events still spooled after the flush (0 unless the flush deadline passed).
    public var pendingAfterFlush: Int
    /// Events the engine dead-lettered (0 in a healthy run).
    public var dead: Int
}

/// The relay's ingest benchmark: the in-process sandbox, an engine with a durable spool in front of it, the relay
/// in front of the engine, and several keep-alive HTTP/1.1 clients posting pre-encoded batches over loopback.
///
/// Measures the relay's ingest rate (every batch answered 200 only once spooled), then flushes the engine and counts
/// what reached the sandbox. Build in release for meaningful figures; everything shares the machine's cores.
public enum RelayBenchmark {
    /// Runs the benchmark.
    /// - Throws: when the sandbox, the spool or the relay cannot start, or a request fails at the transport level.
    public static func run(
        _ options: RelayBenchmarkOptions = RelayBenchmarkOptions()
    ) async throws
        -> RelayBenchmarkResult
    {
        precondition(options.events > 0 && options.batchSize > 0 && options.clients > 0, "nothing to measure")
        let root =
            options.directory
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("lago-relay-bench-\(UUID().uuidString)")
            .path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }

        // Pre-encoded before the clock starts: the figure is the relay's, not the client's encoder.
        let encoder = JSONEncoder()
        let bodies: [ByteBuffer] = try stride(from: 0, to: options.events, by: options.batchSize).map { start in
            let batch = (start..<min(options.events, start + options.batchSize)).map {
                EngineBenchmark.event($0, prefix: "relay")
            }
            return ByteBuffer(bytes: try encoder.encode(["events": batch]))
        }

        return try await Sandbox.withRunning(SandboxOptions()) { sandbox in
            try await BillingBenchmark.withChecker(sandbox, enabled: options.checkBilling) { checker in
                var configuration = EngineBenchmark.configuration(
                    spoolPath: root + "/relay-spool.sqlite", maxInFlight: options.maxInFlight)
                configuration.spoolLimit = max(configuration.spoolLimit, options.events + 1)
                configuration.billingChecker = checker
                let engine = try EngineBenchmark.engine(configuration, sandbox: sandbox)
                engine.start()
                let logger = Logger(label: "lago.bench.relay") { _ in SwiftLogNoOpLogHandler() }
                do {
                    let token = benchToken()
                    let ingest = try await LagoRelay.withRunning(
                        engine: engine, options: RelayOptions(host: "127.0.0.1", port: 0, token: token), logger: logger
                    ) { relayURL in
                        try await post(
                            bodies, to: relayURL.absoluteString + "/events/batch", clients: options.clients,
                            token: token)
                    }
                    let flush = await engine.flush(deadline: .seconds(600))
                    let deliveredSeconds = EngineBenchmark.seconds(since: ingest.start)
                    let billable = await engine.stats().billing.accepted.billable
                    await engine.shutdown()
                    let stats = sandbox.stats()
                    let ingestSeconds = ingest.seconds
                    return RelayBenchmarkResult(
                        events: options.events, batchSize: options.batchSize, clients: options.clients,
                        maxInFlight: options.maxInFlight, checkBilling: options.checkBilling,
                        billable: options.checkBilling ? billable : nil, requests: bodies.count,
                        refusedRequests: ingest.refused, firstRefusal: ingest.firstRefusal,
                        ingestSeconds: ingestSeconds,
                        ingestEventsPerSecond: Double(options.events) / ingestSeconds,
                        batchLatency: EngineBenchmark.latencyFigures(ingest.latencies),
                        deliveredSeconds: deliveredSeconds, delivered: stats.uniqueTransactionIDs,
                        lost: max(0, options.events - stats.uniqueTransactionIDs),
                        duplicated: max(0, stats.eventsStored - stats.uniqueTransactionIDs),
                        pendingAfterFlush: flush.pending, dead: flush.dead)
                } catch {
                    await engine.shutdown()
                    throw error
                }
            }
        }
    }

    struct IngestRun: Sendable {
        var start: ContinuousClock.Instant
        var seconds: Double
        var latencies: [Double]
        var refused: Int
        var firstRefusal: String?
    }

    struct Lane: Sendable {
        var latencies: [Double] = []
        var refused = 0
        var firstRefusal: String?
    }

    /// A relay token of the run's own: the relay then refuses any request but the bench's (401), so a stray
    /// request reaching its ephemeral port (a client of an earlier server on that port) cannot add to its counts.
    static func benchToken() -> String { "bench-" + UUID().uuidString.lowercased() }

    /// Posts every body with `token`, lane `i` taking bodies `i, i + clients, …` over its own client and connection.
    static func post(_ bodies: [ByteBuffer], to url: String, clients: Int, token: String) async throws -> IngestRun {
        var configuration = HTTPClient.Configuration()
        configuration.httpVersion = .http1Only
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 1)
        let httpClients = (0..<clients).map { _ in
            HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
        }
        let start = ContinuousClock.now
        do {
            let lanes = try await withThrowingTaskGroup(of: Lane.self, returning: [Lane].self) { group in
                for (index, client) in httpClients.enumerated() {
                    group.addTask {
                        var lane = Lane()
                        lane.latencies.reserveCapacity(bodies.count / clients + 1)
                        for bodyIndex in stride(from: index, to: bodies.count, by: clients) {
                            var request = HTTPClientRequest(url: url)
                            request.method = .POST
                            request.headers.add(name: "Content-Type", value: "application/json")
                            request.headers.add(name: "Authorization", value: "Bearer \(token)")
                            request.body = .bytes(bodies[bodyIndex])
                            let sent = ContinuousClock.now
                            let response = try await client.execute(request, timeout: .seconds(60))
                            let answer = try await response.body.collect(upTo: 16 << 20)
                            let elapsed = ContinuousClock.now - sent
                            let microseconds = elapsed / .microseconds(1)
                            lane.latencies.append(microseconds)
                            if response.status.code != 200 {
                                lane.refused += 1
                                if lane.firstRefusal == nil {
                                    lane.firstRefusal =
                                        "\(response.status.code) \(String(buffer: answer))"
                                }
                            }
                        }
                        return lane
                    }
                }
                var lanes: [Lane] = []
                for try await lane in group { lanes.append(lane) }
                return lanes
            }
            let seconds = EngineBenchmark.seconds(since: start)
            for client in httpClients { try await client.shutdown() }
            return IngestRun(
                start: start, seconds: seconds, latencies: lanes.flatMap(\.latencies),
                refused: lanes.reduce(0) { $0 + $1.refused }, firstRefusal: lanes.lazy.compactMap(\.firstRefusal).first)
        } catch {
            for client in httpClients { try? await client.shutdown() }
            throw error
        }
    }
}
