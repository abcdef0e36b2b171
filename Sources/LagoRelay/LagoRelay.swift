public import Foundation
import HTTPServing
import HTTPTypes
import Hummingbird
import HummingbirdCore
import LagoAPI
import LagoBilling
public import LagoEngine
import LagoIngest
public import LagoOTLP
public import LagoUsage
public import Logging
public import Metrics
import NIOCore
import Synchronization

/// Settings of a ``LagoRelay``.
public struct RelayOptions: Sendable {
    /// The address to listen on; loopback by default.
    public var host: String
    /// The port; 0 picks a free one.
    public var port: Int
    /// The bearer token callers must present; `nil` or empty accepts any key, which is only allowed on loopback.
    public var token: String?
    /// Larger bodies are refused with 413; a request whose `Content-Length` says more is refused at once, before
    /// any byte of its body is read.
    public var maxBodyBytes: Int
    /// The most request-body bytes the relay holds at once, across all connections; `nil` (the default) is
    /// 8 × ``maxBodyBytes`` (8 MiB with the 1 MiB default), and it is never less than ``maxBodyBytes``. A request
    /// counts from its head to its answer: its declared `Content-Length` at once, or a body sent without one as its
    /// bytes arrive. A request that would pass the budget is answered `503 {"status":503,"error":"Service
    /// Unavailable"}` with `Retry-After: 1` at once, and nothing of it is spooled. The process's memory under such
    /// load is a few times this (a body is parsed and split once collected; NIO reads ahead on each connection).
    public var bodyBudgetBytes: Int?

    /// The budget in force: ``bodyBudgetBytes``, else 8 × ``maxBodyBytes``, and at least ``maxBodyBytes``.
    public var effectiveBodyBudgetBytes: Int {
        max(bodyBudgetBytes ?? maxBodyBytes.multipliedReportingOverflow(by: 8).partialValue, maxBodyBytes)
    }
    /// A request body that has not arrived in full this long after the request head (a stalled or trickling body)
    /// gets `408 {"status":408,"error":"Request Timeout"}` and its connection is closed; nothing of it is queued. A
    /// connection with no request under way is closed after this (and a second).
    public var idleTimeout: Duration
    /// The subscription applied to events that name none (read per request, so config changes apply at once).
    public var defaultSubscription: @Sendable () -> String?
    /// The clock giving the time of reception, the timestamp of events sent without one (inject one in tests).
    public var now: @Sendable () -> Date
    /// Where the relay reports `lago_relay_requests_total{status}` and `lago_relay_events_accepted_total`; `nil`
    /// uses the process-wide `MetricsSystem.factory`.
    public var metricsFactory: (any MetricsFactory)? = nil
    /// For an event that names an `external_customer_id` and no subscription (Lago drops the customer, so such an
    /// event never bills as sent): the customer's only active subscription, which the relay adds to the event's
    /// JSON (its other bytes unchanged). `nil` (the default) resolves nothing and applies the default subscription.
    /// When it answers `nil` (no or several active subscriptions) the event keeps no subscription, never the default
    /// one, and its billing verdict says why.
    public var customerSubscription: (@Sendable (String) -> String?)? = nil
    /// How `POST /webhooks/lago` proves a webhook comes from Lago; `nil` (the default) answers that route 404.
    public var webhookKeys: LagoWebhookKeys? = nil
    /// Which attributes of OTLP spans (`POST /v1/traces`) name the subscription, the customer and the cost (config
    /// `usage.otel_*`); read per request, so config changes apply at once.
    public var otlp: @Sendable () -> OTLPUsageOptions = { OTLPUsageOptions() }
    /// The most bytes a gzip-encoded OTLP body may inflate to; more is refused with 413 as soon as it is passed
    /// (never inflated in full). 8 MiB by default.
    public var maxDecompressedBytes: Int = 8 << 20
    /// Cost events of usage records (`POST /v1/usage`, config `usage.cost_events` and `usage.cost_code`); read per
    /// request. Off by default.
    public var usageCostEvents: @Sendable () -> CostEvents = { .off }
    /// Cost events of OTLP spans (config `usage.otel_cost_events`, else `usage.cost_events`); read per request.
    public var otlpCostEvents: @Sendable () -> CostEvents = { .off }

    /// Creates relay options.
    public init(
        host: String = "127.0.0.1", port: Int = 8787, token: String? = nil, maxBodyBytes: Int = 1 << 20,
        bodyBudgetBytes: Int? = nil, idleTimeout: Duration = .seconds(30),
        defaultSubscription: @escaping @Sendable () -> String? = { nil },
        now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.host = host
        self.port = port
        self.token = token
        self.maxBodyBytes = maxBodyBytes
        self.bodyBudgetBytes = bodyBudgetBytes
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
/// (``LagoIngest/LagoEventIngress``), and Lago's own webhooks on `POST /webhooks/lago` (authenticated by their
/// signature, see ``LagoWebhookVerifier``); anything else is `404 resource_not_found`. Authentication: `Authorization:
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
                    server: .http1(
                        configuration: .init(
                            additionalChannelHandlers: [
                                LagoShapedServerErrors(), UnreadBodyDeadline(timeout: TimeAmount(options.idleTimeout)),
                            ],
                            // A second later than the relay's own body deadline, which answers 408 first.
                            idleTimeout: TimeAmount(options.idleTimeout + .seconds(1)))),
                    configuration: .init(address: .hostname(options.host, port: options.port), serverName: nil),
                    onServerRunning: onServerRunning, logger: logger)
            },
            notListening: { reason in
                RelayError(
                    description: "the relay cannot listen on \(options.host):\(options.port): \(reason); set "
                        + "relay.listen (or serve's --listen) to a free address, or stop what listens there")
            }
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

/// Answers every request with a Lago-shaped body; cannot throw (`respond` is not `throws`), so Hummingbird's own
/// empty 500 for a responder's error never reaches a client.
struct RelayResponder: HTTPResponder {
    typealias Context = RelayRequestContext
    let engine: LagoEngine
    let options: RelayOptions
    let logger: Logger
    let ingress = LagoEventIngress()
    let metrics: RelayMetrics
    let budget: BodyBudget
    let webhookVerifier: LagoWebhookVerifier?

    init(engine: LagoEngine, options: RelayOptions, logger: Logger, metrics: RelayMetrics) {
        self.engine = engine
        self.options = options
        self.logger = logger
        self.metrics = metrics
        budget = BodyBudget(limit: options.effectiveBodyBudgetBytes)
        webhookVerifier = options.webhookKeys.map(LagoWebhookVerifier.init(keys:))
    }

    /// Counts the answer, then turns it into a response.
    private func finish(_ answer: LagoEventIngress.Response, retryAfter: Int? = nil) -> Response {
        metrics.requests(status: answer.status).increment()
        var response = Self.response(answer)
        if let retryAfter { response.headers[.retryAfter] = String(retryAfter) }
        return response
    }

    /// Counts the answer and closes the connection once it is written (`Connection: close`): for a request whose
    /// body will never be read in full.
    private func finishThenClose(_ answer: LagoEventIngress.Response, channel: any Channel) -> Response {
        metrics.requests(status: answer.status).increment()
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        headers[.connection] = "close"
        let buffer = ByteBuffer(bytes: answer.body)
        headers[.contentLength] = String(buffer.readableBytes)
        return Response(
            status: .init(code: answer.status), headers: headers,
            body: ResponseBody(contentLength: buffer.readableBytes) { writer in
                try await writer.write(buffer)
                try await writer.finish(nil)
                channel.close(promise: nil)
            })
    }

    // An answer given before the body is read (404, 401, 413, 503) leaves the connection open: the unread body is
    // read and discarded as it arrives, so a client that writes its whole body before reading gets the answer, and
    // the connection stays usable. `UnreadBodyDeadline` closes it if that body is not in within `idleTimeout`.
    func respond(to request: Request, context: Context) async -> Response {
        let channel = context.channel
        let path = request.uri.path.hasSuffix("/") ? String(request.uri.path.dropLast()) : request.uri.path
        let batch: Bool
        var usage = false
        var webhook = false
        var traces = false
        switch (request.method, path) {
        case (.post, "/webhooks/lago") where webhookVerifier != nil:
            batch = false
            webhook = true
        case (.post, "/api/v1/events"): batch = false
        case (.post, "/api/v1/events/batch"): batch = true
        case (.post, "/v1/usage"):
            batch = false
            usage = true
        case (.post, "/v1/traces"):
            batch = false
            traces = true
        default: return finish(LagoEventIngress.notFound)
        }
        // A webhook's authentication is its signature (checked once its body is in), not the relay token.
        guard webhook || isAuthorized(request) else { return finish(LagoEventIngress.unauthorized) }
        // NIO's decoder accepts only a valid, single Content-Length that fits an Int.
        let declared = request.headers[.contentLength].flatMap { Int($0) }
        if let declared, declared > options.maxBodyBytes { return finish(LagoEventIngress.status(413)) }
        let reservation = BodyReservation(budget: budget)
        defer { reservation.release() }
        if let declared, !reservation.grow(to: declared) { return busy() }
        let bytes: [UInt8]
        switch await collectBody(request, declared: declared, reservation: reservation, channel: channel) {
        case .complete(let collected):
            bytes = collected
        case .tooLarge:
            return finish(LagoEventIngress.status(413))
        case .overBudget:
            return busy()
        case .timedOut:
            // The connection is closed already; this answer is counted, never read.
            logger.debug("relay closed a connection whose body stalled", metadata: ["path": "\(path)"])
            return finish(LagoEventIngress.status(408))
        case .failed:
            // A malformed body (bad chunk) or a client gone mid-body; nothing is queued.
            return finishThenClose(LagoEventIngress.badRequest, channel: channel)
        }
        if usage { return await respondToUsage(body: bytes, contentType: request.headers[.contentType]) }
        if webhook, let webhookVerifier {
            return await respondToWebhook(body: bytes, headers: request.headers, verifier: webhookVerifier)
        }
        if traces {
            return await respondToTraces(
                body: bytes, contentType: request.headers[.contentType],
                contentEncoding: request.headers[.contentEncoding])
        }
        let validation = ingress.validate(
            batch: batch, contentType: request.headers[.contentType], body: bytes,
            receivedAt: options.now(), defaultSubscription: options.defaultSubscription(),
            customerSubscription: options.customerSubscription)
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
            } catch let error as EngineError where error.kind == .unbillable {
                // Policy `reject`: Lago would take these and never bill them; the strict answer names each one
                // (the engine counts them in `lago_engine_events_refused_total{reason="unbillable"}`).
                return finish(
                    ingress.unbillable(
                        error.unbillable.map { event in
                            (event.index, event.reasons.map { ($0.field, $0.rawValue) })
                        }, batch: batch))
            } catch {
                logger.warning(
                    "relay could not spool events; answered 503",
                    metadata: ["events": "\(encoded.count)", "cause": "\(SpoolWriteFailure.plainWords(error))"])
                return finish(LagoEventIngress.status(503))
            }
        }
    }

    /// `POST /v1/usage`: usage records coded with the engine's live mapping and default subscription, spooled (all
    /// or none, deduplicated by record `id`) before the answer.
    private func respondToUsage(body: [UInt8], contentType: String?) async -> Response {
        let reading = UsageIngress.read(
            body: body, contentType: contentType, defaultSubscription: engine.defaultSubscription)
        switch reading {
        case .refused(let answer):
            return finish(answer)
        case .records(var records, let batch):
            // Stamped with the time of reception, as the relay stamps events: it never changes afterwards.
            let received = Double(LagoTime.microseconds(options.now())) / 1_000_000
            for index in records.indices where records[index].timestamp == nil { records[index].timestamp = received }
            do {
                switch try await engine.enqueueUsage(records, cost: options.usageCostEvents()) {
                case .queued(let ids):
                    metrics.eventsAccepted.increment(by: ids.reduce(0) { $0 + $1.count })
                    return finish(UsageIngress.accepted(ids, batch: batch))
                case .duplicates(let indices):
                    return finish(UsageIngress.duplicates(indices, batch: batch))
                }
            } catch let error as EngineError where error.kind == .unbillable {
                return finish(
                    ingress.unbillable(
                        error.unbillable.map { record in
                            (record.index, record.reasons.map { ($0.field, $0.rawValue) })
                        }, batch: batch))
            } catch let error as EngineError where error.kind == .invalidUsage || error.kind == .noSubscription {
                return finish(
                    UsageIngress.answer(
                        .validationErrors(.object([("record", .array([.string(error.message)]))]))))
            } catch {
                logger.warning(
                    "relay could not spool usage records; answered 503",
                    metadata: ["records": "\(records.count)", "cause": "\(SpoolWriteFailure.plainWords(error))"])
                return finish(LagoEventIngress.status(503))
            }
        }
    }

    /// `503` with `Retry-After: 1`: the bytes of bodies being collected are at ``RelayOptions/bodyBudgetBytes``.
    private func busy() -> Response {
        logger.debug(
            "relay answered 503: request bodies in memory at their budget",
            metadata: ["budget_bytes": "\(budget.limit)"])
        return finish(LagoEventIngress.status(503), retryAfter: 1)
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
            return EncodedEvent(
                event: accepted.event, body: completed, externalCustomerID: accepted.externalCustomerID,
                subscriptionFromCustomer: accepted.subscriptionResolved)
        }
    }

    enum BodyOutcome: Sendable {
        case complete([UInt8])
        case tooLarge
        /// Taking more bytes would pass the relay's body budget.
        case overBudget
        /// Not complete within `idleTimeout` of the head (the reading was cancelled).
        case timedOut
        /// The body was malformed (a bad chunk), ended short, or the connection closed mid-body.
        case failed
    }

    /// Reads the whole body, at most `maxBodyBytes` and within the budget (a body without `Content-Length` reserves
    /// as it arrives), within `idleTimeout` of the request head. Hummingbird's idle timer alone is reset by every
    /// byte, so a body trickling in would hold the connection forever.
    func collectBody(
        _ request: Request, declared: Int?, reservation: BodyReservation, channel: any Channel
    ) async -> BodyOutcome {
        let limit = options.maxBodyBytes
        let deadline = options.idleTimeout
        return await withTaskGroup(of: BodyOutcome?.self) { group in
            group.addTask {
                var bytes: [UInt8] = []
                bytes.reserveCapacity(declared ?? 0)
                do {
                    for try await buffer in request.body {
                        let total = bytes.count + buffer.readableBytes
                        if total > limit { return .tooLarge }
                        if !reservation.grow(to: total) { return .overBudget }
                        bytes.append(contentsOf: buffer.readableBytesView)
                    }
                } catch {
                    return .failed
                }
                // Hummingbird ends a body whose stream ended early as if it were complete.
                if let declared, bytes.count != declared { return .failed }
                return .complete(bytes)
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
                // Closing ends the body stream too, so the reading task finishes. (Answering 408 first raced with
                // Hummingbird draining the unread body: on CI the connection sometimes closed with no answer.)
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
            status: .init(code: answer.status), headers: headers,
            body: .init(byteBuffer: ByteBuffer(bytes: answer.body)))
    }
}

/// The request-body bytes the relay holds at once, across connections (``RelayOptions/bodyBudgetBytes``).
final class BodyBudget: Sendable {
    let limit: Int
    private let used = Atomic<Int>(0)

    init(limit: Int) {
        self.limit = limit
    }

    /// Bytes held now.
    var inUse: Int { used.load(ordering: .relaxed) }

    /// Takes `count` more bytes if they fit.
    func take(_ count: Int) -> Bool {
        var current = used.load(ordering: .relaxed)
        while true {
            guard current + count <= limit else { return false }
            let (exchanged, original) = used.compareExchange(
                expected: current, desired: current + count, ordering: .relaxed)
            if exchanged { return true }
            current = original
        }
    }

    func give(_ count: Int) {
        used.subtract(count, ordering: .relaxed)
    }
}

/// What one request holds of the ``BodyBudget``; given back by ``release()`` (once).
final class BodyReservation: Sendable {
    private let budget: BodyBudget
    private let held = Mutex(0)

    init(budget: BodyBudget) {
        self.budget = budget
    }

    /// Holds at least `total` bytes; false (holding what it held) when the budget has not that much left.
    func grow(to total: Int) -> Bool {
        held.withLock { held in
            guard total > held else { return true }
            guard budget.take(total - held) else { return false }
            held = total
            return true
        }
    }

    func release() {
        let count = held.withLock { held in
            defer { held = 0 }
            return held
        }
        if count > 0 { budget.give(count) }
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
