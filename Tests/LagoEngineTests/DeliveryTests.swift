import Foundation
import LagoAPI
import LagoEngine
import LagoSandbox
import TestSupport
import Testing

// Delivery against the in-process sandbox with its real faults; nothing of the engine or Lago is mocked.

@Suite(.serialized) struct DeliveryTests {
    @Test func tenThousandHealthyEventsArriveOnceEach() async throws {
        let directory = try TemporaryDirectory()
        try await Sandbox.withRunning { sandbox in
            let engine = try makeEngine(testConfiguration(spoolPath: directory.file("spool.sqlite")), sandbox: sandbox)
            engine.start()
            let ids = try await enqueueConcurrently(engine, count: 10_000)
            let result = await engine.flush(deadline: .seconds(60))
            #expect(result.pending == 0 && result.dead == 0)
            #expect(sandbox.storedEventCount == 10_000)
            #expect(sandbox.stats().uniqueTransactionIDs == 10_000)
            expectExactlyOnce(sandbox, ids)
            let stats = await engine.stats()
            #expect(stats.delivered == 10_000 && stats.queued == 0 && stats.inFlight == 0 && stats.state == .running)
            #expect(stats.requestLatencyP50 != nil)
            await engine.shutdown()
        }
    }

    /// A console quitting with Ctrl-C cancels its flush: the call answers at once, long before its deadline, and
    /// delivery goes on (the events stay spooled, then arrive once Lago answers again).
    @Test(.timeLimit(.minutes(1))) func aCancelledFlushAnswersAtOnceAndDeliveryGoesOn() async throws {
        let directory = try TemporaryDirectory()
        try await Sandbox.withRunning { sandbox in
            sandbox.faults.failNext(1_000_000, status: 503, pathPrefix: "/api/v1/events")
            let engine = try makeEngine(testConfiguration(spoolPath: directory.file("spool.sqlite")), sandbox: sandbox)
            engine.start()
            let ids = try await engine.enqueue((0..<10).map { event($0, prefix: "cancelled-flush") })
            let flush = Task { await engine.flush(deadline: .seconds(3600)) }
            // Cancelled while it waits on failing requests (and, for the race, once more before it starts).
            #expect(await eventually { sandbox.stats().requests(status: 503) > 0 })
            flush.cancel()
            let result = await flush.value
            #expect(result.pending == 10 && result.delivered == 0)
            let early = Task { await engine.flush(deadline: .seconds(3600)) }
            early.cancel()
            #expect(await early.value.pending == 10)
            sandbox.faults.clear()
            let final = await engine.flush(deadline: .seconds(60))
            #expect(final.pending == 0)
            expectExactlyOnce(sandbox, ids)
            await engine.shutdown()
        }
    }

    @Test func theFirstTwentyRequestsFailingLoseNothing() async throws {
        let directory = try TemporaryDirectory()
        try await Sandbox.withRunning { sandbox in
            sandbox.faults.failNext(20, status: 503, pathPrefix: "/api/v1/events")
            let engine = try makeEngine(testConfiguration(spoolPath: directory.file("spool.sqlite")), sandbox: sandbox)
            engine.start()
            let ids = try await enqueueConcurrently(engine, count: 3_000)
            let result = await engine.flush(deadline: .seconds(60))
            #expect(result.pending == 0 && result.dead == 0)
            #expect(sandbox.stats().requests(status: 503) == 20)
            expectExactlyOnce(sandbox, ids)
            await engine.shutdown()
        }
    }

    @Test(arguments: [SandboxOutageMode.refuse, .status503])
    func anOutageLosesNothingAndDeliveryResumesSoonAfterRecovery(mode: SandboxOutageMode) async throws {
        let directory = try TemporaryDirectory()
        try await Sandbox.withRunning { sandbox in
            // Product defaults for backoff (1 s base, 30 s cap, probe every 1.5 s): the outage outlasts several
            // backoff doublings, and the probe must still resume delivery within ~2 s of recovery.
            var configuration = EngineConfiguration(
                spoolPath: directory.file("spool.sqlite"), flushInterval: .milliseconds(20), requestTimeout: .seconds(2),
                defaultSubscription: SandboxSeed.subscriptionExternalID)
            configuration.maxRetryBackoff = .seconds(30)
            let engine = try makeEngine(configuration, sandbox: sandbox)
            engine.start()
            let outage = Duration.seconds(4)
            let outageEnd = Date().addingTimeInterval(4)
            sandbox.faults.outage(for: outage, mode: mode)
            let ids = try await enqueueConcurrently(engine, count: 2_000)
            #expect(await eventually { await engine.stats().state == .backingOff })
            let result = await engine.flush(deadline: .seconds(30))
            #expect(result.pending == 0 && result.dead == 0)
            expectExactlyOnce(sandbox, ids)
            let stats = await engine.stats()
            let recovery = try #require(stats.lastRecovery)
            let resumedAfter = recovery.recoveredAt.timeIntervalSince(outageEnd)
            print("outage \(mode): delivery resumed \(String(format: "%.2f", resumedAfter)) s after the outage ended")
            #expect(resumedAfter < 2.5, "resumed \(resumedAfter) s after recovery")
            await engine.shutdown()
        }
    }

    @Test func retryAfterIsHonoured() async throws {
        let directory = try TemporaryDirectory()
        try await Sandbox.withRunning { sandbox in
            sandbox.faults.rateLimit(next: 1, retryAfter: 1, pathPrefix: "/api/v1/events")
            var configuration = testConfiguration(spoolPath: directory.file("spool.sqlite"))
            configuration.maxInFlight = 1
            let engine = try makeEngine(configuration, sandbox: sandbox)
            let changes = engine.lifecycleEvents()
            let ids = try await (0..<150).asyncMap { try await engine.enqueue(event($0)) }
            engine.start()
            let result = await engine.flush(deadline: .seconds(20))
            #expect(result.pending == 0)
            await engine.shutdown()
            var scheduled: Date?
            var retriedAt: Date?
            for await change in changes {
                switch change.stage {
                case .retryScheduled(let attempt, _, _) where attempt == 2 && scheduled == nil:
                    scheduled = change.date
                case .inFlight(let attempt) where attempt == 2 && retriedAt == nil:
                    retriedAt = change.date
                default: break
                }
            }
            let asked = try #require(scheduled)
            let retried = try #require(retriedAt)
            // `asked` is stamped just after the engine read the 429 (the wait counts from that read), so allow the
            // few microseconds between the two.
            #expect(
                retried.timeIntervalSince(asked) >= 0.99, "retried \(retried.timeIntervalSince(asked)) s after a 1 s Retry-After")
            #expect(sandbox.stats().requests(status: 429) == 1)
            expectExactlyOnce(sandbox, ids)
        }
    }

    @Test(arguments: [SandboxAckLossMode.status503, .dropConnection])
    func lostAcknowledgementsLoseNothingAndMakeNoFalseDeadLetters(mode: SandboxAckLossMode) async throws {
        let directory = try TemporaryDirectory()
        try await Sandbox.withRunning { sandbox in
            sandbox.faults.ackLoss(next: 3, mode: mode)
            let engine = try makeEngine(testConfiguration(spoolPath: directory.file("spool.sqlite")), sandbox: sandbox)
            engine.start()
            let ids = try await enqueueConcurrently(engine, count: 1_000)
            let result = await engine.flush(deadline: .seconds(30))
            #expect(result.pending == 0 && result.dead == 0)
            let stats = await engine.stats()
            #expect(stats.dead == 0)
            #expect(stats.alreadyInLago > 0)
            #expect(stats.delivered + stats.alreadyInLago == 1_000)
            expectExactlyOnce(sandbox, ids)
            await engine.shutdown()
        }
    }

    @Test func oneBadEventPerBatchIsDeadLetteredAndTheRestDeliveredWithOneExtraRequest() async throws {
        let directory = try TemporaryDirectory()
        try await Sandbox.withRunning { sandbox in
            let engine = try makeEngine(testConfiguration(spoolPath: directory.file("spool.sqlite")), sandbox: sandbox)
            // Enqueued before start, so batches are exactly 100 events: 5 batches, each with one bad event.
            var good: [String] = []
            var bad: [String] = []
            for index in 0..<500 {
                if index % 100 == 42 {
                    bad.append(try await engine.enqueue(event(index, code: " ")))
                } else {
                    good.append(try await engine.enqueue(event(index)))
                }
            }
            engine.start()
            let result = await engine.flush(deadline: .seconds(30))
            #expect(result.pending == 0 && result.dead == 5)
            expectExactlyOnce(sandbox, good)
            #expect(sandbox.storedEventCount == 495)
            #expect(sandbox.stats().requestsTotal <= 10, "\(sandbox.stats().requestsTotal) requests for 5 batches")
            let letters = try await engine.deadLetters()
            #expect(Set(letters.map(\.transactionID)) == Set(bad))
            let letter = letters[0]
            #expect(letter.reason.status == 422 && letter.reason.code == "validation_errors")
            #expect(letter.reason.details == ["code": ["value_is_mandatory"]])
            #expect(letter.attempts == 1)
            #expect(letter.event?.code == " ")
            await engine.shutdown()
        }
    }

    @Test func unauthorizedHoldsThenDeliversAfterTheKeyChanges() async throws {
        let directory = try TemporaryDirectory()
        try await Sandbox.withRunning(SandboxOptions(apiKeys: ["good-key"])) { sandbox in
            // The engine's time moves only when the test moves it: the hold's probe (every 30 s) goes exactly then.
            let clock = ManualEngineClock()
            let start = clock.now()
            let engine = try makeEngine(
                testConfiguration(spoolPath: directory.file("spool.sqlite")), sandbox: sandbox, apiKey: "stale-key",
                clock: clock)
            engine.start()
            let ids = try await enqueueConcurrently(engine, count: 250)
            // Held, and the requests already on the wire when the first 401 came back have been answered (they
            // reach the sandbox's counter before their answer comes back): from here on nothing may be sent.
            #expect(
                await eventually {
                    let stats = await engine.stats()
                    return stats.state == .authFailed && stats.inFlight == 0
                })
            let held = await engine.stats()
            #expect(held.lastError?.contains("401") == true)
            #expect(sandbox.storedEventCount == 0)
            let requestsWhileHeld = sandbox.stats().requestsTotal
            // 29 s later the loop has decided again (its only timer is now the probe's, at 30 s) and sent nothing.
            clock.advance(by: .seconds(29))
            #expect(await eventually { clock.nextDeadline == start + .seconds(30) })
            #expect(sandbox.stats().requestsTotal == requestsWhileHeld, "nothing is sent while on hold")
            // At 30 s exactly one probe goes, is refused, and the next one is due 30 s later.
            clock.advance(by: .seconds(1))
            #expect(
                await eventually {
                    let stats = await engine.stats()
                    return stats.requests == held.requests + 1 && stats.inFlight == 0
                })
            #expect(await eventually { clock.nextDeadline == start + .seconds(60) })
            #expect(sandbox.stats().requestsTotal == requestsWhileHeld + 1, "one probe per hold interval")
            #expect(await engine.stats().state == .authFailed)
            engine.updateAPIKey("good-key")
            let result = await engine.flush(deadline: .seconds(20))
            #expect(result.pending == 0)
            expectExactlyOnce(sandbox, ids)
            #expect(await engine.stats().state == .running)
            await engine.shutdown()
        }
    }

    @Test func aWrongURLHoldsThenDeliversAfterTheURLAndKeyChange() async throws {
        let directory = try TemporaryDirectory()
        try await Sandbox.withRunning(SandboxOptions(apiKeys: ["good-key"])) { sandbox in
            let right = try LagoBaseURL(sandbox.baseURL.absoluteString)
            let wrong = try LagoBaseURL(sandbox.rootURL.absoluteString + "/not-lago")
            let engine = try LagoEngine(
                configuration: testConfiguration(spoolPath: directory.file("spool.sqlite")), baseURL: wrong,
                apiKey: "good-key", random: SplitMix64(seed: 1))
            engine.start()
            let ids = try await enqueueConcurrently(engine, count: 120)
            #expect(await eventually { await engine.stats().state == .wrongURL })
            #expect(!engine.updateLago(baseURL: wrong, apiKey: "good-key"), "the same URL and key change nothing")
            // The URL fixed with a stale key: the engine tries at once and holds on the 401.
            #expect(engine.updateLago(baseURL: right, apiKey: "stale-key"))
            #expect(await eventually { await engine.stats().state == .authFailed })
            #expect(sandbox.storedEventCount == 0)
            // The key fixed too: delivered long before the hold's own probe (30 s) would have tried.
            #expect(engine.updateLago(baseURL: right, apiKey: "good-key"))
            let result = await engine.flush(deadline: .seconds(20))
            #expect(result.pending == 0 && result.dead == 0)
            expectExactlyOnce(sandbox, ids)
            #expect(await engine.stats().state == .running)
            await engine.shutdown()
        }
    }
}

extension Sequence {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for element in self { result.append(try await transform(element)) }
        return result
    }
}
