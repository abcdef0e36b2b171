import AsyncHTTPClient
public import Foundation
public import Logging
import NIOCore
import NIOHTTP1
import Synchronization

/// Settings of a ``LagoClient``.
public struct LagoClientConfiguration: Sendable {
    /// The API root.
    public var baseURL: LagoBaseURL
    /// The API key sent as `Authorization: Bearer <key>`. Never logged.
    public var apiKey: String
    /// The deadline of one request, connect to last byte.
    public var requestTimeout: Duration
    /// The `User-Agent` header.
    public var userAgent: String
    /// The most connections the pool keeps open to Lago: at least the requests a caller runs at once (the delivery
    /// engine's `engine.max_in_flight_limit`), or the surplus waits for a connection.
    public var maxConnections: Int

    /// Creates a configuration.
    public init(
        baseURL: LagoBaseURL, apiKey: String, requestTimeout: Duration = .seconds(10),
        userAgent: String = "lago-console/\(LagoConsoleVersion.current)", maxConnections: Int = 64
    ) {
        self.baseURL = baseURL
        self.apiKey = apiKey
        self.requestTimeout = requestTimeout
        self.userAgent = userAgent
        self.maxConnections = max(1, maxConnections)
    }
}

/// Filters of `GET /events`.
public struct EventListFilter: Sendable, Hashable {
    public var code: String?
    public var externalSubscriptionID: String?
    public var timestampFrom: Date?
    public var timestampTo: Date?

    /// Creates a filter; `nil` fields are not sent.
    public init(
        code: String? = nil, externalSubscriptionID: String? = nil, timestampFrom: Date? = nil, timestampTo: Date? = nil
    ) {
        self.code = code
        self.externalSubscriptionID = externalSubscriptionID
        self.timestampFrom = timestampFrom
        self.timestampTo = timestampTo
    }
}

/// Input of `POST /billable_metrics`.
public struct BillableMetricInput: Sendable, Hashable, Codable {
    public var name: String
    public var code: String
    public var description: String?
    public var aggregationType: AggregationType
    public var fieldName: String?
    public var recurring: Bool?
    public var expression: String?

    /// Creates a billable metric input.
    public init(
        name: String, code: String, description: String? = nil, aggregationType: AggregationType,
        fieldName: String? = nil, recurring: Bool? = nil, expression: String? = nil
    ) {
        self.name = name
        self.code = code
        self.description = description
        self.aggregationType = aggregationType
        self.fieldName = fieldName
        self.recurring = recurring
        self.expression = expression
    }

    enum CodingKeys: String, CodingKey {
        case name, code, description, recurring, expression
        case aggregationType = "aggregation_type"
        case fieldName = "field_name"
    }
}

/// A typed client of Lago's REST API over AsyncHTTPClient.
///
/// One shared HTTP client with connection reuse serves every request. Errors are ``LagoAPIError``s decoded from
/// Lago's own error bodies; ``LagoAPIError/disposition(eventCount:)`` classifies them for delivery. The API key
/// can be replaced at runtime (``setAPIKey(_:)``), with the API root too (``setBaseURL(_:apiKey:)``); the key is never
/// logged. Call ``shutdown()`` when done, or use
/// ``withLagoClient(configuration:logger:_:)``.
public final class LagoClient: Sendable {
    /// The most events one batch request may carry.
    public static let maxBatchSize = 100

    private let httpClient: HTTPClient
    private let state: Mutex<LagoClientConfiguration>
    private let logger: Logger
    private let encoder: JSONEncoder
    private let ownsHTTPClient: Bool

    /// Creates a client with its own HTTP connection pool.
    public init(configuration: LagoClientConfiguration, logger: Logger = Logger(label: "lago-console.api")) {
        var httpConfiguration = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(connect: .seconds(5), read: .seconds(Int64(configuration.requestTimeout / .seconds(1)) + 1))
        )
        httpConfiguration.connectionPool = .init(
            idleTimeout: .seconds(60),
            concurrentHTTP1ConnectionsPerHostSoftLimit: max(1, configuration.maxConnections))
        // On loopback a refused connection means nothing listens: say so at once rather than retrying the connect
        // for its whole timeout (the engine's own backoff tries again). Elsewhere, flaky establishment is retried.
        httpConfiguration.connectionPool.retryConnectionEstablishment = !LagoBaseURL.isLoopback(
            configuration.baseURL.host)
        httpConfiguration.decompression = .enabled(limit: .ratio(50))
        self.httpClient = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: httpConfiguration)
        self.ownsHTTPClient = true
        self.state = Mutex(configuration)
        self.logger = logger
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        self.encoder = encoder
    }

    /// Shuts the connection pool down. Requests in flight fail.
    public func shutdown() async throws {
        if ownsHTTPClient { try await httpClient.shutdown() }
    }

    /// The current configuration (the key inside is secret: never print it).
    public var configuration: LagoClientConfiguration { state.withLock { $0 } }

    /// Replaces the API key for requests started from now on.
    public func setAPIKey(_ key: String) {
        state.withLock { $0.apiKey = key }
    }

    /// Replaces the API root and the API key for requests started from now on, in one step, so that no request
    /// pairs the new root with the old key (or the old root with the new key).
    ///
    /// - Returns: whether either differs from what was in use.
    @discardableResult
    public func setBaseURL(_ baseURL: LagoBaseURL, apiKey: String) -> Bool {
        state.withLock { configuration in
            let changed = configuration.baseURL != baseURL || configuration.apiKey != apiKey
            configuration.baseURL = baseURL
            configuration.apiKey = apiKey
            return changed
        }
    }

    // MARK: Events

    /// `POST /events`: sends one event.
    /// - Throws: ``LagoAPIError``.
    public func createEvent(_ event: EventInput) async throws -> LagoEvent {
        struct Body: Encodable { let event: EventInput }
        struct Response: Decodable { let event: LagoEvent }
        let response: Response = try await send(.POST, "/events", body: Body(event: event))
        return response.event
    }

    /// `POST /events/batch`: sends up to 100 events, stored all or nothing by Lago.
    /// - Throws: ``LagoAPIError``; `.invalidRequest` without sending for an empty batch or more than 100 events.
    public func createBatch(_ events: [EventInput]) async throws -> [LagoEvent] {
        let request = LagoRequestSummary(method: "POST", path: "/events/batch")
        guard !events.isEmpty else {
            throw LagoAPIError.invalidRequest("a batch needs at least one event", request: request)
        }
        guard events.count <= Self.maxBatchSize else {
            throw LagoAPIError.invalidRequest(
                "a batch holds at most \(Self.maxBatchSize) events, got \(events.count); nothing was sent",
                request: request)
        }
        struct Body: Encodable { let events: [EventInput] }
        struct Response: Decodable { let events: [LagoEvent] }
        let response: Response = try await send(.POST, "/events/batch", body: Body(events: events))
        return response.events
    }

    /// `POST /events/batch` with an already encoded body `{"events":[…]}`, for the delivery engine which keeps
    /// events as JSON. Returns the status and the stored events.
    /// - Throws: ``LagoAPIError``.
    public func createBatch(encodedBody: Data) async throws -> [LagoEvent] {
        struct Response: Decodable { let events: [LagoEvent] }
        let response: Response = try await send(.POST, "/events/batch", rawBody: encodedBody)
        return response.events
    }

    /// `POST /events/batch` with an encoded body, without decoding the success body: the delivery engine only
    /// needs to know that Lago stored the batch, and skipping the decode keeps the hot path cheap.
    /// - Throws: ``LagoAPIError`` for any non-2xx answer or transport failure.
    @discardableResult
    public func deliverBatch(encodedBody: Data) async throws -> Int {
        try await deliverBatch(encodedBody: ByteBuffer(bytes: encodedBody))
    }

    /// ``deliverBatch(encodedBody:)-(Data)`` with the body as bytes (one copy into the request, none more).
    /// - Returns: the HTTP status of Lago's 2xx answer.
    /// - Throws: ``LagoAPIError`` for any non-2xx answer or transport failure.
    @discardableResult
    public func deliverBatch(encodedBody: [UInt8]) async throws -> Int {
        try await deliverBatch(encodedBody: ByteBuffer(bytes: encodedBody))
    }

    private func deliverBatch(encodedBody: ByteBuffer) async throws -> Int {
        try await deliverBatchAnswer(encodedBody: encodedBody).status
    }

    /// ``deliverBatch(encodedBody:)-(Data)`` returning the rate-limit headers of Lago's 2xx answer too (an error
    /// answer carries them in ``LagoAPIError/rateLimit``), so that a sender can pace itself to the window.
    /// - Throws: ``LagoAPIError`` for any non-2xx answer or transport failure.
    public func deliverBatchAnswer(encodedBody: [UInt8]) async throws -> BatchAnswer {
        try await deliverBatchAnswer(encodedBody: ByteBuffer(bytes: encodedBody))
    }

    private func deliverBatchAnswer(encodedBody: ByteBuffer) async throws -> BatchAnswer {
        let summary = LagoRequestSummary(method: "POST", path: "/events/batch")
        // Lago echoes the stored events (~40 KB for 100): read off the connection, not kept, on success.
        let (status, headers, body) = try await perform(
            .POST, "/events/batch", query: [], body: encodedBody, keepSuccessBody: false)
        guard (200..<300).contains(status) else {
            throw LagoAPIError.httpResponse(status: status, body: body, headers: headers, request: summary)
        }
        return BatchAnswer(status: status, rateLimit: RateLimitHeaders(headers: headers))
    }

    /// `GET /events/{transaction_id}` (the id is percent-encoded).
    /// - Throws: ``LagoAPIError`` (404 `event_not_found` when unknown).
    public func event(transactionID: String) async throws -> LagoEvent {
        struct Response: Decodable { let event: LagoEvent }
        let response: Response = try await send(.GET, "/events/" + transactionID.lagoPathSegmentEncoded)
        return response.event
    }

    /// `GET /events`: one page of events, newest first.
    /// - Throws: ``LagoAPIError``.
    public func events(
        _ filter: EventListFilter = .init(), page: Int = 1, perPage: Int = 100
    ) async throws -> Page<LagoEvent> {
        var query: [(String, String)] = [("page", "\(page)"), ("per_page", "\(perPage)")]
        if let code = filter.code { query.append(("code", code)) }
        if let id = filter.externalSubscriptionID { query.append(("external_subscription_id", id)) }
        if let from = filter.timestampFrom { query.append(("timestamp_from", LagoDateFormat.milliseconds(from))) }
        if let to = filter.timestampTo { query.append(("timestamp_to", LagoDateFormat.milliseconds(to))) }
        return try await self.page(path: "/events", key: "events", query: query)
    }

    /// `POST /events/estimate_fees`: the fees one event would create (pay-in-advance charges only).
    /// - Throws: ``LagoAPIError``.
    public func estimateFees(_ event: EventInput) async throws -> JSONValue {
        struct Body: Encodable { let event: EventInput }
        let response: JSONValue = try await send(.POST, "/events/estimate_fees", body: Body(event: event))
        return response["fees"] ?? .array([])
    }

    // MARK: Billable metrics, subscriptions, customers, usage

    /// `GET /billable_metrics`: one page.
    public func billableMetrics(page: Int = 1, perPage: Int = 100) async throws -> Page<BillableMetric> {
        try await self.page(
            path: "/billable_metrics", key: "billable_metrics",
            query: [("page", "\(page)"), ("per_page", "\(perPage)")])
    }

    /// Every billable metric, following `next_page` until the end, `pageSpacing` between two requests.
    public func allBillableMetrics(pageSpacing: Duration = .zero) async throws -> [BillableMetric] {
        try await allPages(pageSpacing: pageSpacing) { try await billableMetrics(page: $0) }
    }

    /// Every subscription with one of `status` (Lago's default when empty: active only), following `next_page`
    /// until the end, `pageSpacing` between two requests.
    public func allSubscriptions(
        status: [SubscriptionStatus] = [], pageSpacing: Duration = .zero
    ) async throws -> [Subscription] {
        try await allPages(pageSpacing: pageSpacing) { try await subscriptions(status: status, page: $0) }
    }

    /// The items of every page `fetch` reads, from page 1 following `next_page` until the end.
    private func allPages<Item: Sendable & Hashable>(
        pageSpacing: Duration, _ fetch: (Int) async throws -> Page<Item>
    ) async throws -> [Item] {
        var all: [Item] = []
        var page = 1
        while true {
            let result = try await fetch(page)
            all += result.items
            guard let next = result.meta.nextPage, next > page else { return all }
            page = next
            if pageSpacing > .zero { try await Task.sleep(for: pageSpacing) }
        }
    }

    /// `GET /billable_metrics/{code}`.
    public func billableMetric(code: String) async throws -> BillableMetric {
        struct Response: Decodable {
            let billableMetric: BillableMetric
            enum CodingKeys: String, CodingKey { case billableMetric = "billable_metric" }
        }
        let response: Response = try await send(.GET, "/billable_metrics/" + code.lagoPathSegmentEncoded)
        return response.billableMetric
    }

    /// `POST /billable_metrics`.
    public func createBillableMetric(_ input: BillableMetricInput) async throws -> BillableMetric {
        struct Body: Encodable {
            let billableMetric: BillableMetricInput
            enum CodingKeys: String, CodingKey { case billableMetric = "billable_metric" }
        }
        struct Response: Decodable {
            let billableMetric: BillableMetric
            enum CodingKeys: String, CodingKey { case billableMetric = "billable_metric" }
        }
        let response: Response = try await send(.POST, "/billable_metrics", body: Body(billableMetric: input))
        return response.billableMetric
    }

    /// `GET /subscriptions`: one page, filtered by status (Lago's default when empty: active only).
    public func subscriptions(
        status: [SubscriptionStatus] = [], externalCustomerID: String? = nil, page: Int = 1, perPage: Int = 100
    ) async throws -> Page<Subscription> {
        var query: [(String, String)] = [("page", "\(page)"), ("per_page", "\(perPage)")]
        query += status.map { ("status[]", $0.rawValue) }
        if let externalCustomerID { query.append(("external_customer_id", externalCustomerID)) }
        return try await self.page(path: "/subscriptions", key: "subscriptions", query: query)
    }

    /// `GET /subscriptions/{external_id}`.
    public func subscription(externalID: String) async throws -> Subscription {
        struct Response: Decodable { let subscription: Subscription }
        let response: Response = try await send(.GET, "/subscriptions/" + externalID.lagoPathSegmentEncoded)
        return response.subscription
    }

    /// `GET /customers`: one page.
    public func customers(page: Int = 1, perPage: Int = 100) async throws -> Page<Customer> {
        try await self.page(
            path: "/customers", key: "customers", query: [("page", "\(page)"), ("per_page", "\(perPage)")])
    }

    /// `GET /customers/{external_customer_id}/current_usage?external_subscription_id=…`.
    public func currentUsage(externalCustomerID: String, externalSubscriptionID: String) async throws -> CustomerUsage {
        try await currentUsageWithJSON(
            externalCustomerID: externalCustomerID, externalSubscriptionID: externalSubscriptionID
        ).usage
    }

    /// `GET /customers/{external_customer_id}/current_usage?external_subscription_id=…`, with Lago's own
    /// `customer_usage` object as it came (every field, those ``CustomerUsage`` does not model included).
    public func currentUsageWithJSON(
        externalCustomerID: String, externalSubscriptionID: String
    ) async throws -> (usage: CustomerUsage, json: JSONValue) {
        let path = "/customers/\(externalCustomerID.lagoPathSegmentEncoded)/current_usage"
        let value: JSONValue = try await send(.GET, path, query: [("external_subscription_id", externalSubscriptionID)])
        let object = value["customer_usage"] ?? .null
        do {
            let usage = try JSONDecoder().decode(CustomerUsage.self, from: Data(object.jsonText.utf8))
            return (usage, object)
        } catch {
            throw LagoAPIError.decoding(
                "\(error)", status: 200, body: Data(value.jsonText.utf8),
                request: LagoRequestSummary(method: "GET", path: path))
        }
    }

    /// `GET /webhooks/public_key`: the base64 text Lago answers (of the PEM of the RSA public key its `jwt`
    /// webhook signatures verify with), whitespace trimmed. Accept is `text/plain`, as Lago serves it.
    /// - Throws: ``LagoAPIError`` (401 for a wrong key, transport errors).
    public func webhookPublicKey() async throws -> String {
        let path = "/webhooks/public_key"
        let (status, headers, body) = try await perform(.GET, path, query: [], body: nil)
        guard (200..<300).contains(status) else {
            throw LagoAPIError.httpResponse(
                status: status, body: body, headers: headers, request: LagoRequestSummary(method: "GET", path: path))
        }
        return String(decoding: body, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    // MARK: Transport

    private func page<Item: Decodable & Sendable & Hashable>(
        path: String, key: String, query: [(String, String)]
    ) async throws -> Page<Item> {
        let value: JSONValue = try await send(.GET, path, query: query)
        let request = LagoRequestSummary(method: "GET", path: path)
        do {
            let itemsData = try JSONEncoder().encode(value[key] ?? .array([]))
            let metaData = try JSONEncoder().encode(value["meta"] ?? .null)
            let items = try JSONDecoder().decode([Item].self, from: itemsData)
            let meta = try JSONDecoder().decode(PaginationMeta.self, from: metaData)
            return Page(items: items, meta: meta)
        } catch {
            throw LagoAPIError.decoding("\(error)", status: 200, body: Data(value.jsonText.utf8), request: request)
        }
    }

    private func send<Response: Decodable>(
        _ method: HTTPMethod, _ path: String, query: [(String, String)] = [], body: some Encodable
    ) async throws -> Response {
        let data: Data
        do {
            data = try encoder.encode(body)
        } catch {
            throw LagoAPIError.invalidRequest("could not encode the request: \(error)")
        }
        return try await send(method, path, query: query, rawBody: data)
    }

    private func send<Response: Decodable>(
        _ method: HTTPMethod, _ path: String, query: [(String, String)] = [], rawBody: Data? = nil
    ) async throws -> Response {
        let summary = LagoRequestSummary(method: method.rawValue, path: path)
        let (status, headers, body) = try await perform(
            method, path, query: query, body: rawBody.map { ByteBuffer(bytes: $0) })
        guard (200..<300).contains(status) else {
            let error = LagoAPIError.httpResponse(status: status, body: body, headers: headers, request: summary)
            logger.debug("Lago answered an error", metadata: ["request": "\(summary)", "status": "\(status)"])
            throw error
        }
        do {
            return try JSONDecoder().decode(Response.self, from: body)
        } catch {
            throw LagoAPIError.decoding("\(error)", status: status, body: body, request: summary)
        }
    }

    /// Performs one HTTP exchange and returns status, headers and body, mapping transport failures.
    private func perform(
        _ method: HTTPMethod, _ path: String, query: [(String, String)], body: ByteBuffer?, keepSuccessBody: Bool = true
    ) async throws -> (Int, [(name: String, value: String)], Data) {
        let configuration = self.configuration
        let summary = LagoRequestSummary(method: method.rawValue, path: path)
        var url = configuration.baseURL.url(path)
        if !query.isEmpty {
            var components = URLComponents()
            components.queryItems = query.map { URLQueryItem(name: $0.0, value: $0.1) }
            // `+` is a space in form queries: encode it explicitly.
            let encoded = components.percentEncodedQuery?.replacingOccurrences(of: "+", with: "%2B") ?? ""
            url += "?" + encoded
        }
        var request = HTTPClientRequest(url: url)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(configuration.apiKey)")
        request.headers.add(name: "Accept", value: "application/json")
        request.headers.add(name: "User-Agent", value: configuration.userAgent)
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(body)
        }
        let timeout = TimeAmount(configuration.requestTimeout)
        do {
            let response = try await httpClient.execute(request, timeout: timeout)
            let status = Int(response.status.code)
            if !keepSuccessBody && (200..<300).contains(status) {
                for try await _ in response.body {}
                // Only the rate-limit headers are of use on this path.
                let headers = response.headers.filter {
                    $0.name.lowercased().hasPrefix("x-ratelimit-") || $0.name.lowercased() == "retry-after"
                }.map { (name: $0.name, value: $0.value) }
                return (status, headers, Data())
            }
            let bytes = try await response.body.collect(upTo: 64 * 1024 * 1024)
            let headers = response.headers.map { (name: $0.name, value: $0.value) }
            return (status, headers, Data(bytes.readableBytesView))
        } catch let error as LagoAPIError {
            throw error
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            let kind = Self.transportKind(of: error)
            logger.debug(
                "Lago request failed", metadata: ["request": "\(summary)", "kind": "\(kind)", "error": "\(error)"])
            throw LagoAPIError.transport(
                kind, detail: Self.transportDetail(kind, error: error, configuration: configuration), request: summary)
        }
    }

    /// A transport failure in a person's words, naming the host and the next step (no NIO type names or errno
    /// tuples: those go to the debug log).
    static func transportDetail(
        _ kind: LagoAPIError.Kind, error: any Error, configuration: LagoClientConfiguration
    ) -> String {
        let root = configuration.baseURL.apiRoot
        let origin = root.hasSuffix("/api/v1") ? String(root.dropLast("/api/v1".count)) : root
        switch kind {
        case .connectionRefused:
            return "connection refused by \(origin): nothing listens there; is Lago running, and is lago.api_url right?"
        case .timeout:
            let seconds = Int((configuration.requestTimeout / .seconds(1)).rounded())
            return "no answer from \(origin) in time (timeout; engine.request_timeout_seconds is \(seconds) s)"
        case .connectionReset:
            return "\(origin) closed the connection before answering"
        case .dns:
            return "cannot find the host \(configuration.baseURL.host) (DNS); check lago.api_url"
        case .tls:
            return "the TLS handshake with \(origin) failed; check lago.api_url (https) and the server's certificate"
        default:
            if let error = error as? IOError {
                return "\(origin): \(String(cString: strerror(error.errnoCode)))"
            }
            return "\(origin): \(error)"
        }
    }

    /// Maps a transport error from AsyncHTTPClient/NIO to a ``LagoAPIError/Kind``.
    static func transportKind(of error: any Error) -> LagoAPIError.Kind {
        if let error = error as? HTTPClientError {
            switch error {
            case .connectTimeout, .readTimeout, .writeTimeout, .deadlineExceeded, .getConnectionFromPoolTimeout,
                .tlsHandshakeTimeout:
                return .timeout
            case .remoteConnectionClosed, .bodyLengthMismatch, .cancelled:
                return .connectionReset
            default:
                break
            }
        }
        if let error = error as? ChannelError {
            switch error {
            case .connectTimeout: return .timeout
            case .ioOnClosedChannel, .eof, .outputClosed, .alreadyClosed, .inputClosed: return .connectionReset
            default: break
            }
        }
        if let error = error as? IOError {
            switch error.errnoCode {
            case ECONNREFUSED: return .connectionRefused
            case ECONNRESET, EPIPE, ECONNABORTED: return .connectionReset
            case ETIMEDOUT: return .timeout
            default: return .transport
            }
        }
        let text = String(reflecting: error)
        if text.contains("NIOSSL") || text.contains("BoringSSL") || text.contains("handshake") { return .tls }
        if text.contains("dnsA") || text.contains("SocketAddressError") || text.contains("unknown host") {
            return .dns
        }
        if text.contains("refused") || text.contains("ECONNREFUSED") || text.contains("errno: 111") {
            return .connectionRefused
        }
        if text.contains("reset") || text.contains("ECONNRESET") { return .connectionReset }
        return .transport
    }
}

/// Lago's 2xx answer to a batch: its status and the rate-limit headers it carried.
public struct BatchAnswer: Sendable, Hashable {
    /// The HTTP status (2xx).
    public var status: Int
    /// `X-RateLimit-Limit`, `-Remaining`, `-Reset` (and `Retry-After`) as the answer gave them.
    public var rateLimit: RateLimitHeaders

    /// Creates an answer.
    public init(status: Int, rateLimit: RateLimitHeaders) {
        self.status = status
        self.rateLimit = rateLimit
    }
}

/// Runs `body` with a client that is shut down when `body` returns or throws.
public func withLagoClient<Result: Sendable>(
    configuration: LagoClientConfiguration, logger: Logger = Logger(label: "lago-console.api"),
    _ body: (LagoClient) async throws -> Result
) async throws -> Result {
    let client = LagoClient(configuration: configuration, logger: logger)
    do {
        let result = try await body(client)
        try await client.shutdown()
        return result
    } catch {
        try? await client.shutdown()
        throw error
    }
}
