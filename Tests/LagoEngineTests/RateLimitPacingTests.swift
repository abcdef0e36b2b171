import Foundation
import LagoAPI
import Testing

@testable import LagoEngine

// Rate-limit pacing as pure state machines: the window estimate and the flusher's use of it, a manual clock
// (instants passed in), no I/O.

@Suite struct RateLimitWindowTests {
    let t0 = ContinuousClock.now

    func headers(limit: Int = 10, remaining: Int, reset: Double) -> RateLimitHeaders {
        RateLimitHeaders(limit: limit, remaining: remaining, reset: reset)
    }

    @Test("Counts the requests sent since the last answer; blocks when the window is spent, until its reset")
    func spentWindowBlocksUntilReset() {
        var window = RateLimitWindow()
        #expect(window.blockedUntil(now: t0) == nil)
        window.observe(headers(remaining: 3, reset: 0.5), now: t0)
        #expect(window.remaining(now: t0) == 3)
        for _ in 0..<3 { window.requestSent(now: t0) }
        #expect(window.remaining(now: t0) == 0)
        #expect(window.blockedUntil(now: t0) == t0 + .milliseconds(500))
        #expect(window.blockedUntil(now: t0 + .milliseconds(499)) == t0 + .milliseconds(500))
        #expect(window.blockedUntil(now: t0 + .milliseconds(500)) == nil)
        // The next window starts with the learned limit.
        window.requestSent(now: t0 + .milliseconds(500))
        #expect(window.remaining(now: t0 + .milliseconds(500)) == 9)
    }

    @Test("An answer cannot raise what is left in the same window (requests on their way are not in it)")
    func answersOnlyLowerTheEstimate() {
        var window = RateLimitWindow()
        window.observe(headers(remaining: 8, reset: 1), now: t0)
        for _ in 0..<5 { window.requestSent(now: t0) }
        // Lago counted one more request of ours when it answered: 7 left by its count, 3 by ours.
        window.observe(headers(remaining: 7, reset: 1), now: t0 + .milliseconds(10))
        #expect(window.remaining(now: t0 + .milliseconds(10)) == 3)
        window.observe(headers(remaining: 1, reset: 1), now: t0 + .milliseconds(20))
        #expect(window.remaining(now: t0 + .milliseconds(20)) == 1)
    }

    @Test(
        "Paced once the limit is known: wherever Lago's 1-second windows fall, none gets more than 95 % of the limit",
        arguments: [10, 40, 100, 500])
    func pacedBelowTheLimitInAnySecond(limit: Int) {
        var window = RateLimitWindow()
        // Lago says its limit and that the window has room to spare (other answers follow, always with room).
        window.observe(headers(limit: limit, remaining: limit, reset: 1), now: t0)
        var sends: [Duration] = []
        // A sender with always more to send, woken exactly when the pacer allows (a manual clock), for 10 seconds.
        var now = t0
        var nextAnswer = t0 + .seconds(1)
        while now < t0 + .seconds(10) {
            if let until = window.blockedUntil(now: now) {
                now = until
            } else {
                window.requestSent(now: now)
                sends.append(now - t0)
            }
            if now >= nextAnswer {
                window.observe(headers(limit: limit, remaining: limit, reset: 1), now: now)
                nextAnswer = now + .seconds(1)
            }
        }
        // Every 1-second span, starting anywhere (at each send), holds at most 95 % of the limit.
        var most = 0
        var start = 0
        for end in sends.indices {
            while sends[end] - sends[start] >= .seconds(1) { start += 1 }
            most = max(most, end - start + 1)
        }
        #expect(most <= Int(Double(limit) * 0.95), "most in one second: \(most) of \(limit)")
        // And the rate is not given away: at least 90 % of the limit over the 10 seconds (95 % from 20 a second).
        #expect(sends.count >= Int(Double(limit) * 0.9 * 10) - 1, "\(sends.count) in 10 s at \(limit)/s")
        // Nor the burst: the first wave is as wide as the budget.
        #expect(sends.prefix { $0 == sends[0] }.count == Int(Double(limit) * 0.95), "the first wave at once")
    }

    @Test(
        "Lago's windows fall where they fall, their reset in whole seconds: close to the limit, never beyond it",
        arguments: Array(stride(from: 0, to: 1000, by: 100)), [0, 150, 300])
    func followsLagosWindows(phaseMilliseconds: Int, others: Int) {
        // Lago counts arrivals in fixed 1-second windows whose edges fall `phase` after t0 (+ k seconds) and answers
        // `X-RateLimit-Reset` rounded up to whole seconds (1 in every answer of a 1-second window), as the sandbox
        // does. Requests arrive 50 ms after they are sent, their answers 50 ms later; 64 at most in flight. Another
        // client of the organization spends `others` of each window as it starts.
        let limit = 500
        let oneWay = Duration.milliseconds(50)
        let origin = t0 + .milliseconds(phaseMilliseconds) - .seconds(1)
        var window = RateLimitWindow()
        var lagoWindow = -1
        var counted = 0
        var busiestWindow = 0
        var answers: [(at: ContinuousClock.Instant, headers: RateLimitHeaders)] = []
        var sent = 0
        var now = t0
        let end = t0 + .seconds(10)
        while now < end {
            if answers.count < 64, window.blockedUntil(now: now) == nil {
                window.requestSent(now: now)
                sent += 1
                // Lago's count at the arrival, and the answer it sends back.
                let arrival = now + oneWay
                let index = Int((arrival - origin) / .seconds(1))
                if index != lagoWindow { (lagoWindow, counted) = (index, others) }
                counted += 1
                busiestWindow = max(busiestWindow, counted)
                let untilReset = (origin + .seconds(index + 1) - arrival) / .seconds(1)
                let said = headers(limit: limit, remaining: max(0, limit - counted), reset: untilReset.rounded(.up))
                answers.append((arrival + oneWay, said))
                continue
            }
            // Nothing can go now: on to the next answer or the end of the wait, whichever comes first.
            let next = [answers.first?.at, window.blockedUntil(now: now)].compactMap { $0 }.min() ?? end
            now = max(now, next)
            while let answer = answers.first, answer.at <= now {
                answers.removeFirst()
                window.observe(answer.headers, inFlight: answers.count, now: answer.at)
            }
        }
        #expect(busiestWindow <= limit, "no 429: at most \(limit) in any of Lago's windows, \(busiestWindow) seen")
        // Close to what is ours: 95 % of the limit (the pacer's own ceiling) or what the other client leaves. Before
        // new windows were seen in the answers, a spent estimate waited for its late end: 77–95 % of the limit alone,
        // 83–89 % of what the other client left of 150 (what it leaves of 300 is too little to tell: 90 % then).
        let ours = min(Int(Double(limit) * RateLimitWindow.budgetShare), limit - others) * 10
        #expect(Double(sent) >= Double(ours) * 0.88, "\(sent) sent in 10 s of \(ours) that were ours")
    }

    @Test("A rise of what is left within the window is an answer overtaken by another, or another client's doing")
    func aNewWindowIsARiseOfHalfTheLimit() {
        var window = RateLimitWindow()
        window.observe(headers(limit: 100, remaining: 40, reset: 1), inFlight: 10, now: t0)
        // The answer to a request that reached Lago before the last one did: 60 were left then.
        window.observe(headers(limit: 100, remaining: 60, reset: 1), inFlight: 70, now: t0 + .milliseconds(10))
        #expect(window.remaining(now: t0 + .milliseconds(10)) == 40)
        // Under half the limit: other clients' requests may have come between the two.
        window.observe(headers(limit: 100, remaining: 89, reset: 1), inFlight: 0, now: t0 + .milliseconds(20))
        #expect(window.remaining(now: t0 + .milliseconds(20)) == 40)
        #expect(window.resetAt == t0 + .seconds(1))
        // Half the limit and more than was in flight: Lago's window started afresh, less what is on its way to it.
        window.observe(headers(limit: 100, remaining: 97, reset: 1), inFlight: 3, now: t0 + .milliseconds(30))
        #expect(window.remaining(now: t0 + .milliseconds(30)) == 94)
        #expect(window.resetAt == t0 + .milliseconds(1_030))
        #expect(window.blockedUntil(now: t0 + .milliseconds(30)) == nil)
    }

    @Test("Answers without rate-limit headers never block")
    func noHeadersNoPacing() {
        var window = RateLimitWindow()
        for _ in 0..<100 { window.requestSent(now: t0) }
        window.observe(RateLimitHeaders(), now: t0)
        #expect(window.blockedUntil(now: t0) == nil)
        #expect(window.remaining(now: t0) == nil)
    }
}

@Suite struct RateLimitPacingTests {
    typealias Machine = DeliveryStateMachine
    let t0 = ContinuousClock.now

    func machine(maxInFlight: Int, unclaimed: Int = 0) -> Machine {
        Machine(
            settings: .init(
                maxBatchSize: 100, maxBatchBytes: 1 << 20, maxInFlight: maxInFlight, flushInterval: .seconds(1),
                retry: RetryPolicy(base: .seconds(1), cap: .seconds(30)), probeInterval: .seconds(1)),
            random: SplitMix64(seed: 1), unclaimedCount: unclaimed, unclaimedBytes: 0, now: t0)
    }

    func sends(_ decision: Machine.Decision) -> [Int] {
        decision.actions.compactMap { if case .send(let id, _, _, _, _) = $0 { id } else { nil } }
    }

    /// Ready batches `count` of one event each, claimed at `t0`.
    func loaded(maxInFlight: Int, batches count: Int) -> Machine {
        var machine = machine(maxInFlight: maxInFlight)
        for id in 1...count {
            machine.rowsAppended(count: 100, bytes: 100, now: t0)
            machine.claimCompleted(makeRows(Int64(id)...Int64(id)), now: t0)
        }
        return machine
    }

    func answered(status: Int, headers: RateLimitHeaders, latency: Duration = .milliseconds(50)) -> BatchOutcome {
        var outcome = BatchOutcome()
        if status == 429 {
            let error = lagoError(
                status: 429, body: #"{"status":429,"error":"Too Many Requests"}"#,
                headers: [
                    ("X-RateLimit-Limit", "\(headers.limit ?? 0)"), ("X-RateLimit-Remaining", "0"),
                    ("X-RateLimit-Reset", "\(Int(headers.reset ?? 1))"),
                ])
            outcome = BatchOutcome.classify(rows: makeRows(1...1), error: error, isolated: false)
            outcome.exchange = .init(latency: latency, error: error)
        } else {
            outcome.serverAnswered = true
            outcome.exchange = .init(latency: latency, error: nil, rateLimit: headers)
        }
        return outcome
    }

    @Test("Paced to the window: no request beyond what Lago said is left, the rest goes at the reset")
    func pacedToTheWindow() {
        var machine = loaded(maxInFlight: 8, batches: 8)
        let first = sends(machine.decide(now: t0, wallNow: Date(), spooled: 8))
        #expect(first.count == 8)
        // The first answer: 2 left in this window (Lago counted all 8? not yet: 2 by its count, fewer by ours).
        machine.sendCompleted(
            batchID: first[0], rows: makeRows(1...1),
            outcome: answered(status: 200, headers: RateLimitHeaders(limit: 100, remaining: 2, reset: 1)),
            now: t0 + .milliseconds(50))
        for id in first.dropFirst() {
            machine.sendCompleted(
                batchID: id, rows: makeRows(1...1),
                outcome: answered(status: 200, headers: RateLimitHeaders(limit: 100, remaining: 2, reset: 1)),
                now: t0 + .milliseconds(50))
        }
        for id in 9...14 {
            machine.rowsAppended(count: 100, bytes: 100, now: t0)
            machine.claimCompleted(makeRows(Int64(id)...Int64(id)), now: t0 + .milliseconds(50))
        }
        let second = machine.decide(now: t0 + .milliseconds(50), wallNow: Date(), spooled: 6)
        #expect(sends(second).count == 2)
        #expect(second.wakeAt == t0 + .milliseconds(1_050))
        #expect(sends(machine.decide(now: t0 + .milliseconds(500), wallNow: Date(), spooled: 6)).isEmpty)
        // The window resets: the rest goes, at the learned rate.
        #expect(sends(machine.decide(now: t0 + .milliseconds(1_050), wallNow: Date(), spooled: 6)).count == 4)
    }

    @Test("A burst of 429s: one wait of what Lago asked for all batches, then they all go at once (no probe crawl)")
    func waitOnceThenAllGo() {
        var machine = loaded(maxInFlight: 4, batches: 4)
        let first = sends(machine.decide(now: t0, wallNow: Date(), spooled: 4))
        #expect(first.count == 4)
        let at = t0 + .milliseconds(20)
        for id in first {
            let retry = machine.sendCompleted(
                batchID: id, rows: makeRows(1...1),
                outcome: answered(status: 429, headers: RateLimitHeaders(limit: 100, remaining: 0, reset: 1)), now: at)
            #expect(retry?.at == at + .seconds(1))
        }
        // Not an outage: no backing off, no probing.
        #expect(!machine.isBackingOff)
        let waiting = machine.decide(now: at, wallNow: Date(), spooled: 4)
        #expect(sends(waiting).isEmpty)
        #expect(waiting.wakeAt == at + .seconds(1))
        #expect(sends(machine.decide(now: at + .milliseconds(999), wallNow: Date(), spooled: 4)).isEmpty)
        // Lago's second has passed: every batch goes, not one probe.
        #expect(sends(machine.decide(now: at + .seconds(1), wallNow: Date(), spooled: 4)).count == 4)
    }

    @Test("After the wait the batches go at once, up to the ceiling, not the adaptive limit's few")
    func burstAfterTheWait() {
        var machine = Machine(
            settings: .init(
                maxBatchSize: 100, maxBatchBytes: 1 << 20, maxInFlight: 8, flushInterval: .seconds(1),
                retry: RetryPolicy(base: .seconds(1), cap: .seconds(30)), probeInterval: .seconds(1),
                adaptive: .adaptive(floor: 1, ceiling: 8, initial: 2)),
            random: SplitMix64(seed: 1), unclaimedCount: 0, unclaimedBytes: 0, now: t0)
        for id in 1...6 {
            machine.rowsAppended(count: 1, bytes: 10, now: t0)
            machine.claimCompleted(makeRows(Int64(id)...Int64(id)), now: t0)
        }
        let first = sends(machine.decide(now: t0, wallNow: Date(), spooled: 6))
        #expect(first.count == 2)
        for id in first {
            machine.sendCompleted(
                batchID: id, rows: makeRows(1...1),
                outcome: answered(status: 429, headers: RateLimitHeaders(limit: 100, remaining: 0, reset: 1)), now: t0)
        }
        #expect(sends(machine.decide(now: t0 + .milliseconds(500), wallNow: Date(), spooled: 6)).isEmpty)
        #expect(sends(machine.decide(now: t0 + .seconds(1), wallNow: Date(), spooled: 6)).count == 6)
    }

    @Test("During the wait the engine reads ahead up to the ceiling, so the wave after it is that wide")
    func readsAheadDuringTheWait() {
        var machine = Machine(
            settings: .init(
                maxBatchSize: 100, maxBatchBytes: 1 << 20, maxInFlight: 8, flushInterval: .seconds(1),
                retry: RetryPolicy(base: .seconds(1), cap: .seconds(30)), probeInterval: .seconds(1),
                adaptive: .adaptive(floor: 1, ceiling: 8, initial: 2)),
            random: SplitMix64(seed: 1), unclaimedCount: 0, unclaimedBytes: 0, now: t0)
        machine.rowsAppended(count: 2_000, bytes: 20_000, now: t0)
        var next: Int64 = 1
        func claimAll(at now: ContinuousClock.Instant) -> [Int] {
            var sent: [Int] = []
            while true {
                let decision = machine.decide(now: now, wallNow: Date(), spooled: 2_000)
                sent += sends(decision)
                guard decision.actions.contains(where: { if case .claim = $0 { true } else { false } }) else {
                    return sent
                }
                machine.claimCompleted(makeRows(next...(next + 99)), now: now)
                next += 100
            }
        }
        let first = claimAll(at: t0)
        #expect(first.count == 2)
        for id in first {
            machine.sendCompleted(
                batchID: id, rows: makeRows(1...1),
                outcome: answered(status: 429, headers: RateLimitHeaders(limit: 100, remaining: 0, reset: 1)), now: t0)
        }
        #expect(claimAll(at: t0 + .milliseconds(100)).isEmpty)
        #expect(machine.batches.count >= 8)
        #expect(sends(machine.decide(now: t0 + .seconds(1), wallNow: Date(), spooled: 2_000)).count == 8)
    }
}
