import Foundation
import LagoAPI
import LagoIngest
import Logging
import Synchronization

/// The API keys a sandbox accepts; replaceable at runtime.
final class APIKeyStore: Sendable {
    private let keys: Mutex<[String]>

    init(_ keys: [String]) {
        self.keys = Mutex(keys)
    }

    var all: [String] {
        keys.withLock { $0 }
    }

    func set(_ newKeys: [String]) {
        keys.withLock { $0 = newKeys }
    }

    func contains(_ key: String) -> Bool {
        keys.withLock { $0.contains(key) }
    }
}

/// Lago's REST API (v1.51, Postgres event store) over the sandbox store.
///
/// Unknown routes answer `404 resource_not_found` without auth; every known `/api/v1` route checks the API key
/// first (`401` before the body is parsed).
struct LagoRoutes: Sendable {
    let store: SandboxStore
    let apiKeys: APIKeyStore
    let webhooks: SandboxWebhooks
    let maxBatchSize: Int
    let now: @Sendable () -> Date
    let logger: Logger

    enum Route {
        case createEvent, batchEvents, estimateFees, listEvents
        case showEvent(String)
        case listMetrics, createMetric
        case showMetric(String)
        case deleteMetric(String)
        case listSubscriptions, createSubscription
        case showSubscription(String)
        case terminateSubscription(String)
        case listCustomers, createCustomer
        case showCustomer(String)
        case currentUsage(String)
        case createWebhookEndpoint, listWebhookEndpoints, webhookPublicKey, webhookJSONPublicKey
    }

    static let version = "v1.51.0"

    func respond(to request: APIRequest) -> APIResponse {
        let segments = request.segments
        if segments == ["health"], request.method == "GET" || request.method == "HEAD" {
            return .ok(
                .object([
                    ("version", .string(Self.version)),
                    ("github_url", .string("https://github.com/getlago/lago-api/tree/\(Self.version)")),
                    ("message", .string("Success")),
                ])
            )
        }
        guard segments.count >= 2, segments[0] == "api", segments[1] == "v1",
            let route = Self.route(method: request.method, segments: Array(segments.dropFirst(2)))
        else {
            return .notFound("resource_not_found")
        }
        guard isAuthorized(request) else { return .unauthorized }
        do {
            switch route {
            case .createEvent: return try createEvent(request)
            case .batchEvents: return try batchEvents(request)
            case .estimateFees: return try estimateFees(request)
            case .listEvents: return listEvents(request)
            case .showEvent(let transactionID):
                guard let event = store.firstEvent(transactionID: transactionID) else {
                    return .notFound("event_not_found")
                }
                return .ok(.object([("event", Serializers.event(event))]))
            case .listMetrics: return listMetrics(request)
            case .createMetric: return try createMetric(request)
            case .showMetric(let code):
                guard let metric = store.metric(code: code) else { return .notFound("billable_metric_not_found") }
                return .ok(.object([("billable_metric", Serializers.billableMetric(metric, counters: false))]))
            case .deleteMetric(let code):
                do {
                    let metric = try store.removeMetric(code: code)
                    return .ok(.object([("billable_metric", Serializers.billableMetric(metric, counters: false))]))
                } catch StoreError.metricNotFound {
                    return .notFound("billable_metric_not_found")
                }
            case .listSubscriptions: return listSubscriptions(request)
            case .createSubscription: return try createSubscription(request)
            case .terminateSubscription(let externalID):
                return try terminateSubscription(request, externalID: externalID)
            case .showSubscription(let externalID):
                guard let subscription = store.subscriptions.last(where: { $0.externalID == externalID }) else {
                    return .notFound("subscription_not_found")
                }
                let customer = store.customer(externalID: subscription.externalCustomerID)
                return .ok(
                    .object([
                        ("subscription", Serializers.subscription(subscription, customer: customer, now: nowMicros))
                    ])
                )
            case .listCustomers: return listCustomers(request)
            case .createCustomer: return try createCustomer(request)
            case .showCustomer(let externalID):
                guard let customer = store.customer(externalID: externalID) else {
                    return .notFound("customer_not_found")
                }
                return .ok(.object([("customer", Serializers.customer(customer))]))
            case .currentUsage(let externalCustomerID):
                return currentUsage(request, externalCustomerID: externalCustomerID)
            case .createWebhookEndpoint: return try createWebhookEndpoint(request)
            case .listWebhookEndpoints:
                let all = webhooks.allEndpoints
                return .ok(
                    .object([
                        ("webhook_endpoints", .array(all.map(webhookEndpoint))),
                        (
                            "meta",
                            .object([
                                ("current_page", .int(1)), ("next_page", .null), ("prev_page", .null),
                                ("total_pages", .int(1)), ("total_count", .int(all.count)),
                            ])
                        ),
                    ]))
            case .webhookPublicKey:
                var response = APIResponse.ok(.null)
                response.rawBody = Array(try webhooks.publicKeyText().utf8)
                response.headers = [("Content-Type", "text/plain; charset=utf-8")]
                return response
            case .webhookJSONPublicKey:
                return .ok(.object([("webhook", .object([("public_key", .string(try webhooks.publicKeyText()))]))]))
            }
        } catch BodyError.malformed {
            return .malformedJSON
        } catch {
            logger.error("Sandbox request failed", metadata: ["path": "\(request.path)", "error": "\(error)"])
            return .status(500)
        }
    }

    static func route(method: String, segments: [String]) -> Route? {
        switch (method, segments.count) {
        case ("POST", 1) where segments[0] == "events": return .createEvent
        case ("GET", 1) where segments[0] == "events": return .listEvents
        case ("POST", 2) where segments[0] == "events" && segments[1] == "batch": return .batchEvents
        case ("POST", 2) where segments[0] == "events" && segments[1] == "estimate_fees": return .estimateFees
        case ("GET", 2) where segments[0] == "events": return .showEvent(segments[1])
        case ("GET", 1) where segments[0] == "billable_metrics": return .listMetrics
        case ("POST", 1) where segments[0] == "billable_metrics": return .createMetric
        case ("GET", 2) where segments[0] == "billable_metrics": return .showMetric(segments[1])
        case ("DELETE", 2) where segments[0] == "billable_metrics": return .deleteMetric(segments[1])
        case ("GET", 1) where segments[0] == "subscriptions": return .listSubscriptions
        case ("POST", 1) where segments[0] == "subscriptions": return .createSubscription
        case ("GET", 2) where segments[0] == "subscriptions": return .showSubscription(segments[1])
        case ("DELETE", 2) where segments[0] == "subscriptions": return .terminateSubscription(segments[1])
        case ("GET", 1) where segments[0] == "customers": return .listCustomers
        case ("POST", 1) where segments[0] == "customers": return .createCustomer
        case ("GET", 2) where segments[0] == "customers": return .showCustomer(segments[1])
        case ("GET", 3) where segments[0] == "customers" && segments[2] == "current_usage":
            return .currentUsage(segments[1])
        case ("POST", 1) where segments[0] == "webhook_endpoints": return .createWebhookEndpoint
        case ("GET", 1) where segments[0] == "webhook_endpoints": return .listWebhookEndpoints
        case ("GET", 2) where segments[0] == "webhooks" && segments[1] == "public_key": return .webhookPublicKey
        case ("GET", 2) where segments[0] == "webhooks" && segments[1] == "json_public_key":
            return .webhookJSONPublicKey
        default: return nil
        }
    }

    /// `Authorization: <anything> <key>`: Lago takes the second whitespace-separated word as the key.
    func isAuthorized(_ request: APIRequest) -> Bool {
        guard let header = request.authorization else { return false }
        let words = header.split(whereSeparator: \.isWhitespace)
        guard words.count >= 2 else { return false }
        return apiKeys.contains(String(words[1]))
    }

    var nowMicros: Int64 { LagoTime.microseconds(now()) }

    // MARK: - Body

    enum BodyError: Error { case malformed }

    /// Rails' params from the body: parsed only for a JSON content type; an empty body is `{}`; a non-object
    /// top-level value lands under `_json` (so it is no `event`).
    /// - Throws: `BodyError.malformed` for invalid JSON (Rails answers `400 Bad Request`).
    func bodyParams(_ request: APIRequest) throws -> [String: JSONValue] {
        guard request.hasJSONContentType, request.body.contains(where: { !(" \t\r\n".utf8.contains($0)) }) else {
            return [:]
        }
        do {
            return try JSONParser.parse(request.body).objectValue ?? [:]
        } catch {
            throw BodyError.malformed
        }
    }

    /// `params.require(name)`: a non-empty object, else nil.
    func required(_ params: [String: JSONValue], _ name: String) -> [String: JSONValue]? {
        guard case .object(let object)? = params[name], !object.isEmpty else { return nil }
        return object
    }

    // MARK: - Events

    func createEvent(_ request: APIRequest) throws -> APIResponse {
        let params = try bodyParams(request)
        guard let eventParams = required(params, "event") else { return .parameterMissing("event") }
        let receivedAt = nowMicros
        let draft: EventDraft
        switch EventValidation(expressionRules: store.expressionRules).validate(eventParams, receivedAt: receivedAt) {
        case .success(let value): draft = value
        case .failure(.fields(let details)): return .validationErrors(details)
        case .failure(.expression(let message)): return .validationErrors(.string(message))
        case .failure(.outOfRange): return .status(500)
        }
        switch try store.insert([draft], createdAt: receivedAt, isBatch: false) {
        case .duplicates:
            return .validationError(field: "transaction_id", code: "value_already_exist")
        case .stored(let events):
            return .ok(.object([("event", Serializers.event(events[0]))]))
        }
    }

    func batchEvents(_ request: APIRequest) throws -> APIResponse {
        let params = try bodyParams(request)
        guard case .array(let items)? = params["events"], !items.isEmpty else {
            return .validationError(field: "events", code: "no_events")
        }
        guard items.count <= maxBatchSize else {
            return .validationError(field: "events", code: "too_many_events")
        }
        let receivedAt = nowMicros
        let validation = EventValidation(expressionRules: store.expressionRules)
        var drafts: [EventDraft] = []
        drafts.reserveCapacity(items.count)
        var errors: [(String, JSONOutput)] = []
        var outOfRange = false
        for (index, item) in items.enumerated() {
            switch validation.validate(item.objectValue ?? [:], receivedAt: receivedAt) {
            case .success(let draft): drafts.append(draft)
            case .failure(.fields(let details)): errors.append((String(index), details))
            case .failure(.expression(let message)): errors.append((String(index), .string(message)))
            case .failure(.outOfRange): outOfRange = true
            }
        }
        if !errors.isEmpty { return .validationErrors(.object(errors)) }
        if outOfRange { return .status(500) }
        switch try store.insert(drafts, createdAt: receivedAt, isBatch: true) {
        case .duplicates(let indexes):
            return .validationErrors(
                .object(
                    indexes.map {
                        (String($0), .object([("transaction_id", .array([.string("value_already_exist")]))]))
                    }
                )
            )
        case .stored(let events):
            return .ok(.object([("events", .array(events.map(Serializers.event)))]))
        }
    }

    struct Page {
        var page: Int
        var perPage: Int

        /// Kaminari: `page` defaults to 1 (`to_i`, at least 1); `per_page` to 100 (ignored unless numeric).
        init(_ request: APIRequest) {
            page = max(1, request.queryValue("page").map(Self.rubyToInt) ?? 1)
            let perPage = request.queryValue("per_page").flatMap {
                $0.first?.isNumber == true ? Self.rubyToInt($0) : nil
            }
            self.perPage = perPage.flatMap { $0 > 0 ? $0 : nil } ?? 100
        }

        static func rubyToInt(_ text: String) -> Int {
            let trimmed = text.drop(while: \.isWhitespace)
            var digits = ""
            for (offset, character) in trimmed.enumerated() {
                if character.isASCII, character.isNumber || (offset == 0 && (character == "-" || character == "+")) {
                    digits.append(character)
                } else {
                    break
                }
            }
            return Int(digits) ?? 0
        }

        func slice<T>(_ items: [T]) -> ArraySlice<T> {
            let start = (page - 1).multipliedReportingOverflow(by: perPage)
            guard !start.overflow, start.partialValue < items.count else { return [] }
            return items[start.partialValue..<min(items.count, start.partialValue + perPage)]
        }

        func meta(totalCount: Int) -> JSONOutput {
            Serializers.meta(page: page, perPage: perPage, totalCount: totalCount)
        }
    }

    func listEvents(_ request: APIRequest) -> APIResponse {
        let code = request.queryValue("code")
        let subscription = request.queryValue("external_subscription_id")
        let fromStartedAtText = request.queryValue("timestamp_from_started_at")
        let fromText = request.queryValue("timestamp_from")
        let toText = request.queryValue("timestamp_to")

        // Filter contract (dry-validation), then the lazy date parsing (first invalid date wins).
        var fromStartedAt = false
        if let fromStartedAtText {
            guard fromStartedAtText == "true" || fromStartedAtText == "false" else {
                return .validationError(field: "timestamp_from_started_at", code: "must be one of: true, false")
            }
            fromStartedAt = fromStartedAtText == "true"
            if fromStartedAt, subscription == nil {
                return .validationError(
                    field: "external_subscription_id",
                    code: "required with timestamp_from_started_at"
                )
            }
            if fromStartedAt, fromText != nil {
                return .validationError(field: "timestamp_from", code: "cannot be used with timestamp_from_started_at")
            }
        }
        var from: Int64?
        if fromStartedAt, let subscription {
            from = store.subscriptions.last { $0.externalID == subscription }?.startedAtMicroseconds
        } else if let fromText {
            guard let parsed = LagoTime.parseISO8601(fromText) else {
                return .validationError(field: "timestamp_from", code: "invalid_date")
            }
            from = parsed
        }
        var to: Int64?
        if let toText {
            guard let parsed = LagoTime.parseISO8601(toText) else {
                return .validationError(field: "timestamp_to", code: "invalid_date")
            }
            to = parsed
        }
        var events = store.events { event in
            if let code, event.code != code { return false }
            if let subscription, event.externalSubscriptionID != subscription { return false }
            if let from, event.timestampMicroseconds < from { return false }
            if let to, event.timestampMicroseconds > to { return false }
            return true
        }
        events.sort { lhs, rhs in
            if lhs.timestampMicroseconds != rhs.timestampMicroseconds {
                return lhs.timestampMicroseconds > rhs.timestampMicroseconds
            }
            return lhs.transactionID.utf8.lexicographicallyPrecedes(rhs.transactionID.utf8)
        }
        let page = Page(request)
        return .ok(
            .object([
                ("events", .array(page.slice(events).map(Serializers.event))),
                ("meta", page.meta(totalCount: events.count)),
            ])
        )
    }

    // MARK: - Billable metrics

    func listMetrics(_ request: APIRequest) -> APIResponse {
        let metrics = store.metrics.sorted { lhs, rhs in
            if lhs.createdAtMicroseconds != rhs.createdAtMicroseconds {
                return lhs.createdAtMicroseconds > rhs.createdAtMicroseconds
            }
            return lhs.lagoID < rhs.lagoID
        }
        let page = Page(request)
        return .ok(
            .object([
                (
                    "billable_metrics",
                    .array(page.slice(metrics).map { Serializers.billableMetric($0, counters: true) })
                ),
                ("meta", page.meta(totalCount: metrics.count)),
            ])
        )
    }

    func createMetric(_ request: APIRequest) throws -> APIResponse {
        let params = try bodyParams(request)
        guard let input = required(params, "billable_metric") else { return .parameterMissing("billable_metric") }
        let name = EventValidation.castString(input["name"])
        let code = EventValidation.castString(input["code"])
        let aggregationType = EventValidation.castString(input["aggregation_type"]).flatMap(
            SandboxAggregationType.init(rawValue:)
        )
        let fieldName = EventValidation.castString(input["field_name"])
        let expression = EventValidation.castString(input["expression"]).flatMap { $0.isEmpty ? nil : $0 }

        var errors: [(String, JSONOutput)] = []
        func add(_ field: String, _ code: String) {
            errors.append((field, .array([.string(code)])))
        }
        if EventValidation.isBlank(name) { add("name", "value_is_mandatory") }
        if EventValidation.isBlank(code) {
            add("code", "value_is_mandatory")
        } else if let code, store.metric(code: code) != nil {
            add("code", "value_already_exist")
        }
        if aggregationType == nil { add("aggregation_type", "value_is_invalid") }
        if let aggregationType, aggregationType.needsFieldName, EventValidation.isBlank(fieldName) {
            add("field_name", "value_is_mandatory")
        }
        if let expression, (try? SandboxExpression(expression)) == nil { add("expression", "invalid_expression") }
        guard errors.isEmpty, let name, let code, let aggregationType else { return .validationErrors(.object(errors)) }

        let filters: [SandboxBillableMetric.Filter] = (input["filters"]?.arrayValue ?? []).compactMap { filter in
            guard let key = filter["key"]?.stringValue else { return nil }
            return SandboxBillableMetric.Filter(
                key: key,
                values: (filter["values"]?.arrayValue ?? []).compactMap { EventValidation.castString($0) }
            )
        }
        var roundingPrecision: Int?
        if case .integer(let precision)? = input["rounding_precision"] { roundingPrecision = Int(precision) }
        let metric = SandboxBillableMetric(
            code: code,
            name: name,
            description: EventValidation.castString(input["description"]),
            aggregationType: aggregationType,
            fieldName: fieldName,
            expression: expression,
            recurring: input["recurring"] == .bool(true),
            roundingFunction: EventValidation.castString(input["rounding_function"]),
            roundingPrecision: roundingPrecision,
            weightedInterval: aggregationType == .weightedSumAgg
                ? (EventValidation.castString(input["weighted_interval"]) ?? "seconds") : nil,
            filters: filters,
            createdAt: now()
        )
        do {
            try store.add(metric)
        } catch StoreError.metricCodeTaken {
            return .validationError(field: "code", code: "value_already_exist")
        }
        return .ok(.object([("billable_metric", Serializers.billableMetric(metric, counters: false))]))
    }

    // MARK: - Customers and subscriptions

    func listSubscriptions(_ request: APIRequest) -> APIResponse {
        let statuses = Set(request.queryValues("status") ?? ["active"])
        let externalCustomerID = request.queryValue("external_customer_id")
        let planCode = request.queryValue("plan_code")
        let externalID = request.queryValue("external_id")
        let subscriptions = store.subscriptions.filter { subscription in
            statuses.contains(subscription.status.rawValue)
                && (externalCustomerID == nil || subscription.externalCustomerID == externalCustomerID)
                && (planCode == nil || subscription.planCode == planCode)
                && (externalID == nil || subscription.externalID == externalID)
        }
        let customers = Dictionary(store.customers.map { ($0.externalID, $0) }, uniquingKeysWith: { first, _ in first })
        let page = Page(request)
        let now = nowMicros
        return .ok(
            .object([
                (
                    "subscriptions",
                    .array(
                        page.slice(subscriptions).map {
                            Serializers.subscription($0, customer: customers[$0.externalCustomerID], now: now)
                        }
                    )
                ),
                ("meta", page.meta(totalCount: subscriptions.count)),
            ])
        )
    }

    func listCustomers(_ request: APIRequest) -> APIResponse {
        let externalID = request.queryValue("external_id")
        let customers = store.customers
            .filter { externalID == nil || $0.externalID == externalID }
            .sorted { lhs, rhs in
                if lhs.createdAtMicroseconds != rhs.createdAtMicroseconds {
                    return lhs.createdAtMicroseconds > rhs.createdAtMicroseconds
                }
                return lhs.lagoID < rhs.lagoID
            }
        let page = Page(request)
        return .ok(
            .object([
                ("customers", .array(page.slice(customers).map(Serializers.customer))),
                ("meta", page.meta(totalCount: customers.count)),
            ])
        )
    }
}
