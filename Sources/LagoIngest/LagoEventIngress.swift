public import Foundation
public import LagoAPI

/// Lago's event ingestion front (`POST /events`, `POST /events/batch`) without a store behind it: validates a
/// request exactly as Lago does and writes Lago's answers, so a relay can accept events from unmodified Lago clients
/// and hand them to a durable queue.
///
/// Same rules as the sandbox: the `event`/`events` wrappers, JSON content type, timestamp parsing, presence of
/// `transaction_id` and `code`, the batch limit, errors keyed by index, and duplicates within one batch (first
/// wins). Duplicates against Lago's own store cannot be known here: the delivery engine meets them later.
public struct LagoEventIngress: Sendable {
    /// An HTTP answer: status and JSON body.
    public struct Response: Sendable, Hashable {
        /// The HTTP status.
        public var status: Int
        /// The JSON body, compact UTF-8.
        public var body: [UInt8]

        /// An answer with `status` and `body`.
        public init(status: Int, body: [UInt8]) {
            self.status = status
            self.body = body
        }
    }

    /// One valid event of a request, and which of its fields the client left to the receiver.
    public struct AcceptedEvent: Sendable, Hashable {
        /// The event as Lago reads it (timestamp and default subscription filled in).
        public var event: EventInput
        /// The timestamp, in Unix microseconds (the time of reception when the client sent none).
        public var timestampMicroseconds: Int64
        /// The client sent a timestamp (not absent, not `null`).
        public var timestampSent: Bool
        /// The client sent an `external_subscription_id` (not absent, not `null`).
        public var subscriptionSent: Bool
        /// The `external_customer_id` the client sent (Lago drops it; a relay may resolve it to the customer's
        /// subscription).
        public var externalCustomerID: String? = nil
        /// The subscription was found from ``externalCustomerID`` (the client sent none).
        public var subscriptionResolved = false
    }

    /// The outcome of validating one request.
    public enum Validation: Sendable {
        /// Every event is valid: store them all (or none), then answer ``LagoEventIngress/accepted(_:batch:)``.
        case accepted([AcceptedEvent])
        /// Lago would refuse the request with this answer; nothing may be stored.
        case refused(Response)
    }

    /// The most events one batch may carry (Lago: 100).
    public let maxBatchSize: Int

    /// Creates an ingress.
    public init(maxBatchSize: Int = 100) {
        self.maxBatchSize = maxBatchSize
    }

    /// Validates a `POST /events` (`batch == false`) or `POST /events/batch` body.
    /// - Parameters:
    ///   - defaultSubscription: applied to events that name no `external_subscription_id`.
    ///   - receivedAt: the time of reception, the timestamp of events that carry none.
    ///   - customerSubscription: for an event that names an `external_customer_id` and no subscription, the
    ///     customer's only active subscription (`nil`: none or several; the event then gets no subscription, never
    ///     the default one: it would bill another customer).
    public func validate(
        batch: Bool, contentType: String?, body: [UInt8], receivedAt: Date = Date(), defaultSubscription: String?,
        customerSubscription: ((String) -> String?)? = nil
    ) -> Validation {
        let params: [String: JSONValue]
        if Self.isJSONContentType(contentType), body.contains(where: { !(" \t\r\n".utf8.contains($0)) }) {
            guard let parsed = try? JSONParser.parse(body) else { return .refused(Self.response(.malformedJSON)) }
            params = parsed.objectValue ?? [:]
        } else {
            params = [:]
        }
        let micros = LagoTime.microseconds(receivedAt)
        let validation = EventValidation(expressionRules: [:])
        let items: [JSONValue]
        if batch {
            guard case .array(let values)? = params["events"], !values.isEmpty else {
                return .refused(Self.response(.validationError(field: "events", code: "no_events")))
            }
            guard values.count <= maxBatchSize else {
                return .refused(Self.response(.validationError(field: "events", code: "too_many_events")))
            }
            items = values
        } else {
            guard case .object(let object)? = params["event"], !object.isEmpty else {
                return .refused(Self.response(.parameterMissing("event")))
            }
            items = [.object(object)]
        }
        var drafts: [EventDraft] = []
        var sent: [(timestamp: Bool, subscription: Bool, customer: String?, resolved: Bool)] = []
        var errors: [(String, JSONOutput)] = []
        var outOfRange = false
        for (index, item) in items.enumerated() {
            let fields = item.objectValue ?? [:]
            switch validation.validate(fields, receivedAt: micros) {
            case .success(var draft):
                let subscriptionSent = draft.externalSubscriptionID != nil
                let customer = fields["external_customer_id"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 }
                var resolved = false
                if !subscriptionSent {
                    if let customer, let customerSubscription {
                        draft.externalSubscriptionID = customerSubscription(customer)
                        resolved = draft.externalSubscriptionID != nil
                    } else {
                        draft.externalSubscriptionID = defaultSubscription
                    }
                }
                drafts.append(draft)
                sent.append((fields["timestamp"].map { $0 != .null } ?? false, subscriptionSent, customer, resolved))
            case .failure(.fields(let details)):
                if !batch { return .refused(Self.response(.validationErrors(details))) }
                errors.append((String(index), details))
            case .failure(.expression(let message)):
                errors.append((String(index), .string(message)))
            case .failure(.outOfRange):
                outOfRange = true
            }
        }
        if !errors.isEmpty { return .refused(Self.response(.validationErrors(.object(errors)))) }
        if outOfRange { return .refused(Self.response(.status(500))) }
        // Phase 2, within the request: a later event with the same (subscription, transaction id) is a duplicate.
        var seen = Set<String>()
        var duplicates: [Int] = []
        for (index, draft) in drafts.enumerated() {
            guard let subscription = draft.externalSubscriptionID else { continue }
            if !seen.insert(subscription + "\u{0}" + draft.transactionID).inserted { duplicates.append(index) }
        }
        if !duplicates.isEmpty {
            let details: JSONOutput = .object(
                duplicates.map { (String($0), .object([("transaction_id", .array([.string("value_already_exist")]))])) }
            )
            return .refused(Self.response(.validationErrors(details)))
        }
        return .accepted(
            zip(drafts, sent).map { draft, sent in
                AcceptedEvent(
                    event: EventInput(
                        transactionID: draft.transactionID, externalSubscriptionID: draft.externalSubscriptionID,
                        code: draft.code, timestamp: Double(draft.timestampMicroseconds) / 1_000_000,
                        properties: draft.properties, preciseTotalAmountCents: draft.preciseTotalAmountCents),
                    timestampMicroseconds: draft.timestampMicroseconds, timestampSent: sent.timestamp,
                    subscriptionSent: sent.subscription, externalCustomerID: sent.customer,
                    subscriptionResolved: sent.resolved)
            })
    }

    /// Lago's answer (Postgres store) when events of a request were stored before: 422 `value_already_exist`,
    /// keyed by index for a batch, by field for `POST /events`.
    public func duplicates(_ indices: [Int], batch: Bool) -> Response {
        let entry: JSONOutput = .object([("transaction_id", .array([.string("value_already_exist")]))])
        if !batch { return Self.response(.validationErrors(entry)) }
        return Self.response(.validationErrors(.object(indices.sorted().map { (String($0), entry) })))
    }

    /// The relay's strict answer (policy `reject`) for events Lago would accept and never bill: 422 in Lago's
    /// `validation_errors` shape, keyed by event index for a batch (by field for `POST /events`), each entry the
    /// fields at fault with the reasons' names (`{"0":{"code":["invalid_code"]}}`).
    public func unbillable(_ events: [(index: Int, fields: [(field: String, reason: String)])], batch: Bool) -> Response
    {
        func entry(_ fields: [(field: String, reason: String)]) -> JSONOutput {
            var order: [String] = []
            var reasons: [String: [String]] = [:]
            for (field, reason) in fields {
                if reasons[field] == nil { order.append(field) }
                reasons[field, default: []].append(reason)
            }
            return .object(order.map { ($0, .array(reasons[$0]!.map { .string($0) })) })
        }
        if !batch, let first = events.first { return Self.response(.validationErrors(entry(first.fields))) }
        return Self.response(
            .validationErrors(
                .object(events.sorted { $0.index < $1.index }.map { (String($0.index), entry($0.fields)) })))
    }

    /// Whether Rails parses a body of this `Content-Type` as JSON: `application/json` and its registered synonyms
    /// (`text/x-json`, `application/jsonrequest`), parameters ignored; any other body gives no params.
    public static func isJSONContentType(_ contentType: String?) -> Bool {
        guard let contentType else { return false }
        let mediaType = contentType.split(separator: ";", maxSplits: 1).first.map {
            $0.trimmingCharacters(in: .whitespaces).lowercased()
        }
        return mediaType == "application/json" || mediaType == "text/x-json" || mediaType == "application/jsonrequest"
    }

    /// `400 {"status":400,"error":"Bad Request"}`: what Rails answers for a body it cannot parse.
    public static var badRequest: Response { response(.malformedJSON) }

    /// Lago's success answer for accepted events, in request order. `lago_id` and `created_at` are `null`, as Lago
    /// answers when the event is processed asynchronously (its ClickHouse pipeline): the events are queued, not yet
    /// stored in Lago.
    public func accepted(_ events: [EventInput], batch: Bool) -> Response {
        let objects: [JSONOutput] = events.map { event in
            let micros = Int64(((event.timestamp ?? Date().timeIntervalSince1970) * 1_000_000).rounded())
            return Self.serializedEvent(
                lagoID: nil, transactionID: event.transactionID, code: event.code, timestampMicroseconds: micros,
                preciseTotalAmountCents: event.preciseTotalAmountCents, properties: event.properties,
                externalSubscriptionID: event.externalSubscriptionID, createdAtMicroseconds: nil)
        }
        let body: JSONOutput = batch ? .object([("events", .array(objects))]) : .object([("event", objects[0])])
        return Response(status: 200, body: body.bytes)
    }

    /// Lago's `V1::EventSerializer` (Postgres store), keys in Lago's order: the legacy customer and subscription ids
    /// are always `null`, the timestamp has milliseconds, `lago_id` and `created_at` are `null` when not stored yet.
    public static func serializedEvent(
        lagoID: String?, transactionID: String, code: String, timestampMicroseconds: Int64,
        preciseTotalAmountCents: String?, properties: [String: JSONValue], externalSubscriptionID: String?,
        createdAtMicroseconds: Int64?
    ) -> JSONOutput {
        .object([
            ("lago_id", .string(lagoID)),
            ("transaction_id", .string(transactionID)),
            ("lago_customer_id", .null),
            ("code", .string(code)),
            ("timestamp", .string(LagoTime.iso8601(timestampMicroseconds, fractionDigits: 3))),
            ("precise_total_amount_cents", .string(preciseTotalAmountCents)),
            ("properties", .value(.object(properties))),
            ("lago_subscription_id", .null),
            ("external_subscription_id", .string(externalSubscriptionID)),
            ("created_at", .string(createdAtMicroseconds.map { LagoTime.iso8601($0) })),
        ])
    }

    /// `401 {"status":401,"error":"Unauthorized"}`.
    public static var unauthorized: Response { response(.unauthorized) }

    /// `404 resource_not_found`, for any other route.
    public static var notFound: Response { response(.notFound("resource_not_found")) }

    /// A Lago-shaped error without a `code`, e.g. `413 Payload Too Large` or `503 Service Unavailable`.
    public static func status(_ status: Int) -> Response { response(.status(status)) }

    private static func response(_ response: APIResponse) -> Response {
        Response(status: response.status, body: response.body.bytes)
    }
}
