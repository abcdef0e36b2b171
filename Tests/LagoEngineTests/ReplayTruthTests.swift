import Foundation
import LagoAPI
import LagoEngine
import LagoSandbox
import TestSupport
import Testing

/// Replaying a dead letter asks Lago what it holds first, and an edit rewrites only what it changes.
@Suite(.serialized) struct ReplayTruthTests {
    private func storeDirectly(_ sandbox: Sandbox, _ event: EventInput) async throws {
        let client = LagoClient(
            configuration: LagoClientConfiguration(
                baseURL: try LagoBaseURL(sandbox.baseURL.absoluteString), apiKey: sandbox.apiKey))
        _ = try await client.createEvent(event)
        try await client.shutdown()
    }

    private func duplicate(_ id: String, value: Int64, timestamp: Double = 1_764_000_000) -> EventInput {
        EventInput(
            transactionID: id, externalSubscriptionID: SandboxSeed.subscriptionExternalID, code: "llm_input_tokens",
            timestamp: timestamp, properties: ["value": .integer(value)])
    }

    @Test func aDuplicateOfADifferentEventIsShownNotTakenForAlreadyInLago() async throws {
        let directory = try TemporaryDirectory()
        try await Sandbox.withRunning { sandbox in
            try await storeDirectly(sandbox, duplicate("dup-1", value: 5))
            let engine = try makeEngine(testConfiguration(spoolPath: directory.file("spool.sqlite")), sandbox: sandbox)
            engine.start()
            try await engine.enqueue(duplicate("dup-1", value: 7))
            #expect(await engine.flush(deadline: .seconds(10)).dead == 1)
            let letter = try #require(try await engine.deadLetters().first)

            let result = try await engine.replayDeadLetter(id: letter.id)
            guard case .differsInLago(let id, let inLago, let replayed, let differences) = result else {
                Issue.record("expected differsInLago, got \(result)")
                return
            }
            #expect(id == "dup-1" && inLago.properties["value"] == 5 && replayed.properties["value"] == 7)
            #expect(differences == ["properties.value: Lago 5, here 7"])
            #expect(await engine.stats().dead == 1, "nothing changed")
            #expect(await engine.stats().alreadyInLago == 0)

            // Under a new transaction id it is a new event, and Lago bills it.
            let renamed = try await engine.replayDeadLetter(id: letter.id, edit: DeadLetterEdit(transactionID: "dup-1-b"))
            #expect(renamed == .queued(transactionID: "dup-1-b"))
            #expect(await engine.flush(deadline: .seconds(10)).pending == 0)
            let stored = sandbox.events().first { $0.transactionID == "dup-1-b" }
            #expect(stored?.properties["value"] == 7)
            #expect(await engine.stats().dead == 0)
            await engine.shutdown()
        }
    }

    @Test func aBatchReadAheadButNeverSentCountsNoAttempt() async throws {
        // Read ahead of the in-flight limit and left unsent by a stop, an event has had no request: Lago's
        // `value_already_exist` for it afterwards is a duplicate of another event, not an earlier try that got through.
        let directory = try TemporaryDirectory()
        var configuration = testConfiguration(spoolPath: directory.file("spool.sqlite"))
        configuration.maxInFlight = 1
        configuration.maxBatchSize = 1
        try await Sandbox.withRunning { sandbox in
            try await storeDirectly(sandbox, duplicate("ahead-dup", value: 5))
            sandbox.faults.latency(.seconds(2))
            let first = try makeEngine(configuration, sandbox: sandbox)
            first.start()
            // One append, one claim of both batches: one goes out and waits for its answer, one waits its turn.
            try await first.enqueue([duplicate("ahead-1", value: 1), duplicate("ahead-dup", value: 7)])
            #expect(await eventually { await first.stats().inFlight == 1 })
            await first.shutdown(gracePeriod: .zero)
            sandbox.faults.latency(.zero)

            let second = try makeEngine(configuration, sandbox: sandbox)
            second.start()
            #expect(await second.flush(deadline: .seconds(10)).pending == 0)
            let letters = try await second.deadLetters()
            #expect(letters.map(\.transactionID) == ["ahead-dup"], "a duplicate of another event, shown")
            #expect(letters.first?.attempts == 1, "the one request that carried it")
            let stats = await second.stats()
            #expect(stats.delivered + stats.alreadyInLago == 1, "ahead-1, whichever of its two requests stored it")
            #expect(sandbox.events().first { $0.transactionID == "ahead-dup" }?.properties["value"] == 5)
            await second.shutdown()
        }
    }

    @Test func aDuplicateAnswerAfterAFailedAttemptIsCheckedWithLago() async throws {
        // The first request failed before Lago stored anything (503), so the retry's `value_already_exist` need not
        // be that request getting through: one id is a different event's, the other holds this very event.
        let directory = try TemporaryDirectory()
        try await Sandbox.withRunning { sandbox in
            try await storeDirectly(sandbox, duplicate("taken-1", value: 5))
            try await storeDirectly(sandbox, duplicate("same-1", value: 9))
            sandbox.faults.failNext(1, status: 503, pathPrefix: "/api/v1/events")
            let engine = try makeEngine(testConfiguration(spoolPath: directory.file("spool.sqlite")), sandbox: sandbox)
            engine.start()
            try await engine.enqueue([duplicate("taken-1", value: 7), duplicate("same-1", value: 9)])
            let flush = await engine.flush(deadline: .seconds(10))
            #expect(flush.pending == 0 && flush.dead == 1)
            let letters = try await engine.deadLetters()
            #expect(letters.map(\.transactionID) == ["taken-1"], "a different event holds the id")
            #expect(letters.first?.attempts == 2)
            let message = letters.first?.reason.message ?? ""
            #expect(message.contains("value_already_exist"), "\(message)")
            #expect(message.contains("properties.value: Lago 5, here 7"), "\(message)")
            #expect(await engine.stats().alreadyInLago == 1, "same-1: Lago holds it as here")
            await engine.shutdown()
        }
    }

    @Test func aReplayOfAnEventLagoHoldsAlreadyIsSettledWithoutSending() async throws {
        let directory = try TemporaryDirectory()
        try await Sandbox.withRunning { sandbox in
            try await storeDirectly(sandbox, duplicate("same-1", value: 5))
            let engine = try makeEngine(testConfiguration(spoolPath: directory.file("spool.sqlite")), sandbox: sandbox)
            engine.start()
            try await engine.enqueue(duplicate("same-1", value: 5))
            #expect(await engine.flush(deadline: .seconds(10)).dead == 1)
            let letter = try #require(try await engine.deadLetters().first)
            let requests = sandbox.stats().requests(status: 422)
            #expect(try await engine.replayDeadLetter(id: letter.id) == .alreadyInLago(transactionID: "same-1"))
            let stats = await engine.stats()
            #expect(stats.dead == 0 && stats.alreadyInLago == 1 && stats.pending == 0)
            _ = await engine.flush(deadline: .seconds(5))
            #expect(sandbox.stats().requests(status: 422) == requests, "nothing was sent again")
            #expect(sandbox.events().filter { $0.transactionID == "same-1" }.count == 1)
            await engine.shutdown()
        }
    }

    @Test func anEditRewritesOnlyWhatItChanges() async throws {
        let directory = try TemporaryDirectory()
        try await Sandbox.withRunning { sandbox in
            try sandbox.addBillableMetric(
                code: "needs_x", name: "Needs x", fieldName: "value", expression: "event.properties.x * 2")
            sandbox.recordEventRequestBodies()
            let engine = try makeEngine(testConfiguration(spoolPath: directory.file("spool.sqlite")), sandbox: sandbox)
            engine.start()
            let properties = #"{"value":12345678901234567890,"ratio":0.30000000000000004,"zero":-0.0}"#
            let body = #"{"transaction_id":"exact-1","external_subscription_id":"sub_sandbox","code":"needs_x","#
                + #""timestamp":1764000000.123456,"properties":\#(properties)}"#
            _ = try await engine.enqueue(
                encoded: [
                    EncodedEvent(
                        event: EventInput(
                            transactionID: "exact-1", externalSubscriptionID: "sub_sandbox", code: "needs_x",
                            timestamp: 1_764_000_000.123456),
                        body: Array(body.utf8))
                ], deduplicate: false)
            #expect(await engine.flush(deadline: .seconds(10)).dead == 1)
            let letter = try #require(try await engine.deadLetters().first)
            // The console's form sends every field back; only the code differs.
            let edit = DeadLetterEdit(
                code: "llm_input_tokens", externalSubscriptionID: "sub_sandbox", properties: letter.event?.properties)
            #expect(try await engine.replayDeadLetter(id: letter.id, edit: edit) == .queued(transactionID: "exact-1"))
            #expect(await engine.flush(deadline: .seconds(10)).pending == 0)
            let sent = sandbox.eventRequestBodies().map { String(decoding: $0, as: UTF8.self) }
            let last = try #require(sent.last)
            #expect(last.contains(#""properties":\#(properties)"#), "\(last)")
            #expect(last.contains(#""timestamp":1764000000.123456"#), "\(last)")
            #expect(last.contains(#""code":"llm_input_tokens""#), "\(last)")
            await engine.shutdown()
        }
    }

    @Test func anEditTheConsoleWouldRefuseIsRefused() async throws {
        let directory = try TemporaryDirectory()
        try await Sandbox.withRunning { sandbox in
            try await storeDirectly(sandbox, duplicate("bad-1", value: 1))
            let engine = try makeEngine(testConfiguration(spoolPath: directory.file("spool.sqlite")), sandbox: sandbox)
            engine.start()
            try await engine.enqueue(duplicate("bad-1", value: 2))
            _ = await engine.flush(deadline: .seconds(10))
            let letter = try #require(try await engine.deadLetters().first)
            await #expect(throws: EngineError.self) {
                try await engine.replayDeadLetter(id: letter.id, edit: DeadLetterEdit(code: "bad code"))
            }
            #expect(await engine.stats().dead == 1)
            await engine.shutdown()
        }
    }
}

@Suite(.serialized) struct AttemptLogTests {
    @Test func failedAttemptsAreKeptWithTheSpoolAcrossARestartAndGoWithDelivery() async throws {
        let directory = try TemporaryDirectory()
        try await Sandbox.withRunning { sandbox in
            sandbox.faults.outage(for: .seconds(60), mode: .status503)
            let first = try makeEngine(testConfiguration(spoolPath: directory.file("spool.sqlite")), sandbox: sandbox)
            let changes = first.lifecycleEvents()
            first.start()
            try await first.enqueue(event(1, prefix: "kept"))
            var eventID: Int64?
            for await change in changes {
                if case .retryScheduled = change.stage {
                    eventID = change.eventID
                    #expect(change.httpStatus == 503 && change.answer?.contains("503") == true)
                    break
                }
            }
            let id = try #require(eventID)
            await first.shutdown()

            let second = try makeEngine(testConfiguration(spoolPath: directory.file("spool.sqlite")), sandbox: sandbox)
            let log = try await second.attemptLog(eventID: id)
            #expect(log.first?.attempt == 1 && log.first?.httpStatus == 503, "\(log)")
            #expect(log.first?.answer.contains("Service Unavailable") == true, "Lago's own words: \(log)")
            sandbox.faults.clear()
            second.start()
            #expect(await second.flush(deadline: .seconds(10)).pending == 0)
            #expect(try await second.attemptLog(eventID: id).isEmpty, "a delivered event's log goes with it")
            await second.shutdown()
        }
    }
}
