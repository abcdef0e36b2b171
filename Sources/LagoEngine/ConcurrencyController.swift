/// The adaptive limit of batch requests in flight (`engine.max_in_flight = "auto"`): additive increase while Lago
/// answers as fast as it did, multiplicative decrease on back-pressure. A value type with no I/O and no clock of its
/// own, driven by ``DeliveryStateMachine`` (which reports every request that starts and ends, with the instant).
///
/// The rules and their parameters follow Vector's adaptive request concurrency (ARC): its controller in
/// vectordotdev/vector `src/sinks/util/adaptive_concurrency/controller.rs`, documented at
/// https://vector.dev/docs/architecture/arc (defaults: `decrease_ratio` 0.9, `ewma_alpha` 0.4,
/// `rtt_deviation_scale` 2.5). Researched, not copied:
/// - the limit is reconsidered once per averaged round trip (a window), not per answer, so one burst of 429s is one
///   decrease;
/// - in a window where the limit was reached, nothing pushed back and the mean round trip was at or below its
///   moving average (an exponentially weighted mean), the limit grows by one;
/// - otherwise, if something pushed back (429, a 5xx other than 501, a timeout) or the mean round trip rose above
///   the average by more than `rttDeviationScale` standard deviations, the limit is multiplied by `decreaseRatio`
///   (rounded down, so it always falls by at least one);
/// - only a request Lago took (2xx) is a round-trip sample.
///
/// Two differences: a rise smaller than ``Settings/minimumRise`` of the average never counts as a spike (Vector's
/// threshold is zero on a link whose round trips never vary, and then the mean's rounding alone would decrease);
/// and until the first decrease the limit doubles instead of growing by one (TCP's slow start, RFC 5681 §3.1), so
/// that a far Lago (100 ms away: 500 requests/s need 50 in flight) is reached in a few round trips, not fifty.
///
/// Slow start reads the round trip as HyStart++ does (RFC 9406 §4.2): by each window's *minimum*, against the last
/// window's, rising by at least an eighth of it (clamped to 4–16 ms). Jitter only ever adds delay, so a window's
/// minimum stays put under it while its mean wanders. Until such a rise it doubles when the mean is short of a spike
/// (requiring it at or below the average held the doubling back for every window that noise put a little above it:
/// 4 → 64 took 1.1 s at 100 ms where four round trips suffice), and holds when the mean alone spikes (with 0–20 ms
/// of jitter such spikes came now and then, and one early decrease, 4 → 3, ended slow start: +1 per round trip from
/// there, 10 s to reach 43). On a rise of the minimum slow start ends, and the limit decreases when the mean is a
/// spike as well; back-pressure decreases it and ends slow start as before.
///
/// Once Lago states its rate (`X-RateLimit-Limit`, requests per second), slow start's aim is known: what carries
/// that rate, less the pacer's margin, at the average round trip (Little's law: 475 requests/s 115 ms away need 55
/// in flight). Slow start goes there in one step when doubling would fall short, then doubles on as before. From 4,
/// doubling took four to six round trips to get there, 0.6–0.7 s at 100 ms: a fixed 64's head start.
///
/// After slow start, the minimum counts too: a spike of the mean decreases the limit only when the window's minimum
/// is above the lowest of the last ``recentWindows`` windows' minimums by HyStart++'s rise. When Lago queues every
/// request, the fastest answer is slower too; when a wave of answers spreads out (64 batches of 100 taken one
/// after another by a sandbox on the same 2 cores, 110 ms for the first, 160 for the last), some answers still come
/// back as fast as ever, and the spike holds the limit. Measured before, `auto` fell 64 → 57 → 50 in such runs and
/// climbed back by one per round trip, while fixed 64 delivered more. Back-pressure decreases it as before.
struct ConcurrencyController: Sendable, Hashable {
    typealias Instant = ContinuousClock.Instant

    struct Settings: Sendable, Hashable {
        /// The lowest limit (`engine.min_in_flight`).
        var floor: Int
        /// The highest limit (`engine.max_in_flight_limit`).
        var ceiling: Int
        /// Where the limit starts.
        var initial: Int
        /// The factor of a decrease.
        var decreaseRatio = 0.9
        /// The weight of a window's mean round trip in the moving average.
        var ewmaAlpha = 0.4
        /// Standard deviations above the average that make a round trip a spike.
        var rttDeviationScale = 2.5
        /// The smallest rise, as a fraction of the average, that counts as a spike.
        var minimumRise = 0.1

        /// A limit that never moves (`engine.max_in_flight` set to a number).
        static func fixed(_ count: Int) -> Settings {
            let count = max(1, count)
            return Settings(floor: count, ceiling: count, initial: count)
        }

        /// The adaptive limit between `floor` and `ceiling` (brought into order, at least 1), starting at `initial`.
        static func adaptive(floor: Int, ceiling: Int, initial: Int) -> Settings {
            let floor = max(1, floor)
            let ceiling = max(floor, ceiling)
            return Settings(floor: floor, ceiling: ceiling, initial: min(max(initial, floor), ceiling))
        }

        /// The limit cannot move.
        var isFixed: Bool { floor == ceiling }
    }

    /// A change of the limit, for tests and the log.
    enum Adjustment: Sendable, Hashable {
        case increased
        case decreased
    }

    let settings: Settings
    /// Requests allowed in flight now.
    private(set) var limit: Int
    /// The moving average of the windows' mean round trips, in seconds (`nil` before the first sample).
    private var averageSeconds: Double?
    private var variance = 0.0
    /// The round trips of the current window.
    private var windowSum = Duration.zero
    private var windowCount = 0
    private var windowEnd: Instant?
    /// The smallest round trip of the current window.
    private var windowMinimum: Duration?
    /// The smallest round trips of the last ``recentWindows`` windows that had a sample (seconds), oldest first: the
    /// last is the last window's.
    private var recentMinimums: [Double] = []
    /// The requests per second Lago allows, once an answer said it.
    private var rateLimit: Int?
    /// The windows whose minimums make the floor a spike's minimum is held against (a second at 100 ms).
    static let recentWindows = 10
    private var hadBackPressure = false
    private var reachedLimit = false
    /// No decrease yet: an increase doubles the limit.
    private(set) var slowStart = true

    init(settings: Settings) {
        self.settings = settings
        self.limit = settings.initial
    }

    /// The moving average of the round trip, once one request has succeeded.
    var averageRTT: Duration? { averageSeconds.map(Self.microseconds) }

    /// Seconds as a whole number of microseconds: round trips are compared and windows timed at that resolution, so
    /// equal round trips compare equal (no rounding noise decides).
    private static func microseconds(_ seconds: Double) -> Duration {
        .microseconds(Int64((seconds * 1e6).rounded()))
    }

    /// A request started; `inFlight` counts it.
    mutating func requestStarted(inFlight: Int) {
        if inFlight >= limit { reachedLimit = true }
    }

    /// A request ended.
    ///
    /// - Parameters:
    ///   - rtt: its round trip when Lago took it (2xx), else `nil` (a failure measures nothing).
    ///   - backPressure: Lago pushed back: 429, a 5xx other than 501, or the request timed out.
    ///   - rateLimit: the requests per second Lago allows (`X-RateLimit-Limit`), once an answer said it.
    /// - Returns: how the limit changed, if this answer closed a window that changed it.
    @discardableResult
    mutating func requestCompleted(
        rtt: Duration?, backPressure: Bool, rateLimit: Int? = nil, now: Instant
    ) -> Adjustment? {
        if backPressure { hadBackPressure = true }
        if let rateLimit, rateLimit > 0 { self.rateLimit = rateLimit }
        if let rtt {
            windowSum += rtt
            windowCount += 1
            windowMinimum = min(windowMinimum ?? rtt, rtt)
        }
        let windowMean =
            windowCount > 0 ? Self.microseconds((windowSum / windowCount) / .seconds(1)) / .seconds(1) : nil
        guard let average = averageSeconds, let windowEnd else {
            // The first sample opens the first window, one round trip long.
            if let windowMean, let windowMinimum {
                averageSeconds = windowMean
                recentMinimums = [windowMinimum / .seconds(1)]
                self.windowEnd = now + Self.microseconds(windowMean)
                let grown = reachedLimit && !hadBackPressure && growToTheRate(average: windowMean)
                resetWindow()
                return grown ? .increased : nil
            }
            return nil
        }
        guard now >= windowEnd else { return nil }
        let adjustment = adjust(average: average, windowMean: windowMean)
        if let windowMinimum {
            recentMinimums.append(windowMinimum / .seconds(1))
            if recentMinimums.count > Self.recentWindows { recentMinimums.removeFirst() }
        }
        if let windowMean {
            // The exponentially weighted mean and variance (the incremental form).
            let difference = windowMean - average
            let increment = settings.ewmaAlpha * difference
            averageSeconds = Self.microseconds(average + increment) / .seconds(1)
            variance = (1 - settings.ewmaAlpha) * (variance + difference * increment)
        }
        self.windowEnd = now + Self.microseconds(averageSeconds ?? average)
        resetWindow()
        return adjustment
    }

    private mutating func adjust(average: Double, windowMean: Double?) -> Adjustment? {
        let threshold = max(variance.squareRoot() * settings.rttDeviationScale, average * settings.minimumRise)
        let spike = (windowMean ?? 0) > average + threshold
        if slowStart {
            if hadBackPressure || minimumRose {
                slowStart = false
                return hadBackPressure || spike ? decrease() : nil
            }
            // A spike of the mean alone (its minimum did not rise: jitter, or a window still holding answers of
            // the last one) holds the limit for this window.
            guard !spike, limit < settings.ceiling, reachedLimit, windowMean != nil else { return nil }
            if !growToTheRate(average: average) { limit = min(settings.ceiling, limit * 2) }
            return .increased
        }
        if limit < settings.ceiling, reachedLimit, !hadBackPressure, let windowMean, windowMean <= average {
            limit += 1
            return .increased
        }
        // A spike of the mean whose minimum stayed where the recent windows' lowest was: some answers came back as
        // fast as ever, so Lago is not queueing them all (a wave of answers spread out); it holds the limit.
        return hadBackPressure || (spike && minimumAboveRecentFloor) ? decrease() : nil
    }

    /// In slow start, once Lago has said its rate: the limit that carries that rate (less the pacer's margin) at
    /// the average round trip, when that is more than doubling would give (Little's law: 475 requests/s 115 ms
    /// away need 55 in flight). Returns whether the limit grew so.
    private mutating func growToTheRate(average: Double) -> Bool {
        guard slowStart, let rateLimit else { return false }
        let needed = Int((Double(rateLimit) * RateLimitWindow.budgetShare * average).rounded(.up))
        guard needed > limit * 2, limit < settings.ceiling else { return false }
        limit = min(settings.ceiling, needed)
        return true
    }

    /// ×``Settings/decreaseRatio``, rounded down, at least one less, not below the floor (`nil` at the floor).
    private mutating func decrease() -> Adjustment? {
        guard limit > settings.floor else { return nil }
        limit = max(settings.floor, min(limit - 1, Int(Double(limit) * settings.decreaseRatio)))
        return .decreased
    }

    /// HyStart++'s signal (RFC 9406 §4.2): this window's smallest round trip rose above the last window's by at
    /// least an eighth of it, clamped to 4–16 ms.
    private var minimumRose: Bool { minimumRose(above: recentMinimums.last) ?? false }

    /// This window's smallest round trip is above the lowest of the last ``recentWindows`` windows' minimums by
    /// HyStart++'s rise (true when either is unknown: the spike alone decides then).
    private var minimumAboveRecentFloor: Bool { minimumRose(above: recentMinimums.min()) ?? true }

    /// This window's smallest round trip is above `base` (seconds) by an eighth of it, clamped to 4–16 ms; `nil`
    /// when either is unknown.
    private func minimumRose(above base: Double?) -> Bool? {
        guard let base, let current = windowMinimum.map({ $0 / .seconds(1) }) else { return nil }
        return current >= base + min(max(base / 8, 0.004), 0.016)
    }

    private mutating func resetWindow() {
        windowSum = .zero
        windowCount = 0
        windowMinimum = nil
        hadBackPressure = false
        reachedLimit = false
    }
}
