import AsyncHTTPClient
import Foundation
public import LagoSandbox
public import Logging
import NIOCore
import Synchronization

/// What one ingestion benchmark measured.
public struct SandboxBenchmarkResult: Sendable, Hashable, Codable {
    /// Events accepted (200) by the sandbox.
    public var events: Int
    /// Batches sent.
    public var batches: Int
    /// Batches not answered 200.
    public var failedBatches: Int
    /// Events per batch.
    public var batchSize: Int
    /// Concurrent HTTP/1.1 connections.
    public var connections: Int
    /// Whether events went to SQLite (`dataPath` set) rather than memory only.
    public var persistent: Bool
    /// Wall time from the first request to the last answer.
    public var seconds: Double
    /// `events / seconds`.
    public var eventsPerSecond: Double
    /// Median of a batch's round trip, in milliseconds (nearest rank).
    public var p50BatchMilliseconds: Double
    /// 99th percentile of a batch's round trip, in milliseconds (nearest rank).
    public var p99BatchMilliseconds: Double
}

/// Loopback ingestion benchmark: starts an in-process sandbox and posts batches to `POST /api/v1/events/batch`
/// from several concurrent AsyncHTTPClient connections.
public enum SandboxBenchmark {
    /// Runs the benchmark; request bodies are built before the clock starts. Bounded by `events`.
    /// - Parameters:
    ///   - events: total events to send (rounded up to whole batches).
    ///   - batchSize: events per batch (Lago's limit is 100).
    ///   - connections: concurrent connections (and in-flight batches).
    ///   - dataPath: SQLite file for a persistent run; nil measures the in-memory store.
    /// - Throws: when the sandbox cannot start or the HTTP client fails.
    public static func run(
        events: Int = 200_000,
        batchSize: Int = 100,
        connections: Int = 4,
        dataPath: String? = nil,
        logger: Logger = Sandbox.silentLogger
    ) async throws -> SandboxBenchmarkResult {
        let batchSize = max(1, min(batchSize, 100))
        let batchCount = max(1, (events + batchSize - 1) / batchSize)
        let connections = max(1, connections)
        let options = SandboxOptions(dataPath: dataPath, apiKeys: ["benchmark-key"])
        return try await Sandbox.withRunning(options, logger: logger) { sandbox in
            let url = sandbox.baseURL.absoluteString + "/events/batch"
            let runID = UUID().uuidString.prefix(8)
            let bodies: [ByteBuffer] = (0..<batchCount).map { batch in
                var text = #"{"events":["#
                for index in 0..<batchSize {
                    if index > 0 { text += "," }
                    text += #"{"transaction_id":"bench-\#(runID)-\#(batch)-\#(index)","#
                    text += #""external_subscription_id":"\#(SandboxSeed.subscriptionExternalID)","code":"llm_input_tokens","#
                    text += #""timestamp":\#(1_700_000_000 + batch),"properties":{"value":\#(index + 1)}}"#
                }
                return ByteBuffer(string: text + "]}")
            }

            var configuration = HTTPClient.Configuration()
            configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = connections
            let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
            let cursor = BatchCursor()
            let start = ContinuousClock.now
            let outcome: Result<[(Bool, Duration)], any Error>
            do {
                let results = try await withThrowingTaskGroup(of: [(Bool, Duration)].self) { group in
                    for _ in 0..<connections {
                        group.addTask {
                            var results: [(Bool, Duration)] = []
                            while true {
                                let index = cursor.next()
                                guard index < bodies.count else { return results }
                                var request = HTTPClientRequest(url: url)
                                request.method = .POST
                                request.headers.add(name: "Authorization", value: "Bearer benchmark-key")
                                request.headers.add(name: "Content-Type", value: "application/json")
                                request.body = .bytes(bodies[index])
                                let sent = ContinuousClock.now
                                let response = try await client.execute(request, timeout: .seconds(60))
                                _ = try await response.body.collect(upTo: 16 << 20)
                                results.append((response.status.code == 200, ContinuousClock.now - sent))
                            }
                        }
                    }
                    return try await group.reduce(into: []) { $0 += $1 }
                }
                outcome = .success(results)
            } catch {
                outcome = .failure(error)
            }
            let elapsed = ContinuousClock.now - start
            try await client.shutdown()
            let results = try outcome.get()

            let seconds = elapsed / .seconds(1)
            let latencies = results.map { $0.1 / .milliseconds(1) }.sorted()
            let succeeded = results.filter(\.0).count
            return SandboxBenchmarkResult(
                events: succeeded * batchSize,
                batches: results.count,
                failedBatches: results.count - succeeded,
                batchSize: batchSize,
                connections: connections,
                persistent: dataPath != nil,
                seconds: seconds,
                eventsPerSecond: seconds > 0 ? Double(succeeded * batchSize) / seconds : 0,
                p50BatchMilliseconds: BenchStatistics.percentile(latencies, 0.5),
                p99BatchMilliseconds: BenchStatistics.percentile(latencies, 0.99)
            )
        }
    }
}

/// Hands out batch indexes to the benchmark's connections.
private final class BatchCursor: Sendable {
    private let value = Mutex(0)

    func next() -> Int {
        value.withLock { value in
            defer { value += 1 }
            return value
        }
    }
}
