import Foundation
import LagoAPI
import LagoUsage
import Testing

@testable import LagoEngine

// Pure tests of the engine's decisions: no I/O, no sleeps.

func makeRows(_ ids: ClosedRange<Int64>, attempts: Int = 1) -> [SpoolRow] {
    ids.map {
        SpoolRow(
            id: $0, transactionID: "tx-\($0)", body: Array(#"{"transaction_id":"tx-\#($0)","code":"c"}"#.utf8),
            enqueuedAt: 0, attempts: attempts)
    }
}

func lagoError(status: Int, body: String, headers: [(name: String, value: String)] = []) -> LagoAPIError {
    LagoAPIError.httpResponse(
        status: status, body: Data(body.utf8), headers: headers,
        request: LagoRequestSummary(method: "POST", path: "/events/batch"))
}

@Suite struct RetryPolicyTests {
    @Test func ceilingDoublesUpToTheCap() {
        let policy = RetryPolicy(base: .seconds(1), cap: .seconds(30))
        #expect(policy.ceiling(failures: 1) == .seconds(1))
        #expect(policy.ceiling(failures: 2) == .seconds(2))
        #expect(policy.ceiling(failures: 5) == .seconds(16))
        #expect(policy.ceiling(failures: 6) == .seconds(30))
        #expect(policy.ceiling(failures: 60) == .seconds(30))
    }

    @Test func fullJitterStaysInRangeAndHonoursTheServer() {
        let policy = RetryPolicy(base: .seconds(1), cap: .seconds(30))
        var random = SplitMix64(seed: 7)
        var sawSmall = false
        var sawLarge = false
        for _ in 0..<1000 {
            let delay = policy.delay(failures: 3, suggested: nil, using: &random)
            #expect(delay >= .zero && delay <= .seconds(4))
            if delay < .seconds(1) { sawSmall = true }
            if delay > .seconds(3) { sawLarge = true }
            let asked = policy.delay(failures: 1, suggested: .seconds(5), using: &random)
            #expect(asked >= .seconds(5))
        }
        #expect(sawSmall && sawLarge)
    }

    @Test func seededGeneratorsRepeat() {
        var first = SplitMix64(seed: 42)
        var second = SplitMix64(seed: 42)
        #expect((0..<10).map { _ in first.next() } == (0..<10).map { _ in second.next() })
    }
}

@Suite struct EventJSONTests {
    @Test func encodesWhatLagoDecodes() throws {
        let event = EventInput(
            transactionID: "tx \"1\"\n", externalSubscriptionID: "sub_1", code: "llm_input_tokens",
            timestamp: 1_651_240_791.123,
            properties: ["value": 1200, "model": "gpt-\u{1}x", "ratio": 0.25, "ok": true, "none": nil],
            preciseTotalAmountCents: "12.5")
        let bytes = try EventJSON.encode(event)
        let decoded = try JSONDecoder().decode(EventInput.self, from: Data(bytes))
        #expect(decoded == event)
        let body = EventJSON.batchBody([bytes, bytes], totalBytes: bytes.count * 2)
        let value = try JSONValue.parse(Data(body))
        #expect(value["events"]?.arrayValue?.count == 2)
    }

    @Test func refusesWhatLagoCannotTake() {
        #expect(throws: EngineError.self) {
            try EventJSON.encode(EventInput(transactionID: "t", externalSubscriptionID: "s", code: ""))
        }
        #expect(throws: EngineError.self) {
            try EventJSON.encode(
                EventInput(transactionID: "t", externalSubscriptionID: "s", code: "c", properties: ["v": .number(.nan)]))
        }
    }
}

@Suite struct UsageRecordTests {
    @Test func oneEventPerNonZeroFieldWithTheMappedCode() throws {
        let record = UsageRecord(
            values: [.input: 1200, .output: 0, .cacheRead: 3.5, .toolCalls: 2],
            dimensions: ["model": "claude", "region": "eu"], idBase: "call-1", timestamp: 1_700_000_000)
        let events = try record.events(metricCodes: [.input: "in_tokens"], defaultSubscription: "sub_default")
        #expect(events.map(\.transactionID) == ["call-1:input", "call-1:cache_read", "call-1:tool_calls"])
        #expect(events.map(\.code) == ["in_tokens", "llm_cached_input_tokens", "llm_tool_calls"])
        #expect(events.allSatisfy { $0.externalSubscriptionID == "sub_default" && $0.timestamp == 1_700_000_000 })
        #expect(events[0].properties == ["model": "claude", "region": "eu", "value": 1200])
        #expect(events[1].properties["value"] == .number(3.5))
    }

    @Test func explicitSubscriptionWinsAndAMissingOneIsRefused() throws {
        let record = UsageRecord(values: [.output: 5], externalSubscriptionID: "sub_x")
        #expect(try record.events(metricCodes: [:], defaultSubscription: "sub_default")[0].externalSubscriptionID == "sub_x")
        let orphan = UsageRecord(values: [.output: 5])
        #expect {
            try orphan.events(metricCodes: [:], defaultSubscription: nil)
        } throws: { ($0 as? EngineError)?.kind == .noSubscription }
    }

    @Test func generatedBasesAreSharedByTheRecordsEvents() throws {
        let events = try UsageRecord(values: [.input: 1, .output: 2]).events(metricCodes: [:], defaultSubscription: "s")
        let bases = Set(events.map { $0.transactionID.split(separator: ":")[0] })
        #expect(bases.count == 1)
        #expect(UUID(uuidString: String(bases.first!)) != nil)
    }

    @Test func refusesBadDimensionsAndValues() {
        for record in [
            UsageRecord(values: [.input: .infinity]),
            UsageRecord(values: [.input: 1], dimensions: ["tags": ["a"]]),
            UsageRecord(values: [.input: 1], dimensions: ["value": "x"]),
        ] {
            #expect {
                try record.events(metricCodes: [:], defaultSubscription: "s")
            } throws: { ($0 as? EngineError)?.kind == .invalidUsage }
        }
    }
}

@Suite struct BatchOutcomeTests {
    @Test func successDeliversEverything() {
        let outcome = BatchOutcome.classify(rows: makeRows(1...3), error: nil, isolated: false)
        #expect(outcome.delivered.count == 3 && outcome.serverAnswered)
    }

    @Test func aPoisonedBatchDeadLettersTheBadEventAndResendsTheRest() {
        let error = lagoError(
            status: 422,
            body: #"{"status":422,"error":"Unprocessable Entity","code":"validation_errors","error_details":{"1":{"timestamp":["invalid_format"]}}}"#)
        let outcome = BatchOutcome.classify(rows: makeRows(1...3), error: error, isolated: false)
        #expect(outcome.resend.map(\.id) == [1, 3])
        #expect(outcome.dead.map(\.row.id) == [2])
        let reason = outcome.dead[0].reason
        #expect(reason.kind == .rejected && reason.status == 422 && reason.code == "validation_errors")
        #expect(reason.details == ["timestamp": ["invalid_format"]])
    }

    @Test func duplicatesCountAsAlreadyInLagoOnlyAfterAnEarlierAttempt() {
        let error = lagoError(
            status: 422,
            body: #"{"status":422,"error":"Unprocessable Entity","code":"validation_errors","error_details":{"0":{"transaction_id":["value_already_exist"]},"1":{"transaction_id":["value_already_exist"]}}}"#)
        var rows = makeRows(1...2, attempts: 2)
        rows[1].attempts = 1
        let outcome = BatchOutcome.classify(rows: rows, error: error, isolated: false)
        #expect(outcome.alreadyInLago.map(\.id) == [1])
        #expect(outcome.dead.map(\.row.id) == [2])
    }

    @Test func retryLaterCarriesTheServersDelay() {
        let error = lagoError(
            status: 429, body: #"{"status":429,"error":"Too Many Requests"}"#, headers: [("Retry-After", "3")])
        let outcome = BatchOutcome.classify(rows: makeRows(1...2), error: error, isolated: false)
        #expect(outcome.retry?.suggestedDelay == .seconds(3))
        #expect(!outcome.serverAnswered)
    }

    @Test func aProxysErrorsNeverDeadLetterValidEvents() {
        let page = "<html><head><title>400 Bad Request</title></head><body>nginx</body></html>"
        let proxy400 = BatchOutcome.classify(
            rows: makeRows(1...3), error: lagoError(status: 400, body: page), isolated: false)
        #expect(proxy400.retry != nil && proxy400.dead.isEmpty && proxy400.split.isEmpty)
        // A gateway's own JSON is not Lago's envelope either.
        let gateway = BatchOutcome.classify(
            rows: makeRows(1...3), error: lagoError(status: 400, body: #"{"message":"bad gateway request"}"#),
            isolated: true)
        #expect(gateway.retry != nil && gateway.dead.isEmpty)
        // Lago's own 400 is final for a single event.
        let lago400 = BatchOutcome.classify(
            rows: makeRows(1...1),
            error: lagoError(
                status: 400, body: #"{"status":400,"error":"BadRequest: param is missing or the value is empty or invalid: event"}"#),
            isolated: true)
        #expect(lago400.dead.count == 1 && lago400.dead[0].reason.kind == .requestRefused)

        let tooLarge = BatchOutcome.classify(
            rows: makeRows(1...5), error: lagoError(status: 413, body: page), isolated: false)
        #expect(tooLarge.halves.map(\.count) == [2, 3] && tooLarge.dead.isEmpty)
        let single = BatchOutcome.classify(
            rows: makeRows(1...1), error: lagoError(status: 413, body: page), isolated: false)
        #expect(single.dead.count == 1 && single.dead[0].reason.kind == .tooLarge)

        let notFound = BatchOutcome.classify(
            rows: makeRows(1...3),
            error: lagoError(status: 404, body: #"{"status":404,"error":"Not Found","code":"resource_not_found"}"#),
            isolated: false)
        #expect(notFound.hold?.kind == .wrongURL && notFound.dead.isEmpty)
        let proxy404 = BatchOutcome.classify(
            rows: makeRows(1...3), error: lagoError(status: 404, body: page), isolated: false)
        #expect(proxy404.hold?.kind == .wrongURL)
    }

    @Test func authFailureHolds() {
        let outcome = BatchOutcome.classify(
            rows: makeRows(1...2), error: lagoError(status: 401, body: #"{"status":401,"error":"Unauthorized"}"#),
            isolated: false)
        #expect(outcome.hold?.kind == .auth && outcome.settledCount == 0)
    }

    @Test func aRefusedRequestIsSplitOnceThenDeadLettered() {
        let error = lagoError(status: 400, body: #"{"status":400,"error":"Bad Request"}"#)
        let batch = BatchOutcome.classify(rows: makeRows(1...3), error: error, isolated: false)
        #expect(batch.split.count == 3 && batch.dead.isEmpty)
        let single = BatchOutcome.classify(rows: makeRows(1...1), error: error, isolated: true)
        #expect(single.dead.count == 1 && single.dead[0].reason.status == 400)
    }
}

extension DeliveryStateMachine {
    /// A claim read of one batch finished; `rows` become a ready batch.
    mutating func claimCompleted(_ rows: [SpoolRow], now: Instant) {
        claimCompleted(batches: [rows], now: now)
    }

    /// A decision at `now`, the spool holding exactly what the machine knows of.
    mutating func decide(now: Instant) -> Decision {
        decide(
            now: now, wallNow: Date(timeIntervalSince1970: 1_700_000_000),
            spooled: unclaimedCount + batches.reduce(0) { $0 + $1.rows.count })
    }
}

@Suite struct DeliveryStateMachineTests {
    typealias Machine = DeliveryStateMachine
    let t0 = ContinuousClock.now

    func machine(maxInFlight: Int = 2, unclaimed: Int = 0) -> Machine {
        Machine(
            settings: .init(
                maxBatchSize: 100, maxBatchBytes: 1 << 20, maxInFlight: maxInFlight, flushInterval: .seconds(1),
                retry: RetryPolicy(base: .seconds(1), cap: .seconds(30)), probeInterval: .seconds(1)),
            random: SplitMix64(seed: 1), unclaimedCount: unclaimed, unclaimedBytes: 0, now: t0)
    }

    func sends(_ decision: Machine.Decision) -> [Int] {
        decision.actions.compactMap { if case .send(let id, _, _, _, _) = $0 { id } else { nil } }
    }

    /// The actions that send or read (transitions to log left out).
    func work(_ decision: Machine.Decision) -> [Machine.Action] {
        decision.actions.filter { if case .log = $0 { false } else { true } }
    }

    func claims(_ decision: Machine.Decision) -> Int {
        decision.actions.count { if case .claim = $0 { true } else { false } }
    }

    var retryOutcome: BatchOutcome {
        var outcome = BatchOutcome()
        outcome.retry = .init(suggestedDelay: nil, reason: "HTTP 503")
        return outcome
    }

    var deliveredOutcome: BatchOutcome {
        var outcome = BatchOutcome()
        outcome.serverAnswered = true
        return outcome
    }

    @Test func aPartialBatchWaitsForTheFlushIntervalAFullOneGoesAtOnce() {
        var machine = machine()
        machine.rowsAppended(count: 10, bytes: 100, now: t0)
        let early = machine.decide(now: t0)
        #expect(claims(early) == 0 && early.wakeAt == t0 + .seconds(1))
        #expect(claims(machine.decide(now: t0 + .seconds(1))) == 1)

        var full = self.machine()
        full.rowsAppended(count: 100, bytes: 100, now: t0)
        #expect(claims(full.decide(now: t0)) == 1)
    }

    /// The batch counts each claim asks for.
    func claimedBatches(_ decision: Machine.Decision) -> [Int] {
        decision.actions.compactMap { if case .claim(_, _, _, let batches) = $0 { batches } else { nil } }
    }

    @Test func aBacklogIsClaimedSeveralFullBatchesInOneRead() {
        // Three allowed in flight, nothing sending: three requests and a wave of three read ahead are missing, in one
        // read.
        var machine = machine(maxInFlight: 3)
        machine.rowsAppended(count: 1_050, bytes: 1_050, now: t0)
        #expect(claimedBatches(machine.decide(now: t0)) == [6])
        let wave: [[SpoolRow]] = (0..<6).map { (index: Int64) in makeRows((index * 100 + 1)...(index * 100 + 100)) }
        machine.claimCompleted(batches: wave, now: t0)
        #expect(machine.batches.count == 6 && machine.unclaimedCount == 450)
        let sending = machine.decide(now: t0)
        #expect(sends(sending).count == 3 && claimedBatches(sending).isEmpty, "the read-ahead is there")
        // One answer: its slot is refilled from the read-ahead, and one batch is read to make the wave whole again.
        var delivered = BatchOutcome()
        delivered.delivered = makeRows(1...100)
        delivered.serverAnswered = true
        machine.sendCompleted(batchID: sends(sending)[0], rows: makeRows(1...100), outcome: delivered, now: t0)
        let refill = machine.decide(now: t0)
        #expect(sends(refill).count == 1 && claimedBatches(refill) == [1])

        // Only full batches before the flush interval: 250 left waiting make two, not three.
        var partial = self.machine(maxInFlight: 4)
        partial.rowsAppended(count: 250, bytes: 250, now: t0)
        #expect(claimedBatches(partial.decide(now: t0)) == [2])
        partial.claimCompleted(batches: [makeRows(1...100), makeRows(101...200)], now: t0)
        _ = partial.decide(now: t0)
        #expect(partial.unclaimedCount == 50)
        // Once the interval has passed, the partial rest goes too.
        #expect(claimedBatches(partial.decide(now: t0 + .seconds(1))) == [1])

        // At most maxBatchesPerClaim in one read, however many are allowed in flight.
        var wide = self.machine(maxInFlight: 64)
        wide.rowsAppended(count: 10_000, bytes: 10_000, now: t0)
        #expect(claimedBatches(wide.decide(now: t0)) == [wide.settings.maxBatchesPerClaim])
    }

    @Test func eventsFoundAtStartAreOverdue() {
        var machine = machine(unclaimed: 5)
        #expect(claims(machine.decide(now: t0)) == 1)
    }

    @Test func neverMoreThanMaxInFlightRequests() {
        var machine = machine(maxInFlight: 2)
        machine.rowsAppended(count: 1000, bytes: 1000, now: t0)
        var next: Int64 = 1
        var maxSending = 0
        for _ in 0..<10 {
            let decision = machine.decide(now: t0)
            maxSending = max(maxSending, machine.sendingCount)
            if claims(decision) == 1 {
                machine.claimCompleted(makeRows(next...(next + 99)), now: t0)
                next += 100
            }
        }
        #expect(maxSending == 2)
        #expect(machine.sendingCount == 2)
        #expect(machine.batches.count == 4)  // two sending, two read ahead
    }

    @Test func failuresBackOffProbeAndAllWaitingBatchesGoOnRecovery() {
        var machine = machine(maxInFlight: 2)
        machine.rowsAppended(count: 200, bytes: 200, now: t0)
        _ = machine.decide(now: t0)
        machine.claimCompleted(makeRows(1...100), now: t0)
        _ = machine.decide(now: t0)
        machine.claimCompleted(makeRows(101...200), now: t0)
        let sent = sends(machine.decide(now: t0))
        #expect(machine.sendingCount == 2, "sent \(sent)")

        let retry1 = machine.sendCompleted(batchID: 1, rows: makeRows(1...100), outcome: retryOutcome, now: t0)
        let retry2 = machine.sendCompleted(batchID: 2, rows: makeRows(101...200), outcome: retryOutcome, now: t0)
        #expect(retry1 != nil && retry2 != nil)
        #expect(retry1!.at <= t0 + .seconds(1) && retry1!.attempt == 2)
        #expect(machine.isBackingOff)

        // Both wait; after their backoff (≤ 1 s) they go again.
        let later = t0 + .seconds(1)
        #expect(sends(machine.decide(now: later)).count == 2)
        _ = machine.sendCompleted(batchID: 1, rows: makeRows(1...100), outcome: retryOutcome, now: later)
        _ = machine.sendCompleted(batchID: 2, rows: makeRows(101...200), outcome: retryOutcome, now: later)
        // No new batch is read while failing.
        machine.rowsAppended(count: 100, bytes: 100, now: later)
        let waiting = machine.decide(now: later)
        #expect(claims(waiting) == 0 && sends(waiting).isEmpty)
        // A probe goes one probe interval after the last request even though the backoffs last longer.
        let probeTime = later + .seconds(1)
        let probe = machine.decide(now: probeTime)
        #expect(sends(probe).count == 1)
        // It succeeds: every waiting batch is released at once, and reading resumes.
        let probed = sends(probe)[0]
        let rows = machine.batches.first { $0.id == probed }!.rows
        machine.sendCompleted(batchID: probed, rows: rows, outcome: deliveredOutcome, now: probeTime)
        #expect(!machine.isBackingOff)
        #expect(machine.lastRecovery?.recoveredAt == probeTime)
        let resumed = machine.decide(now: probeTime)
        #expect(sends(resumed).count == 1 && claims(resumed) == 1)
    }

    @Test func aProbeGoesEveryProbeIntervalWhileBackoffsAreLong() {
        var machine = Machine(
            settings: .init(
                maxBatchSize: 100, maxBatchBytes: 1 << 20, maxInFlight: 2, flushInterval: .seconds(1),
                retry: RetryPolicy(base: .seconds(30), cap: .seconds(30)), probeInterval: .seconds(1)),
            random: SplitMix64(seed: 3), unclaimedCount: 100, unclaimedBytes: 0, now: t0)
        _ = machine.decide(now: t0)
        machine.claimCompleted(makeRows(1...100), now: t0)
        #expect(sends(machine.decide(now: t0)) == [1])
        let retry = machine.sendCompleted(batchID: 1, rows: makeRows(1...100), outcome: retryOutcome, now: t0)
        var probeAt = t0 + .seconds(1)
        if retry!.at <= probeAt { return }  // the jitter drew a short wait: nothing to probe
        let waiting = machine.decide(now: t0 + .milliseconds(500))
        #expect(sends(waiting).isEmpty && waiting.wakeAt == probeAt)
        for _ in 0..<3 {
            let probe = machine.decide(now: probeAt)
            #expect(probe.actions.contains { if case .send(1, _, _, _, true) = $0 { true } else { false } })
            _ = machine.sendCompleted(batchID: 1, rows: makeRows(1...100), outcome: retryOutcome, now: probeAt)
            probeAt = probeAt + .seconds(1)
        }
    }

    @Test func noRequestBeforeTheServerAsked() {
        var machine = machine(maxInFlight: 1)
        machine.rowsAppended(count: 100, bytes: 100, now: t0)
        _ = machine.decide(now: t0)
        machine.claimCompleted(makeRows(1...100), now: t0)
        #expect(sends(machine.decide(now: t0)) == [1])
        var outcome = BatchOutcome()
        outcome.retry = .init(suggestedDelay: .seconds(5), reason: "HTTP 429")
        let retry = machine.sendCompleted(batchID: 1, rows: makeRows(1...100), outcome: outcome, now: t0)
        #expect(retry!.at >= t0 + .seconds(5))
        machine.retryNow()  // the operator's retry does not override the server
        let early = machine.decide(now: t0 + .seconds(4))
        #expect(sends(early).isEmpty && early.wakeAt == t0 + .seconds(5))
        #expect(sends(machine.decide(now: t0 + .seconds(5))) == [1])
    }

    @Test func authFailureHoldsProbesEveryThirtySecondsAndResumesWhenLagoTakesTheProbe() {
        var machine = machine(maxInFlight: 2)
        machine.rowsAppended(count: 200, bytes: 200, now: t0)
        _ = machine.decide(now: t0)
        machine.claimCompleted(makeRows(1...100), now: t0)
        _ = machine.decide(now: t0)
        var refused = BatchOutcome()
        refused.hold = .init(kind: .auth, reason: "HTTP 401")
        machine.sendCompleted(batchID: 1, rows: makeRows(1...100), outcome: refused, now: t0)
        #expect(machine.hold?.kind == .auth)
        let waiting = machine.decide(now: t0 + .seconds(29))
        #expect(work(waiting).isEmpty && waiting.wakeAt == t0 + .seconds(30), "nothing but the probe, on time")
        // The probe: one batch alone, refused again → the next in 30 s.
        #expect(sends(machine.decide(now: t0 + .seconds(30))) == [1])
        #expect(work(machine.decide(now: t0 + .seconds(31))).isEmpty, "one probe at a time")
        machine.sendCompleted(batchID: 1, rows: makeRows(1...100), outcome: refused, now: t0 + .seconds(31))
        #expect(work(machine.decide(now: t0 + .seconds(60))).isEmpty)
        #expect(sends(machine.decide(now: t0 + .seconds(61))) == [1])
        // The key works again (restored in Lago): the probe is delivered and the hold lifts by itself.
        var delivered = BatchOutcome()
        delivered.delivered = makeRows(1...100)
        delivered.serverAnswered = true
        machine.sendCompleted(batchID: 1, rows: makeRows(1...100), outcome: delivered, now: t0 + .seconds(62))
        #expect(machine.hold == nil)
        // The read-ahead claimed before the hold arrives: delivery goes on with it at once.
        machine.claimCompleted(makeRows(101...200), now: t0 + .seconds(62))
        #expect(sends(machine.decide(now: t0 + .seconds(62))) == [2], "delivery goes on")
    }

    @Test func aNewKeyLiftsAHoldAtOnce() {
        var machine = machine(maxInFlight: 1)
        machine.rowsAppended(count: 100, bytes: 100, now: t0)
        _ = machine.decide(now: t0)
        machine.claimCompleted(makeRows(1...100), now: t0)
        _ = machine.decide(now: t0)
        var outcome = BatchOutcome()
        outcome.hold = .init(kind: .wrongURL, reason: "HTTP 404")
        machine.sendCompleted(batchID: 1, rows: makeRows(1...100), outcome: outcome, now: t0)
        #expect(work(machine.decide(now: t0 + .seconds(10))).isEmpty)
        machine.apiKeyChanged()
        #expect(sends(machine.decide(now: t0 + .seconds(10))) == [1])
    }

    @Test func aHoldAnsweredToARequestSentWithThePreviousKeyDoesNotHoldTheNewOne() {
        var machine = machine(maxInFlight: 1)
        machine.rowsAppended(count: 100, bytes: 100, now: t0)
        _ = machine.decide(now: t0)
        machine.claimCompleted(makeRows(1...100), now: t0)
        #expect(sends(machine.decide(now: t0)) == [1])
        // The key changes while the request is on the wire; its 401 answers for the old key.
        machine.apiKeyChanged()
        var refused = BatchOutcome()
        refused.hold = .init(kind: .auth, reason: "HTTP 401")
        machine.sendCompleted(batchID: 1, rows: makeRows(1...100), outcome: refused, now: t0 + .milliseconds(5))
        #expect(machine.hold == nil)
        #expect(sends(machine.decide(now: t0 + .milliseconds(5))) == [1], "sent again at once, with the new key")
        // Refused with the new key too: now it holds.
        machine.sendCompleted(batchID: 1, rows: makeRows(1...100), outcome: refused, now: t0 + .milliseconds(10))
        #expect(machine.hold?.kind == .auth)
    }

    @Test func aBatchTooLargeGoesAgainInHalves() {
        var machine = machine(maxInFlight: 4)
        machine.rowsAppended(count: 10, bytes: 10, now: t0)
        _ = machine.decide(now: t0 + .seconds(1))
        machine.claimCompleted(makeRows(1...10), now: t0)
        _ = machine.decide(now: t0 + .seconds(1))
        var tooLarge = BatchOutcome()
        tooLarge.serverAnswered = true
        tooLarge.halves = [makeRows(1...5), makeRows(6...10)]
        machine.sendCompleted(batchID: 1, rows: makeRows(1...10), outcome: tooLarge, now: t0)
        #expect(sends(machine.decide(now: t0 + .seconds(1))).count == 2)
        #expect(machine.batches.map(\.rows.count) == [5, 5])
        #expect(machine.batches.allSatisfy { !$0.isolated }, "a half of several events may be halved again")
    }

    @Test func theRestOfAPoisonedBatchGoesAtOnceAndRefusedBatchesSplit() {
        var machine = machine(maxInFlight: 4)
        machine.rowsAppended(count: 3, bytes: 3, now: t0)
        _ = machine.decide(now: t0 + .seconds(1))
        machine.claimCompleted(makeRows(1...3), now: t0)
        _ = machine.decide(now: t0 + .seconds(1))
        var rejected = BatchOutcome()
        rejected.serverAnswered = true
        rejected.resend = makeRows(1...2)
        machine.sendCompleted(batchID: 1, rows: makeRows(1...3), outcome: rejected, now: t0)
        let again = machine.decide(now: t0 + .seconds(1))
        #expect(sends(again) == [1])
        var refused = BatchOutcome()
        refused.split = makeRows(1...2)
        machine.sendCompleted(batchID: 1, rows: makeRows(1...2), outcome: refused, now: t0)
        let singles = machine.decide(now: t0 + .seconds(1))
        #expect(sends(singles).count == 2)
        #expect(machine.batches.allSatisfy { $0.isolated && $0.rows.count == 1 })
    }

    @Test func pauseStopsSendingAndFlushSendsPartialBatches() {
        var machine = machine()
        machine.rowsAppended(count: 3, bytes: 3, now: t0)
        machine.pause()
        #expect(work(machine.decide(now: t0 + .seconds(5))).isEmpty)
        machine.resume()
        var fresh = self.machine()
        fresh.rowsAppended(count: 3, bytes: 3, now: t0)
        fresh.flushStarted(id: 1, deadline: t0 + .seconds(30))
        #expect(claims(fresh.decide(now: t0)) == 1)
    }

    func logs(_ decision: Machine.Decision) -> [Machine.Transition] {
        decision.actions.compactMap { if case .log(let transition) = $0 { transition } else { nil } }
    }

    func flushesCompleted(_ decision: Machine.Decision) -> [Int] {
        decision.actions.flatMap { action -> [Int] in if case .completeFlushes(let ids) = action { ids } else { [] } }
    }

    func exits(_ decision: Machine.Decision) -> Bool {
        decision.actions.contains { if case .exit = $0 { true } else { false } }
    }

    @Test func oneLifecycleAtATimeAndPauseKeepsAHoldForTheResume() {
        var machine = machine(maxInFlight: 1)
        #expect(machine.lifecycle == .running)
        machine.rowsAppended(count: 100, bytes: 100, now: t0)
        _ = machine.decide(now: t0)
        machine.claimCompleted(makeRows(1...100), now: t0)
        _ = machine.decide(now: t0)
        var refused = BatchOutcome()
        refused.hold = .init(kind: .auth, reason: "HTTP 401")
        machine.sendCompleted(batchID: 1, rows: makeRows(1...100), outcome: refused, now: t0)
        let hold = Machine.HoldState(hold: .init(kind: .auth, reason: "HTTP 401"), probeAt: t0 + .seconds(30))
        #expect(machine.lifecycle == .held(hold))
        machine.pause()
        #expect(machine.lifecycle == .paused(hold) && machine.hold != nil)
        #expect(work(machine.decide(now: t0 + .seconds(40))).isEmpty, "paused: not even the hold's probe")
        machine.resume()
        #expect(machine.lifecycle == .held(hold))
        #expect(sends(machine.decide(now: t0 + .seconds(40))) == [1], "the probe that was due goes on resume")
        machine.retryNow()
        #expect(machine.lifecycle == .running)
        machine.stop()
        #expect(machine.lifecycle == .stopping)
        machine.pause()
        #expect(machine.lifecycle == .stopping, "stopping is final")
    }

    @Test func transitionsAreLoggedOnceEach() {
        var machine = machine(maxInFlight: 1)
        machine.rowsAppended(count: 100, bytes: 100, now: t0)
        _ = machine.decide(now: t0)
        machine.claimCompleted(makeRows(1...100), now: t0)
        #expect(logs(machine.decide(now: t0)).isEmpty)
        machine.sendCompleted(batchID: 1, rows: makeRows(1...100), outcome: retryOutcome, now: t0)
        let failing = machine.decide(now: t0)
        #expect(logs(failing) == [.backingOff(reason: "HTTP 503")])
        let announced = failing.actions.contains { action in
            if case .announceRetry(let retry, _, _) = action { retry.attempt == 2 } else { false }
        }
        #expect(announced)
        #expect(logs(machine.decide(now: t0)).isEmpty, "logged once")
        let probe = t0 + .seconds(1)
        #expect(sends(machine.decide(now: probe)) == [1])
        var refused = BatchOutcome()
        refused.serverAnswered = true
        refused.hold = .init(kind: .wrongURL, reason: "HTTP 404")
        machine.sendCompleted(batchID: 1, rows: makeRows(1...100), outcome: refused, now: probe)
        #expect(logs(machine.decide(now: probe)) == [.recovered, .held(.init(kind: .wrongURL, reason: "HTTP 404"))])
        machine.apiKeyChanged()
        #expect(logs(machine.decide(now: probe)) == [.holdLifted])
        machine.stop()
        #expect(logs(machine.decide(now: probe)).isEmpty)
    }

    @Test func aFlushEndsWhenEverythingIsDeliveredAtItsDeadlineOrWhenNothingCanBeSent() {
        var machine = machine(maxInFlight: 1)
        machine.rowsAppended(count: 3, bytes: 3, now: t0)
        machine.flushStarted(id: 1, deadline: t0 + .seconds(10))
        let first = machine.decide(now: t0)
        #expect(claims(first) == 1 && flushesCompleted(first).isEmpty, "a partial batch is read at once")
        #expect(first.wakeAt == t0 + .seconds(10), "woken at the flush's deadline")
        machine.claimCompleted(makeRows(1...3), now: t0)
        #expect(sends(machine.decide(now: t0)) == [1])
        // The spool still holds an event the loop has not heard of yet: not done.
        #expect(flushesCompleted(machine.decide(now: t0, wallNow: Date(), spooled: 3)).isEmpty)
        var delivered = BatchOutcome()
        delivered.delivered = makeRows(1...3)
        delivered.serverAnswered = true
        machine.sendCompleted(batchID: 1, rows: makeRows(1...3), outcome: delivered, now: t0)
        #expect(flushesCompleted(machine.decide(now: t0, wallNow: Date(), spooled: 1)).isEmpty)
        #expect(flushesCompleted(machine.decide(now: t0, wallNow: Date(), spooled: 0)) == [1])
        #expect(!machine.flushing)

        machine.flushStarted(id: 2, deadline: t0 + .seconds(5))
        #expect(flushesCompleted(machine.decide(now: t0 + .seconds(4), wallNow: Date(), spooled: 7)).isEmpty)
        #expect(flushesCompleted(machine.decide(now: t0 + .seconds(5), wallNow: Date(), spooled: 7)) == [2])
        machine.flushStarted(id: 3, deadline: t0 + .seconds(60))
        machine.pause()
        #expect(flushesCompleted(machine.decide(now: t0 + .seconds(5), wallNow: Date(), spooled: 7)) == [3])
    }

    @Test func aCancelledFlushIsAnsweredAtTheNextDecisionAndTheOthersWaitOn() {
        var machine = machine(maxInFlight: 1)
        machine.rowsAppended(count: 3, bytes: 3, now: t0)
        machine.flushStarted(id: 4, deadline: t0 + .seconds(30))
        machine.flushStarted(id: 5, deadline: t0 + .seconds(30))
        #expect(flushesCompleted(machine.decide(now: t0, wallNow: Date(), spooled: 3)).isEmpty)
        machine.flushCancelled(id: 4)
        machine.flushCancelled(id: 99)
        #expect(flushesCompleted(machine.decide(now: t0, wallNow: Date(), spooled: 3)) == [4])
        #expect(machine.flushing, "the other flush still waits")
        machine.flushCancelled(id: 4)
        #expect(flushesCompleted(machine.decide(now: t0, wallNow: Date(), spooled: 3)).isEmpty, "answered once")
    }

    @Test func theLoopEndsOnceStoppingAndNothingIsInFlightAndWaitingFlushesAreAnswered() {
        var machine = machine(maxInFlight: 1)
        machine.rowsAppended(count: 100, bytes: 100, now: t0)
        _ = machine.decide(now: t0)
        machine.claimCompleted(makeRows(1...100), now: t0)
        #expect(sends(machine.decide(now: t0)) == [1])
        machine.flushStarted(id: 7, deadline: t0 + .seconds(30))
        machine.stop()
        let stopping = machine.decide(now: t0)
        #expect(!exits(stopping) && sends(stopping).isEmpty, "the request in flight finishes first")
        machine.sendCompleted(batchID: 1, rows: makeRows(1...100), outcome: retryOutcome, now: t0)
        let last = machine.decide(now: t0)
        #expect(exits(last) && flushesCompleted(last) == [7])
        #expect(sends(last).isEmpty && claims(last) == 0)
    }

    @Test func eventsOlderThanTheMaximumAgeAreExpiredNotSent() {
        var machine = Machine(
            settings: .init(
                maxBatchSize: 100, maxBatchBytes: 1 << 20, maxInFlight: 1, flushInterval: .seconds(1),
                retry: RetryPolicy(base: .seconds(1), cap: .seconds(30)), probeInterval: .seconds(1),
                maxEventAge: .seconds(3600)),
            random: SplitMix64(seed: 1), unclaimedCount: 3, unclaimedBytes: 0, now: t0)
        _ = machine.decide(now: t0)
        var rows = makeRows(1...3, attempts: 0)  // as claimed: never sent yet
        rows[0].enqueuedAt = 1_000
        rows[1].enqueuedAt = 5_000
        rows[2].enqueuedAt = 1_500
        machine.claimCompleted(rows, now: t0)
        let decision = machine.decide(now: t0, wallNow: Date(timeIntervalSince1970: 1_000 + 3_601), spooled: 3)
        let sent = decision.actions.compactMap { action -> ([SpoolRow], [SpoolRow])? in
            if case .send(_, let rows, let expired, _, _) = action { (rows, expired) } else { nil }
        }
        #expect(sent.count == 1)
        #expect(sent[0].0.map(\.id) == [1, 2, 3], "the batch as claimed")
        #expect(sent[0].1.map(\.id) == [1], "only the one past the age")
        #expect(sent[0].1[0].attempts == 0, "never sent")
    }
}
