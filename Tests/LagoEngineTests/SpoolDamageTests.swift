import Crypto
import Foundation
import GRDB
import InMemoryLogging
import LagoAPI
import LagoBilling
import LagoSandbox
import LagoUsage
import Logging
import Testing

@testable import LagoEngine

#if canImport(Glibc)
    import Glibc
#endif

/// Every file of a folder: name → SHA-256 of its bytes and its mode.
func folderSnapshot(_ path: String) throws -> [String: String] {
    var snapshot: [String: String] = [:]
    for name in try FileManager.default.contentsOfDirectory(atPath: path) {
        let file = path + "/" + name
        let digest = SHA256.hash(data: try Data(contentsOf: URL(fileURLWithPath: file)))
        snapshot[name] =
            digest.map { String(format: "%02x", $0) }.joined() + " mode \(String(fileMode(file), radix: 8))"
    }
    return snapshot
}

/// The permission bits of a file (-1 when it does not exist).
func fileMode(_ path: String) -> Int {
    var info = stat()
    guard stat(path, &info) == 0 else { return -1 }
    return Int(info.st_mode & 0o777)
}

/// Writes `bytes` at `offset` of the file.
func overwrite(_ path: String, at offset: Int, with bytes: [UInt8]) throws {
    let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
    defer { try? handle.close() }
    try handle.seek(toOffset: UInt64(offset))
    try handle.write(contentsOf: Data(bytes))
}

/// Cuts the file to `size` bytes.
func truncateFile(_ path: String, to size: Int) throws {
    guard truncate(path, off_t(size)) == 0 else {
        throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
    }
}

func fileSize(_ path: String) -> Int {
    (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? -1
}

/// A spool of `count` events written through the engine's spool and closed cleanly (no -wal left).
func makeSpoolFile(_ path: String, count: Int) async throws {
    let spool = try Spool(path: path, synchronous: .normal)
    let rows = (0..<count).map { index in
        NewSpoolRow(
            transactionID: "tx-\(index)",
            body: Array(
                #"{"transaction_id":"tx-\#(index)","code":"llm_input_tokens","properties":{"value":\#(index)}}"#.utf8)
                + Array(repeating: UInt8(ascii: " "), count: 100),
            enqueuedAt: 1)
    }
    try await spool.append(rows)
    await spool.close()
}

@Suite struct SpoolDamageTests {
    static let pageSize = 4096

    /// Damage of every kind SQLite or the spool's own check can see: the engine refuses the file with a message
    /// naming it and the next step, and nothing in its folder changes (no -wal, no -shm, no lock file left, every
    /// byte and mode as before).
    @Test(arguments: [
        "garbage-header", "garbage-page-1-body", "garbage-page-2", "garbage-middle-page", "garbage-last-page",
        "truncated-half", "truncated-unaligned", "foreign-sqlite", "newer-schema", "not-sqlite",
    ])
    func aDamagedOrForeignSpoolIsRefusedUntouched(damage: String) async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("spool.sqlite")
        try await makeSpoolFile(path, count: 2_000)
        let pages = fileSize(path) / Self.pageSize
        #expect(pages > 40, "the spool spans many pages")
        var random = SplitMix64(seed: UInt64(damage.utf8.count))
        func garbage(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8.random(in: 0...255, using: &random) } }
        var expectation = "damaged"
        switch damage {
        case "garbage-header":
            try overwrite(path, at: 0, with: garbage(100))
            expectation = "not an SQLite database"
        case "garbage-page-1-body": try overwrite(path, at: 100, with: garbage(Self.pageSize - 100))
        case "garbage-page-2": try overwrite(path, at: Self.pageSize, with: garbage(Self.pageSize))
        case "garbage-middle-page": try overwrite(path, at: pages / 2 * Self.pageSize, with: garbage(Self.pageSize))
        case "garbage-last-page": try overwrite(path, at: (pages - 1) * Self.pageSize, with: garbage(Self.pageSize))
        case "truncated-half": try truncateFile(path, to: pages / 2 * Self.pageSize)
        case "truncated-unaligned": try truncateFile(path, to: 3 * Self.pageSize + 123)
        case "foreign-sqlite":
            try FileManager.default.removeItem(atPath: path)
            let other = try DatabaseQueue(path: path)
            try await other.write {
                try $0.execute(sql: "CREATE TABLE notes (text TEXT); INSERT INTO notes VALUES ('x')")
            }
            try other.close()
            expectation = "not a lago-console spool"
        case "newer-schema":
            let newer = try DatabaseQueue(path: path)
            try await newer.writeWithoutTransaction {
                try $0.execute(sql: "PRAGMA user_version = \(Spool.schemaVersion + 1)")
            }
            try newer.close()
            expectation = "newer lago-console"
        default:
            try Data("somebody's notes, not a database\n".utf8).write(to: URL(fileURLWithPath: path))
            expectation = "not an SQLite database"
        }
        #expect(!FileManager.default.fileExists(atPath: path + "-wal"))
        let before = try folderSnapshot(directory.path)
        let logs = InMemoryLogHandler()
        #expect {
            try LagoEngine(
                configuration: testConfiguration(spoolPath: path), baseURL: LagoBaseURL("http://127.0.0.1:9"),
                apiKey: "k", logger: Logger(label: "test", factory: { _ in logs }))
        } throws: { error in
            guard let error = error as? EngineError, error.kind == .spoolUnreadable, error.path == path else {
                return false
            }
            return error.message.contains(path) && error.message.contains(expectation)
                && error.message.contains("untouched") && !error.message.contains("DatabaseError")
        }
        #expect(try folderSnapshot(directory.path) == before, "\(damage): the folder changed")
        // Nothing was held or left behind: the spool's lock can be taken again.
        let lock = try SpoolLock(spoolPath: path)
        lock.release(removingCreatedFile: true)
    }

    /// The message of a damaged spool tells what to do.
    @Test func theDamagedMessageNamesTheFileAndTheNextStep() {
        let error = SpoolInspection.damaged("/var/spool.sqlite", finding: "database disk image is malformed")
        #expect(error.message.contains("/var/spool.sqlite") && error.message.contains("Move it aside"))
        #expect(error.message.contains("starts a new, empty spool"))
    }

    /// A spool of the previous release (schema version 1, no checksums) opens, is migrated in place and keeps
    /// every event, its attempts, its dead letters and its id sequence.
    @Test func aVersion1SpoolIsMigratedAndKeepsItsEvents() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("spool.sqlite")
        var configuration = Configuration()
        configuration.journalMode = .wal
        let old = try DatabaseQueue(path: path, configuration: configuration)
        try await old.write { db in
            // The previous release's schema, as it created it.
            try db.execute(
                sql: """
                    CREATE TABLE events (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        transaction_id TEXT NOT NULL,
                        body BLOB NOT NULL,
                        enqueued_at REAL NOT NULL,
                        attempts INTEGER NOT NULL DEFAULT 0
                    );
                    CREATE TABLE dead_letters (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        transaction_id TEXT NOT NULL,
                        body BLOB NOT NULL,
                        enqueued_at REAL NOT NULL,
                        attempts INTEGER NOT NULL,
                        dead_at REAL NOT NULL,
                        reason TEXT NOT NULL
                    );
                    PRAGMA application_id = \(Spool.applicationID);
                    PRAGMA user_version = 1;
                    """)
            for index in 1...50 {
                try db.execute(
                    sql: "INSERT INTO events (transaction_id, body, enqueued_at, attempts) VALUES (?, ?, ?, ?)",
                    arguments: ["old-\(index)", Data(#"{"transaction_id":"old-\#(index)"}"#.utf8), 5.0, index % 3])
            }
            // 10 delivered earlier, one dead-lettered.
            try db.execute(sql: "DELETE FROM events WHERE id <= 10")
            try db.execute(
                sql: """
                    INSERT INTO dead_letters (transaction_id, body, enqueued_at, attempts, dead_at, reason)
                    VALUES ('old-dead', x'7b7d', 1, 1, 2, '{"kind":"rejected","message":"bad"}')
                    """)
        }
        try old.close()

        let spool = try Spool(path: path, synchronous: .normal)
        #expect(spool.openedQueueCount == 40 && spool.openedDeadLetterCount == 1)
        #expect(
            spool.recoveryReport == SpoolRecoveryReport(uncleanStop: false, missingEvents: 0, missingEventsAtMost: 0))
        let rows = try await spool.claim(after: 0, maxCount: 100, maxBytes: 1 << 20)
        #expect(rows.map(\.transactionID) == (11...50).map { "old-\($0)" })
        #expect(rows.map(\.attempts) == (11...50).map { $0 % 3 }, "as the old spool counted them")
        #expect(rows.allSatisfy { $0.isIntact }, "every migrated event carries its body's checksum")
        try await spool.append([NewSpoolRow(transactionID: "new", body: [1], enqueuedAt: 0)])
        let fresh = try await spool.claim(after: 50, maxCount: 10, maxBytes: 100)
        #expect(fresh.map(\.id) == [51] && fresh[0].isIntact)
        await spool.close()

        let reader = try DatabaseQueue(path: path)
        try await reader.read { db in
            #expect(try Int.fetchOne(db, sql: "PRAGMA user_version") == 5)
            #expect(try Int.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'settled_total'") == 10)
            // Version 3: a verdict per event (none for those queued before: they were never checked), the held list.
            #expect(try Int.fetchOne(db, sql: "SELECT count(*) FROM events WHERE verdict IS NULL") == 41)
            #expect(try Int.fetchOne(db, sql: "SELECT count(*) FROM held") == 0)
            let seen = try String.fetchAll(
                db, sql: "SELECT sql FROM sqlite_master WHERE tbl_name = 'seen' ORDER BY type DESC")
            #expect(
                seen == [
                    "CREATE TABLE seen (external_subscription_id TEXT NOT NULL, transaction_id TEXT NOT NULL, "
                        + "accepted_at REAL NOT NULL, PRIMARY KEY (external_subscription_id, transaction_id)) WITHOUT ROWID",
                    "CREATE INDEX seen_by_time ON seen(accepted_at)",
                ])
        }
        try reader.close()
    }

    /// A spool of the previous release (schema version 3) gains the tables of Lago's verdicts and keeps its
    /// events, verdicts and held list; its events delivered from then on are kept in the history.
    @Test func aVersion3SpoolIsMigratedToVersion4() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("spool.sqlite")
        let first = try Spool(path: path, synchronous: .normal)
        _ = try await first.append([
            NewSpoolRow(transactionID: "v3-a", body: Array(#"{"transaction_id":"v3-a"}"#.utf8), enqueuedAt: 1),
            NewSpoolRow(transactionID: "v3-b", body: Array(#"{"transaction_id":"v3-b"}"#.utf8), enqueuedAt: 1),
        ])
        await first.close()
        // Back to what the previous release wrote: no version-4 tables, user_version 3.
        let writer = try DatabaseQueue(path: path)
        try await writer.write { db in
            try db.execute(
                sql: """
                    DROP TABLE delivered; DROP TABLE lago_verdicts; DROP TABLE lago_webhooks;
                    PRAGMA user_version = 3;
                    """)
            try Self.dropVersion5Columns(db)
        }
        try writer.close()

        let spool = try Spool(path: path, synchronous: .normal)
        #expect(spool.openedQueueCount == 2)
        let rows = try await spool.claim(after: 0, maxCount: 10, maxBytes: 1 << 20)
        #expect(rows.map(\.transactionID) == ["v3-a", "v3-b"])
        try await spool.settle(SpoolSettlement(remove: [rows[0].id], deadAt: 100))
        let recorded = try await spool.recordLagoWebhook(
            LagoWebhookReport(
                uniqueKey: "k", webhookType: "events.errors",
                events: [LagoReportedEvent(transactionID: "v3-a", reason: "invalid_code")],
                receivedAt: Date(timeIntervalSince1970: 200)))
        #expect(recorded == .recorded(events: 1))
        let stats = try await spool.lagoConfirmedStats()
        #expect(stats.notBilled == 1 && stats.byAgreement == ["unchecked": 1], "delivered unchecked: no verdict")
        await spool.close()
        let reader = try DatabaseQueue(path: path)
        try await reader.read { db in
            let version = try Int.fetchOne(db, sql: "PRAGMA user_version")
            #expect(version == 5)
            let delivered = try Int.fetchOne(db, sql: "SELECT count(*) FROM delivered WHERE transaction_id = 'v3-a'")
            #expect(delivered == 1)
            let queued = try Int.fetchOne(db, sql: "SELECT count(*) FROM events")
            #expect(queued == 1)
        }
        try reader.close()
    }

    /// Takes a spool back to what schema version 4 had: no `source` and `mapped_field` columns.
    private static func dropVersion5Columns(_ db: Database) throws {
        for table in ["events", "held", "dead_letters"] {
            try db.execute(
                sql: "ALTER TABLE \(table) DROP COLUMN source; ALTER TABLE \(table) DROP COLUMN mapped_field;")
        }
    }

    /// A spool of the previous release (schema version 4) gains each event's source and mapped field: its queued,
    /// held and dead events keep everything and have no origin; events accepted from then on keep theirs through
    /// the queue, the held list, the dead letters and back.
    @Test func aVersion4SpoolIsMigratedToVersion5() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("spool.sqlite")
        let first = try Spool(path: path, synchronous: .normal)
        _ = try await first.append([
            NewSpoolRow(transactionID: "v4-a", body: Array(#"{"transaction_id":"v4-a"}"#.utf8), enqueuedAt: 1),
            NewSpoolRow(
                transactionID: "v4-held", body: Array(#"{"transaction_id":"v4-held"}"#.utf8), enqueuedAt: 1,
                verdict: .unbillable([.invalidCode]), held: true),
        ])
        await first.close()
        let writer = try DatabaseQueue(path: path)
        try await writer.write { db in
            try Self.dropVersion5Columns(db)
            try db.execute(sql: "PRAGMA user_version = 4")
        }
        try writer.close()

        let spool = try Spool(path: path, synchronous: .normal)
        let old = try await spool.claim(after: 0, maxCount: 10, maxBytes: 1 << 20)
        #expect(old.map(\.transactionID) == ["v4-a"] && old[0].origin == nil && old[0].isIntact)
        #expect(try await spool.heldEvents(limit: 10, offset: 0).map(\.origin) == [nil])
        let otlp = EventOrigin(source: .otlp, coding: .field(.cacheRead))
        let cost = EventOrigin(source: .usage, coding: .cost)
        let relay = EventOrigin(source: .relay)
        _ = try await spool.append([
            NewSpoolRow(
                transactionID: "v5-otlp", body: Array(#"{"transaction_id":"v5-otlp"}"#.utf8), enqueuedAt: 2,
                origin: otlp),
            NewSpoolRow(
                transactionID: "v5-cost", body: Array(#"{"transaction_id":"v5-cost"}"#.utf8), enqueuedAt: 2,
                origin: cost),
            NewSpoolRow(
                transactionID: "v5-held", body: Array(#"{"transaction_id":"v5-held"}"#.utf8), enqueuedAt: 2,
                verdict: .unbillable([.invalidCode]), held: true, origin: relay),
        ])
        let fresh = try await spool.claim(after: old[0].id, maxCount: 10, maxBytes: 1 << 20)
        #expect(fresh.map(\.transactionID) == ["v5-otlp", "v5-cost"])
        #expect(fresh.map(\.origin) == [otlp, cost])
        // Dead-lettered, the origin goes with the event; replayed, it comes back into the queue.
        try await spool.settle(
            SpoolSettlement(dead: [(fresh[0], DeadLetterReason(kind: .rejected, message: "no"))], deadAt: 3))
        let letters = try await spool.deadLetters(limit: 10, offset: 0)
        #expect(letters.map(\.origin) == [otlp])
        #expect(try await spool.heldEvents(limit: 10, offset: 0).map(\.origin) == [nil, relay])
        await spool.close()
        let reader = try DatabaseQueue(path: path)
        try await reader.read { db in
            #expect(try Int.fetchOne(db, sql: "PRAGMA user_version") == 5)
            let stored = try Row.fetchAll(
                db, sql: "SELECT transaction_id, source, mapped_field FROM events ORDER BY id"
            ).map {
                "\($0["transaction_id"] as String) \($0["source"] as String? ?? "-") \($0["mapped_field"] as String? ?? "-")"
            }
            #expect(stored == ["v4-a - -", "v5-cost usage cost"])
        }
        try reader.close()
    }

    /// A new spool has the same tables as a migrated one.
    @Test func aNewSpoolHasTheVersion5Schema() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("spool.sqlite")
        await (try Spool(path: path, synchronous: .normal)).close()
        let reader = try DatabaseQueue(path: path)
        try await reader.read { db in
            #expect(try Int.fetchOne(db, sql: "PRAGMA user_version") == 5)
            let tables = try String.fetchAll(
                db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            #expect(
                tables == [
                    "attempt_log", "dead_letters", "delivered", "events", "held", "lago_verdicts", "lago_webhooks",
                    "meta", "seen", "sqlite_sequence",
                ])
            let columns = try String.fetchAll(db, sql: "SELECT name FROM pragma_table_info('events') ORDER BY cid")
            #expect(
                columns == [
                    "id", "transaction_id", "body", "enqueued_at", "attempts", "checksum", "verdict", "reasons",
                    "source", "mapped_field",
                ])
            #expect(
                try String.fetchAll(
                    db, sql: "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name")
                    == [
                        "delivered_by_time", "delivered_by_transaction", "delivered_unbillable",
                        "lago_verdicts_by_time",
                        "seen_by_time",
                    ])
        }
        try reader.close()
    }

    /// `.full` is what SQLite applies (GRDB's WAL setup used to reset it to NORMAL after the spool set it).
    @Test(arguments: [SpoolSynchronousMode.normal, .full])
    func theSynchronousModeIsTheOneConfigured(mode: SpoolSynchronousMode) async throws {
        let directory = try TemporaryDirectory()
        let spool = try Spool(path: directory.file("spool.sqlite"), synchronous: mode)
        #expect(try await spool.synchronousLevel() == (mode == .full ? 2 : 1))
        await spool.close()
    }

    /// A body damaged on disk, where SQLite sees nothing wrong (one digit of its value changed in the file), is
    /// dead-lettered `spool_damaged` with an error naming it and the spool; Lago never receives it, the others are
    /// delivered.
    @Test func aDamagedBodyIsDeadLetteredAndNeverSent() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("spool.sqlite")
        try await Sandbox.withRunning { sandbox in
            let first = try makeEngine(testConfiguration(spoolPath: path), sandbox: sandbox)
            for index in 1...20 { try await first.enqueue(event(index)) }
            await first.shutdown()
            // In the file itself (the log was checkpointed into it at shutdown): ev-7's `"value":8` becomes 9.
            var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
            let id = try #require(bytes.range(of: Data(#""transaction_id":"ev-7""#.utf8)))
            let value = try #require(bytes.range(of: Data(#""value":8}"#.utf8), in: id.upperBound..<bytes.count))
            #expect(value.lowerBound - id.upperBound < 120, "the value found is ev-7's")
            bytes[value.lowerBound + 8] = UInt8(ascii: "9")
            try bytes.write(to: URL(fileURLWithPath: path))

            let logs = InMemoryLogHandler()
            let second = try LagoEngine(
                configuration: testConfiguration(spoolPath: path), baseURL: LagoBaseURL(sandbox.baseURL.absoluteString),
                apiKey: sandbox.apiKey, logger: Logger(label: "test", factory: { _ in logs }))
            #expect(await second.stats().queued == 20, "SQLite's check sees nothing wrong")
            second.start()
            let result = await second.flush(deadline: .seconds(20))
            #expect(result.delivered == 19 && result.dead == 1 && result.pending == 0)
            let letters = try await second.deadLetters()
            #expect(letters.map(\.transactionID) == ["ev-7"])
            #expect(letters.first?.reason.kind == .spoolDamaged)
            #expect(letters.first?.reason.kind.rawValue == "spool_damaged")
            let stored = sandbox.events().map(\.transactionID)
            #expect(!stored.contains("ev-7"), "the damaged event never reached Lago")
            #expect(Set(stored) == Set((1...20).filter { $0 != 7 }.map { "ev-\($0)" }))
            await #expect {
                try await second.replayDeadLetter(id: letters[0].id)
            } throws: { error in
                guard let error = error as? EngineError, error.kind == .invalidEvent else { return false }
                return error.message.contains("ev-7") && error.message.contains("damaged")
                    && error.message.contains(path)
            }
            let errors = logs.entries.filter { $0.level == .error }
            #expect(
                errors.contains { entry in
                    entry.metadata["transaction_id"] == "ev-7" && entry.metadata["spool"] == .string(path)
                }, "a loud error names the event and the spool")
            await second.shutdown()
        }
    }

    /// The spool, its write-ahead log and its lock file are 0600 while an engine runs and after it stopped, and a
    /// spool of an earlier release left 0644 is made 0600 when it is opened.
    @Test func spoolFilesAreReadableByTheOwnerOnly() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("spool.sqlite")
        let previous = umask(0o022)
        defer { umask(previous) }
        let url = try LagoBaseURL("http://127.0.0.1:9")
        let engine = try LagoEngine(configuration: testConfiguration(spoolPath: path), baseURL: url, apiKey: "k")
        for index in 0..<50 { try await engine.enqueue(event(index)) }
        #expect(fileMode(path) == 0o600)
        #expect(fileMode(path + "-wal") == 0o600)
        #expect(fileMode(path + ".lock") == 0o600)
        #expect(fileMode(path + "-shm") == -1, "exclusive locking mode: no shared-memory file")
        await engine.shutdown()
        #expect(fileMode(path) == 0o600 && fileMode(path + ".lock") == 0o600)

        #expect(chmod(path, 0o644) == 0 && chmod(path + ".lock", 0o644) == 0)
        let again = try LagoEngine(configuration: testConfiguration(spoolPath: path), baseURL: url, apiKey: "k")
        #expect(fileMode(path) == 0o600 && fileMode(path + ".lock") == 0o600)
        try await again.enqueue(event(99))
        #expect(fileMode(path + "-wal") == 0o600)
        await again.shutdown()
    }
}

/// The report's arithmetic: the lock file's mark against the spool's own counts.
@Suite struct RecoveryReportArithmeticTests {
    static let id = UUID()

    static func report(
        mark: (appended: Int64, settled: Int64)?, spool: (appended: Int64, settled: Int64, queued: Int64)
    ) -> SpoolRecoveryReport {
        SpoolRecoveryReport(
            mark: mark.map { SpoolMark(spoolID: id, appended: $0.appended, settled: $0.settled, open: true) },
            appended: spool.appended, settled: spool.settled, queued: spool.queued)
    }

    @Test func aMarkEqualToTheSpoolOrBehindItReportsNothing() {
        #expect(Self.report(mark: (300, 120), spool: (300, 120, 180)).missingEventsAtMost == 0)
        // Killed after a commit, before its mark: the spool is ahead.
        #expect(Self.report(mark: (200, 100), spool: (300, 120, 180)).missingEventsAtMost == 0)
        #expect(Self.report(mark: nil, spool: (300, 120, 180)).missingEventsAtMost == 0)
        #expect(Self.report(mark: (300, 120), spool: (300, 120, 180)).uncleanStop)
    }

    @Test func lostAppendsWithNoLostSettlementAreCountedExactly() {
        let report = Self.report(mark: (300, 0), spool: (150, 0, 150))
        #expect(report.missingEvents == 150 && report.missingEventsAtMost == 150)
    }

    @Test func lostSettlementsWidenTheCountToARange() {
        // Queued at the mark 700; the spool expects 650 queued; 50 settlements lost, 100 appends lost.
        let report = Self.report(mark: (1000, 300), spool: (900, 250, 650))
        #expect(report.missingEvents == 50 && report.missingEventsAtMost == 100)
        // Every lost append had been settled: nothing certainly missing, up to the settlements lost.
        let settled = Self.report(mark: (1000, 400), spool: (900, 300, 600))
        #expect(settled.missingEvents == 0 && settled.missingEventsAtMost == 100)
    }

    @Test func rowsGoneFromTheSpoolWithoutSettlementAreMissingWhateverTheMark() {
        let report = Self.report(mark: nil, spool: (10, 2, 5))
        #expect(report.missingEvents == 3 && report.missingEventsAtMost == 3 && !report.uncleanStop)
    }
}
