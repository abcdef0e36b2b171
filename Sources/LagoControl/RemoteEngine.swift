import AsyncHTTPClient
import Foundation
public import LagoAPI
public import LagoEngine
public import LagoUsage
import NIOCore
import NIOHTTP1
import Synchronization

/// An engine running in another process (`lago-console serve`), driven over its control API.
///
/// Errors the remote engine reports come back as the same ``LagoEngine/EngineError`` values a local engine
/// throws; a serve process that cannot be reached throws ``ControlError/unreachable(_:)``.
///
/// With a discovery file (``connect(forSpool:)``), a serve process that restarted (new port, new token) is found
/// again: reads and idempotent commands are retried once on the new endpoint, the lifecycle stream reconnects;
/// `send`, replay and discard are never re-sent on their own (the old process may have taken them before it went
/// away), their error tells the caller, and the next call goes to the new endpoint.
public final class RemoteEngine: EngineControl {
    /// Where the engine answers now.
    public var endpoint: ControlEndpoint { current.withLock { $0 } }
    private let current: Mutex<ControlEndpoint>
    private let discoveryPath: String?
    private let client: HTTPClient
    private let requestTimeout: TimeAmount

    /// Creates a client for `endpoint`; call ``shutdown()`` when done. Use ``connect(_:)`` to check it answers
    /// first. `discoveryPath`: the discovery file to read again when the endpoint stops answering.
    public init(endpoint: ControlEndpoint, discoveryPath: String? = nil, requestTimeout: Duration = .seconds(120)) {
        self.current = Mutex(endpoint)
        self.discoveryPath = discoveryPath
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: .seconds(2))
        self.client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        self.requestTimeout = TimeAmount(requestTimeout)
    }

    /// Connects to `endpoint` and checks that it answers with a valid token.
    /// - Throws: ``ControlError`` when it does not.
    public static func connect(_ endpoint: ControlEndpoint, discoveryPath: String? = nil) async throws -> RemoteEngine {
        let remote = RemoteEngine(endpoint: endpoint, discoveryPath: discoveryPath)
        do {
            _ = try await remote.stats()
            return remote
        } catch {
            await remote.shutdown()
            throw error
        }
    }

    /// The engine of the `lago-console serve` running on a spool, if its discovery file names one that answers.
    public static func connect(forSpool spoolPath: String) async -> RemoteEngine? {
        guard let endpoint = ControlEndpoint.read(forSpool: spoolPath) else { return nil }
        return try? await connect(endpoint, discoveryPath: ControlEndpoint.discoveryPath(forSpool: spoolPath))
    }

    /// Reads the discovery file again; returns whether it names another endpoint (now in use).
    private func refreshEndpoint() -> Bool {
        guard let discoveryPath, let fresh = ControlEndpoint.read(discoveryFile: discoveryPath) else { return false }
        return current.withLock { endpoint in
            guard fresh.url != endpoint.url || fresh.token != endpoint.token else { return false }
            endpoint = fresh
            return true
        }
    }

    private static func base(_ endpoint: ControlEndpoint) -> String {
        endpoint.url.hasSuffix("/") ? String(endpoint.url.dropLast()) : endpoint.url
    }

    /// Closes the connections.
    public func shutdown() async {
        try? await client.shutdown()
    }

    // MARK: EngineControl

    public func enqueue(_ events: [EventInput]) async throws -> [String] {
        try await enqueue(events, codedBy: [])
    }

    public func enqueue(_ events: [EventInput], codedBy codings: [EventOrigin.Coding]) async throws -> [String] {
        let ids: ControlWire.TransactionIDs = try await call(
            .POST, "/send", body: ControlWire.Send(events: events, mappedFields: codings.map(\.storageText)),
            retryable: false)
        return ids.transactionIDs
    }

    public func enqueue(_ usage: UsageRecord) async throws -> [String] {
        let ids: ControlWire.TransactionIDs = try await call(
            .POST, "/send", body: ControlWire.Send(usage: usage), retryable: false)
        return ids.transactionIDs
    }

    public func flush(deadline: Duration) async throws -> FlushResult {
        try await call(.POST, "/flush", body: ControlWire.Flush(deadlineSeconds: deadline / .seconds(1)))
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

    public func replayDeadLetter(id: Int64, edit: DeadLetterEdit?) async throws -> ReplayResult {
        try await call(.POST, "/dead-letters/\(id)/replay", body: ControlWire.Replay(edit: edit), retryable: false)
    }

    public func attemptLog(eventID: Int64) async throws -> [AttemptRecord] {
        try await call(.GET, "/events/\(eventID)/attempts")
    }

    public func discardDeadLetter(id: Int64) async throws {
        let _: ControlWire.Ok = try await call(
            .DELETE, "/dead-letters/\(id)", body: Optional<Empty>.none, retryable: false)
    }

    public func heldEvents(limit: Int, offset: Int) async throws -> [HeldEvent] {
        try await call(.GET, "/held?limit=\(limit)&offset=\(offset)")
    }

    public func releaseHeld(id: Int64) async throws -> HeldRelease {
        try await call(.POST, "/held/\(id)/release", body: Optional<Empty>.none, retryable: false)
    }

    public func discardHeld(id: Int64) async throws {
        let _: ControlWire.Ok = try await call(.DELETE, "/held/\(id)", body: Optional<Empty>.none, retryable: false)
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
            .PUT, "/default-subscription",
            body: ControlWire.Subscription(externalSubscriptionID: externalSubscriptionID))
    }

    /// Asks the serving process to read its config file again and apply what it can while it runs (metric
    /// codes, the default subscription, the Lago URL and key); the answer says what it did, never showing a secret.
    /// - Throws: ``ControlError``; `.refused` with status 404 when the server does not follow a config file.
    public func reloadConfiguration() async throws -> ConfigReload { try await call(.POST, "/config/reload") }

    /// The remote engine's lifecycle changes; a full buffer drops the oldest, and the next change carries how many
    /// were dropped before it (``EventLifecycleChange/missedBefore``, also when the server or the engine dropped
    /// them). When the connection breaks, the stream reconnects (once a second, reading the discovery file again)
    /// until the consumer stops listening; changes that happened while it was away are not replayed (stats stay
    /// exact).
    public func lifecycleEvents(bufferSize: Int?) -> AsyncStream<EventLifecycleChange> {
        let buffer = LifecycleChangeBuffer(capacity: bufferSize ?? 20_000)
        let task = Task {
            defer { buffer.finish() }
            while !Task.isCancelled {
                await self.streamLifecycle(into: buffer)
                if Task.isCancelled { break }
                try? await Task.sleep(for: .seconds(1))
                _ = self.refreshEndpoint()
            }
        }
        return buffer.makeStream { task.cancel() }
    }

    /// One connection of the lifecycle stream, until it ends.
    private func streamLifecycle(into buffer: LifecycleChangeBuffer) async {
        let endpoint = self.endpoint
        var request = HTTPClientRequest(url: Self.base(endpoint) + "/control/v1/lifecycle")
        request.headers.add(name: "Authorization", value: "Bearer \(endpoint.token)")
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
                        buffer.append(contentsOf: changes)
                    }
                    line.removeAll(keepingCapacity: true)
                }
            }
        } catch {}
    }

    // MARK: Transport

    private struct Empty: Encodable {}

    private func call<Response: Decodable>(_ method: HTTPMethod, _ path: String) async throws -> Response {
        try await call(method, path, body: Optional<Empty>.none)
    }

    /// Sends one request; when the endpoint does not answer and the discovery file names a new one, a `retryable`
    /// request is sent once more there.
    private func call<Response: Decodable, Body: Encodable>(
        _ method: HTTPMethod, _ path: String, body: Body?, retryable: Bool = true
    ) async throws -> Response {
        do {
            return try await send(method, path, body: body, to: endpoint)
        } catch let error as ControlError {
            let stale: Bool
            switch error {
            case .unreachable: stale = true
            case .refused(let status, _): stale = status == 401
            case .discovery, .cannotListen: stale = false
            }
            guard stale, refreshEndpoint() else { throw error }
            guard retryable else { throw error }
            return try await send(method, path, body: body, to: endpoint)
        }
    }

    private func send<Response: Decodable, Body: Encodable>(
        _ method: HTTPMethod, _ path: String, body: Body?, to endpoint: ControlEndpoint
    ) async throws -> Response {
        var request = HTTPClientRequest(url: Self.base(endpoint) + "/control/v1" + path)
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
                throw EngineError(
                    kind: kind, message: failure.message, path: failure.path, unbillable: failure.unbillable ?? [])
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
