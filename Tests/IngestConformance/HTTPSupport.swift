import AsyncHTTPClient
public import Foundation
public import LagoAPI
import NIOCore

// HTTP helpers shared by the sandbox's and the relay's tests (moved here from LagoSandboxTests/Support.swift).

/// 2026-01-15T10:00:00Z, the injected "now" of most tests.
public let fixedNow = Date(timeIntervalSince1970: 1_768_471_200)

/// The API key test clients present (the sandbox accepts it; the relay under test is configured with it as token).
public let testAPIKey = "test-key-0001"

/// An HTTP answer as a test sees it.
public struct TestResponse: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(name: String, value: String)], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public var text: String { String(decoding: body, as: UTF8.self) }

    /// The body parsed as JSON (a `"<not JSON: …>"` string when it is not JSON, which the assertions then show).
    public var json: JSONValue {
        (try? JSONValue.parse(Data(body))) ?? .string("<not JSON: \(text)>")
    }

    /// The first value of a response header (case-insensitive name).
    public func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }
}

/// A small HTTP client over AsyncHTTPClient for Lago's routes; paths are absolute (`/api/v1/events`).
public struct TestClient: Sendable {
    /// The origin, without `/api/v1`.
    public let root: URL
    public let apiKey: String

    public init(root: URL, apiKey: String) {
        self.root = root
        self.apiKey = apiKey
    }

    /// The `Authorization` header a request carries.
    public enum Auth: Sendable {
        /// `Bearer <apiKey>`.
        case key
        /// No header.
        case none
        /// This exact header value.
        case header(String)
    }

    /// Sends a request; `raw` is sent as is, `json` is encoded with `JSONEncoder`.
    public func send(
        _ method: String,
        _ path: String,
        raw: String? = nil,
        json: JSONValue? = nil,
        contentType: String? = "application/json",
        auth: Auth = .key
    ) async throws -> TestResponse {
        var request = HTTPClientRequest(url: root.absoluteString + path)
        request.method = .init(rawValue: method)
        switch auth {
        case .key: request.headers.add(name: "Authorization", value: "Bearer \(apiKey)")
        case .none: break
        case .header(let value): request.headers.add(name: "Authorization", value: value)
        }
        var bodyText = raw
        if let json {
            bodyText = String(decoding: try JSONEncoder().encode(json), as: UTF8.self)
        }
        if let bodyText {
            if let contentType { request.headers.add(name: "Content-Type", value: contentType) }
            request.body = .bytes(ByteBuffer(string: bodyText))
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 64 << 20)
        return TestResponse(
            status: Int(response.status.code),
            headers: response.headers.map { ($0.name, $0.value) },
            body: Array(body.readableBytesView)
        )
    }

    public func get(_ path: String, auth: Auth = .key) async throws -> TestResponse {
        try await send("GET", path, auth: auth)
    }

    public func post(
        _ path: String,
        _ raw: String,
        contentType: String? = "application/json",
        auth: Auth = .key
    ) async throws -> TestResponse {
        try await send("POST", path, raw: raw, contentType: contentType, auth: auth)
    }

    public func post(_ path: String, json: JSONValue, auth: Auth = .key) async throws -> TestResponse {
        try await send("POST", path, json: json, auth: auth)
    }
}

/// `{"status":422,"error":"Unprocessable Entity","code":"validation_errors","error_details":…}`
public func validationErrors(_ details: JSONValue) -> JSONValue {
    ["status": 422, "error": "Unprocessable Entity", "code": "validation_errors", "error_details": details]
}

/// An event body as Lago returns it; `lagoID` is taken from the actual answer (the sandbox generates it).
public func expectedEvent(
    lagoID: JSONValue,
    transactionID: String,
    code: String,
    timestamp: String,
    subscription: JSONValue = "sub_sandbox",
    precise: JSONValue = nil,
    properties: JSONValue = [:],
    createdAt: JSONValue = "2026-01-15T10:00:00Z"
) -> JSONValue {
    [
        "lago_id": lagoID, "transaction_id": .string(transactionID), "lago_customer_id": nil, "code": .string(code),
        "timestamp": .string(timestamp), "precise_total_amount_cents": precise, "properties": properties,
        "lago_subscription_id": nil, "external_subscription_id": subscription, "created_at": createdAt,
    ]
}

/// True for a lowercase UUID string.
public func isUUID(_ value: JSONValue?) -> Bool {
    guard let text = value?.stringValue, UUID(uuidString: text) != nil else { return false }
    return text == text.lowercased()
}
