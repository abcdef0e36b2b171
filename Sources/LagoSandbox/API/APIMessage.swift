import Foundation
import LagoAPI

/// A request as the Lago routes see it: method, raw and decoded path, decoded query, selected headers and body.
struct APIRequest: Sendable {
    var method: String
    /// The path as sent (percent-encoded).
    var path: String
    /// Path segments, percent-decoded.
    var segments: [String]
    /// Query parameters in order, percent-decoded (`+` is a space).
    var query: [(name: String, value: String)]
    var authorization: String?
    var contentType: String?
    var body: [UInt8]
    /// The peer is on the loopback interface.
    var fromLoopback: Bool

    init(
        method: String,
        rawPath: String,
        rawQuery: String?,
        authorization: String?,
        contentType: String?,
        body: [UInt8],
        fromLoopback: Bool
    ) {
        self.method = method
        self.path = rawPath
        var segments = rawPath.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map {
            Self.percentDecode(Substring($0), plusIsSpace: false)
        }
        if segments.last == "" { segments.removeLast() }  // Rails ignores one trailing slash
        self.segments = segments
        self.query =
            rawQuery.map { raw in
                raw.split(separator: "&").compactMap { pair -> (name: String, value: String)? in
                    guard !pair.isEmpty else { return nil }
                    let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                    let name = Self.percentDecode(parts[0], plusIsSpace: true)
                    let value = parts.count > 1 ? Self.percentDecode(parts[1], plusIsSpace: true) : ""
                    return (name, value)
                }
            } ?? []
        self.authorization = authorization
        self.contentType = contentType
        self.body = body
        self.fromLoopback = fromLoopback
    }

    /// The last value of a query parameter (Rails keeps the last), or nil.
    func queryValue(_ name: String) -> String? {
        query.last { $0.name == name }?.value
    }

    /// Every value of an array parameter (`status[]=a&status[]=b`), or the plain value (`status=a`).
    func queryValues(_ name: String) -> [String]? {
        let values = query.filter { $0.name == name + "[]" }.map(\.value)
        if !values.isEmpty { return values }
        return queryValue(name).map { [$0] }
    }

    static func percentDecode(_ text: Substring, plusIsSpace: Bool) -> String {
        guard text.contains("%") || (plusIsSpace && text.contains("+")) else { return String(text) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = Array(text.utf8)[...]
        while let byte = iterator.popFirst() {
            if byte == UInt8(ascii: "%"), iterator.count >= 2,
                let high = hexValue(iterator[iterator.startIndex]),
                let low = hexValue(iterator[iterator.startIndex + 1])
            {
                bytes.append(high << 4 | low)
                iterator.removeFirst(2)
            } else if plusIsSpace, byte == UInt8(ascii: "+") {
                bytes.append(0x20)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// Rails parses the body as JSON only for `application/json` (and its registered synonyms).
    var hasJSONContentType: Bool {
        guard let contentType else { return false }
        let mediaType = contentType.split(separator: ";", maxSplits: 1).first.map {
            $0.trimmingCharacters(in: .whitespaces).lowercased()
        }
        return mediaType == "application/json" || mediaType == "text/x-json" || mediaType == "application/jsonrequest"
    }
}

/// An answer of the Lago routes.
struct APIResponse: Sendable {
    var status: Int
    var body: JSONOutput
    var headers: [(name: String, value: String)] = []

    static func ok(_ body: JSONOutput) -> APIResponse {
        APIResponse(status: 200, body: body)
    }

    /// `{"status":401,"error":"Unauthorized"}`
    static let unauthorized = APIResponse(
        status: 401,
        body: .object([("status", .integer(401)), ("error", .string("Unauthorized"))])
    )

    /// `{"status":404,"error":"Not Found","code":"<resource>_not_found"}`
    static func notFound(_ code: String) -> APIResponse {
        APIResponse(
            status: 404,
            body: .object([("status", .integer(404)), ("error", .string("Not Found")), ("code", .string(code))])
        )
    }

    /// `{"status":405,"error":"Method Not Allowed","code":"…"}`
    static func methodNotAllowed(_ code: String) -> APIResponse {
        APIResponse(
            status: 405,
            body: .object([
                ("status", .integer(405)), ("error", .string("Method Not Allowed")), ("code", .string(code)),
            ])
        )
    }

    /// Rails' `ParameterMissing`:
    /// `{"status":400,"error":"BadRequest: param is missing or the value is empty or invalid: event"}`
    static func parameterMissing(_ name: String) -> APIResponse {
        APIResponse(
            status: 400,
            body: .object([
                ("status", .integer(400)),
                ("error", .string("BadRequest: param is missing or the value is empty or invalid: \(name)")),
            ])
        )
    }

    /// Malformed JSON: `{"status":400,"error":"Bad Request"}`
    static let malformedJSON = status(400)

    /// `{"status":422,"error":"Unprocessable Entity","code":"validation_errors","error_details":…}`
    static func validationErrors(_ details: JSONOutput) -> APIResponse {
        APIResponse(
            status: 422,
            body: .object([
                ("status", .integer(422)), ("error", .string("Unprocessable Entity")),
                ("code", .string("validation_errors")), ("error_details", details),
            ])
        )
    }

    /// `{"field":["code"]}` as a 422.
    static func validationError(field: String, code: String) -> APIResponse {
        validationErrors(.object([(field, .array([.string(code)]))]))
    }

    /// `{"status":N,"error":"<reason phrase>"}` (500, 503, 429, 400, …).
    static func status(_ status: Int) -> APIResponse {
        APIResponse(
            status: status,
            body: .object([("status", .integer(Int64(status))), ("error", .string(reasonPhrase(status)))])
        )
    }

    /// 429 with the rate-limit headers of Lago Cloud and `Retry-After`.
    static func tooManyRequests(retryAfter: Int, limit: Int) -> APIResponse {
        var response = status(429)
        response.headers = [
            ("Retry-After", String(retryAfter)),
            ("X-RateLimit-Limit", String(limit)),
            ("X-RateLimit-Remaining", "0"),
            ("X-RateLimit-Reset", String(retryAfter)),
        ]
        return response
    }

    static func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 402: "Payment Required"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 408: "Request Timeout"
        case 409: "Conflict"
        case 413: "Payload Too Large"
        case 422: "Unprocessable Entity"
        case 429: "Too Many Requests"
        case 500: "Internal Server Error"
        case 501: "Not Implemented"
        case 502: "Bad Gateway"
        case 503: "Service Unavailable"
        case 504: "Gateway Timeout"
        default: status >= 500 ? "Internal Server Error" : "Error"
        }
    }
}
