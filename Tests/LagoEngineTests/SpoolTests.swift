import Foundation
import LagoAPI
import LagoSandbox
import LagoUsage
import TestSupport
import Testing

@testable import LagoEngine

extension Spool {
    /// One batch: ``claim(after:maxCount:maxBytes:batches:)`` with `batches: 1`.
    func claim(after cursor: Int64, maxCount: Int, maxBytes: Int) async throws -> [SpoolRow] {
        try await claim(after: cursor, maxCount: maxCount, maxBytes: maxBytes, batches: 1).first ?? []
    }
}

@Suite struct SpoolModelTests {
    /// The in-memory model: what the spool must hold.
    struct Model {
        var rows: [Int64: (transactionID: String, attempts: Int)] = [:]
        var dead: [String] = []
        var cursor: Int64 = 0
    }

    /// Random enqueue / claim / attempt / ack / fail / dead-letter / crash (reopen without closing) / restart (close
    /// and reopen) sequences, checked against the model after every step.
    @Test(arguments: [1, 2, 3, 4] as [UInt64])
    func randomSequencesMatchTheModel(seed: UInt64) async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("spool.sqlite")
        var random = SplitMix64(seed: seed)
        var spool: Spool? = try Spool(path: path, synchronous: .normal)
        var model = Model()
        var claimed: [SpoolRow] = []
        var counter = 0
        for step in 0..<300 {
            // Unowned: a simulated crash drops the last reference, so the old connection closes (the spool holds its
            // SQLite file exclusively, as one process owns it) before the new one opens.
            unowned let current = try #require(spool)
            switch Int.random(in: 0..<100, using: &random) {
            case 0..<30:  // enqueue
                let count = Int.random(in: 1...20, using: &random)
                let rows = (0..<count).map { _ -> NewSpoolRow in
                    counter += 1
                    return NewSpoolRow(
                        transactionID: "tx-\(counter)", body: Array("{\"n\":\(counter)}".utf8), enqueuedAt: 1)
                }
                try await current.append(rows)
                let maxID = model.rows.keys.max() ?? 0
                // AUTOINCREMENT: new ids are above every id ever used; read them back through a claim below.
                _ = maxID
                let fresh = try await current.claim(
                    after: max(model.cursor, claimed.last?.id ?? 0, model.rows.keys.max() ?? 0), maxCount: 1000,
                    maxBytes: 1 << 30)
                #expect(fresh.map(\.transactionID) == rows.map(\.transactionID), "step \(step)")
                // A claim only reads: a request records its own attempt when it goes out (marked below).
                for row in fresh { model.rows[row.id] = (row.transactionID, 0) }
                #expect(fresh.allSatisfy { $0.attempts == 0 }, "step \(step)")
            case 30..<50:  // claim
                let maxCount = Int.random(in: 1...30, using: &random)
                let rows = try await current.claim(after: model.cursor, maxCount: maxCount, maxBytes: 1 << 30)
                let expected = model.rows.keys.filter { $0 > model.cursor }.sorted().prefix(maxCount)
                #expect(rows.map(\.id) == Array(expected), "step \(step)")
                for row in rows {
                    #expect(row.attempts == model.rows[row.id]?.attempts, "step \(step)")
                }
                if let last = rows.last { model.cursor = last.id }
                claimed += rows
            case 50..<62:  // mark attempted
                let some = claimed.filter { _ in Bool.random(using: &random) }.map(\.id)
                try await current.markAttempted(some)
                for id in some { model.rows[id]?.attempts += 1 }
            case 62..<78:  // ack (delivered)
                let acked = claimed.filter { _ in Bool.random(using: &random) }
                try await current.settle(SpoolSettlement(remove: acked.map(\.id)))
                for row in acked { model.rows[row.id] = nil }
                claimed.removeAll { row in acked.contains { $0.id == row.id } }
            case 78..<86:  // fail: dead-letter some
                let dead = claimed.filter { _ in Int.random(in: 0..<4, using: &random) == 0 }
                try await current.settle(
                    SpoolSettlement(
                        dead: dead.map { ($0, DeadLetterReason(kind: .rejected, message: "bad")) }, deadAt: 2))
                for row in dead {
                    model.rows[row.id] = nil
                    model.dead.append(row.transactionID)
                }
                claimed.removeAll { row in dead.contains { $0.id == row.id } }
            case 86..<93:  // crash: drop the spool without close(), open again; claims are forgotten
                // The writer queue (whole-spool counts run there) may hold the spool a moment after its last
                // answer: the connection closes once it lets go.
                weak let dropped = spool
                spool = nil
                #expect(await eventually { dropped == nil }, "step \(step)")
                spool = try Spool(path: path, synchronous: .normal)
                model.cursor = 0
                claimed = []
            default:  // graceful restart
                await current.close()
                spool = nil
                spool = try Spool(path: path, synchronous: .normal)
                model.cursor = 0
                claimed = []
            }
            let reopened = try #require(spool)
            let summary = try await reopened.queueSummary()
            #expect(summary.count == model.rows.count, "step \(step)")
            #expect(try await reopened.deadLetterCount() == model.dead.count, "step \(step)")
        }
        let final = try #require(spool)
        let everything = try await final.claim(after: 0, maxCount: 100_000, maxBytes: 1 << 30)
        #expect(everything.map(\.id) == model.rows.keys.sorted())
        #expect(everything.map(\.attempts) == model.rows.keys.sorted().map { model.rows[$0]!.attempts })
        let letters = try await final.deadLetters(limit: 100_000, offset: 0)
        #expect(letters.map(\.transactionID) == model.dead)
        await final.close()
    }

    @Test func idsAreNeverReusedAfterTheQueueEmpties() async throws {
        let directory = try TemporaryDirectory()
        let spool = try Spool(path: directory.file("spool.sqlite"), synchronous: .full)
        try await spool.append([NewSpoolRow(transactionID: "a", body: [1], enqueuedAt: 0)])
        let first = try await spool.claim(after: 0, maxCount: 10, maxBytes: 100)
        try await spool.settle(SpoolSettlement(remove: first.map(\.id)))
        try await spool.append([NewSpoolRow(transactionID: "b", body: [1], enqueuedAt: 0)])
        let second = try await spool.claim(after: first[0].id, maxCount: 10, maxBytes: 100)
        #expect(second.map(\.transactionID) == ["b"])
        await spool.close()
    }

    @Test func claimsStopAtTheByteLimitButTakeAtLeastOneEvent() async throws {
        let directory = try TemporaryDirectory()
        let spool = try Spool(path: directory.file("spool.sqlite"), synchronous: .normal)
        try await spool.append(
            (0..<5).map { NewSpoolRow(transactionID: "t\($0)", body: Array(repeating: 65, count: 100), enqueuedAt: 0) })
        #expect(try await spool.claim(after: 0, maxCount: 100, maxBytes: 250).count == 2)
        #expect(try await spool.claim(after: 0, maxCount: 100, maxBytes: 10).count == 1)
        await spool.close()
    }

    @Test func oneClaimReadsSeveralBatchesAndOnlySentOnesCountAnAttempt() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("spool.sqlite")
        var spool = try Spool(path: path, synchronous: .normal)
        try await spool.append(
            (0..<25).map { NewSpoolRow(transactionID: "t\($0)", body: Array(repeating: 65, count: 10), enqueuedAt: 0) })
        // By count: two batches of ten, in id order.
        let first = try await spool.claim(after: 0, maxCount: 10, maxBytes: 1 << 20, batches: 2)
        #expect(first.map { $0.map(\.transactionID) } == [(0..<10).map { "t\($0)" }, (10..<20).map { "t\($0)" }])
        // More batches asked than there are events: the rest, once.
        let rest = try await spool.claim(after: first[1].last!.id, maxCount: 10, maxBytes: 1 << 20, batches: 5)
        #expect(rest.map { $0.map(\.transactionID) } == [(20..<25).map { "t\($0)" }])
        #expect(try await spool.claim(after: rest[0].last!.id, maxCount: 10, maxBytes: 1 << 20, batches: 3).isEmpty)
        // By bytes: 25 bytes hold two 10-byte bodies; three batches asked, three returned, the fourth pair not read.
        let bytes = try await spool.claim(after: 0, maxCount: 10, maxBytes: 25, batches: 3)
        #expect(bytes.map(\.count) == [2, 2, 2])
        // Claimed, read ahead, never sent: no attempt counted, not even after a restart.
        #expect((first + rest + bytes).joined().allSatisfy { $0.attempts == 0 })
        // The one batch that goes out counts its request, on disk.
        try await spool.markAttempted(first[0].map(\.id))
        await spool.close()
        spool = try Spool(path: path, synchronous: .normal)
        let after = try await spool.claim(after: 0, maxCount: 25, maxBytes: 1 << 20, batches: 1)
        #expect(after[0].map(\.attempts) == Array(repeating: 1, count: 10) + Array(repeating: 0, count: 15))
        await spool.close()
    }

    @Test func bytesAndTextComeBackExactlyAfterAReopen() async throws {
        // Appends and claims bind through SQLite's C API: ids with NUL bytes and non-ASCII text, every byte value
        // in a body, and an empty body must survive a restart unchanged.
        let directory = try TemporaryDirectory()
        let path = directory.file("spool.sqlite")
        let rows = [
            NewSpoolRow(transactionID: "nul\u{0}inside", body: Array(0...255), enqueuedAt: 1.25, attempts: 0),
            NewSpoolRow(transactionID: "é-北京-🚀", body: Array("{\"v\":1}".utf8), enqueuedAt: -3, attempts: 2),
            NewSpoolRow(transactionID: "empty-body", body: [], enqueuedAt: 1_700_000_000.5, attempts: 0),
        ]
        var spool = try Spool(path: path, synchronous: .normal)
        try await spool.append(rows)
        await spool.close()
        spool = try Spool(path: path, synchronous: .normal)
        let claimed = try await spool.claim(after: 0, maxCount: 10, maxBytes: 1 << 20)
        #expect(claimed.map(\.transactionID) == rows.map(\.transactionID))
        #expect(claimed.map(\.body) == rows.map(\.body))
        #expect(claimed.map(\.enqueuedAt) == rows.map(\.enqueuedAt))
        #expect(claimed.map(\.attempts) == [0, 2, 0], "as appended: a claim counts no attempt")
        await spool.close()
    }

    @Test func theWriteAheadLogIsCheckpointedWhileWritingGoesOn() async throws {
        // Checkpoints run on the writer queue, never inside a caller's commit; the log must still be copied back
        // and reused, not grow with everything ever written (~40 MB here, the threshold is 16 MB).
        let directory = try TemporaryDirectory()
        let path = directory.file("spool.sqlite")
        let spool = try Spool(path: path, synchronous: .normal)
        let body = Array(repeating: UInt8(ascii: "x"), count: 1_000)
        var cursor: Int64 = 0
        for round in 0..<400 {
            try await spool.append(
                (0..<100).map { NewSpoolRow(transactionID: "r\(round)-\($0)", body: body, enqueuedAt: 0) })
            let rows = try await spool.claim(after: cursor, maxCount: 100, maxBytes: 1 << 20)
            cursor = rows.last?.id ?? cursor
            try await spool.settle(SpoolSettlement(remove: rows.map(\.id)))
        }
        let walBytes =
            (try FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? NSNumber)?.intValue ?? 0
        #expect(walBytes > 0)
        #expect(walBytes < 24 << 20, "the WAL holds \(walBytes) bytes")
        await spool.close()
    }

    @Test func rangesCompressConsecutiveIDs() {
        #expect(Spool.ranges([5, 1, 2, 3, 7, 8]) == [1...3, 5...5, 7...8])
        #expect(Spool.ranges([]) == [])
    }
}

@Suite struct SpoolFileTests {
    @Test func aSecondEngineOnTheSameSpoolIsRefused() async throws {
        let directory = try TemporaryDirectory()
        let configuration = testConfiguration(spoolPath: directory.file("spool.sqlite"))
        let url = try LagoBaseURL("http://127.0.0.1:9")
        let first = try LagoEngine(configuration: configuration, baseURL: url, apiKey: "k")
        #expect {
            try LagoEngine(configuration: configuration, baseURL: url, apiKey: "k")
        } throws: { error in
            guard let error = error as? EngineError, error.kind == .spoolLocked else { return false }
            return error.message.contains("spool.sqlite") && error.message.contains("process")
        }
        await first.shutdown()
        let again = try LagoEngine(configuration: configuration, baseURL: url, apiKey: "k")
        await again.shutdown()
    }

    @Test(arguments: ["garbage", "sqlite-other"])
    func anUnreadableSpoolIsNamedAndLeftUntouched(kind: String) async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("spool.sqlite")
        if kind == "garbage" {
            try Data("this is not a database, but somebody's notes\n".utf8).write(to: URL(fileURLWithPath: path))
        } else {
            // A valid SQLite file of another program.
            let other = try Spool(path: directory.file("tmp.sqlite"), synchronous: .normal)
            await other.close()
            var bytes = try Data(contentsOf: URL(fileURLWithPath: directory.file("tmp.sqlite")))
            bytes[68] = 0x12  // application_id (big-endian at offset 68) no longer ours
            try bytes.write(to: URL(fileURLWithPath: path))
        }
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect {
            try LagoEngine(
                configuration: testConfiguration(spoolPath: path), baseURL: LagoBaseURL("http://127.0.0.1:9"),
                apiKey: "k")
        } throws: { error in
            guard let error = error as? EngineError, error.kind == .spoolUnreadable else { return false }
            return error.message.contains(path) && error.path == path
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
        // The lock was released: the failure left nothing held.
        let lock = try SpoolLock(spoolPath: path)
        lock.release()
    }
}

@Suite(.serialized) struct EngineBehaviourTests {
    @Test func aFullSpoolRefusesClearlyAndCounts() async throws {
        let directory = try TemporaryDirectory()
        var configuration = testConfiguration(spoolPath: directory.file("spool.sqlite"))
        configuration.spoolLimit = 10
        let engine = try LagoEngine(
            configuration: configuration, baseURL: LagoBaseURL("http://127.0.0.1:9"), apiKey: "k")
        for index in 0..<10 { try await engine.enqueue(event(index)) }
        await #expect {
            try await engine.enqueue(event(10))
        } throws: { ($0 as? EngineError)?.kind == .spoolFull }
        await #expect {
            try await engine.enqueue(UsageRecord(values: [.input: 1]))
        } throws: { ($0 as? EngineError)?.kind == .spoolFull }
        let stats = await engine.stats()
        #expect(stats.queued == 10 && stats.refused.spoolFull == 2 && stats.refused.total == 2)
        await engine.shutdown()
    }

    @Test func shutdownKeepsTheUndeliveredAndARestartDeliversThem() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("spool.sqlite")
        try await Sandbox.withRunning { sandbox in
            sandbox.faults.outage(for: .seconds(60), mode: .status503)
            let first = try makeEngine(testConfiguration(spoolPath: path), sandbox: sandbox)
            first.start()
            let ids = try await enqueueConcurrently(first, count: 700)
            #expect(await eventually { await first.stats().state == .backingOff })
            await first.shutdown()
            #expect(sandbox.storedEventCount == 0)
            sandbox.faults.clear()
            let second = try makeEngine(testConfiguration(spoolPath: path), sandbox: sandbox)
            #expect(await second.stats().queued == 700)
            second.start()
            let result = await second.flush(deadline: .seconds(20))
            #expect(result.pending == 0 && result.delivered == 700)
            expectExactlyOnce(sandbox, ids)
            await second.shutdown()
        }
    }

    @Test func usageRecordsFollowTheMappingInForceWhenEnqueued() async throws {
        let directory = try TemporaryDirectory()
        try await Sandbox.withRunning { sandbox in
            var configuration = testConfiguration(spoolPath: directory.file("spool.sqlite"))
            configuration.defaultSubscription = nil
            let engine = try makeEngine(configuration, sandbox: sandbox)
            engine.start()
            await #expect {
                try await engine.enqueue(UsageRecord(values: [.input: 10]))
            } throws: { ($0 as? EngineError)?.kind == .noSubscription }
            #expect(await engine.stats().refused.noSubscription == 1)
            engine.updateDefaultSubscription(SandboxSeed.subscriptionExternalID)
            let first = try await engine.enqueue(
                UsageRecord(
                    values: [.input: 1200, .output: 300, .reasoning: 0], dimensions: ["model": "m1"], idBase: "call-1"))
            #expect(first == ["call-1:input", "call-1:output"])
            engine.updateMapping([.input: "custom_input"])
            try sandbox.addBillableMetric(code: "custom_input")
            try await engine.enqueue(UsageRecord(values: [.input: 5], idBase: "call-2"))
            _ = await engine.flush(deadline: .seconds(10))
            let stored = Dictionary(uniqueKeysWithValues: sandbox.events().map { ($0.transactionID, $0) })
            #expect(stored["call-1:input"]?.code == "llm_input_tokens")
            #expect(stored["call-1:input"]?.properties["value"] == 1200)
            #expect(stored["call-1:input"]?.properties["model"] == "m1")
            #expect(stored["call-1:output"]?.code == "llm_output_tokens")
            #expect(stored["call-2:input"]?.code == "custom_input")
            #expect(stored["call-2:input"]?.externalSubscriptionID == SandboxSeed.subscriptionExternalID)
            await engine.shutdown()
        }
    }

    @Test func deadLettersCanBeShownReplayedWithEditsAndDiscarded() async throws {
        let directory = try TemporaryDirectory()
        try await Sandbox.withRunning { sandbox in
            let engine = try makeEngine(testConfiguration(spoolPath: directory.file("spool.sqlite")), sandbox: sandbox)
            engine.start()
            try await engine.enqueue(event(1, code: " "))
            try await engine.enqueue(event(2, code: "\t"))
            _ = await engine.flush(deadline: .seconds(10))
            var letters = try await engine.deadLetters()
            let deadCount = await engine.stats().dead
            #expect(letters.count == 2 && deadCount == 2)
            let shown = try #require(try await engine.deadLetter(id: letters[0].id))
            #expect(shown.payload.contains(#""transaction_id":"ev-1""#))
            #expect(shown.reason.message.contains("value_is_mandatory"))
            let replayed = try await engine.replayDeadLetter(
                id: shown.id, edit: DeadLetterEdit(code: "llm_input_tokens"))
            #expect(replayed == .queued(transactionID: "ev-1"))
            try await engine.discardDeadLetter(id: letters[1].id)
            _ = await engine.flush(deadline: .seconds(10))
            letters = try await engine.deadLetters()
            let deadAfter = await engine.stats().dead
            #expect(letters.isEmpty && deadAfter == 0)
            #expect(sandbox.events().map(\.transactionID) == ["ev-1"])
            #expect(sandbox.events()[0].code == "llm_input_tokens")
            await #expect {
                try await engine.discardDeadLetter(id: 999)
            } throws: { ($0 as? EngineError)?.kind == .deadLetterNotFound }
            await engine.shutdown()
        }
    }

    @Test func eventsOlderThanTheMaximumAgeExpire() async throws {
        let directory = try TemporaryDirectory()
        try await Sandbox.withRunning { sandbox in
            var configuration = testConfiguration(spoolPath: directory.file("spool.sqlite"))
            configuration.maxEventAge = .seconds(300)
            // The wall clock the engine ages events by is the test's: ev-1 is ten minutes old when sent, ev-2 new,
            // however slow this machine is.
            let start = Date(timeIntervalSince1970: 1_764_000_000)
            let clock = SettableWallClock(start)
            let engine = try LagoEngine(
                configuration: configuration, baseURL: LagoBaseURL(sandbox.baseURL.absoluteString),
                apiKey: sandbox.apiKey, clock: clock, random: SplitMix64(seed: 1))
            try await engine.enqueue(event(1))
            clock.set(start.addingTimeInterval(600))
            try await engine.enqueue(event(2))
            engine.start()
            let result = await engine.flush(deadline: .seconds(10))
            #expect(result.dead == 1 && result.delivered == 1)
            let letters = try await engine.deadLetters()
            #expect(letters.map(\.transactionID) == ["ev-1"] && letters[0].reason.kind == .expired)
            #expect(sandbox.events().map(\.transactionID) == ["ev-2"])
            await engine.shutdown()
        }
    }

    @Test func lifecycleEventsTellTheStoryAndASlowSubscriberOnlyMisses() async throws {
        let directory = try TemporaryDirectory()
        try await Sandbox.withRunning { sandbox in
            sandbox.faults.failNext(1, status: 503, pathPrefix: "/api/v1/events")
            let engine = try makeEngine(testConfiguration(spoolPath: directory.file("spool.sqlite")), sandbox: sandbox)
            let story = engine.lifecycleEvents()
            let slow = engine.lifecycleEvents(bufferSize: 5)  // never read until the end
            engine.start()
            try await engine.enqueue(event(1))
            _ = await engine.flush(deadline: .seconds(10))
            for index in 2...50 { try await engine.enqueue(event(index)) }
            _ = await engine.flush(deadline: .seconds(10))
            let stats = await engine.stats()
            #expect(stats.lifecycleChangesMissed > 0)
            await engine.shutdown()
            var stages: [String] = []
            var published = 0
            for await change in story {
                published += 1
                #expect(change.missedBefore == nil, "a subscriber that keeps up misses nothing")
                guard change.transactionID == "ev-1" else { continue }
                switch change.stage {
                case .queued:
                    stages.append("queued")
                    var expected = event(1)
                    expected.timestamp = change.event?.timestamp
                    #expect(change.event == expected, "the queued change carries the event for subscribers")
                    #expect(change.event?.timestamp != nil, "stamped with the time it was accepted")
                case .inFlight(let attempt): stages.append("inFlight(\(attempt))")
                case .retryScheduled(let attempt, _, _): stages.append("retry(\(attempt))")
                case .delivered: stages.append("delivered")
                case .alreadyInLago: stages.append("alreadyInLago")
                case .dead: stages.append("dead")
                case .held: stages.append("held")
                case .discarded: stages.append("discarded")
                case .released: stages.append("released")
                }
            }
            #expect(stages == ["queued", "inFlight(1)", "retry(2)", "inFlight(2)", "delivered"])
            // The slow one gets the last 5, and the first of them says how many it missed before: nothing is
            // dropped silently.
            var kept: [EventLifecycleChange] = []
            for await change in slow { kept.append(change) }
            #expect(kept.count == 5)
            #expect(kept.first?.missedBefore == published - 5)
            #expect(kept.dropFirst().allSatisfy { $0.missedBefore == nil })
            #expect(stats.lifecycleChangesMissed == published - 5)
        }
    }

    @Test func pauseHoldsDeliveryAndResumeSendsIt() async throws {
        let directory = try TemporaryDirectory()
        try await Sandbox.withRunning { sandbox in
            let engine = try makeEngine(testConfiguration(spoolPath: directory.file("spool.sqlite")), sandbox: sandbox)
            engine.start()
            engine.pause()
            #expect(await eventually { await engine.stats().state == .paused })
            let ids = try await enqueueConcurrently(engine, count: 100)
            let paused = await engine.flush(deadline: .seconds(5))
            #expect(paused.pending == 100 && sandbox.storedEventCount == 0)
            engine.resume()
            let result = await engine.flush(deadline: .seconds(10))
            #expect(result.pending == 0)
            expectExactlyOnce(sandbox, ids)
            await engine.shutdown()
        }
    }
}
