/// An answer of Lago's API as Rails writes it: status, JSON body (keys in Lago's order) and extra headers.
///
/// The constructors are Lago's error shapes; the sandbox's routes and ``LagoEventIngress`` answer with them.
public struct APIResponse: Sendable {
    /// The HTTP status.
    public var status: Int
    /// The body.
    public var body: JSONOutput
    /// Headers besides `Content-Type` (e.g. `Retry-After`).
    public var headers: [(name: String, value: String)] = []
    /// A body that is not JSON (Lago's `text/plain` public key), sent in place of ``body``; give its
    /// `Content-Type` in ``headers``.
    public var rawBody: [UInt8]? = nil

    /// Creates an answer.
    public init(status: Int, body: JSONOutput, headers: [(name: String, value: String)] = []) {
        self.status = status
        self.body = body
        self.headers = headers
    }

    /// `200` with `body`.
    public static func ok(_ body: JSONOutput) -> APIResponse {
        APIResponse(status: 200, body: body)
    }

    /// `{"status":401,"error":"Unauthorized"}`
    public static let unauthorized = APIResponse(
        status: 401,
        body: .object([("status", .integer(401)), ("error", .string("Unauthorized"))])
    )

    /// `{"status":404,"error":"Not Found","code":"<resource>_not_found"}`
    public static func notFound(_ code: String) -> APIResponse {
        APIResponse(
            status: 404,
            body: .object([("status", .integer(404)), ("error", .string("Not Found")), ("code", .string(code))])
        )
    }

    /// `{"status":405,"error":"Method Not Allowed","code":"…"}`
    public static func methodNotAllowed(_ code: String) -> APIResponse {
        APIResponse(
            status: 405,
            body: .object([
                ("status", .integer(405)), ("error", .string("Method Not Allowed")), ("code", .string(code)),
            ])
        )
    }

    /// Rails' `ParameterMissing`:
    /// `{"status":400,"error":"BadRequest: param is missing or the value is empty or invalid: event"}`
    public static func parameterMissing(_ name: String) -> APIResponse {
        APIResponse(
            status: 400,
            body: .object([
                ("status", .integer(400)),
                ("error", .string("BadRequest: param is missing or the value is empty or invalid: \(name)")),
            ])
        )
    }

    /// Malformed JSON: `{"status":400,"error":"Bad Request"}`
    public static let malformedJSON = status(400)

    /// `{"status":422,"error":"Unprocessable Entity","code":"validation_errors","error_details":…}`
    public static func validationErrors(_ details: JSONOutput) -> APIResponse {
        APIResponse(
            status: 422,
            body: .object([
                ("status", .integer(422)), ("error", .string("Unprocessable Entity")),
                ("code", .string("validation_errors")), ("error_details", details),
            ])
        )
    }

    /// `{"field":["code"]}` as a 422.
    public static func validationError(field: String, code: String) -> APIResponse {
        validationErrors(.object([(field, .array([.string(code)]))]))
    }

    /// `{"status":N,"error":"<reason phrase>"}` (500, 503, 429, 400, …).
    public static func status(_ status: Int) -> APIResponse {
        APIResponse(
            status: status,
            body: .object([("status", .integer(Int64(status))), ("error", .string(reasonPhrase(status)))])
        )
    }

    /// 429 with the rate-limit headers of Lago Cloud and `Retry-After`.
    public static func tooManyRequests(retryAfter: Int, limit: Int) -> APIResponse {
        var response = status(429)
        response.headers = [
            ("Retry-After", String(retryAfter)),
            ("X-RateLimit-Limit", String(limit)),
            ("X-RateLimit-Remaining", "0"),
            ("X-RateLimit-Reset", String(retryAfter)),
        ]
        return response
    }

    /// The reason phrase Rails writes for a status (`Unprocessable Entity`), `Error` for an unknown one below 500.
    public static func reasonPhrase(_ status: Int) -> String {
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
