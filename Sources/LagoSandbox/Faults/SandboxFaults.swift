import Foundation
import LagoAPI
import Synchronization

/// How an outage shows itself to clients.
public enum SandboxOutageMode: String, Sendable, Hashable, Codable {
    /// New connections are accepted and closed at once, and requests on open connections get no answer (the
    /// connection is closed): what a client sees when the server is down.
    case refuse
    /// Every request is answered `503 {"status":503,"error":"Service Unavailable"}`.
    case status503 = "status_503"
}

/// How an acknowledgement is lost after the sandbox has stored the request's events.
public enum SandboxAckLossMode: String, Sendable, Hashable, Codable {
    /// Answer `503 {"status":503,"error":"Service Unavailable"}` instead of the real response.
    case status503 = "status_503"
    /// Close the connection without any response.
    case dropConnection = "drop_connection"
}

/// Fault injection for a running sandbox: set from Swift (`sandbox.faults.failNext(…)`), from CLI flags at start,
/// or at runtime over the admin API (`POST /_sandbox/faults`).
///
/// Faults apply to every request except the admin API (`/_sandbox/…`). For each request they are checked in this
/// order, and the first that fires decides: outage, rate limit, the rate limiter's budget, fail-next, fail-fraction;
/// then the request is served, and ack loss or reset-mid-response may spoil the answer. The configured latency
/// holds every answer back until that long after its request arrived (a request is served on arrival). Every answer
/// to a request the rate limiter counts carries its three headers. Counters (`next: n`) count only the requests they
/// match. All methods are thread-safe and take effect for the next request.
public final class SandboxFaults: Sendable {
    private let state = Mutex(FaultState())
    private let now: @Sendable () -> ContinuousClock.Instant

    init(now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now }) {
        self.now = now
    }

    /// Fails the next `count` matching requests with `status` and Lago's error body for it (`500` →
    /// `{"status":500,"error":"Internal Server Error"}`; `429` also sends the rate-limit headers). The request is not
    /// processed. `pathPrefix` limits the fault to paths starting with it (e.g. `/api/v1/events`).
    public func failNext(_ count: Int, status: Int = 500, pathPrefix: String? = nil) {
        state.withLock {
            $0.failNext = count > 0 ? .init(remaining: count, status: status, pathPrefix: pathPrefix) : nil
        }
    }

    /// Fails the next `count` matching requests as a proxy or load balancer in front of Lago does: `status` with an
    /// HTML page (`text/html`, nginx's wording), not Lago's JSON error envelope. The request never reaches Lago.
    public func proxyFailNext(_ count: Int, status: Int, pathPrefix: String? = nil) {
        state.withLock {
            $0.failNext =
                count > 0 ? .init(remaining: count, status: status, pathPrefix: pathPrefix, fromProxy: true) : nil
        }
    }

    /// Fails each matching request with probability `probability` (0…1) and `status`, drawing from a generator
    /// seeded with `seed`, so a run is repeatable. `probability` 0 turns it off.
    public func failFraction(_ probability: Double, status: Int = 500, seed: UInt64 = 0, pathPrefix: String? = nil) {
        state.withLock {
            $0.failFraction =
                probability > 0
                ? .init(
                    probability: min(probability, 1),
                    status: status,
                    pathPrefix: pathPrefix,
                    rng: SplitMix64(seed: seed)
                )
                : nil
        }
    }

    /// Starts an outage lasting `duration` from now (see ``SandboxOutageMode``). A zero duration ends it.
    public func outage(for duration: Duration, mode: SandboxOutageMode = .status503) {
        let until = now() + duration
        state.withLock { $0.outage = duration > .zero ? .init(until: until, mode: mode) : nil }
    }

    /// Answers the next `count` matching requests `429 {"status":429,"error":"Too Many Requests"}` with
    /// `Retry-After: retryAfter`, `X-RateLimit-Limit: limit`, `X-RateLimit-Remaining: 0` and
    /// `X-RateLimit-Reset: retryAfter` (seconds). The request is not processed.
    public func rateLimit(next count: Int, retryAfter: Int = 1, limit: Int = 100, pathPrefix: String? = nil) {
        state.withLock {
            $0.rateLimit =
                count > 0 ? .init(remaining: count, retryAfter: retryAfter, limit: limit, pathPrefix: pathPrefix) : nil
        }
    }

    /// Delays every answer to `delay` after its request arrived (`.zero` turns it off), plus a random extra in
    /// `0...jitter` drawn from a generator seeded with `seed` (so a run is repeatable). The request is served on
    /// arrival: the time the sandbox takes to serve it is part of the delay, not added to it (unless it is longer).
    public func latency(_ delay: Duration, jitter: Duration = .zero, seed: UInt64 = 0) {
        state.withLock {
            $0.latency = delay > .zero ? delay : nil
            $0.latencyJitter = jitter > .zero ? jitter : nil
            $0.jitterRandom = SplitMix64(seed: seed)
        }
    }

    /// Limits matching requests to `requestsPerSecond` per 1-second window for the whole sandbox (one organization:
    /// every API key shares the budget), as Lago Cloud does (500/s for event ingestion): every answer carries
    /// `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset`, and a request beyond the budget is
    /// answered `429 {"status":429,"error":"Too Many Requests"}` unprocessed. `nil` or 0 turns it off. By default
    /// only event ingestion (`/api/v1/events`) is limited.
    public func rateLimiter(requestsPerSecond: Int?, pathPrefix: String? = "/api/v1/events") {
        let instant = now()
        state.withLock {
            $0.rateLimiter =
                (requestsPerSecond ?? 0) > 0
                ? SandboxRateLimiter(limit: requestsPerSecond!, pathPrefix: pathPrefix, now: instant) : nil
        }
    }

    /// Processes the next `count` matching requests normally (events are stored), then loses the answer as `mode`
    /// says. By default only `POST` requests under `/api/v1/events` match (event ingestion); pass another
    /// `pathPrefix` or `nil` for any POST.
    public func ackLoss(next count: Int, mode: SandboxAckLossMode = .status503, pathPrefix: String? = "/api/v1/events")
    {
        state.withLock {
            $0.ackLoss = count > 0 ? .init(remaining: count, mode: mode, pathPrefix: pathPrefix) : nil
        }
    }

    /// Processes the next `count` matching requests normally, then sends the status line, the headers (with the
    /// full `Content-Length`) and only the first half of the body before closing the connection.
    public func resetMidResponse(next count: Int, pathPrefix: String? = nil) {
        state.withLock {
            $0.resetMidResponse = count > 0 ? .init(remaining: count, pathPrefix: pathPrefix) : nil
        }
    }

    /// Removes every fault.
    public func clear() {
        state.withLock { $0 = FaultState() }
    }

    /// What is configured now.
    public var snapshot: SandboxFaultSnapshot {
        let instant = now()
        return state.withLock { state in
            SandboxFaultSnapshot(
                failNext: state.failNext.map {
                    .init(remaining: $0.remaining, status: $0.status, pathPrefix: $0.pathPrefix)
                },
                failFraction: state.failFraction.map {
                    .init(probability: $0.probability, status: $0.status, pathPrefix: $0.pathPrefix)
                },
                outage: state.outage.flatMap { outage in
                    outage.until > instant
                        ? .init(
                            mode: outage.mode,
                            remainingMilliseconds: Self.milliseconds(instant.duration(to: outage.until))
                        )
                        : nil
                },
                rateLimit: state.rateLimit.map {
                    .init(
                        remaining: $0.remaining,
                        retryAfter: $0.retryAfter,
                        limit: $0.limit,
                        pathPrefix: $0.pathPrefix
                    )
                },
                latencyMilliseconds: state.latency.map(Self.milliseconds) ?? 0,
                latencyJitterMilliseconds: state.latencyJitter.map(Self.milliseconds) ?? 0,
                rateLimiter: state.rateLimiter.map { .init(requestsPerSecond: $0.limit, pathPrefix: $0.pathPrefix) },
                ackLoss: state.ackLoss.map { .init(remaining: $0.remaining, mode: $0.mode, pathPrefix: $0.pathPrefix) },
                resetMidResponse: state.resetMidResponse.map {
                    .init(remaining: $0.remaining, pathPrefix: $0.pathPrefix)
                }
            )
        }
    }

    static func milliseconds(_ duration: Duration) -> Int {
        Int(duration / .milliseconds(1))
    }

    // MARK: - Decisions

    /// Whether a new connection should be closed at once (an outage in `.refuse` mode).
    var refusesConnections: Bool {
        let instant = now()
        return state.withLock { state in
            guard let outage = state.outage, outage.until > instant else { return false }
            return outage.mode == .refuse
        }
    }

    /// What happens to one request; consumes the counters of the faults that fire.
    func plan(method: String, path: String) -> FaultPlan {
        let instant = now()
        return state.withLock { state in
            var plan = FaultPlan(latency: state.latency)
            if let jitter = state.latencyJitter {
                let extra = Duration.nanoseconds(
                    Int64(state.jitterRandom.nextUnitInterval() * Double(jitter / .nanoseconds(1))))
                plan.latency = (plan.latency ?? .zero) + extra
            }
            if let outage = state.outage {
                if outage.until > instant {
                    plan.early = outage.mode == .refuse ? .drop : .status(503)
                    plan.latency = nil
                    return plan
                }
                state.outage = nil
            }
            if var rateLimit = state.rateLimit, Self.matches(path, rateLimit.pathPrefix) {
                rateLimit.remaining -= 1
                state.rateLimit = rateLimit.remaining > 0 ? rateLimit : nil
                plan.early = .rateLimited(retryAfter: rateLimit.retryAfter, limit: rateLimit.limit)
                return plan
            }
            if var limiter = state.rateLimiter, Self.matches(path, limiter.pathPrefix) {
                let verdict = limiter.admit(now: instant)
                state.rateLimiter = limiter
                plan.headers = verdict.headers
                if !verdict.admitted {
                    plan.early = .rateLimiterRefused
                    return plan
                }
            }
            if var failNext = state.failNext, Self.matches(path, failNext.pathPrefix) {
                failNext.remaining -= 1
                state.failNext = failNext.remaining > 0 ? failNext : nil
                plan.early = failNext.fromProxy ? .proxyStatus(failNext.status) : .status(failNext.status)
                return plan
            }
            if var failFraction = state.failFraction, Self.matches(path, failFraction.pathPrefix) {
                let draw = failFraction.rng.nextUnitInterval()
                state.failFraction = failFraction
                if draw < failFraction.probability {
                    plan.early = .status(failFraction.status)
                    return plan
                }
            }
            if var ackLoss = state.ackLoss, method == "POST", Self.matches(path, ackLoss.pathPrefix) {
                ackLoss.remaining -= 1
                state.ackLoss = ackLoss.remaining > 0 ? ackLoss : nil
                plan.late = ackLoss.mode == .status503 ? .status503 : .drop
                return plan
            }
            if var reset = state.resetMidResponse, Self.matches(path, reset.pathPrefix) {
                reset.remaining -= 1
                state.resetMidResponse = reset.remaining > 0 ? reset : nil
                plan.late = .resetMidResponse
            }
            return plan
        }
    }

    private static func matches(_ path: String, _ prefix: String?) -> Bool {
        guard let prefix else { return true }
        return path.hasPrefix(prefix)
    }
}

/// What the fault injector decided for one request.
struct FaultPlan: Sendable {
    enum Early: Sendable, Equatable {
        /// Close the connection without answering.
        case drop
        case status(Int)
        /// An HTML error page of a proxy in front of Lago.
        case proxyStatus(Int)
        case rateLimited(retryAfter: Int, limit: Int)
        /// Beyond the rate limiter's budget: 429 with its headers only.
        case rateLimiterRefused
    }

    enum Late: Sendable, Equatable {
        case status503
        case drop
        case resetMidResponse
    }

    var latency: Duration?
    /// Headers every answer carries (the rate limiter's).
    var headers: [(name: String, value: String)] = []
    /// Set when the request must not be processed.
    var early: Early?
    /// Set when the request is processed but its answer is spoiled.
    var late: Late?
}

struct FaultState: Sendable {
    struct FailNext {
        var remaining: Int
        var status: Int
        var pathPrefix: String?
        var fromProxy = false
    }

    struct FailFraction {
        var probability: Double
        var status: Int
        var pathPrefix: String?
        var rng: SplitMix64
    }

    struct Outage {
        var until: ContinuousClock.Instant
        var mode: SandboxOutageMode
    }

    struct RateLimit {
        var remaining: Int
        var retryAfter: Int
        var limit: Int
        var pathPrefix: String?
    }

    struct AckLoss {
        var remaining: Int
        var mode: SandboxAckLossMode
        var pathPrefix: String?
    }

    struct Reset {
        var remaining: Int
        var pathPrefix: String?
    }

    var failNext: FailNext?
    var failFraction: FailFraction?
    var outage: Outage?
    var rateLimit: RateLimit?
    var latency: Duration?
    var latencyJitter: Duration?
    var jitterRandom = SplitMix64(seed: 0)
    var rateLimiter: SandboxRateLimiter?
    var ackLoss: AckLoss?
    var resetMidResponse: Reset?
}

/// The faults configured at one moment (what `GET /_sandbox/faults` returns).
public struct SandboxFaultSnapshot: Sendable, Hashable, Codable {
    public struct FailNext: Sendable, Hashable, Codable {
        public var remaining: Int
        public var status: Int
        public var pathPrefix: String?
    }

    public struct FailFraction: Sendable, Hashable, Codable {
        public var probability: Double
        public var status: Int
        public var pathPrefix: String?
    }

    public struct Outage: Sendable, Hashable, Codable {
        public var mode: SandboxOutageMode
        public var remainingMilliseconds: Int
    }

    public struct RateLimit: Sendable, Hashable, Codable {
        public var remaining: Int
        public var retryAfter: Int
        public var limit: Int
        public var pathPrefix: String?
    }

    public struct AckLoss: Sendable, Hashable, Codable {
        public var remaining: Int
        public var mode: SandboxAckLossMode
        public var pathPrefix: String?
    }

    public struct RateLimiter: Sendable, Hashable, Codable {
        public var requestsPerSecond: Int
        public var pathPrefix: String?
    }

    public struct ResetMidResponse: Sendable, Hashable, Codable {
        public var remaining: Int
        public var pathPrefix: String?
    }

    public var failNext: FailNext?
    public var failFraction: FailFraction?
    public var outage: Outage?
    public var rateLimit: RateLimit?
    public var latencyMilliseconds: Int
    /// The most random extra latency, in milliseconds.
    public var latencyJitterMilliseconds: Int = 0
    /// Lago Cloud's per-organization limiter, when on.
    public var rateLimiter: RateLimiter?
    public var ackLoss: AckLoss?
    public var resetMidResponse: ResetMidResponse?

    /// True when no fault is configured.
    public var isEmpty: Bool {
        failNext == nil && failFraction == nil && outage == nil && rateLimit == nil && latencyMilliseconds == 0
            && latencyJitterMilliseconds == 0 && rateLimiter == nil && ackLoss == nil && resetMidResponse == nil
    }
}
