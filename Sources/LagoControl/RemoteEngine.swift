public import AsyncHTTPClient
public import Foundation
public import LagoAPI
public import LagoConfig
public import LagoEngine
import NIOCore
import NIOHTTP1

/// An engine running in another process (`lago-console serve`), driven over its control API.
///
/// Errors the remote engine reports come back as the same ``LagoEngine/EngineError`` values a local engine
/// throws; a serve process that cannot be reached throws ``ControlError/unreachable(_:)``.
public final class RemoteEngine: EngineControl {
    /// Where the engine answers.
    public let endpoint: ControlEndpoint
    private let client: HTTPClient
    private let baseURL: String
    private let requestTimeout: TimeAmount

    /// Creates a client for `endpoint`; call ``shutdown()`` when done. Use ``connect(_:timeout:)`` to check it
    /// answers first.
    public init(endpoint: ControlEndpoint, requestTimeout: Duration = .seconds(120)) {
        self.endpoint = endpoint
        self.baseURL = endpoint.url.hasSuffix("/") ? String(endpoint.url.dropLast()) : endpoint.url
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: .seconds(2))
        self.client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        self.requestTimeout = TimeAmount(requestTimeout)
    }

    /// Connects to `endpoint` and checks that it answers with a valid token.
    /// - Throws: ``ControlError`` when it does not.
    public static func connect(_ endpoint: ControlEndpoint) async throws -> RemoteEngine {
        let remote = RemoteEngine(endpoint: endpoint)
        do {
            _ = try await remote.stats()
            return remote
        } catch {
            await remote.shutdown()
            throw error
        }
    }

    /// Closes the connections.
    public func shutdown() async {
        try? await client.shutdown()
    }

    // MARK: EngineControl

    public func enqueue(_ events: [EventInput]) async throws -> [String] {
        let ids: ControlWire.TransactionIDs = try await call(.POST, "/send", body: ControlWire.Send(events: events))
        return ids.transactionIDs
    }

    public func enqueue(_ usage: UsageRecord) async throws -> [String] {
        let ids: ControlWire.TransactionIDs = try await call(.POST, "/send", body: ControlWire.Send(usage: usage))
        return ids.transactionIDs
    }

    public func flush(deadline: Duration) async throws -> FlushResult {
        let seconds = Double(deadline.components.seconds) + Double(deadline.components.attoseconds) / 1e18
        return try await call(.POST, "/flush", body: ControlWire.Flush(deadlineSeconds: seconds))
    }

    public func stats() async throws -> EngineStats { try await call(.GET, "/stats") }

    public func deadLetters(limit: Int, offset: Int) async throws -> [DeadLetter] {
        try await call(.GET, "/dead-letters?limit=\(limit)&offset=\(offset)")
    }

    public func deadLetter(id: Int64) async throws -> DeadLetter? {
        do {
            return try await call(.GET, "/dead-letters/\(id)")
        } catch let error as EngineError where error.kind == .deadLetterNotFound {
            return nil
        }
    }

    public func replayDeadLetter(id: Int64, edit: DeadLetterEdit?) async throws -> String {
        let ids: ControlWire.TransactionIDs = try await call(
            .POST, "/dead-letters/\(id)/replay", body: ControlWire.Replay(edit: edit))
        return ids.transactionIDs.first ?? ""
    }

    public func discardDeadLetter(id: Int64) async throws {
        let _: ControlWire.Ok = try await call(.DELETE, "/dead-letters/\(id)")
    }

    public func pauseDelivery() async throws { let _: ControlWire.Ok = try await call(.POST, "/pause") }
    public func resumeDelivery() async throws { let _: ControlWire.Ok = try await call(.POST, "/resume") }
    public func retryDelivery() async throws { let _: ControlWire.Ok = try await call(.POST, "/retry") }

    public func setMapping(_ metricCodes: [CanonicalField: String]) async throws {
        var codes: [String: String] = [:]
        for (field, code) in metricCodes { codes[field.rawValue] = code }
        let _: ControlWire.Ok = try await call(.PUT, "/mapping", body: ControlWire.Mapping(metricCodes: codes))
    }

    public func setDefaultSubscription(_ externalSubscriptionID: String?) async throws {
        let _: ControlWire.Ok = try await call(
            .PUT, "/default-subscription", body: ControlWire.Subscription(externalSubscriptionID: externalSubscriptionID))
    }

    /// The remote engine's lifecycle changes. The stream ends when the serve process stops or the connection
    /// breaks; a full buffer drops the oldest changes.
    public func lifecycleEvents(bufferSize: Int?) -> AsyncStream<EventLifecycleChange> {
        let (stream, continuation) = AsyncStream.makeStream(
            of: EventLifecycleChange.self, bufferingPolicy: .bufferingNewest(max(1, bufferSize ?? 20_000)))
        var request = HTTPClientRequest(url: baseURL + "/control/v1/lifecycle")
        request.headers.add(name: "Authorization", value: "Bearer \(endpoint.token)")
        let client = self.client
        let task = Task {
            defer { continuation.finish() }
            do {
                let response = try await client.execute(request, deadline: .distantFuture)
                guard response.status == .ok else { return }
                let decoder = ControlCoding.decoder()
                var line: [UInt8] = []
                for try await chunk in response.body {
                    for byte in chunk.readableBytesView {
                        if byte != UInt8(ascii: "\n") {
                            line.append(byte)
                            continue
                        }
                        if let changes = try? decoder.decode([EventLifecycleChange].self, from: Data(line)) {
                            for change in changes { continuation.yield(change) }
                        }
                        line.removeAll(keepingCapacity: true)
                    }
                }
            } catch {}
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    // MARK: Transport

    private struct Empty: Encodable {}

    private func call<Response: Decodable>(_ method: HTTPMethod, _ path: String) async throws -> Response {
        try await call(method, path, body: Optional<Empty>.none)
    }

    private func call<Response: Decodable, Body: Encodable>(
        _ method: HTTPMethod, _ path: String, body: Body?
    ) async throws -> Response {
        var request = HTTPClientRequest(url: baseURL + "/control/v1" + path)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(endpoint.token)")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: try ControlCoding.encoder().encode(body)))
        } else if method == .POST || method == .PUT {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: "{}"))
        }
        let status: Int
        let bytes: ByteBuffer
        do {
            let response = try await client.execute(request, timeout: requestTimeout)
            status = Int(response.status.code)
            bytes = try await response.body.collect(upTo: 64 << 20)
        } catch {
            throw ControlError.unreachable("\(endpoint.url): \(error)")
        }
        let data = Data(bytes.readableBytesView)
        guard (200..<300).contains(status) else {
            let failure = try? ControlCoding.decoder().decode(ControlWire.Failure.self, from: data)
            if let failure, let kind = EngineError.Kind(name: failure.kind) {
                throw EngineError(kind: kind, message: failure.message, path: failure.path)
            }
            throw ControlError.refused(
                status: status, message: failure?.message ?? String(decoding: data, as: UTF8.self))
        }
        do {
            return try ControlCoding.decoder().decode(Response.self, from: data)
        } catch {
            throw ControlError.refused(status: status, message: "unexpected answer: \(error)")
        }
    }
}
