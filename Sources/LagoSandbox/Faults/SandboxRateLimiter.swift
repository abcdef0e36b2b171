/// A rate limiter like Lago Cloud's: one budget per organization (every API key of the sandbox shares it), counted
/// in fixed 1-second windows; every answer to a matching request carries `X-RateLimit-Limit`,
/// `X-RateLimit-Remaining` and `X-RateLimit-Reset` (whole seconds until the window resets, rounded up), and a
/// request beyond the budget is answered 429 without being processed (Lago Cloud sends no `Retry-After`).
struct SandboxRateLimiter: Sendable, Hashable {
    typealias Instant = ContinuousClock.Instant

    /// Requests per window.
    let limit: Int
    /// Requests whose path starts with this are counted (`nil`: every request).
    let pathPrefix: String?
    /// The first window's start; windows follow one another every second from it.
    private let origin: Instant
    private var window = 0
    private var counted = 0

    init(limit: Int, pathPrefix: String?, now: Instant) {
        self.limit = max(1, limit)
        self.pathPrefix = pathPrefix
        self.origin = now
    }

    /// What the limiter answers one request.
    struct Verdict: Sendable, Hashable {
        /// The request is within the budget (processed) or beyond it (429).
        var admitted: Bool
        /// The rate-limit headers of the answer.
        var headers: [(name: String, value: String)]

        static func == (lhs: Verdict, rhs: Verdict) -> Bool {
            lhs.admitted == rhs.admitted && lhs.headers.map(\.name) == rhs.headers.map(\.name)
                && lhs.headers.map(\.value) == rhs.headers.map(\.value)
        }

        func hash(into hasher: inout Hasher) {
            hasher.combine(admitted)
            for header in headers {
                hasher.combine(header.name)
                hasher.combine(header.value)
            }
        }
    }

    /// Counts a request arriving `now` (a refused one counts too, as Lago Cloud's limiter counts every request).
    mutating func admit(now: Instant) -> Verdict {
        let elapsed = max(.zero, now - origin)
        let index = Int(elapsed / .seconds(1))
        if index != window {
            window = index
            counted = 0
        }
        counted += 1
        let admitted = counted <= limit
        let windowEnd = origin + .seconds(index + 1)
        let reset = Int(((windowEnd - now) / .seconds(1)).rounded(.up))
        return Verdict(
            admitted: admitted,
            headers: [
                ("X-RateLimit-Limit", String(limit)),
                ("X-RateLimit-Remaining", String(max(0, limit - counted))),
                ("X-RateLimit-Reset", String(max(1, reset))),
            ])
    }
}
