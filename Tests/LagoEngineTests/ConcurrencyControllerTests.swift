import Foundation
import LagoAPI
import Testing

@testable import LagoEngine

// The adaptive concurrency limit as a pure state machine: a manual clock (instants passed in), no I/O.

@Suite struct ConcurrencyControllerTests {
    typealias Controller = ConcurrencyController
    let t0 = ContinuousClock.now

    func adaptive(floor: Int = 1, ceiling: Int = 64, initial: Int = 4) -> Controller {
        Controller(settings: .adaptive(floor: floor, ceiling: ceiling, initial: initial))
    }

    /// One window of `requests` requests, all in flight at once (the limit reached when `requests >= limit`), each
    /// answered after `rtt` (or with back-pressure), the window's last answer at `end`.
    @discardableResult
    func window(
        _ controller: inout Controller, requests: Int? = nil, rtt: Duration, backPressure: Int = 0,
        end: ContinuousClock.Instant
    ) -> [Controller.Adjustment] {
        let count = requests ?? controller.limit
        for inFlight in 1...count { controller.requestStarted(inFlight: inFlight) }
        var adjustments: [Controller.Adjustment] = []
        for index in 0..<count {
            let pushedBack = index < backPressure
            if let adjustment = controller.requestCompleted(
                rtt: pushedBack ? nil : rtt, backPressure: pushedBack, now: end)
            {
                adjustments.append(adjustment)
            }
        }
        return adjustments
    }

    /// Runs `windows` windows of `rtt` each from `start`, every one filling the limit; returns the instant after.
    func steady(
        _ controller: inout Controller, windows: Int, rtt: Duration, from start: ContinuousClock.Instant
    ) -> ContinuousClock.Instant {
        var now = start
        for _ in 0..<windows {
            now += rtt
            window(&controller, rtt: rtt, end: now)
        }
        return now
    }

    /// A controller started at `initial` whose slow start one 429 ended (the limit ×0.9), and the instant after.
    func pastSlowStart(initial: Int, rtt: Duration) -> (Controller, ContinuousClock.Instant) {
        var controller = adaptive(initial: initial)
        var now = steady(&controller, windows: 1, rtt: rtt, from: t0)
        now += rtt
        window(&controller, rtt: rtt, backPressure: 1, end: now)
        return (controller, now)
    }

    @Test("Slow start, then additive increase: ×2 per round trip until Lago first pushes back, then +1")
    func increase() {
        var controller = adaptive(initial: 4)
        let rtt = Duration.milliseconds(100)
        // The first answer opens the first window (it measures, it decides nothing).
        window(&controller, rtt: rtt, end: t0 + rtt)
        #expect(controller.limit == 4)
        #expect(controller.averageRTT == rtt)
        var now = t0 + rtt
        for expected in [8, 16, 32] {
            now += rtt
            #expect(window(&controller, rtt: rtt, end: now) == [.increased])
            #expect(controller.limit == expected)
        }
        #expect(controller.slowStart)
        // One 429: ×0.9 (32 → 28), and growth is additive from then on.
        now += rtt
        #expect(window(&controller, rtt: rtt, backPressure: 1, end: now) == [.decreased])
        #expect(controller.limit == 28 && !controller.slowStart)
        // Its window's last answers arrive with no back-pressure: the next window decides on them alone.
        for expected in 29...34 {
            now += rtt
            #expect(window(&controller, rtt: rtt, end: now) == [.increased])
            #expect(controller.limit == expected)
        }
        // Answers within one window decide nothing more: one change per round trip.
        #expect(window(&controller, rtt: rtt, end: now + .milliseconds(10)).isEmpty)
        #expect(controller.limit == 34)
    }

    @Test("Slow start goes to the rate Lago states at once: rate × round trip in flight (Little's law), then doubles")
    func slowStartReachesTheStatedRate() {
        var controller = adaptive(initial: 4)
        let rtt = Duration.milliseconds(100)
        // The first answers say 500 requests/s: 95 % of it (the pacer's share) for 100 ms is 48 in flight.
        for inFlight in 1...4 { controller.requestStarted(inFlight: inFlight) }
        for _ in 0..<4 { controller.requestCompleted(rtt: rtt, backPressure: false, rateLimit: 500, now: t0 + rtt) }
        #expect(controller.limit == 48)
        // Then slow start goes on as before: ×2 per round trip, up to the ceiling.
        let now = t0 + rtt * 2
        #expect(window(&controller, rtt: rtt, end: now) == [.increased])
        #expect(controller.limit == 64)
        // No stated rate, no jump (see increase()); nor after slow start: a stated rate never raises the limit then.
        var (ended, later) = pastSlowStart(initial: 30, rtt: rtt)
        #expect(ended.limit == 27 && !ended.slowStart)
        later += rtt
        for inFlight in 1...27 { ended.requestStarted(inFlight: inFlight) }
        for _ in 0..<27 { ended.requestCompleted(rtt: rtt, backPressure: false, rateLimit: 500, now: later) }
        #expect(ended.limit == 28)
    }

    @Test("After slow start a spike of the mean decreases only when the window's minimum rose too")
    func spreadAnswersHoldTheLimit() {
        let rtt = Duration.milliseconds(100)
        var (controller, now) = pastSlowStart(initial: 20, rtt: rtt)
        #expect(controller.limit == 18 && !controller.slowStart)
        now = steady(&controller, windows: 12, rtt: rtt, from: now)
        #expect(controller.limit == 30)
        /// One window of 30 answers: the first `fast` after 100 ms, the rest after `slow`. The first answer closes
        /// the window before, so the adjustments returned are that window's.
        func spread(fast: Int, slow: Duration) -> [Controller.Adjustment] {
            for inFlight in 1...30 { controller.requestStarted(inFlight: inFlight) }
            now += slow
            return (0..<30).compactMap { index in
                controller.requestCompleted(rtt: index < fast ? rtt : slow, backPressure: false, now: now)
            }
        }
        #expect(spread(fast: 15, slow: .milliseconds(400)) == [.increased])
        #expect(controller.limit == 31)
        // That window: a wave's answers spread out (Lago took them one after another), the mean spikes to 250 ms,
        // but the first came back as fast as ever. Lago is not queueing them all: the limit holds.
        #expect(spread(fast: 0, slow: .milliseconds(400)).isEmpty)
        #expect(controller.limit == 31)
        // Then every answer slower, the fastest too: Lago is queueing, the limit decreases.
        #expect(spread(fast: 0, slow: .milliseconds(400)) == [.decreased])
        #expect(controller.limit == 27)
    }

    @Test("Slow start doubles through a rise short of a spike; additive growth holds in it")
    func slowStartDoublesThroughNoise() {
        var controller = adaptive(initial: 4)
        var now = steady(&controller, windows: 1, rtt: .milliseconds(100), from: t0)
        // +5 % (noise, not a spike): slow start doubles all the same.
        for expected in [8, 16] {
            now += .milliseconds(105)
            #expect(window(&controller, rtt: .milliseconds(105), end: now) == [.increased])
            #expect(controller.limit == expected && controller.slowStart)
        }
        // A spike: the first window also holds answers of the last one (its minimum did not rise): the limit holds;
        // the next, all slow, ends slow start with a decrease (16 → 14).
        now += .milliseconds(300)
        #expect(window(&controller, rtt: .milliseconds(300), end: now).isEmpty)
        #expect(controller.limit == 16 && controller.slowStart)
        now += .milliseconds(300)
        #expect(window(&controller, rtt: .milliseconds(300), end: now) == [.decreased])
        #expect(controller.limit == 14 && !controller.slowStart)
        // Back to the average, then a little above it: no growth (Vector's hold), where at or below it grows by one.
        now = steady(&controller, windows: 40, rtt: .milliseconds(100), from: now)
        #expect(controller.averageRTT! < .microseconds(100_010))
        let settled = controller.limit
        #expect(settled > 14, "it grew by one per round trip at the average")
        now += .milliseconds(105)
        #expect(window(&controller, rtt: .milliseconds(105), end: now).isEmpty)
        #expect(controller.limit == settled)
    }

    @Test(
        "Jitter does not end slow start: 100–120 ms answers, means spiking now and then, still double to the ceiling",
        arguments: 1...12 as ClosedRange<UInt64>)
    func jitterDoesNotEndSlowStart(seed: UInt64) {
        var controller = adaptive(initial: 4)
        var random = SplitMix64(seed: seed)
        var now = t0
        var windows = 0
        // The limit's requests go at once; each is answered after 100 ms plus 0–20 ms of jitter, at its own
        // instant (the first answer, the quickest, opens the first window: its average starts low).
        while controller.limit < 64 && windows < 20 {
            let count = controller.limit
            for inFlight in 1...count { controller.requestStarted(inFlight: inFlight) }
            let rtts = (0..<count).map { _ in Duration.milliseconds(100 + Int64(random.nextUnitInterval() * 20)) }
            for rtt in rtts.sorted() { controller.requestCompleted(rtt: rtt, backPressure: false, now: now + rtt) }
            now += rtts.max()!
            windows += 1
        }
        #expect(controller.limit == 64 && controller.slowStart, "limit \(controller.limit) after \(windows) windows")
        #expect(windows <= 8)
    }

    @Test("No increase without evidence: a window that never reached the limit keeps it")
    func noIncreaseBelowTheLimit() {
        var controller = adaptive(initial: 8)
        let rtt = Duration.milliseconds(50)
        window(&controller, requests: 3, rtt: rtt, end: t0 + rtt)
        var now = t0 + rtt
        for _ in 0..<20 {
            now += rtt
            window(&controller, requests: 3, rtt: rtt, end: now)
        }
        #expect(controller.limit == 8)
    }

    @Test("Multiplicative decrease on back-pressure: ×0.9 rounded down, at least one less, once per window")
    func decrease() {
        var controller = adaptive(initial: 40)
        let rtt = Duration.milliseconds(100)
        var now = steady(&controller, windows: 1, rtt: rtt, from: t0)
        #expect(controller.limit == 40)
        now += rtt
        // Ten 503s in one window: one decrease.
        #expect(window(&controller, rtt: rtt, backPressure: 10, end: now) == [.decreased])
        #expect(controller.limit == 36)
        now += rtt
        #expect(window(&controller, rtt: rtt, backPressure: 1, end: now) == [.decreased])
        #expect(controller.limit == 32)
        // Small limits still fall by one: 9 × 0.9 = 8.1 → 8; 5 × 0.9 = 4.5 → 4; 2 × 0.9 = 1.8 → 1.
        var small = adaptive(initial: 2)
        var later = steady(&small, windows: 1, rtt: rtt, from: t0)
        later += rtt
        window(&small, rtt: rtt, backPressure: 1, end: later)
        #expect(small.limit == 1)
    }

    @Test("Floor: back-pressure never takes the limit below engine.min_in_flight")
    func floor() {
        var controller = adaptive(floor: 3, initial: 6)
        let rtt = Duration.milliseconds(20)
        var now = steady(&controller, windows: 1, rtt: rtt, from: t0)
        for _ in 0..<30 {
            now += rtt
            window(&controller, rtt: rtt, backPressure: 1, end: now)
        }
        #expect(controller.limit == 3)
        #expect(window(&controller, rtt: rtt, backPressure: 3, end: now + rtt).isEmpty)
        #expect(controller.limit == 3)
    }

    @Test("Ceiling: steady fast answers never take the limit above engine.max_in_flight_limit")
    func ceiling() {
        var controller = adaptive(ceiling: 10, initial: 4)
        _ = steady(&controller, windows: 50, rtt: .milliseconds(5), from: t0)
        #expect(controller.limit == 10)
    }

    @Test("A fixed limit never moves, whatever Lago answers; the round trip is still averaged")
    func fixed() {
        var controller = Controller(settings: .fixed(16))
        let rtt = Duration.milliseconds(30)
        var now = steady(&controller, windows: 10, rtt: rtt, from: t0)
        now += rtt
        window(&controller, rtt: rtt, backPressure: 16, end: now)
        #expect(controller.limit == 16)
        #expect(controller.averageRTT == rtt)
    }

    @Test("RTT spike: a round trip far above its average decreases the limit; a small rise does not")
    func rttSpike() {
        var controller = adaptive(initial: 20)
        let rtt = Duration.milliseconds(100)
        var now = steady(&controller, windows: 1, rtt: rtt, from: t0)
        // Windows that do not reach the limit: no increase, and a round trip equal to the average keeps the limit.
        for _ in 0..<5 {
            now += rtt
            window(&controller, requests: 5, rtt: rtt, end: now)
        }
        #expect(controller.limit == 20)
        // +5 %: noise, not a spike.
        now += .milliseconds(105)
        #expect(window(&controller, requests: 5, rtt: .milliseconds(105), end: now).isEmpty)
        #expect(controller.limit == 20)
        // Three times the average: Lago is queueing. The window that still holds the last answers holds the limit;
        // once its minimum rose too, the limit decreases.
        now += .milliseconds(300)
        #expect(window(&controller, requests: 5, rtt: .milliseconds(300), end: now).isEmpty)
        now += .milliseconds(300)
        #expect(window(&controller, requests: 5, rtt: .milliseconds(300), end: now) == [.decreased])
        #expect(controller.limit == 18)
        #expect(controller.averageRTT! > rtt)
    }

    @Test("429 burst: a burst answered 429 in one window is one decrease; the limit climbs back after it")
    func burstOf429() {
        var controller = adaptive(initial: 30)
        let rtt = Duration.milliseconds(50)
        var now = steady(&controller, windows: 1, rtt: rtt, from: t0)
        now += rtt
        // The whole window answered 429 (no round-trip sample): one decrease.
        #expect(window(&controller, rtt: rtt, backPressure: 30, end: now) == [.decreased])
        #expect(controller.limit == 27)
        // The answers of that burst still arriving within the next window decide once more at most.
        now += rtt
        #expect(window(&controller, rtt: rtt, backPressure: 27, end: now) == [.decreased])
        #expect(controller.limit == 24)
        // The last 429s of the burst land in the first quiet window (one more decrease, 24 → 21); then Lago takes
        // requests at the old speed again: +1 per round trip.
        now = steady(&controller, windows: 1, rtt: rtt, from: now)
        #expect(controller.limit == 21)
        now = steady(&controller, windows: 9, rtt: rtt, from: now)
        #expect(controller.limit == 30)
    }

    @Test(
        "A steady limiter converges: the limit stops climbing and oscillates in a band under what Lago takes",
        arguments: [20, 50])
    func convergesUnderASteadyLimiter(capacity: Int) {
        // Lago takes `capacity` requests a round trip and pushes back on the rest (a 500 requests/s limit 100 ms
        // away takes 50). Every window fills the limit.
        var controller = adaptive(ceiling: 64, initial: 4)
        let rtt = Duration.milliseconds(100)
        var now = t0
        var limits: [Int] = []
        var adjustments: [Controller.Adjustment] = []
        var sent = 0
        var refused = 0
        for index in 0..<200 {
            now += rtt
            let requests = controller.limit
            let pushedBack = max(0, requests - capacity)
            let changes = window(&controller, requests: requests, rtt: rtt, backPressure: pushedBack, end: now)
            guard index >= 50 else { continue }
            limits.append(controller.limit)
            adjustments += changes
            sent += requests
            refused += pushedBack
        }
        // AIMD's saw-tooth: up by one to one above what Lago takes, then ×0.9 (rounded down).
        let low = Int(Double(capacity + 1) * 0.9)
        #expect(limits.min() == low, "limits \(limits)")
        #expect(limits.max() == capacity + 1, "limits \(limits)")
        #expect(adjustments.contains(.increased) && adjustments.contains(.decreased))
        #expect(!controller.slowStart)
        // One request too many per saw-tooth: a small share pushed back.
        #expect(Double(refused) / Double(sent) < 0.05, "\(refused) of \(sent) pushed back")
    }

    @Test("Bounds are brought into order: floor at least 1, ceiling at least the floor, start within them")
    func settingsNormalized() {
        let settings = Controller.Settings.adaptive(floor: 0, ceiling: 0, initial: 4)
        #expect(settings.floor == 1 && settings.ceiling == 1 && settings.initial == 1)
        let started = Controller.Settings.adaptive(floor: 8, ceiling: 64, initial: 4)
        #expect(started.initial == 8)
        #expect(Controller.Settings.fixed(0).isFixed && Controller.Settings.fixed(0).ceiling == 1)
    }

    @Test("Back-pressure is 429, a 5xx other than 501, or a timeout; a 4xx or a refused connection is not")
    func backPressureClassification() {
        func pushesBack(_ error: LagoAPIError) -> Bool {
            BatchOutcome.Exchange(latency: .milliseconds(1), error: error).backPressure
        }
        #expect(pushesBack(lagoError(status: 429, body: #"{"status":429,"error":"Too Many Requests"}"#)))
        #expect(pushesBack(lagoError(status: 503, body: "")))
        #expect(pushesBack(lagoError(status: 500, body: "")))
        #expect(!pushesBack(lagoError(status: 501, body: "")))
        #expect(!pushesBack(lagoError(status: 422, body: #"{"status":422,"error":"Unprocessable Entity"}"#)))
        #expect(pushesBack(LagoAPIError.transport(.timeout, detail: "read timeout", request: nil)))
        #expect(!pushesBack(LagoAPIError.transport(.connectionRefused, detail: "refused", request: nil)))
        let success = BatchOutcome.Exchange(latency: .milliseconds(1), error: nil)
        #expect(success.succeeded && !success.backPressure)
    }
}
