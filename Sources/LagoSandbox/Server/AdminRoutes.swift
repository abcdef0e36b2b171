import Foundation
import LagoAPI
import LagoIngest

/// The admin API under `/_sandbox` (JSON in and out, no Lago auth, loopback peers only; others get Lago's 404).
///
/// - `GET /_sandbox/stats`: ``SandboxStats`` as snake_case JSON.
/// - `GET /_sandbox/faults`: the configured faults.
/// - `POST /_sandbox/faults`: set faults; any of
///   `{"fail_next":{"count":3,"status":503,"path_prefix":"/api/v1/events"},
///     "fail_fraction":{"probability":0.2,"status":500,"seed":42,"path_prefix":null},
///     "outage":{"seconds":5,"mode":"refuse"|"status_503"}, "rate_limit":{"count":2,"retry_after":1,"limit":100},
///     "latency_ms":50, "latency_jitter_ms":20, "rate_limiter":{"requests_per_second":500,"path_prefix":"/api/v1/events"}
///     (null or 0 turns it off), "ack_loss":{"count":1,"mode":"status_503"|"drop_connection","path_prefix":"/api/v1/events"},
///     "reset_mid_response":{"count":1}}`; answers the configured faults.
/// - `POST /_sandbox/reset`: clear all faults (`{"stats":true}` also zeroes the request counters).
/// - `GET /_sandbox/api_keys`, `PUT /_sandbox/api_keys` with `{"api_keys":["…"]}`.
/// - `GET /_sandbox/webhooks`: the endpoints and what was delivered (``SandboxWebhookStats``).
/// - `GET /_sandbox/webhook_hmac_key`, `PUT /_sandbox/webhook_hmac_key` with `{"webhook_hmac_key":"…"}`.
/// - `PUT /_sandbox/unit_amount` with `{"unit_amount":"0.002","external_subscription_id":"sub_sandbox"}` (the
///   seeded subscription when none is named): the price per unit `current_usage` and `estimate_fees` use.
/// - `POST /_sandbox/event_error` with `{"transaction_id":"…"}`: Lago's `event.error` (a duplicate found in
///   post-processing) for that stored event, sent to every endpoint in the background; 404 for an unknown id.
/// - `POST /_sandbox/post_validate`: Lago's post-validation now; answers the `events_errors` lists at once and
///   sends them (if any) to every endpoint in the background.
struct AdminRoutes: Sendable {
    let faults: SandboxFaults
    let apiKeys: APIKeyStore
    let webhooks: SandboxWebhooks
    let store: SandboxStore
    let stats: @Sendable () -> SandboxStats
    let resetStats: @Sendable () -> Void

    func respond(to request: APIRequest) -> APIResponse {
        guard request.fromLoopback else { return .notFound("resource_not_found") }
        let route = request.segments.dropFirst().first ?? ""
        switch (request.method, route) {
        case ("GET", "stats"):
            guard case .object(var members) = Self.json(stats()) else { return .ok(Self.json(stats())) }
            members.append(("webhooks", Self.json(webhooks.stats)))
            return .ok(.object(members))
        case ("GET", "faults"):
            return .ok(Self.json(faults.snapshot))
        case ("POST", "faults"), ("PUT", "faults"):
            guard let body = parse(request) else { return .malformedJSON }
            return configure(body)
        case ("POST", "reset"):
            faults.clear()
            if parse(request)?["stats"] == .bool(true) { resetStats() }
            return .ok(Self.json(faults.snapshot))
        case ("GET", "api_keys"):
            return .ok(.object([("api_keys", .array(apiKeys.all.map { .string($0) }))]))
        case ("GET", "webhooks"):
            return .ok(
                .object([
                    ("endpoints", Self.json(webhooks.allEndpoints)), ("stats", Self.json(webhooks.stats)),
                ]))
        case ("GET", "webhook_hmac_key"):
            return .ok(.object([("webhook_hmac_key", .string(webhooks.currentHMACKey))]))
        case ("PUT", "webhook_hmac_key"), ("POST", "webhook_hmac_key"):
            guard let body = parse(request) else { return .malformedJSON }
            guard let key = body["webhook_hmac_key"]?.stringValue, !key.isEmpty else {
                return .validationError(field: "webhook_hmac_key", code: "value_is_invalid")
            }
            webhooks.currentHMACKey = key
            return .ok(.object([("webhook_hmac_key", .string(key))]))
        case ("PUT", "unit_amount"), ("POST", "unit_amount"):
            guard let body = parse(request) else { return .malformedJSON }
            let subscription = body["external_subscription_id"]?.stringValue ?? SandboxSeed.subscriptionExternalID
            guard let amount = body["unit_amount"]?.stringValue, let price = LagoDecimal(bigDecimal: amount),
                !amount.hasPrefix("-")
            else {
                return .validationError(field: "unit_amount", code: "value_is_invalid")
            }
            guard var current = store.subscriptions.last(where: { $0.externalID == subscription }) else {
                return .notFound("subscription_not_found")
            }
            current.unitAmount = price.plainString
            do {
                try store.upsert(current)
            } catch {
                return .status(500)
            }
            return .ok(
                .object([
                    ("external_subscription_id", .string(subscription)), ("unit_amount", .string(current.unitAmount)),
                ]))
        case ("POST", "event_error"):
            guard let body = parse(request) else { return .malformedJSON }
            guard let id = body["transaction_id"]?.stringValue, let event = store.firstEvent(transactionID: id) else {
                return .notFound("event_not_found")
            }
            let webhooks = webhooks
            let payload = SandboxWebhooks.eventErrorBody(
                Serializers.event(event), organizationID: webhooks.organizationID)
            Task { await webhooks.send(payload) }
            return .ok(.object([("transaction_id", .string(id)), ("sent_to", .int(webhooks.allEndpoints.count))]))
        case ("POST", "post_validate"):
            let webhooks = webhooks
            guard let errors = webhooks.postValidate(store: store) else {
                return .ok(.object([("events_errors", SandboxWebhooks.EventsErrors().json), ("sent_to", .int(0))]))
            }
            let body = SandboxWebhooks.eventsErrorsBody(errors, organizationID: webhooks.organizationID)
            Task { await webhooks.sendCounted(body) }
            return .ok(.object([("events_errors", errors.json), ("sent_to", .int(webhooks.allEndpoints.count))]))
        case ("PUT", "api_keys"), ("POST", "api_keys"):
            guard let body = parse(request) else { return .malformedJSON }
            guard let keys = body["api_keys"]?.arrayValue?.compactMap(\.stringValue), !keys.isEmpty else {
                return .validationError(field: "api_keys", code: "value_is_invalid")
            }
            apiKeys.set(keys)
            return .ok(.object([("api_keys", .array(keys.map { .string($0) }))]))
        default:
            return .notFound("resource_not_found")
        }
    }

    private func parse(_ request: APIRequest) -> [String: JSONValue]? {
        guard request.body.contains(where: { !(" \t\r\n".utf8.contains($0)) }) else { return [:] }
        return (try? JSONParser.parse(request.body))?.objectValue
    }

    private static func int(_ value: JSONValue?) -> Int? {
        switch value {
        case .integer(let integer)?: Int(integer)
        case .number(let number)? where number.rounded() == number: Int(number)
        default: nil
        }
    }

    private static func pathPrefix(_ object: [String: JSONValue], default defaultValue: String?) -> String?? {
        switch object["path_prefix"] {
        case nil: return .some(defaultValue)
        case .null?: return .some(nil)
        case .string(let prefix)?: return .some(prefix)
        default: return nil
        }
    }

    /// Applies every recognised key after validating them all (nothing changes on a 422).
    private func configure(_ body: [String: JSONValue]) -> APIResponse {
        var actions: [() -> Void] = []
        var errors: [(String, JSONOutput)] = []
        func invalid(_ key: String) {
            errors.append((key, .array([.string("value_is_invalid")])))
        }
        let known: Set<String> = [
            "fail_next", "fail_fraction", "outage", "rate_limit", "latency_ms", "latency_jitter_ms", "rate_limiter",
            "ack_loss", "reset_mid_response",
        ]
        for key in body.keys.sorted() where !known.contains(key) { invalid(key) }

        if let value = body["fail_next"] {
            if let object = value.objectValue, let count = Self.int(object["count"]),
                let prefix = Self.pathPrefix(object, default: nil)
            {
                let status = Self.int(object["status"]) ?? 500
                actions.append { faults.failNext(count, status: status, pathPrefix: prefix) }
            } else {
                invalid("fail_next")
            }
        }
        if let value = body["fail_fraction"] {
            if let object = value.objectValue, let probability = object["probability"]?.doubleValue,
                (0...1).contains(probability), let prefix = Self.pathPrefix(object, default: nil)
            {
                let status = Self.int(object["status"]) ?? 500
                let seed = UInt64(max(0, Self.int(object["seed"]) ?? 0))
                actions.append { faults.failFraction(probability, status: status, seed: seed, pathPrefix: prefix) }
            } else {
                invalid("fail_fraction")
            }
        }
        if let value = body["outage"] {
            let object = value.objectValue ?? [:]
            let milliseconds =
                Self.int(object["milliseconds"]) ?? object["seconds"]?.doubleValue.map { Int($0 * 1000) }
            let mode = object["mode"]?.stringValue.flatMap(SandboxOutageMode.init(rawValue:)) ?? .status503
            if let milliseconds, milliseconds >= 0,
                object["mode"] == nil || object["mode"]?.stringValue.flatMap(SandboxOutageMode.init(rawValue:)) != nil
            {
                actions.append { faults.outage(for: .milliseconds(milliseconds), mode: mode) }
            } else {
                invalid("outage")
            }
        }
        if let value = body["rate_limit"] {
            if let object = value.objectValue, let count = Self.int(object["count"]),
                let prefix = Self.pathPrefix(object, default: nil)
            {
                let retryAfter = Self.int(object["retry_after"]) ?? 1
                let limit = Self.int(object["limit"]) ?? 100
                actions.append {
                    faults.rateLimit(next: count, retryAfter: retryAfter, limit: limit, pathPrefix: prefix)
                }
            } else {
                invalid("rate_limit")
            }
        }
        if body["latency_ms"] != nil || body["latency_jitter_ms"] != nil {
            let current = faults.snapshot
            let milliseconds = body["latency_ms"].map { Self.int($0) ?? -1 } ?? current.latencyMilliseconds
            let jitter = body["latency_jitter_ms"].map { Self.int($0) ?? -1 } ?? current.latencyJitterMilliseconds
            if milliseconds < 0 { invalid("latency_ms") }
            if jitter < 0 { invalid("latency_jitter_ms") }
            if milliseconds >= 0, jitter >= 0 {
                actions.append { faults.latency(.milliseconds(milliseconds), jitter: .milliseconds(jitter)) }
            }
        }
        if let value = body["rate_limiter"] {
            if value == .null {
                actions.append { faults.rateLimiter(requestsPerSecond: nil) }
            } else if let object = value.objectValue, let perSecond = Self.int(object["requests_per_second"]),
                perSecond >= 0, let prefix = Self.pathPrefix(object, default: "/api/v1/events")
            {
                actions.append { faults.rateLimiter(requestsPerSecond: perSecond, pathPrefix: prefix) }
            } else {
                invalid("rate_limiter")
            }
        }
        if let value = body["ack_loss"] {
            let object = value.objectValue ?? [:]
            let modeText = object["mode"]?.stringValue ?? SandboxAckLossMode.status503.rawValue
            if let count = Self.int(object["count"]), let mode = SandboxAckLossMode(rawValue: modeText),
                let prefix = Self.pathPrefix(object, default: "/api/v1/events")
            {
                actions.append { faults.ackLoss(next: count, mode: mode, pathPrefix: prefix) }
            } else {
                invalid("ack_loss")
            }
        }
        if let value = body["reset_mid_response"] {
            if let object = value.objectValue, let count = Self.int(object["count"]),
                let prefix = Self.pathPrefix(object, default: nil)
            {
                actions.append { faults.resetMidResponse(next: count, pathPrefix: prefix) }
            } else {
                invalid("reset_mid_response")
            }
        }
        guard errors.isEmpty else { return .validationErrors(.object(errors)) }
        for action in actions { action() }
        return .ok(Self.json(faults.snapshot))
    }

    static func json(_ endpoints: [SandboxWebhookEndpoint]) -> JSONOutput {
        .array(
            endpoints.map { endpoint in
                .object([
                    ("lago_id", .string(endpoint.lagoID)), ("webhook_url", .string(endpoint.webhookURL)),
                    ("signature_algo", .string(endpoint.signatureAlgo)),
                ])
            })
    }

    static func json(_ stats: SandboxWebhookStats) -> JSONOutput {
        .object([
            ("endpoints", .int(stats.endpoints)), ("delivered", .int(stats.delivered)), ("failed", .int(stats.failed)),
            ("attempts", .int(stats.attempts)), ("post_validations", .int(stats.postValidations)),
            ("last_error", .string(stats.lastError)),
        ])
    }

    static func json(_ stats: SandboxStats) -> JSONOutput {
        .object([
            (
                "requests_by_status",
                .object(stats.requestsByStatus.sorted { $0.key < $1.key }.map { (String($0.key), .int($0.value)) })
            ),
            ("requests_total", .int(stats.requestsTotal)),
            ("events_stored", .int(stats.eventsStored)),
            ("unique_transaction_ids", .int(stats.uniqueTransactionIDs)),
            ("duplicate_attempts_rejected", .int(stats.duplicateAttemptsRejected)),
            ("batches_accepted", .int(stats.batchesAccepted)),
            ("single_events_accepted", .int(stats.singleEventsAccepted)),
            ("connections_refused", .int(stats.connectionsRefused)),
            ("responses_dropped", .int(stats.responsesDropped)),
            ("responses_reset", .int(stats.responsesReset)),
            ("faults_injected", .int(stats.faultsInjected)),
        ])
    }

    static func json(_ snapshot: SandboxFaultSnapshot) -> JSONOutput {
        func prefix(_ value: String?) -> JSONOutput { .string(value) }
        return .object([
            (
                "fail_next",
                snapshot.failNext.map {
                    .object([
                        ("remaining", .int($0.remaining)), ("status", .int($0.status)),
                        ("path_prefix", prefix($0.pathPrefix)),
                    ])
                } ?? .null
            ),
            (
                "fail_fraction",
                snapshot.failFraction.map {
                    .object([
                        ("probability", .number($0.probability)), ("status", .int($0.status)),
                        ("path_prefix", prefix($0.pathPrefix)),
                    ])
                } ?? .null
            ),
            (
                "outage",
                snapshot.outage.map {
                    .object([("mode", .string($0.mode.rawValue)), ("remaining_ms", .int($0.remainingMilliseconds))])
                } ?? .null
            ),
            (
                "rate_limit",
                snapshot.rateLimit.map {
                    .object([
                        ("remaining", .int($0.remaining)), ("retry_after", .int($0.retryAfter)),
                        ("limit", .int($0.limit)),
                        ("path_prefix", prefix($0.pathPrefix)),
                    ])
                } ?? .null
            ),
            ("latency_ms", .int(snapshot.latencyMilliseconds)),
            ("latency_jitter_ms", .int(snapshot.latencyJitterMilliseconds)),
            (
                "rate_limiter",
                snapshot.rateLimiter.map {
                    .object([
                        ("requests_per_second", .int($0.requestsPerSecond)), ("path_prefix", prefix($0.pathPrefix)),
                    ])
                } ?? .null
            ),
            (
                "ack_loss",
                snapshot.ackLoss.map {
                    .object([
                        ("remaining", .int($0.remaining)), ("mode", .string($0.mode.rawValue)),
                        ("path_prefix", prefix($0.pathPrefix)),
                    ])
                } ?? .null
            ),
            (
                "reset_mid_response",
                snapshot.resetMidResponse.map {
                    .object([("remaining", .int($0.remaining)), ("path_prefix", prefix($0.pathPrefix))])
                } ?? .null
            ),
        ])
    }
}
