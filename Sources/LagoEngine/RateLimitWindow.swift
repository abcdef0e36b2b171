import LagoAPI

/// Lago's rate-limit window as its answers describe it (`X-RateLimit-Limit`, `-Remaining`, `-Reset` on every
/// answer, 2xx or not), so that the engine sends no more in a window than Lago allows. A value type with no I/O,
/// driven by ``DeliveryStateMachine``: every request sent and every answer's headers, with the instant.
///
/// The estimate of what is left is the smaller of the latest answer's `remaining` and the count kept here (the
/// window's budget less the requests sent since): an answer cannot know of requests still on their way to Lago.
/// When the window ends, the next one starts with the full `limit` (the learned rate), until an answer says more.
///
/// The end is the earliest any answer of the window gave (`X-RateLimit-Reset` after the answer), which is late by
/// what the answer took to come back, and by up to a second when Lago rounds the reset up to whole seconds (the
/// sandbox does; a 1-second window then says 1 in every answer). So Lago's window may start afresh before the end
/// estimated here: an answer whose `remaining` rose above the window's lowest by half the limit or more (less could
/// be other clients' requests between two of ours) and by more than the requests in flight (an answer overtaken by
/// another's could account for that many) starts a new window at once, less the requests still on their way.
/// Before, a spent estimate waited for its late end while Lago's window had room: in the adaptive bench fixed 64 sat
/// idle up to 0.5 s a window, and in the tests' model of Lago (64 in flight, 100 ms round trip) 77–95 % of the limit
/// went out, depending on where Lago's edges fell (95 % everywhere now).
///
/// Within that, once the limit is known, no 1-second span of our sends holds more than ``budgetShare`` of it (a
/// sliding log of the sends of the last second). Lago counts requests in fixed 1-second windows whose edges we do not
/// see, and requests reach it with some jitter: a wave of `limit` requests sent at our estimate of a window's start
/// can land partly in the window before and partly in the next, which then overruns (429s). However Lago's edges
/// fall, its window then sees at most 95 % of the limit from us, give or take the jitter the 5 % left over absorbs;
/// and a wave may still go at once (after a 429's wait, as wide as the ceiling and the budget allow).
struct RateLimitWindow: Sendable, Hashable {
    typealias Instant = ContinuousClock.Instant

    /// The most of `limit` any 1-second span of sends holds.
    static let budgetShare = 0.95

    /// The instants of the sends of about the last second, oldest first, from ``recentStart`` on (earlier entries
    /// are spent and dropped now and then).
    private var recent: [Instant] = []
    private var recentStart = 0

    /// Requests per window (`X-RateLimit-Limit`), once an answer said it.
    private(set) var limit: Int?
    /// Requests left in the current window, as estimated (`nil`: unknown).
    private(set) var remaining: Int?
    /// When the current window ends (`nil`: unknown).
    private(set) var resetAt: Instant?
    /// The least `remaining` an answer of the current window said (`nil`: none yet).
    private var lowestReported: Int?

    /// An answer carried these headers (answers without them change nothing); `inFlight` other requests are still
    /// on their way.
    mutating func observe(_ headers: RateLimitHeaders, inFlight: Int = 0, now: Instant) {
        if let limit = headers.limit, limit > 0 { self.limit = limit }
        guard let said = headers.remaining else { return }
        let end = headers.reset.flatMap { seconds -> Instant? in
            guard seconds.isFinite, seconds >= 0 else { return nil }
            return now + .milliseconds(Int64((seconds * 1000).rounded(.up)))
        }
        let reported = max(0, said)
        if let resetAt, now < resetAt {
            if let lowest = lowestReported, let limit, reported - lowest >= max(limit / 2, inFlight + 1) {
                // Lago's count started afresh before the end estimated here: a new window, less what is on its way.
                remaining = max(0, reported - inFlight)
                self.resetAt = end
                lowestReported = reported
                return
            }
            // The same window: what is left can only shrink; its end is the earliest any answer gave.
            remaining = min(remaining ?? reported, reported)
            if let end { self.resetAt = min(resetAt, end) }
            lowestReported = min(lowestReported ?? reported, reported)
        } else if resetAt == nil, let remaining {
            // A window whose start was counted here (requests sent since): the answer learns its end.
            self.remaining = min(remaining, reported)
            resetAt = end
            lowestReported = reported
        } else {
            // The first answer, or the first of a new window nothing was sent in yet.
            remaining = reported
            resetAt = end
            lowestReported = reported
        }
    }

    /// A request is sent now.
    mutating func requestSent(now: Instant) {
        if let resetAt, now >= resetAt {
            // The window has ended: the next starts with the learned budget; its end is known from the next answer.
            remaining = limit
            self.resetAt = nil
            lowestReported = nil
        }
        if let remaining { self.remaining = remaining - 1 }
        while recentStart < recent.count, recent[recentStart] <= now - .seconds(1) { recentStart += 1 }
        if recentStart > 256 && recentStart * 2 > recent.count {
            recent.removeFirst(recentStart)
            recentStart = 0
        }
        recent.append(now)
    }

    /// The instant before which no request may go, or `nil`: a request may go now.
    func blockedUntil(now: Instant) -> Instant? {
        var until: Instant?
        if let resetAt, now < resetAt, let remaining, remaining <= 0 { until = resetAt }
        if let budget {
            // The sends of the last second, from the first one still in it.
            var first = recentStart
            while first < recent.count, recent[first] <= now - .seconds(1) { first += 1 }
            let inLastSecond = recent.count - first
            if inLastSecond >= budget {
                // Free once enough of them are more than a second old.
                let freedAt = recent[recent.count - budget] + .seconds(1)
                until = max(until ?? freedAt, freedAt)
            }
        }
        return until
    }

    /// The most sends any 1-second span may hold, once the limit is known.
    private var budget: Int? {
        guard let limit, limit > 0 else { return nil }
        return max(1, Int(Double(limit) * Self.budgetShare))
    }

    /// Requests left in the window as the latest estimate has it, or `nil` when Lago sends no rate-limit headers.
    func remaining(now: Instant) -> Int? {
        guard let remaining else { return nil }
        if let resetAt, now >= resetAt { return limit ?? remaining }
        return max(0, remaining)
    }
}
