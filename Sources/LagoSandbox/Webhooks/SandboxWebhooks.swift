import AsyncHTTPClient
import Crypto
import CryptoExtras
public import Foundation
import JWTKit
import LagoAPI
import LagoIngest
import Logging
import NIOCore
import Synchronization

/// A webhook endpoint registered with `POST /api/v1/webhook_endpoints`.
public struct SandboxWebhookEndpoint: Sendable, Hashable, Codable {
    /// Lago's id of the endpoint.
    public var lagoID: String
    /// Where webhooks are posted.
    public var webhookURL: String
    /// `jwt` (Lago's default) or `hmac`.
    public var signatureAlgo: String
    /// When it was registered.
    public var createdAt: Date
}

/// What the sandbox's webhook sender did, for its admin stats.
public struct SandboxWebhookStats: Sendable, Hashable, Codable {
    /// Registered endpoints.
    public var endpoints = 0
    /// Webhooks acknowledged (2xx) by an endpoint.
    public var delivered = 0
    /// Webhooks given up on after every try failed.
    public var failed = 0
    /// POSTs made (first tries and retries).
    public var attempts = 0
    /// Post-validation runs that found errors and sent `events.errors`.
    public var postValidations = 0
    /// The last delivery failure, in words.
    public var lastError: String?
}

/// Lago's webhooks, as the sandbox sends them (`../shared/lago-api-facts.md` §8.2–8.3): endpoints, the
/// organization's HMAC key and RSA key, the hourly post-validation (`events.errors`) on demand or on an interval,
/// and signed delivery retried 3 times on failure.
final class SandboxWebhooks: Sendable {
    /// The organization id webhooks carry.
    let organizationID = UUID().uuidString.lowercased()
    private let hmacKey: Mutex<String>
    /// The organization's RSA key, made at its first use (a 2048-bit key takes a moment to generate; most sandboxes
    /// never sign a webhook).
    private let privateKeyStore = Mutex<_RSA.Signing.PrivateKey?>(nil)
    private let endpoints = Mutex<[SandboxWebhookEndpoint]>([])
    /// Lago ids of events post-validation has covered (each event is validated once, as Lago covers each hour
    /// once).
    private let validated = Mutex<Set<String>>([])
    private let counters = Mutex(SandboxWebhookStats())
    /// Pause before retry n (n = 1...3).
    let retryDelay: Duration
    private let logger: Logger

    init(hmacKey: String?, retryDelay: Duration = .milliseconds(200), logger: Logger) {
        self.hmacKey = Mutex(hmacKey ?? Self.randomKey())
        self.retryDelay = retryDelay
        self.logger = logger
    }

    private static func randomKey() -> String {
        SymmetricKey(size: .bits256).withUnsafeBytes { Data($0).base64EncodedString() }
    }

    /// The organization's HMAC key (what Lago shows as the webhook signature key).
    var currentHMACKey: String {
        get { hmacKey.withLock { $0 } }
        set { hmacKey.withLock { $0 = newValue } }
    }

    private func privateKey() throws -> _RSA.Signing.PrivateKey {
        try privateKeyStore.withLock { stored in
            if let stored { return stored }
            let key = try _RSA.Signing.PrivateKey(keySize: .bits2048)
            stored = key
            return key
        }
    }

    /// What Lago's `GET /api/v1/webhooks/public_key` answers: base64 of the PEM of the RSA public key.
    func publicKeyText() throws -> String {
        Data(try privateKey().publicKey.pemRepresentation.utf8).base64EncodedString()
    }

    var stats: SandboxWebhookStats {
        var stats = counters.withLock { $0 }
        stats.endpoints = endpoints.withLock { $0.count }
        return stats
    }

    var allEndpoints: [SandboxWebhookEndpoint] { endpoints.withLock { $0 } }

    /// Registers an endpoint; `nil` for a URL that is not http(s).
    func register(url: String, signatureAlgo: String?, now: Date) -> SandboxWebhookEndpoint? {
        guard let parsed = URL(string: url), let scheme = parsed.scheme?.lowercased(),
            scheme == "http" || scheme == "https", parsed.host != nil
        else { return nil }
        let endpoint = SandboxWebhookEndpoint(
            lagoID: UUID().uuidString.lowercased(), webhookURL: url, signatureAlgo: signatureAlgo ?? "jwt",
            createdAt: now)
        endpoints.withLock { $0.append(endpoint) }
        return endpoint
    }

    // MARK: Post-validation

    /// The `events.errors` lists of the events not validated yet (marking them validated), or `nil` when none has
    /// an error (Lago then sends nothing).
    func postValidate(store: SandboxStore) -> EventsErrors? {
        let events = store.events(subscription: nil)
        let fresh = validated.withLock { seen in
            let fresh = events.filter { !seen.contains($0.lagoID) }
            seen.formUnion(fresh.map(\.lagoID))
            return fresh
        }
        var errors = EventsErrors()
        for event in fresh {
            guard let metric = store.metric(code: event.code) else {
                errors.invalidCode.append(event.transactionID)
                continue
            }
            if BillingRule.missesAggregationProperty(event.properties, metric: metric) {
                errors.missingAggregationProperty.append(event.transactionID)
            }
            if BillingRule.hasInvalidFilterValue(event.properties, metric: metric) {
                errors.invalidFilterValues.append(event.transactionID)
            }
        }
        return errors.isEmpty ? nil : errors
    }

    /// Runs a post-validation and sends its `events.errors` to every endpoint; returns the lists (or `nil`).
    func runPostValidation(store: SandboxStore) async -> EventsErrors? {
        guard let errors = postValidate(store: store) else { return nil }
        counters.withLock { $0.postValidations += 1 }
        await send(Self.eventsErrorsBody(errors, organizationID: organizationID))
        return errors
    }

    /// The lists of Lago's `events.errors` webhook.
    struct EventsErrors: Sendable, Hashable {
        var invalidCode: [String] = []
        var missingAggregationProperty: [String] = []
        var invalidFilterValues: [String] = []
        var isEmpty: Bool { invalidCode.isEmpty && missingAggregationProperty.isEmpty && invalidFilterValues.isEmpty }

        var json: JSONOutput {
            .object([
                ("invalid_code", .array(invalidCode.map { .string($0) })),
                ("missing_aggregation_property", .array(missingAggregationProperty.map { .string($0) })),
                ("missing_group_key", .array([])),
                ("invalid_filter_values", .array(invalidFilterValues.map { .string($0) })),
            ])
        }
    }

    /// `events.errors` exactly as Lago's `V1::EventsValidationErrorsSerializer` writes it.
    static func eventsErrorsBody(_ errors: EventsErrors, organizationID: String) -> [UInt8] {
        JSONOutput.object([
            ("webhook_type", .string("events.errors")),
            ("object_type", .string("events_errors")),
            ("organization_id", .string(organizationID)),
            ("events_errors", errors.json),
        ]).bytes
    }

    /// `event.error` for an event post-processing found a duplicate of (Lago's deprecated webhook).
    static func eventErrorBody(_ event: JSONOutput, organizationID: String) -> [UInt8] {
        JSONOutput.object([
            ("webhook_type", .string("event.error")),
            ("object_type", .string("event_error")),
            ("organization_id", .string(organizationID)),
            (
                "event_error",
                .object([
                    ("status", .integer(422)),
                    ("error", .string("Unprocessable entity")),
                    ("message", .string(#"{"transaction_id":["value_already_exist"]}"#)),
                    ("event", event),
                ])
            ),
        ]).bytes
    }

    // MARK: Delivery

    /// The claims of Lago's webhook JWT: the body as `data`, Lago's issuer.
    private struct LagoClaims: JWTPayload {
        var data: String
        var iss: IssuerClaim
        func verify(using algorithm: some JWTAlgorithm) async throws {}
    }

    /// The `X-Lago-Signature` of `body` for `algorithm`.
    func signature(_ body: [UInt8], algorithm: String) async throws -> String {
        if algorithm == "hmac" {
            let code = HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: Data(currentHMACKey.utf8)))
            return Data(code).base64EncodedString()
        }
        let keys = await JWTKeyCollection().add(
            rsa: try JWTKit.Insecure.RSA.PrivateKey(backing: try privateKey()), digestAlgorithm: .sha256)
        return try await keys.sign(
            LagoClaims(data: String(decoding: body, as: UTF8.self), iss: IssuerClaim(value: "https://api.getlago.com")))
    }

    /// Sends a post-validation's `events.errors` body, counted as a post-validation.
    func sendCounted(_ body: [UInt8]) async {
        counters.withLock { $0.postValidations += 1 }
        await send(body)
    }

    /// Posts `body` to every endpoint, each with its own signature and unique key, each retried 3 times.
    func send(_ body: [UInt8]) async {
        let targets = allEndpoints
        await withTaskGroup(of: Void.self) { group in
            for endpoint in targets {
                group.addTask { await self.deliver(body, to: endpoint) }
            }
        }
    }

    private func deliver(_ body: [UInt8], to endpoint: SandboxWebhookEndpoint) async {
        let uniqueKey = UUID().uuidString.lowercased()
        let signature: String
        do {
            signature = try await self.signature(body, algorithm: endpoint.signatureAlgo)
        } catch {
            counters.withLock {
                $0.failed += 1
                $0.lastError = "signing failed: \(error)"
            }
            return
        }
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow)
        // A refused connection fails the try at once (as Lago's sender sees it), not after the pool's backoff.
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout = .init(connect: .seconds(5), read: .seconds(10))
        let failure: String?
        do {
            failure = try await HTTPClient.withHTTPClient(configuration: configuration) { client in
                var lastError = ""
                for attempt in 0...3 {
                    if attempt > 0 { try? await Task.sleep(for: retryDelay * attempt) }
                    var request = HTTPClientRequest(url: endpoint.webhookURL)
                    request.method = .POST
                    request.headers.add(name: "Content-Type", value: "application/json")
                    request.headers.add(name: "X-Lago-Signature", value: signature)
                    request.headers.add(name: "X-Lago-Signature-Algorithm", value: endpoint.signatureAlgo)
                    request.headers.add(name: "X-Lago-Unique-Key", value: uniqueKey)
                    request.body = .bytes(ByteBuffer(bytes: body))
                    counters.withLock { $0.attempts += 1 }
                    do {
                        let response = try await client.execute(request, timeout: .seconds(10))
                        _ = try? await response.body.collect(upTo: 1 << 20)
                        if [200, 201, 202, 204].contains(Int(response.status.code)) {
                            counters.withLock { $0.delivered += 1 }
                            return nil
                        }
                        lastError = "\(endpoint.webhookURL) answered \(response.status.code)"
                    } catch {
                        lastError = "\(endpoint.webhookURL): \(error)"
                    }
                    logger.debug(
                        "Sandbox webhook delivery failed",
                        metadata: ["attempt": "\(attempt + 1)", "error": "\(lastError)"])
                }
                return lastError
            }
        } catch {
            // Only the client's shutdown throws here, after the tries (a delivery was counted when it happened).
            logger.debug("Sandbox webhook client shutdown failed", metadata: ["error": "\(error)"])
            return
        }
        guard let lastError = failure else { return }
        counters.withLock {
            $0.failed += 1
            $0.lastError = lastError
        }
    }
}

extension BillingRule {
    /// Lago's `missing_aggregation_property`: a metric that is not a count (and computes no expression) whose
    /// field is absent or null, or not a numeral where the aggregation sums, maxes or takes the latest.
    static func missesAggregationProperty(_ properties: [String: JSONValue], metric: SandboxBillableMetric) -> Bool {
        guard metric.aggregationType != .countAgg, metric.expression?.isEmpty ?? true,
            let field = metric.fieldName, !field.isEmpty
        else { return false }
        guard let text = properties[field].flatMap(LagoPropertyText.text) else { return true }
        switch metric.aggregationType {
        case .sumAgg, .maxAgg, .weightedSumAgg, .latestAgg: return !LagoPropertyText.isNumeral(text)
        case .countAgg, .uniqueCountAgg: return false
        }
    }

    /// Lago's `invalid_filter_values`: a property named like one of the metric's filters holds a value outside it.
    static func hasInvalidFilterValue(_ properties: [String: JSONValue], metric: SandboxBillableMetric) -> Bool {
        metric.filters.contains { filter in
            guard let value = properties[filter.key], let text = LagoPropertyText.text(value) else { return false }
            return !filter.values.contains(text)
        }
    }
}
