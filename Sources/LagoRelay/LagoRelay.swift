public import Foundation
import HTTPServing
import HTTPTypes
import Hummingbird
import HummingbirdCore
import LagoAPI
public import LagoEngine
import LagoSandbox
public import Logging
import NIOCore
public import Metrics
import Synchronization

/// Settings of a ``LagoRelay``.
public struct RelayOptions: Sendable {
    /// The address to listen on; loopback by default.
    public var host: String
    /// The port; 0 picks a free one.
    public var port: Int
    /// The bearer token callers must present; `nil` or empty accepts any key, which is only allowed on loopback.
    public var token: String?
    /// Larger bodies are refused with 413.
    public var maxBodyBytes: Int
    /// A connection idle longer than this is closed, and so is one whose request body has not arrived in full this
    /// long after the request head (a stalled or trickling body); nothing of such a request is queued.
    public var idleTimeout: Duration
    /// The subscription applied to events that name none (read per request, so config changes apply at once).
    public var defaultSubscription: @Sendable () -> String?
    /// The clock giving the time of reception, the timestamp of events sent without one (inject one in tests).
    public var now: @Sendable () -> Date
    /// Where the relay reports `lago_relay_requests_total{status}` and `lago_relay_events_accepted_total`; `nil`
    /// uses the process-wide `MetricsSystem.factory`.
    public var metricsFactory: (any MetricsFactory)? = nil

    /// Creates relay options.
    public init(
        host: String = "127.0.0.1", port: Int = 8787, token: String? = nil, maxBodyBytes: Int = 1 << 20,
        idleTimeout: Duration = .seconds(30), defaultSubscription: @escaping @Sendable () -> String? = { nil },
        now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.host = host
        self.port = port
        self.token = token
        self.maxBodyBytes = maxBodyBytes
        self.idleTimeout = idleTimeout
        self.defaultSubscription = defaultSubscription
        self.now = now
    }
}

/// Why the relay cannot start.
public struct RelayError: Error, Sendable, CustomStringConvertible {
    public let description: String
}

/// A Lago-compatible ingest endpoint: existing Lago clients point their API URL here, and their events are spooled
/// durably by the engine before the relay answers 200 with Lago's response shape.
///
/// Accepts `POST /api/v1/events` and `POST /api/v1/events/batch`, validated exactly as Lago validates them
/// (``LagoSandbox/LagoEventIngress``); anything else is `404 resource_not_found`. Authentication: `Authorization:
/// Bearer <relay token>`; without a token any key is accepted, which is refused for a non-loopback address.
public enum LagoRelay {
    /// Serves until `body` returns; `body` receives the relay's base URL (`http://host:port/api/v1`).
    /// - Throws: ``RelayError`` for a non-loopback address without a token, the bind error, or `body`'s error.
    public static func withRunning<Result: Sendable>(
        engine: LagoEngine, options: RelayOptions, logger: Logger,
        _ body: @Sendable (URL) async throws -> Result
    ) async throws -> Result {
        if !LagoBaseURL.isLoopback(options.host), (options.token ?? "").isEmpty {
            throw RelayError(description: "relay.listen \(options.host) is not loopback: set relay.token first")
        }
        let responder = RelayResponder(
            engine: engine, options: options, logger: logger,
            metrics: RelayMetrics(factory: options.metricsFactory ?? MetricsSystem.factory))
        return try await withListeningServer(
            { onServerRunning in
                Application(
                    responder: responder,
                    server: .http1(configuration: .init(idleTimeout: TimeAmount(options.idleTimeout))),
                    configuration: .init(address: .hostname(options.host, port: options.port), serverName: nil),
                    onServerRunning: onServerRunning, logger: logger)
            },
            notListening: { RelayError(description: "the relay could not listen on \(options.host):\(options.port)") }
        ) { port in
            try await body(URL(string: "http://\(urlHost(options.host)):\(port)/api/v1")!)
        }
    }
}

/// Request context that keeps the connection's channel, so a stalled body can be cut off.
struct RelayRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}

/// Answers every request with a Lago-shaped body; never throws.
struct RelayResponder: HTTPResponder {
    typealias Context = RelayRequestContext
    let engine: LagoEngine
    let options: RelayOptions
    let logger: Logger
    let ingress = LagoEventIngress()
    let metrics: RelayMetrics

    /// Counts the answer, then turns it into a response.
    private func finish(_ answer: LagoEventIngress.Response) -> Response {
        metrics.requests(status: answer.status).increment()
        return Self.response(answer)
    }

    func respond(to request: Request, context: Context) async throws -> Response {
        let path = request.uri.path.hasSuffix("/") ? String(request.uri.path.dropLast()) : request.uri.path
        let batch: Bool
        switch (request.method, path) {
        case (.post, "/api/v1/events"): batch = false
        case (.post, "/api/v1/events/batch"): batch = true
        default: return finish(LagoEventIngress.notFound)
        }
        guard isAuthorized(request) else { return finish(LagoEventIngress.unauthorized) }
        let body: ByteBuffer
        switch await collectBody(request, channel: context.channel) {
        case .complete(let buffer):
            body = buffer
        case .tooLarge:
            return finish(LagoEventIngress.status(413))
        case .timedOut:
            // The connection is closed already; this answer is never read.
            logger.debug("relay closed a connection whose body stalled", metadata: ["path": "\(path)"])
            return finish(LagoEventIngress.status(408))
        case .failed:
            // The client went away mid-body; nothing is queued and nobody reads this answer.
            return finish(LagoEventIngress.status(400))
        }
        let bytes = Array(body.readableBytesView)
        let validation = ingress.validate(
            batch: batch, contentType: request.headers[.contentType], body: bytes,
            receivedAt: options.now(), defaultSubscription: options.defaultSubscription())
        switch validation {
        case .refused(let answer):
            return finish(answer)
        case .accepted(let accepted):
            let encoded: [EncodedEvent]
            do {
                encoded = try Self.encode(accepted, body: bytes, batch: batch)
            } catch {
                // Foundation's parser took a body SQLite's refuses (e.g. a trailing comma): Rails refuses it too.
                logger.debug("relay refused a body its JSON reader could not split", metadata: ["error": "\(error)"])
                return finish(LagoEventIngress.badRequest)
            }
            do {
                // Durable before we answer: enqueue returns once the events survive a crash.
                switch try await engine.enqueue(encoded: encoded, deduplicate: true) {
                case .queued:
                    metrics.eventsAccepted.increment(by: encoded.count)
                    return finish(ingress.accepted(accepted.map(\.event), batch: batch))
                case .duplicates(let indices):
                    return finish(ingress.duplicates(indices, batch: batch))
                }
            } catch {
                logger.warning("relay could not spool events", metadata: ["error": "\(error)"])
                return finish(LagoEventIngress.status(503))
            }
        }
    }

    /// Each event's JSON exactly as the client wrote it, plus what the relay supplies: the time of reception when
    /// the client sent no timestamp, the default subscription when it named none.
    static func encode(
        _ accepted: [LagoEventIngress.AcceptedEvent], body: [UInt8], batch: Bool
    ) throws -> [EncodedEvent] {
        let texts = try RawEventJSON.events(in: body, batch: batch)
        guard texts.count == accepted.count else {
            throw RawEventJSON.Failure(description: "\(texts.count) events read, \(accepted.count) validated")
        }
        return try zip(accepted, texts).map { accepted, text in
            let completed = try RawEventJSON.completing(
                text,
                timestamp: accepted.timestampSent
                    ? nil : RawEventJSON.timestampText(microseconds: accepted.timestampMicroseconds),
                externalSubscriptionID: accepted.subscriptionSent ? nil : accepted.event.externalSubscriptionID)
            return EncodedEvent(event: accepted.event, body: completed)
        }
    }

    enum BodyOutcome: Sendable {
        case complete(ByteBuffer)
        case tooLarge
        /// Not complete within `idleTimeout` of the head: the connection has been closed.
        case timedOut
        /// The connection failed or closed mid-body.
        case failed
    }

    /// Reads the whole body, at most `maxBodyBytes`, within `idleTimeout` of the request head. Hummingbird's idle
    /// timer alone is reset by every byte, so a body trickling in would hold the connection forever.
    func collectBody(_ request: Request, channel: any Channel) async -> BodyOutcome {
        let limit = options.maxBodyBytes
        let deadline = options.idleTimeout
        return await withTaskGroup(of: BodyOutcome?.self) { group in
            group.addTask {
                do {
                    return .complete(try await request.body.collect(upTo: limit))
                } catch is NIOTooManyBytesError {
                    return .tooLarge
                } catch {
                    return .failed
                }
            }
            group.addTask {
                do {
                    try await Task.sleep(for: deadline)
                } catch {
                    return nil  // cancelled: the body came first
                }
                return .timedOut
            }
            var outcome = BodyOutcome.failed
            if let first = await group.next(), let value = first { outcome = value }
            if case .timedOut = outcome {
                // Ends the body stream too, so the reading task finishes.
                channel.close(promise: nil)
            }
            group.cancelAll()
            return outcome
        }
    }

    func isAuthorized(_ request: Request) -> Bool {
        guard let token = options.token, !token.isEmpty else { return true }
        guard let header = request.headers[.authorization] else { return false }
        let words = header.split(whereSeparator: \.isWhitespace)
        return words.count >= 2 && words[1] == token
    }

    static func response(_ answer: LagoEventIngress.Response) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(
            status: .init(code: answer.status), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: answer.body)))
    }
}

/// The relay's metrics: requests by the HTTP status answered, and events accepted (durably spooled).
final class RelayMetrics: Sendable {
    let eventsAccepted: Counter
    private let factory: any MetricsFactory
    private let byStatus = Mutex<[Int: Counter]>([:])

    init(factory: any MetricsFactory) {
        self.factory = factory
        eventsAccepted = Counter(label: "lago_relay_events_accepted_total", factory: factory)
    }

    func requests(status: Int) -> Counter {
        byStatus.withLock { counters in
            if let counter = counters[status] { return counter }
            let counter = Counter(
                label: "lago_relay_requests_total", dimensions: [("status", String(status))], factory: factory)
            counters[status] = counter
            return counter
        }
    }
}
