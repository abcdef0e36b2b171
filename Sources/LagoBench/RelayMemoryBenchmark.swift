import AsyncHTTPClient
import Foundation
import LagoAPI
import LagoEngine
import LagoRelay
import Logging
import NIOCore

/// Settings of ``RelayMemoryBenchmark/run(_:)``.
public struct RelayMemoryOptions: Sendable, Codable, Hashable {
    /// Concurrent clients, each posting one body on its own connection, all at once.
    public var clients: Int = 200
    /// The size of each body: one valid event padded with spaces (just under the relay's 1 MiB limit).
    public var bodyBytes: Int = (1 << 20) - 64
    /// The relay's ``LagoRelay/RelayOptions/bodyBudgetBytes``; `nil` for the default (8 × the 1 MiB body limit),
    /// 0 for no budget (the relay as it was before the budget).
    public var bodyBudgetBytes: Int?

    /// Creates the default options: 200 concurrent bodies of 1 MiB, the default budget.
    public init() {}
}

/// What ``RelayMemoryBenchmark/run(_:)`` measured.
public struct RelayMemoryResult: Sendable, Codable, Hashable {
    public var clients: Int
    public var bodyBytes: Int
    /// The budget in force, in bytes (`nil`: none).
    public var bodyBudgetBytes: Int?
    /// Bodies answered 200 (spooled).
    public var accepted: Int
    /// Bodies answered 503 with `Retry-After` (over the budget; nothing spooled).
    public var refusedBusy: Int
    /// Other answers or transport errors.
    public var other: Int
    /// `VmHWM` with the relay up, before the load (KiB).
    public var baselinePeakKiB: Int?
    /// `VmHWM` once every body was answered (KiB).
    public var peakKiB: Int?
    /// `VmRSS` then (KiB).
    public var residentKiB: Int?
}

/// The relay's memory under concurrent large bodies: a relay in front of an engine that is not delivering, and
/// `clients` HTTP/1.1 clients posting one large body each at the same moment. Run it in a fresh process: `VmHWM` is
/// the process's high-water mark. The clients share one body buffer, so their own memory stays about one body.
public enum RelayMemoryBenchmark {
    /// Runs the measurement.
    /// - Throws: when the spool or the relay cannot start.
    public static func run(_ options: RelayMemoryOptions = RelayMemoryOptions()) async throws -> RelayMemoryResult {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("lago-relay-rss-\(UUID().uuidString)")
            .path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let event =
            #"{"events":[{"transaction_id":"rss-TX","external_subscription_id":"sub_bench","code":"llm_input_tokens","properties":{"value":1}}"#
        let logger = Logger(label: "lago.bench.relay-rss") { _ in SwiftLogNoOpLogHandler() }
        // Not started: nothing is delivered, the figure is the relay's and the spool's.
        let engine = try LagoEngine(
            configuration: EngineConfiguration(spoolPath: root + "/spool.sqlite"),
            baseURL: try LagoBaseURL("http://127.0.0.1:9/api/v1"), apiKey: "bench", logger: logger)
        var relayOptions = RelayOptions(host: "127.0.0.1", port: 0)
        relayOptions.maxBodyBytes = max(relayOptions.maxBodyBytes, options.bodyBytes)
        if options.bodyBudgetBytes != nil { relayOptions.bodyBudgetBytes = options.bodyBudgetBytes }
        let budget: Int? = options.bodyBudgetBytes == 0 ? nil : relayOptions.effectiveBodyBudgetBytes
        relayOptions.bodyBudgetBytes = budget ?? Int.max / 2
        // Each body is its own event, then padding every client shares (one buffer, never copied), then `]}`.
        let padding = ByteBuffer(repeating: UInt8(ascii: " "), count: options.bodyBytes - event.utf8.count - 16)
        let bodies = (0..<options.clients).map { index in
            var head = ByteBuffer(string: event.replacingOccurrences(of: "TX", with: String(index)))
            head.writeRepeatingByte(UInt8(ascii: " "), count: options.bodyBytes - padding.readableBytes - head.readableBytes - 2)
            return [head, padding, ByteBuffer(string: "]}")]
        }
        do {
            let result = try await LagoRelay.withRunning(engine: engine, options: relayOptions, logger: logger) { url in
                var configuration = HTTPClient.Configuration()
                configuration.httpVersion = .http1Only
                configuration.connectionPool = .init(
                    idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: options.clients)
                let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
                let baseline = ProcessMemory.read("VmHWM")
                let statuses = await withTaskGroup(of: Int.self, returning: [Int].self) { group in
                    for body in bodies {
                        group.addTask {
                            var request = HTTPClientRequest(url: url.absoluteString + "/events/batch")
                            request.method = .POST
                            request.headers.add(name: "Content-Type", value: "application/json")
                            request.body = .stream(Buffers(body), length: .known(Int64(options.bodyBytes)))
                            do {
                                let response = try await client.execute(request, timeout: .seconds(120))
                                _ = try await response.body.collect(upTo: 1 << 20)
                                return Int(response.status.code)
                            } catch {
                                return -1
                            }
                        }
                    }
                    var statuses: [Int] = []
                    for await status in group { statuses.append(status) }
                    return statuses
                }
                let peak = ProcessMemory.read("VmHWM")
                let resident = ProcessMemory.read("VmRSS")
                try? await client.shutdown()
                return RelayMemoryResult(
                    clients: options.clients, bodyBytes: options.bodyBytes, bodyBudgetBytes: budget,
                    accepted: statuses.filter { $0 == 200 }.count, refusedBusy: statuses.filter { $0 == 503 }.count,
                    other: statuses.filter { $0 != 200 && $0 != 503 }.count, baselinePeakKiB: baseline,
                    peakKiB: peak, residentKiB: resident)
            }
            await engine.shutdown()
            return result
        } catch {
            await engine.shutdown()
            throw error
        }
    }
}

/// A few buffers as an async sequence (a request body streamed without copying them into one).
struct Buffers: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let buffers: [ByteBuffer]

    init(_ buffers: [ByteBuffer]) {
        self.buffers = buffers
    }

    struct AsyncIterator: AsyncIteratorProtocol {
        var remaining: ArraySlice<ByteBuffer>
        mutating func next() async -> ByteBuffer? { remaining.popFirst() }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(remaining: buffers[...]) }
}
