public import Foundation
import HTTPServing
import HTTPTypes
import Hummingbird
import HummingbirdCore
public import LagoEngine
import LagoUsage
public import Logging
import NIOCore
public import Prometheus
import Synchronization

/// Settings of a ``ControlServer``.
public struct ControlServerOptions: Sendable {
    /// The address to listen on (loopback by default).
    public var host: String
    /// The port; 0 picks a free one.
    public var port: Int
    /// The bearer token every route requires (`/metrics` only when ``metricsRequireToken`` is set).
    public var token: String
    /// Served on `GET /metrics` in Prometheus' text format, when set.
    public var metrics: PrometheusCollectorRegistry?
    /// Whether `GET /metrics` requires ``token`` too; `serve` sets it when `relay.control_allow_remote` lets the
    /// control API listen beyond loopback. A request without the token gets 401.
    public var metricsRequireToken: Bool
    /// How often the lifecycle stream sends what accumulated (one JSON array per line).
    public var streamInterval: Duration
    /// Reads the serving process's config file again and applies what it can, for
    /// `POST /control/v1/config/reload`; without it that route answers 404. It must not return a secret.
    public var reloadConfiguration: (@Sendable () async -> ConfigReload)?

    /// Creates options.
    public init(
        host: String = "127.0.0.1", port: Int = 0, token: String, metrics: PrometheusCollectorRegistry? = nil,
        metricsRequireToken: Bool = false, streamInterval: Duration = .milliseconds(50),
        reloadConfiguration: (@Sendable () async -> ConfigReload)? = nil
    ) {
        self.host = host
        self.port = port
        self.token = token
        self.metrics = metrics
        self.metricsRequireToken = metricsRequireToken
        self.streamInterval = streamInterval
        self.reloadConfiguration = reloadConfiguration
    }

    /// A random token (32 bytes, hex).
    public static func randomToken() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
    }
}

/// The local control API of a running engine: what a console attached to `lago-console serve` uses (stats, the
/// lifecycle stream, flush, pause, send, mapping, dead letters), plus Prometheus metrics.
///
/// Routes (JSON; every `/control/v1` route needs `Authorization: Bearer <token>`):
/// `GET /control/v1/stats`, `GET /control/v1/lifecycle` (a stream: one JSON array of changes per line),
/// `POST /control/v1/send` (`{"events": [...]}` or `{"usage": {...}}`), `POST /control/v1/flush`
/// (`{"deadlineSeconds": 30}`), `POST /control/v1/pause|resume|retry`, `PUT /control/v1/mapping`,
/// `PUT /control/v1/default-subscription`, `GET /control/v1/dead-letters?limit=&offset=`,
/// `GET|DELETE /control/v1/dead-letters/{id}`, `POST /control/v1/dead-letters/{id}/replay`,
/// `POST /control/v1/config/reload` (a ``ConfigReload``, when ``ControlServerOptions/reloadConfiguration`` is set);
/// `GET /metrics` needs no token unless ``ControlServerOptions/metricsRequireToken`` is set. Engine errors answer
/// 4xx/5xx with `{"kind", "message", "path"}`.
public enum ControlServer {
    /// Serves until `body` returns; `body` receives the base URL (`http://host:port`).
    public static func withRunning<Result: Sendable>(
        engine: any EngineControl, options: ControlServerOptions, logger: Logger,
        _ body: @Sendable (URL) async throws -> Result
    ) async throws -> Result {
        let router = Router()
        ControlRoutes(engine: engine, options: options).register(on: router)
        return try await withListeningServer(
            { onServerRunning in
                Application(
                    router: router,
                    configuration: .init(address: .hostname(options.host, port: options.port), serverName: nil),
                    onServerRunning: onServerRunning, logger: logger)
            },
            notListening: { reason in
                ControlError.cannotListen("the control API cannot listen on \(options.host):\(options.port): \(reason)")
            }
        ) { port in
            try await body(URL(string: "http://\(urlHost(options.host)):\(port)")!)
        }
    }
}

struct ControlRoutes: Sendable {
    let engine: any EngineControl
    let options: ControlServerOptions

    func register(on router: Router<BasicRequestContext>) {
        if let registry = options.metrics {
            let requireToken = options.metricsRequireToken
            router.get("/metrics") { request, _ in
                if requireToken {
                    guard let header = request.headers[.authorization], Self.tokenMatches(header, options.token) else {
                        return Self.failure(.unauthorized, "missing or wrong control token", kind: "control")
                    }
                }
                var headers = HTTPFields()
                headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
                return Response(
                    status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
            }
        }
        let api = router.group("/control/v1")
        api.get("/stats") { request, _ in
            try await authorized(request) { Self.json(try await engine.stats()) }
        }
        api.get("/lifecycle") { request, _ in
            try await authorized(request) { lifecycle() }
        }
        api.post("/send") { request, context in
            try await authorized(request) {
                let send = try await decode(ControlWire.Send.self, request, context)
                var ids: [String] = []
                if let events = send.events {
                    let codings = (send.mappedFields ?? []).map(EventOrigin.Coding.init(storageText:))
                    ids += try await engine.enqueue(events, codedBy: codings)
                }
                if let usage = send.usage { ids += try await engine.enqueue(usage) }
                return Self.json(ControlWire.TransactionIDs(transactionIDs: ids))
            }
        }
        api.post("/flush") { request, context in
            try await authorized(request) {
                let flush = try await decode(ControlWire.Flush.self, request, context)
                let deadline = Duration.milliseconds(Int64(max(0, min(flush.deadlineSeconds, 3600)) * 1000))
                return Self.json(try await engine.flush(deadline: deadline))
            }
        }
        api.post("/pause") { request, _ in
            try await authorized(request) {
                try await engine.pauseDelivery()
                return Self.json(ControlWire.Ok())
            }
        }
        api.post("/resume") { request, _ in
            try await authorized(request) {
                try await engine.resumeDelivery()
                return Self.json(ControlWire.Ok())
            }
        }
        api.post("/retry") { request, _ in
            try await authorized(request) {
                try await engine.retryDelivery()
                return Self.json(ControlWire.Ok())
            }
        }
        api.put("/mapping") { request, context in
            try await authorized(request) {
                let mapping = try await decode(ControlWire.Mapping.self, request, context)
                var codes: [CanonicalField: String] = [:]
                for (name, code) in mapping.metricCodes {
                    guard let field = CanonicalField(rawValue: name) else {
                        return Self.failure(.badRequest, "unknown canonical field \(name)")
                    }
                    codes[field] = code
                }
                try await engine.setMapping(codes)
                return Self.json(ControlWire.Ok())
            }
        }
        api.put("/default-subscription") { request, context in
            try await authorized(request) {
                let subscription = try await decode(ControlWire.Subscription.self, request, context)
                try await engine.setDefaultSubscription(subscription.externalSubscriptionID)
                return Self.json(ControlWire.Ok())
            }
        }
        api.post("/config/reload") { request, _ in
            try await authorized(request) {
                guard let reload = options.reloadConfiguration else {
                    return Self.failure(.notFound, "this engine does not follow a config file")
                }
                return Self.json(await reload())
            }
        }
        api.get("/dead-letters") { request, _ in
            try await authorized(request) {
                let limit = request.uri.queryParameters.get("limit", as: Int.self) ?? 100
                let offset = request.uri.queryParameters.get("offset", as: Int.self) ?? 0
                return Self.json(
                    try await engine.deadLetters(limit: max(0, min(limit, 10_000)), offset: max(0, offset)))
            }
        }
        api.get("/dead-letters/:id") { request, context in
            try await authorized(request) {
                let id = try context.parameters.require("id", as: Int64.self)
                guard let letter = try await engine.deadLetter(id: id) else {
                    return Self.failure(.notFound, "no dead letter has id \(id)", kind: "deadLetterNotFound")
                }
                return Self.json(letter)
            }
        }
        api.get("/events/:id/attempts") { request, context in
            try await authorized(request) {
                let id = try context.parameters.require("id", as: Int64.self)
                return Self.json(try await engine.attemptLog(eventID: id))
            }
        }
        api.delete("/dead-letters/:id") { request, context in
            try await authorized(request) {
                let id = try context.parameters.require("id", as: Int64.self)
                try await engine.discardDeadLetter(id: id)
                return Self.json(ControlWire.Ok())
            }
        }
        api.get("/held") { request, _ in
            try await authorized(request) {
                let limit = request.uri.queryParameters.get("limit", as: Int.self) ?? 100
                let offset = request.uri.queryParameters.get("offset", as: Int.self) ?? 0
                return Self.json(try await engine.heldEvents(limit: max(0, min(limit, 10_000)), offset: max(0, offset)))
            }
        }
        api.post("/held/:id/release") { request, context in
            try await authorized(request) {
                let id = try context.parameters.require("id", as: Int64.self)
                return Self.json(try await engine.releaseHeld(id: id))
            }
        }
        api.delete("/held/:id") { request, context in
            try await authorized(request) {
                let id = try context.parameters.require("id", as: Int64.self)
                try await engine.discardHeld(id: id)
                return Self.json(ControlWire.Ok())
            }
        }
        api.post("/dead-letters/:id/replay") { request, context in
            try await authorized(request) {
                let id = try context.parameters.require("id", as: Int64.self)
                let replay = try await decode(ControlWire.Replay.self, request, context)
                return Self.json(try await engine.replayDeadLetter(id: id, edit: replay.edit))
            }
        }
    }

    /// Runs `body` for a request with the right token; maps engine errors to JSON failures.
    private func authorized(_ request: Request, _ body: () async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization], Self.tokenMatches(header, options.token) else {
            return Self.failure(.unauthorized, "missing or wrong control token", kind: "control")
        }
        do {
            return try await body()
        } catch let error as EngineError {
            let status: HTTPResponse.Status =
                switch error.kind {
                case .deadLetterNotFound, .heldEventNotFound: .notFound
                case .invalidEvent, .invalidUsage, .noSubscription, .unbillable: .unprocessableContent
                case .spoolFull, .shutDown: .serviceUnavailable
                default: .internalServerError
                }
            return Self.failure(
                status, error.message, kind: error.kind.description, path: error.path, unbillable: error.unbillable)
        } catch let error as DecodingError {
            return Self.failure(.badRequest, "malformed request body: \(error)")
        } catch let error as HTTPError {
            return Self.failure(error.status, error.body ?? "\(error)")
        }
    }

    static func tokenMatches(_ header: String, _ token: String) -> Bool {
        let words = header.split(whereSeparator: \.isWhitespace)
        guard words.count == 2, words[0].lowercased() == "bearer" else { return false }
        let given = Array(words[1].utf8)
        let expected = Array(token.utf8)
        guard given.count == expected.count else { return false }
        var difference: UInt8 = 0
        for index in given.indices { difference |= given[index] ^ expected[index] }
        return difference == 0
    }

    private func decode<Value: Decodable>(
        _ type: Value.Type, _ request: Request, _ context: BasicRequestContext
    ) async throws -> Value {
        let buffer = try await request.body.collect(upTo: 8 << 20)
        return try ControlCoding.decoder().decode(Value.self, from: Data(buffer.readableBytesView))
    }

    /// The most lifecycle changes waiting for one stream between two writes; beyond it the oldest are dropped and
    /// the next change written carries the count (`missedBefore`).
    static let pendingChangesCapacity = 50_000

    /// The lifecycle stream: what accumulated every ``ControlServerOptions/streamInterval``, one JSON array per
    /// line; an empty array every few seconds keeps idle connections honest.
    private func lifecycle() -> Response {
        let changes = engine.lifecycleEvents(bufferSize: 50_000)
        let interval = options.streamInterval
        var headers = HTTPFields()
        headers[.contentType] = "application/x-ndjson"
        return Response(
            status: .ok, headers: headers,
            body: ResponseBody { writer in
                // Bounded: a client that reads slower than the engine publishes loses the oldest changes, and the
                // next change it gets says how many (``EventLifecycleChange/missedBefore``).
                let pending = LifecycleChangeBuffer(capacity: Self.pendingChangesCapacity)
                let reader = Task {
                    for await change in changes { pending.append(change) }
                    pending.finish()
                }
                defer { reader.cancel() }
                let encoder = ControlCoding.encoder()
                var idleTicks = 0
                try await writer.write(ByteBuffer(string: "[]\n"))
                while true {
                    try await Task.sleep(for: interval)
                    let (batch, finished) = pending.takeAll()
                    if !batch.isEmpty || idleTicks >= 40 {
                        idleTicks = 0
                        var data = try encoder.encode(batch)
                        data.append(UInt8(ascii: "\n"))
                        try await writer.write(ByteBuffer(bytes: data))
                    } else {
                        idleTicks += 1
                    }
                    if finished { break }
                }
                try await writer.finish(nil)
            })
    }

    static func json(_ value: some Encodable) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        let data = (try? ControlCoding.encoder().encode(value)) ?? Data("{}".utf8)
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func failure(
        _ status: HTTPResponse.Status, _ message: String, kind: String = "control", path: String? = nil,
        unbillable: [EngineError.UnbillableEvent] = []
    ) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        let body = ControlWire.Failure(
            kind: kind, message: message, path: path, unbillable: unbillable.isEmpty ? nil : unbillable)
        let data = (try? ControlCoding.encoder().encode(body)) ?? Data("{}".utf8)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
