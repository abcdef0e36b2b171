import LagoAPI

/// Lago's rate-limit window as its answers describe it (`X-RateLimit-Limit`, `-Remaining`, `-Reset` on every
/// answer, 2xx or not), so that the engine sends no more in a window than Lago allows. A value type with no I/O,
/// driven by ``DeliveryStateMachine``: every request sent and every answer's headers, with the instant.
///
/// The estimate of what is left is the smaller of the latest answer's `remaining` and the count kept here (the
/// window's budget less the requests sent since): an answer cannot know of requests still on their way to Lago.
/// When the window ends, the next one starts with the full `limit` (the learned rate), until an answer says more.
///
/// Within that, requests are paced once the limit is known (GCRA, the virtual-scheduling form of a token bucket):
/// evenly spaced, with bursts of at most ``burstShare`` of `limit`, so that any second — wherever Lago's window
/// edges fall — holds at most ``budgetShare`` of `limit` (bursts included). Lago counts requests in fixed 1-second
/// windows whose edges we do not see, and requests reach it with some jitter: a wave of `limit` requests sent at our
/// estimate of a window's start can land partly in the window before and partly in the next, which then overruns
/// (429s); the 5 % left over absorbs the jitter.
struct RateLimitWindow: Sendable, Hashable {
    typealias Instant = ContinuousClock.Instant

    /// The most of `limit` any 1-second span holds.
    static let budgetShare = 0.95
    /// The share of `limit` that may go at once (at least one request); the rest of the budget is evenly spaced.
    static let burstShare = 0.05

    /// When the next request would be due at the paced rate (GCRA's theoretical arrival time); `nil`: none sent
    /// since the limit was learned.
    private var theoreticalArrival: Instant?

    /// Requests per window (`X-RateLimit-Limit`), once an answer said it.
    private(set) var limit: Int?
    /// Requests left in the current window, as estimated (`nil`: unknown).
    private(set) var remaining: Int?
    /// When the current window ends (`nil`: unknown).
    private(set) var resetAt: Instant?

    /// An answer carried these headers (answers without them change nothing).
    mutating func observe(_ headers: RateLimitHeaders, now: Instant) {
        if let limit = headers.limit, limit > 0 { self.limit = limit }
        guard let said = headers.remaining else { return }
        let end = headers.reset.flatMap { seconds -> Instant? in
            guard seconds.isFinite, seconds >= 0 else { return nil }
            return now + .milliseconds(Int64((seconds * 1000).rounded(.up)))
        }
        let reported = max(0, said)
        if let resetAt, now < resetAt {
            // The same window: what is left can only shrink; its end is the earliest any answer gave.
            remaining = min(remaining ?? reported, reported)
            if let end { self.resetAt = min(resetAt, end) }
        } else if resetAt == nil, let remaining {
            // A window whose start was counted here (requests sent since): the answer learns its end.
            self.remaining = min(remaining, reported)
            resetAt = end
        } else {
            // The first answer, or the first of a new window nothing was sent in yet.
            remaining = reported
            resetAt = end
        }
    }

    /// A request is sent now.
    mutating func requestSent(now: Instant) {
        if let resetAt, now >= resetAt {
            // The window has ended: the next starts with the learned budget; its end is known from the next answer.
            remaining = limit
            self.resetAt = nil
        }
        if let remaining { self.remaining = remaining - 1 }
        if let pace {
            theoreticalArrival = max(theoreticalArrival ?? now, now) + pace.interval
        }
    }

    /// The instant before which no request may go, or `nil`: a request may go now.
    func blockedUntil(now: Instant) -> Instant? {
        var until: Instant?
        if let resetAt, now < resetAt, let remaining, remaining <= 0 { until = resetAt }
        if let pace, let theoreticalArrival {
            let allowedAt = theoreticalArrival - pace.tolerance
            if allowedAt > now { until = max(until ?? allowedAt, allowedAt) }
        }
        return until
    }

    /// The paced rate's spacing and burst tolerance, once the limit is known: a burst of `burst` and `budget - burst`
    /// more evenly spaced over a second (the spacing rounded up, so no second holds one more).
    private var pace: (interval: Duration, tolerance: Duration)? {
        guard let limit, limit > 0 else { return nil }
        let budget = max(1, Int(Double(limit) * Self.budgetShare))
        let burst = min(budget, max(1, Int(Double(limit) * Self.burstShare)))
        let spaced = max(1, budget - burst)
        let interval = Duration.nanoseconds(Int64((1e9 / Double(spaced)).rounded(.up)))
        return (interval, interval * (burst - 1))
    }

    /// Requests left in the window as the latest estimate has it, or `nil` when Lago sends no rate-limit headers.
    func remaining(now: Instant) -> Int? {
        guard let remaining else { return nil }
        if let resetAt, now >= resetAt { return limit ?? remaining }
        return max(0, remaining)
    }
}
