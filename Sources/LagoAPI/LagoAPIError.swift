public import Foundation

/// Rate-limit and retry hints a Lago response carried.
public struct RateLimitHeaders: Sendable, Hashable {
    /// `Retry-After`, in seconds (an HTTP date is converted to seconds from now).
    public var retryAfter: Double?
    /// `X-RateLimit-Limit`.
    public var limit: Int?
    /// `X-RateLimit-Remaining`.
    public var remaining: Int?
    /// `X-RateLimit-Reset`: seconds until the window resets.
    public var reset: Double?

    /// Creates a set of rate-limit hints.
    public init(retryAfter: Double? = nil, limit: Int? = nil, remaining: Int? = nil, reset: Double? = nil) {
        self.retryAfter = retryAfter
        self.limit = limit
        self.remaining = remaining
        self.reset = reset
    }

    /// The delay the server asks for: `Retry-After`, else `X-RateLimit-Reset`, else `nil`.
    public var suggestedDelay: Duration? {
        guard let seconds = retryAfter ?? reset, seconds.isFinite, seconds >= 0 else { return nil }
        return .milliseconds(Int64((seconds * 1000).rounded(.up)))
    }

    /// Reads the hints from response headers (names are case-insensitive).
    public init(headers: [(name: String, value: String)], now: Date = Date()) {
        func value(_ name: String) -> String? {
            headers.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
                .trimmingCharacters(in: .whitespaces)
        }
        if let text = value("Retry-After") {
            if let seconds = Double(text) {
                retryAfter = seconds
            } else if let date = RateLimitHeaders.httpDate(text) {
                retryAfter = max(0, date.timeIntervalSince(now))
            }
        }
        limit = value("X-RateLimit-Limit").flatMap { Int($0) }
        remaining = value("X-RateLimit-Remaining").flatMap { Int($0) }
        reset = value("X-RateLimit-Reset").flatMap { Double($0) }
    }

    private static func httpDate(_ text: String) -> Date? {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        return formatter.date(from: text)
    }
}

/// The request that failed, for error messages (never includes the API key).
public struct LagoRequestSummary: Sendable, Hashable, CustomStringConvertible {
    /// `GET`, `POST`, …
    public var method: String
    /// The path below the API root, e.g. `/events/batch`.
    public var path: String

    /// Creates a request summary.
    public init(method: String, path: String) {
        self.method = method
        self.path = path
    }

    public var description: String { "\(method) \(path)" }
}

/// How the delivery engine must treat an outcome.
public enum DeliveryDisposition: Sendable, Hashable {
    /// Lago stored the events.
    case delivered
    /// Try the same request again later; the server may suggest when.
    case retryLater(suggestedDelay: Duration?)
    /// Lago refused these events, by 0-based index in the request, with its reason (`error_details` entry).
    /// Lago stored nothing of the batch: the indices not listed are fine and may be sent again.
    case rejected([Int: JSONValue])
    /// Stop sending until the key changes or a probe gets through (401, 403).
    case hold
    /// The URL does not lead to Lago's events route (404): stop sending until the URL changes or a probe gets
    /// through. Not an authentication problem.
    case holdWrongURL
    /// The request body is too large for the server or a proxy in front of it (413): send fewer events per
    /// request; a single event this large can never be delivered.
    case tooLarge
    /// The request itself was wrong and retrying it unchanged cannot help (Lago's own 400, `no_events`,
    /// `too_many_events`).
    case callerBug
}

/// An error from the Lago API or from reaching it.
///
/// Modelled on async-http-client's `HTTPClientError`: a struct over a private enum, compared through the
/// static ``Kind`` constants, so new kinds can be added without breaking callers.
public struct LagoAPIError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The kind of failure.
    public struct Kind: Sendable, Hashable, CustomStringConvertible {
        enum Base: String, Sendable, Hashable {
            case http, connectionRefused, timeout, connectionReset, tls, dns, transport, invalidRequest, decoding
            case insecureURL, invalidURL
        }
        let base: Base

        /// Lago answered with a non-2xx status; see `status`, `code`, `errorDetails`.
        public static let http = Kind(base: .http)
        /// Nothing listens at the address.
        public static let connectionRefused = Kind(base: .connectionRefused)
        /// Connect, read or overall request deadline exceeded.
        public static let timeout = Kind(base: .timeout)
        /// The connection was closed or reset before a whole response arrived.
        public static let connectionReset = Kind(base: .connectionReset)
        /// TLS handshake or certificate failure.
        public static let tls = Kind(base: .tls)
        /// The host name did not resolve.
        public static let dns = Kind(base: .dns)
        /// Any other transport failure.
        public static let transport = Kind(base: .transport)
        /// The request was refused locally and never sent (e.g. more than 100 events in a batch).
        public static let invalidRequest = Kind(base: .invalidRequest)
        /// Lago answered 2xx with a body that is not what the API documents.
        public static let decoding = Kind(base: .decoding)
        /// Plain `http://` to a host that is not loopback, without explicit permission.
        public static let insecureURL = Kind(base: .insecureURL)
        /// The base URL is not a usable http(s) URL.
        public static let invalidURL = Kind(base: .invalidURL)

        public var description: String { base.rawValue }
    }

    /// The kind of failure.
    public let kind: Kind
    /// The HTTP status, when Lago answered.
    public let status: Int?
    /// Lago's `code` (e.g. `validation_errors`, `event_not_found`), when present.
    public let code: String?
    /// Lago's `error` (e.g. `Unprocessable Entity`), when present.
    public let error: String?
    /// Lago's `error_details`, any JSON: field-keyed, index-keyed (batches) or a plain string.
    public let errorDetails: JSONValue?
    /// Rate-limit and retry hints from the response headers.
    public let rateLimit: RateLimitHeaders
    /// The request that failed.
    public let request: LagoRequestSummary?
    /// The raw response body when it was not Lago's JSON envelope (truncated to 2 KiB).
    public let rawBody: String?
    /// A human-readable detail for non-HTTP failures.
    public let detail: String?
    /// The body was Lago's JSON error envelope (`{"status":<the HTTP status>,"error":…}`), so Lago itself
    /// answered; otherwise something in front of it did (a proxy's HTML page, a gateway's own JSON).
    public let fromLago: Bool

    init(
        kind: Kind, status: Int? = nil, code: String? = nil, error: String? = nil, errorDetails: JSONValue? = nil,
        rateLimit: RateLimitHeaders = RateLimitHeaders(), request: LagoRequestSummary? = nil,
        rawBody: String? = nil, detail: String? = nil, fromLago: Bool = false
    ) {
        self.fromLago = fromLago
        self.kind = kind
        self.status = status
        self.code = code
        self.error = error
        self.errorDetails = errorDetails
        self.rateLimit = rateLimit
        self.request = request
        self.rawBody = rawBody
        self.detail = detail
    }

    /// Builds the error for a non-2xx response, decoding Lago's envelope
    /// `{"status", "error", "code", "error_details"}` when the body is one.
    public static func httpResponse(
        status: Int, body: Data, headers: [(name: String, value: String)], request: LagoRequestSummary?
    ) -> LagoAPIError {
        let rateLimit = RateLimitHeaders(headers: headers)
        if let envelope = try? JSONValue.parse(body), case .object(let fields) = envelope {
            let fromLago = fields["status"] == .integer(Int64(status)) && fields["error"]?.stringValue != nil
            return LagoAPIError(
                kind: .http, status: status, code: fields["code"]?.stringValue, error: fields["error"]?.stringValue,
                errorDetails: fields["error_details"].flatMap { $0 == .null ? nil : $0 }, rateLimit: rateLimit,
                request: request, rawBody: fromLago ? nil : String(decoding: body.prefix(2048), as: UTF8.self),
                fromLago: fromLago)
        }
        let text = String(decoding: body.prefix(2048), as: UTF8.self)
        return LagoAPIError(
            kind: .http, status: status, rateLimit: rateLimit, request: request, rawBody: text.isEmpty ? nil : text)
    }

    /// A locally refused request.
    public static func invalidRequest(_ detail: String, request: LagoRequestSummary? = nil) -> LagoAPIError {
        LagoAPIError(kind: .invalidRequest, request: request, detail: detail)
    }

    /// A transport-level failure.
    public static func transport(_ kind: Kind, detail: String, request: LagoRequestSummary?) -> LagoAPIError {
        LagoAPIError(kind: kind, request: request, detail: detail)
    }

    /// A 2xx body that could not be decoded.
    public static func decoding(_ detail: String, status: Int, body: Data, request: LagoRequestSummary?) -> LagoAPIError {
        LagoAPIError(
            kind: .decoding, status: status, request: request,
            rawBody: String(decoding: body.prefix(2048), as: UTF8.self), detail: detail)
    }

    /// A URL error.
    static func url(_ kind: Kind, _ detail: String) -> LagoAPIError {
        LagoAPIError(kind: kind, detail: detail)
    }

    /// True when Lago's `error_details` say a `transaction_id` already exists (for a single event), or for
    /// every listed index of a batch.
    public var isDuplicateTransaction: Bool {
        guard status == 422, let details = errorDetails?.objectValue, !details.isEmpty else { return false }
        if let reasons = details["transaction_id"]?.arrayValue {
            return reasons.contains(.string("value_already_exist"))
        }
        return details.values.allSatisfy { LagoAPIError.isDuplicateReason($0) }
    }

    /// Lago's per-event reason for a `transaction_id` it holds already (one value of a batch's index-keyed
    /// `error_details`): `{"transaction_id":["value_already_exist"]}`.
    public static let duplicateReason: JSONValue = .object(["transaction_id": .array([.string("value_already_exist")])])

    /// True when a per-event reason (one value of a batch's index-keyed `error_details`) says
    /// `transaction_id: value_already_exist` and nothing else.
    public static func isDuplicateReason(_ reason: JSONValue) -> Bool { reason == duplicateReason }

    /// How the engine must treat this error for a request that carried `eventCount` events
    /// (1 for `POST /events`).
    ///
    /// - 408, 425, 429, 5xx and transport failures: retry later, with the server's suggested delay.
    /// - 422 with index-keyed `error_details` (batch) or field-keyed/string details (single event): rejected,
    ///   per index with Lago's reason; `no_events`/`too_many_events` and details naming no event: caller bug.
    /// - 401, 403, and 404 `resource_not_found` (the URL is not a Lago API): hold.
    /// - Other 4xx: caller bug. Local refusals (`invalidRequest`): caller bug. URL errors: hold.
    public func disposition(eventCount: Int) -> DeliveryDisposition {
        switch kind.base {
        case .connectionRefused, .timeout, .connectionReset, .tls, .dns, .transport:
            return .retryLater(suggestedDelay: nil)
        case .invalidRequest:
            return .callerBug
        case .insecureURL, .invalidURL:
            return .hold
        case .decoding:
            // Lago answered 2xx: the events are stored even though the body was odd.
            return .delivered
        case .http:
            break
        }
        let status = self.status ?? 0
        switch status {
        case 401, 403:
            return .hold
        case 404 where code == "resource_not_found" || code == nil:
            return .holdWrongURL
        case 408, 425, 429, 500...599:
            return .retryLater(suggestedDelay: rateLimit.suggestedDelay)
        case 413:
            return .tooLarge
        case 400 where !fromLago:
            // Not Lago's words: a proxy or gateway in front of it failed on its own; the events are fine.
            return .retryLater(suggestedDelay: rateLimit.suggestedDelay)
        case 422:
            return rejection(eventCount: eventCount)
        default:
            return .callerBug
        }
    }

    private func rejection(eventCount: Int) -> DeliveryDisposition {
        guard let details = errorDetails else { return .callerBug }
        if case .string = details {
            // Single event, e.g. "expression_evaluation_failed: …".
            return eventCount == 1 ? .rejected([0: details]) : .callerBug
        }
        guard let fields = details.objectValue, !fields.isEmpty else { return .callerBug }
        if fields["events"] != nil {
            return .callerBug  // no_events / too_many_events: the batch itself is wrong.
        }
        var byIndex: [Int: JSONValue] = [:]
        for (key, reason) in fields {
            guard let index = Int(key), index >= 0, index < eventCount else {
                // Field-keyed details: the single event of a `POST /events`.
                return eventCount == 1 ? .rejected([0: details]) : .callerBug
            }
            byIndex[index] = reason
        }
        return .rejected(byIndex)
    }

    /// One line for the operator: Lago's own words first.
    public var description: String {
        var parts: [String] = []
        if let request { parts.append(request.description) }
        switch kind.base {
        case .http:
            var line = "HTTP \(status ?? 0)"
            if let error { line += " \(error)" }
            if let code { line += " (\(code))" }
            parts.append(line)
            if let errorDetails { parts.append(errorDetails.stringValue ?? errorDetails.jsonText) }
            if let rawBody, code == nil, error == nil { parts.append(rawBody) }
            if let delay = rateLimit.suggestedDelay { parts.append("retry after \(delay)") }
        case .connectionRefused, .timeout, .connectionReset, .tls, .dns, .transport:
            // The client words transport failures itself (``LagoClient``): the detail is the message.
            parts.append(detail ?? "\(kind)")
        default:
            parts.append("\(kind): \(detail ?? "")")
        }
        return parts.joined(separator: ": ")
    }
}
