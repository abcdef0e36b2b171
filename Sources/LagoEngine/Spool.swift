import Crypto
import Dispatch
import Foundation
import GRDB
import GRDBSQLite
import LagoAPI
import LagoBilling
import LagoUsage
import Synchronization

/// `close(2)`, out of reach by that name inside ``Spool`` (its own `close()` hides it).
private func closeDescriptor(_ descriptor: Int32) {
    _ = close(descriptor)
}

/// One undelivered event as the flusher sees it.
struct SpoolRow: Sendable, Hashable {
    /// Monotonic row id (AUTOINCREMENT: never reused, so a cursor over ids never misses a row).
    var id: Int64
    var transactionID: String
    /// The event's JSON object, exactly as it is sent.
    var body: [UInt8]
    /// Unix seconds at enqueue.
    var enqueuedAt: Double
    /// Requests that carried the event so far, persisted before each request is sent.
    var attempts: Int
    /// The checksum stored with the body when it was appended (``Spool/checksum(_:)-([UInt8])``).
    var checksum: Int64
    /// Whether Lago will bill it, as checked when it was accepted (`unchecked` in a spool older than verdicts).
    var verdict: BillingVerdict = .unchecked
    /// Where it came from and what coded it (`nil` in a spool older than schema version 5).
    var origin: EventOrigin? = nil

    /// A row; `checksum` `nil` computes it from `body` (a row built in memory is intact).
    init(
        id: Int64, transactionID: String, body: [UInt8], enqueuedAt: Double, attempts: Int, checksum: Int64? = nil
    ) {
        self.id = id
        self.transactionID = transactionID
        self.body = body
        self.enqueuedAt = enqueuedAt
        self.attempts = attempts
        self.checksum = checksum ?? Spool.checksum(body)
    }

    /// The body still has the checksum it was appended with.
    var isIntact: Bool { Spool.checksum(body) == checksum }
}

/// An event to append.
struct NewSpoolRow: Sendable {
    var transactionID: String
    var body: [UInt8]
    var enqueuedAt: Double
    var attempts: Int = 0
    /// Keys the dedup index with the transaction id (`nil`: Lago's unique index does not apply, nor does ours).
    var externalSubscriptionID: String? = nil
    /// The billing check's verdict, stored with the event (`nil`: no check ran).
    var verdict: BillingVerdict? = nil
    /// Kept out of delivery in the held list (policy `hold`, an unbillable verdict) instead of the queue.
    var held = false
    /// Where it came from and what coded it.
    var origin: EventOrigin? = nil
}

/// What a commit added: rows to the queue (and their bytes and verdicts), rows to the held list.
struct AppendTally: Sendable {
    var rows = 0
    var bytes = 0
    var verdicts = BillingCounts()
    var held = 0
    var heldVerdicts = BillingCounts()

    var isEmpty: Bool { rows == 0 && held == 0 }

    mutating func add(_ other: AppendTally) {
        rows += other.rows
        bytes += other.bytes
        held += other.held
        verdicts.add(other.verdicts)
        heldVerdicts.add(other.heldVerdicts)
    }

    /// The tally of appending `rows`: held rows count apart.
    init(_ rows: [NewSpoolRow]) {
        for row in rows {
            let verdict = row.verdict ?? .unchecked
            if row.held {
                held += 1
                heldVerdicts.add(verdict)
            } else {
                self.rows += 1
                bytes += row.body.count
                verdicts.add(verdict)
            }
        }
    }

    init() {}
}

/// What to write after a request: rows to delete and rows to move to the dead letters.
struct SpoolSettlement: Sendable {
    /// Delivered or already in Lago: removed.
    var remove: [Int64] = []
    /// Moved to the dead letters with their reason.
    var dead: [(row: SpoolRow, reason: DeadLetterReason)] = []
    /// When they died (Unix seconds).
    var deadAt: Double = 0
    /// Failed attempts of events that stay queued (retried, held, resent), kept with the spool.
    var failedAttempts: [AttemptRecord] = []

    var isEmpty: Bool { remove.isEmpty && dead.isEmpty && failedAttempts.isEmpty }
}

/// The durable queue: a SQLite file in WAL mode, written by one group-committing writer.
///
/// Every write (appends, attempt marks, settlements, dead-letter operations) is an operation handed to one writer
/// on its own dispatch queue: it takes every operation pending, runs them in one transaction (each in its own
/// savepoint, so one failing operation does not fail its neighbours), commits once, then resumes every caller.
/// Many concurrent producers thus share one commit.
final class Spool: Sendable {
    static let applicationID: Int32 = 0x4C_41_47_4F  // "LAGO"
    /// 1: events and dead letters. 2: a checksum per event, the `meta` table (spool identity, events ever
    /// settled) and the relay's `seen` table. 3: each event's billing verdict, and the `held` table (events kept
    /// out of delivery as unbillable). 4: what Lago said afterwards: `delivered` (the verdict each delivered event
    /// was sent with, kept a day), `lago_verdicts` (events Lago's webhooks reported not billed) and `lago_webhooks`
    /// (each webhook's `X-Lago-Unique-Key`, for idempotency).
    static let schemaVersion = 5

    let path: String
    /// Undelivered events found when the file was opened.
    let openedQueueCount: Int
    /// Dead letters found when the file was opened.
    let openedDeadLetterCount: Int
    /// The queued events' verdicts when the file was opened.
    let openedVerdicts: BillingCounts
    /// Held events when the file was opened, by verdict.
    let openedHeld: BillingCounts
    /// What opening the file found about the previous engine's stop.
    let recoveryReport: SpoolRecoveryReport
    /// The spool's random identity (in its `meta` table).
    let spoolID: UUID
    private let database: DatabaseQueue
    /// Entries in the `seen` table (the relay's dedup index), to bound it without counting rows. Only changed
    /// inside write transactions; a rolled-back group may leave it off by a few, which only moves a prune.
    private let seenCount = Atomic<Int>(0)
    /// Dedup inserts since the last prune of expired entries.
    private let seenInsertsSincePrune = Atomic<Int>(0)
    /// Rows added to the `delivered` history since its last prune.
    let deliveredSincePrune = Atomic<Int>(0)
    /// Lago webhooks recorded since the last prune of the webhooks' keys.
    let lagoWebhooksSincePrune = Atomic<Int>(0)
    /// Where the ``SpoolMark`` goes after each commit (the engine's lock file); none for a spool opened alone.
    private let lock: SpoolLock?
    /// Events ever appended and ever settled, as committed (the mark's figures).
    private let tally: Mutex<(appended: Int64, settled: Int64)>
    /// Events settled by the transaction under way (only the committing thread touches it).
    private let settledInTransaction = Mutex<Int64>(0)
    /// Frames in the write-ahead log after the last commit (SQLite's WAL hook writes it).
    private let walFrames = WALFrameCount()
    /// Whether an idle spool commits on the caller's thread (see ``perform(appendedRows:appendedBytes:isolated:
    /// readOnly:onWriterQueue:_:)``): only with `synchronous = NORMAL`, whose commits do not `fsync`. With FULL
    /// every commit waits for the disk, which must not hold a thread of the cooperative pool: they all go through
    /// the writer queue.
    private let commitsOnCaller: Bool
    private let writerQueue = DispatchQueue(label: "lago-engine.spool-writer", qos: .userInitiated)
    private let pending = Mutex(PendingWrites())
    /// Called after a commit that appended rows (count, bytes), before the callers resume. Boxed in a class: a
    /// closure stored directly in a `Mutex` is re-abstracted on every read, and the thunks nest until the stack
    /// overflows.
    private let onAppend: Mutex<AppendHandler?> = Mutex(nil)

    private final class AppendHandler: Sendable {
        let call: @Sendable (AppendTally) -> Void
        init(_ call: @escaping @Sendable (AppendTally) -> Void) { self.call = call }
    }

    private struct PendingOperation: Sendable, Committable {
        let appended: AppendTally
        let isolated: Bool
        let readOnly: Bool
        let work: @Sendable (Database) throws -> any Sendable
        let continuation: CheckedContinuation<any Sendable, any Error>
        func run(_ db: Database) throws -> any Sendable { try work(db) }
    }

    private struct PendingWrites: Sendable {
        var operations: [PendingOperation] = []
        /// A commit is under way (on the writer queue or, with ``directActive``, on a caller's thread).
        var draining = false
        /// A caller's thread is committing its own operation.
        var directActive = false
        /// The write-ahead log passed ``Spool/checkpointFrames``: the writer queue checkpoints before its next group.
        var checkpointDue = false
        var closed = false
        /// ``Spool/close()`` calls waiting for the commit under way: whoever ends the draining resumes them.
        var closeWaiters: [CheckedContinuation<Void, Never>] = []

        /// Ends the draining; returns the closers to resume.
        mutating func endDraining() -> [CheckedContinuation<Void, Never>] {
            draining = false
            defer { closeWaiters = [] }
            return closeWaiters
        }
    }

    /// Write-ahead-log frames (pages) that make a checkpoint due: 4,000 × 4 KiB, SQLite's own default threshold.
    static let checkpointFrames = 4000

    /// Where SQLite's WAL hook leaves the log's size; a class so that its address can be handed to C.
    private final class WALFrameCount: Sendable {
        let frames = Atomic<Int>(0)
    }

    /// Opens (or creates) the spool file.
    ///
    /// An existing file is first checked read-only (``SpoolInspection``: SQLite's `quick_check`, the application id,
    /// the schema version) and refused untouched when it fails; only then is it opened for writing, given mode
    /// 0600 and, from schema version 1, migrated. A new file is created with mode 0600 before SQLite opens it (its
    /// write-ahead log takes the same mode).
    /// - Parameter lock: the engine's lock on the file: the previous engine's ``SpoolMark`` is read from it for
    ///   ``recoveryReport``, and this spool writes its own after each commit.
    /// - Throws: ``EngineError/Kind/spoolUnreadable`` naming the file and what to do when it exists but is not a
    ///   readable spool; nothing is written to it.
    init(path: String, synchronous: SpoolSynchronousMode, lock: SpoolLock? = nil) throws {
        self.path = path
        self.lock = lock
        self.commitsOnCaller = synchronous != .full
        try Spool.checkHeader(path: path)
        _ = try SpoolInspection.inspect(path: path, newestSchemaVersion: Spool.schemaVersion)
        try Spool.prepareFileMode(path: path)
        var configuration = Configuration()
        // Not GRDB's `journalMode = .wal`: its setup writes a table (and drops it) whenever the -wal file is absent
        // or empty, and sets `synchronous = NORMAL` after `prepareDatabase`, overriding FULL. The journal mode is
        // set below, once the file passed its check.
        configuration.label = "lago-engine.spool"
        let synchronousPragma = synchronous == .full ? "FULL" : "NORMAL"
        configuration.prepareDatabase { db in
            // One process owns the spool (the lock file says so): no file locks per transaction, the WAL index
            // in memory instead of a shared-memory file.
            try db.execute(sql: "PRAGMA locking_mode = EXCLUSIVE")
            try db.execute(sql: "PRAGMA synchronous = \(synchronousPragma)")
        }
        do {
            database = try DatabaseQueue(path: path, configuration: configuration)
            try database.inDatabase { db in
                let mode = try String.fetchOne(db, sql: "PRAGMA journal_mode = WAL")
                guard mode == "wal" else {
                    throw EngineError(
                        .spoolIO, "the spool \(path) cannot use a write-ahead log (journal mode \(mode ?? "?"))",
                        path: path)
                }
            }
            // Checkpoints (copying the log into the file, then an fsync that can take milliseconds) never run inside
            // a commit, which may be on a caller's thread of Swift's small cooperative pool: the hook only notes the
            // log's size (installing it turns SQLite's automatic checkpoints off) and the writer queue checkpoints.
            let frames = Unmanaged.passUnretained(walFrames).toOpaque()
            database.inDatabase { db in
                _ = sqlite3_wal_hook(
                    db.sqliteConnection,
                    { context, _, _, count in
                        Unmanaged<WALFrameCount>.fromOpaque(context!).takeUnretainedValue().frames.store(
                            Int(count), ordering: .relaxed)
                        return SQLITE_OK
                    }, frames)
            }
            let opened = try database.inDatabase { db in
                try Spool.prepareSchema(db, path: path, previousMark: lock?.previousMark)
            }
            openedQueueCount = opened.queued
            openedDeadLetterCount = opened.dead
            openedVerdicts = opened.verdicts
            openedHeld = opened.held
            recoveryReport = opened.report
            spoolID = opened.spoolID
            tally = Mutex((opened.appended, opened.settled))
            // A file of an earlier release may be 0644, and so may its log; the log exists from here on.
            for companion in [path + "-wal", path + "-shm"] where FileManager.default.fileExists(atPath: companion) {
                _ = chmod(companion, 0o600)
            }
            let seen = try database.inDatabase { db in try Spool.seenIndexSize(db) }
            seenCount.store(seen, ordering: .relaxed)
        } catch let error as EngineError {
            throw error
        } catch {
            throw EngineError(
                .spoolUnreadable,
                "the spool \(path) cannot be opened: \(error). Move it aside and the engine starts a new, empty spool",
                path: path)
        }
        lock?.recordOwner()
        recordMark(open: true)
    }

    /// Refuses a file that exists, is not empty and is not SQLite, before SQLite touches it.
    private static func checkHeader(path: String) throws {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            if FileManager.default.fileExists(atPath: path) {
                throw EngineError(.spoolUnreadable, "the spool \(path) exists but cannot be read", path: path)
            }
            return
        }
        defer { try? handle.close() }
        let header = (try? handle.read(upToCount: 16)) ?? Data()
        if header.isEmpty { return }
        if header != Data("SQLite format 3\0".utf8) {
            throw EngineError(
                .spoolUnreadable,
                "the spool \(path) is not an SQLite database (damaged, or another program's file); it was left "
                    + "untouched. Move it aside and the engine starts a new, empty spool",
                path: path)
        }
    }

    /// A new spool file is created here with mode 0600 (SQLite would create it 0644 less the umask, and its log
    /// takes the file's mode); a checked existing one gets mode 0600.
    private static func prepareFileMode(path: String) throws {
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            let reason = String(cString: strerror(errno))
            throw EngineError(.spoolIO, "cannot create the spool \(path): \(reason)", path: path)
        }
        _ = fchmod(descriptor, 0o600)
        closeDescriptor(descriptor)
    }

    /// What ``prepareSchema(_:path:previousMark:)`` found.
    private struct Opened {
        var queued: Int
        var dead: Int
        var verdicts = BillingCounts()
        var held = BillingCounts()
        var spoolID: UUID
        var appended: Int64
        var settled: Int64
        var report: SpoolRecoveryReport
    }

    /// Creates the schema in a new file, migrates a version-1 spool, and compares the file with the previous
    /// engine's mark. The file passed ``SpoolInspection`` already.
    private static func prepareSchema(_ db: Database, path: String, previousMark: SpoolMark?) throws -> Opened {
        let applicationID = try Int32.fetchOne(db, sql: "PRAGMA application_id") ?? 0
        let tables = try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table'")
        if applicationID != Spool.applicationID {
            guard applicationID == 0, tables.isEmpty else {
                throw EngineError(
                    .spoolUnreadable,
                    "the file \(path) is an SQLite database but not a lago-console spool; it was left untouched",
                    path: path)
            }
            let spoolID = UUID()
            try db.inTransaction(.immediate) {
                try db.execute(
                    sql: """
                        CREATE TABLE events (
                            id INTEGER PRIMARY KEY AUTOINCREMENT,
                            transaction_id TEXT NOT NULL,
                            body BLOB NOT NULL,
                            enqueued_at REAL NOT NULL,
                            attempts INTEGER NOT NULL DEFAULT 0,
                            checksum INTEGER NOT NULL,
                            verdict INTEGER,
                            reasons TEXT
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
                        """)
                try createVersion2Tables(db, spoolID: spoolID, settled: 0)
                try createHeldTable(db)
                try createVersion4Tables(db)
                try addVersion5Columns(db)
                try db.execute(sql: "PRAGMA user_version = \(Spool.schemaVersion)")
                return .commit
            }
            return Opened(
                queued: 0, dead: 0, spoolID: spoolID, appended: 0, settled: 0,
                report: SpoolRecoveryReport(uncleanStop: false, missingEvents: 0, missingEventsAtMost: 0))
        }
        var version = try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0
        if version == 1 {
            try migrateFromVersion1(db)
            version = 2
        }
        if version == 2 {
            try migrateFromVersion2(db)
            version = 3
        }
        if version == 3 {
            try migrateFromVersion3(db)
            version = 4
        }
        if version == 4 {
            try migrateFromVersion4(db)
            version = 5
        }
        guard version == Spool.schemaVersion, tables.contains("events"), tables.contains("dead_letters") else {
            throw EngineError(
                .spoolUnreadable,
                "the spool \(path) has schema version \(version), this build reads version \(Spool.schemaVersion); "
                    + "it was left untouched",
                path: path)
        }
        // Reads every page of the queue once: a damaged file fails here, with the file named, not mid-delivery.
        let queued = try Int.fetchOne(db, sql: "SELECT count(*) FROM events") ?? 0
        let dead = try Int.fetchOne(db, sql: "SELECT count(*) FROM dead_letters") ?? 0
        let verdicts = try verdictCounts(db, table: "events")
        let held = try verdictCounts(db, table: "held")
        let appended = try Int64.fetchOne(db, sql: "SELECT seq FROM sqlite_sequence WHERE name = 'events'") ?? 0
        let settled = try Int64.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'settled_total'") ?? 0
        let idBytes = try Data.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'spool_id'") ?? Data()
        let spoolID =
            idBytes.count == 16 ? UUID(uuid: idBytes.withUnsafeBytes { $0.loadUnaligned(as: uuid_t.self) }) : UUID()
        let mark = previousMark?.spoolID == spoolID ? previousMark : nil
        let report = SpoolRecoveryReport(
            mark: mark, appended: appended, settled: settled, queued: Int64(queued))
        return Opened(
            queued: queued, dead: dead, verdicts: verdicts, held: held, spoolID: spoolID, appended: appended,
            settled: settled, report: report)
    }

    /// The size of the relay's dedup index (the `seen` table every version-2 spool has).
    private static func seenIndexSize(_ db: Database) throws -> Int {
        try Int.fetchOne(db, sql: "SELECT count(*) FROM seen") ?? 0
    }

    /// The tables schema version 2 added: `meta` (the spool's identity, events ever settled), `seen` (the relay's
    /// record of accepted transaction ids, for deduplication) and `attempt_log` (the failed attempts of queued
    /// events: what Lago answered each time, kept across restarts).
    private static func createVersion2Tables(_ db: Database, spoolID: UUID, settled: Int64) throws {
        try db.execute(
            sql: """
                CREATE TABLE meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;
                CREATE TABLE seen (\
                external_subscription_id TEXT NOT NULL, \
                transaction_id TEXT NOT NULL, \
                accepted_at REAL NOT NULL, \
                PRIMARY KEY (external_subscription_id, transaction_id)) WITHOUT ROWID;
                CREATE INDEX seen_by_time ON seen(accepted_at);
                CREATE TABLE attempt_log (\
                event_id INTEGER NOT NULL, attempt INTEGER NOT NULL, at REAL NOT NULL, status INTEGER, \
                answer TEXT NOT NULL, PRIMARY KEY (event_id, attempt)) WITHOUT ROWID;
                """)
        let idBytes = withUnsafeBytes(of: spoolID.uuid) { Data($0) }
        try db.execute(sql: "INSERT INTO meta (key, value) VALUES ('spool_id', ?)", arguments: [idBytes])
        try db.execute(sql: "INSERT INTO meta (key, value) VALUES ('settled_total', ?)", arguments: [settled])
    }

    /// The events of `table` (`events` or `held`) by verdict.
    private static func verdictCounts(_ db: Database, table: String) throws -> BillingCounts {
        var counts = BillingCounts()
        let rows = try Row.fetchAll(
            db, sql: "SELECT verdict, reasons, count(*) AS n FROM \(table) GROUP BY verdict, reasons")
        for row in rows {
            counts.add(BillingVerdict(storageCode: row["verdict"], reasons: row["reasons"]), count: row["n"])
        }
        return counts
    }

    /// The table schema version 3 added: events kept out of delivery because Lago would not bill them (policy
    /// `hold`), until the operator releases or discards them.
    private static func createHeldTable(_ db: Database) throws {
        try db.execute(
            sql: """
                CREATE TABLE held (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    transaction_id TEXT NOT NULL,
                    body BLOB NOT NULL,
                    enqueued_at REAL NOT NULL,
                    checksum INTEGER NOT NULL,
                    verdict INTEGER,
                    reasons TEXT
                );
                """)
    }

    /// The columns schema version 5 added to the events, held and dead-letter tables: where each event came from
    /// (`relay`, `usage`, `otlp`, `console`) and the canonical field whose mapping coded it (`cost` for a cost
    /// event, NULL when the client wrote the code). Events older than version 5 have neither.
    private static func addVersion5Columns(_ db: Database) throws {
        for table in ["events", "held", "dead_letters"] {
            try db.execute(
                sql: "ALTER TABLE \(table) ADD COLUMN source TEXT; ALTER TABLE \(table) ADD COLUMN mapped_field TEXT;")
        }
    }

    /// Version 4 → 5, in one transaction: each event's source and mapped field.
    private static func migrateFromVersion4(_ db: Database) throws {
        try db.inTransaction(.immediate) {
            try addVersion5Columns(db)
            try db.execute(sql: "PRAGMA user_version = 5")
            return .commit
        }
    }

    /// The origin stored in a row's `source` and `mapped_field` columns (`nil` before schema version 5).
    static func origin(from row: Row) -> EventOrigin? {
        guard let sourceText: String = row["source"], let source = EventOrigin.Source(rawValue: sourceText) else {
            return nil
        }
        return EventOrigin(source: source, coding: .init(storageText: row["mapped_field"]))
    }

    /// Version 3 → 4, in one transaction: the tables of Lago's after-the-fact verdicts.
    private static func migrateFromVersion3(_ db: Database) throws {
        try db.inTransaction(.immediate) {
            try createVersion4Tables(db)
            try db.execute(sql: "PRAGMA user_version = 4")
            return .commit
        }
    }

    /// Version 2 → 3, in one transaction: a verdict per queued event (none: they were not checked) and the
    /// `held` table.
    private static func migrateFromVersion2(_ db: Database) throws {
        try db.inTransaction(.immediate) {
            try db.execute(
                sql: """
                    ALTER TABLE events ADD COLUMN verdict INTEGER;
                    ALTER TABLE events ADD COLUMN reasons TEXT;
                    """)
            try createHeldTable(db)
            try db.execute(sql: "PRAGMA user_version = 3")
            return .commit
        }
    }

    /// Version 1 → 2, in one transaction: every queued event gets its body's checksum, events ever settled are
    /// those appended and no longer queued, and the new tables are created.
    private static func migrateFromVersion1(_ db: Database) throws {
        let checksum = DatabaseFunction("lago_spool_checksum", argumentCount: 1, pure: true) { values in
            let body = Data.fromDatabaseValue(values[0]) ?? Data()
            return body.withUnsafeBytes { Spool.checksum($0) }
        }
        db.add(function: checksum)
        defer { db.remove(function: checksum) }
        try db.inTransaction(.immediate) {
            try db.execute(
                sql: """
                    ALTER TABLE events ADD COLUMN checksum INTEGER NOT NULL DEFAULT 0;
                    UPDATE events SET checksum = lago_spool_checksum(body);
                    """)
            let appended = try Int64.fetchOne(db, sql: "SELECT seq FROM sqlite_sequence WHERE name = 'events'") ?? 0
            let queued = try Int64.fetchOne(db, sql: "SELECT count(*) FROM events") ?? 0
            try createVersion2Tables(db, spoolID: UUID(), settled: max(0, appended - queued))
            try db.execute(sql: "PRAGMA user_version = 2")
            return .commit
        }
    }

    /// The checksum kept beside each event's body: the first 8 bytes of its SHA-256, as a signed integer.
    static func checksum(_ body: UnsafeRawBufferPointer) -> Int64 {
        SHA256.hash(data: body).withUnsafeBytes { Int64(bigEndian: $0.loadUnaligned(as: Int64.self)) }
    }

    /// The checksum of `body` (see ``checksum(_:)-(UnsafeRawBufferPointer)``).
    static func checksum(_ body: [UInt8]) -> Int64 { body.withUnsafeBytes { checksum($0) } }

    /// Sets the hook called after each commit that appended rows.
    func setAppendHandler(_ handler: @escaping @Sendable (AppendTally) -> Void) {
        let box = AppendHandler(handler)
        onAppend.withLock { $0 = box }
    }

    // MARK: Writer

    /// Runs `work` inside the next group commit and returns its result once committed.
    ///
    /// When no commit is under way, the caller's thread runs `work` in a transaction of its own at once (no hop to
    /// the writer queue and back: an idle spool commits one `enqueue` in tens of microseconds), unless the spool is
    /// `synchronous = FULL` (an fsync per commit: always the writer queue). Operations arriving meanwhile queue up and
    /// are committed together by the writer queue afterwards.
    ///
    /// - Parameter isolated: run `work` in its own savepoint, so that its error fails it alone. Without it (the hot
    ///   path: appends, claims, settlements, which fail only on I/O errors), an error rolls the whole group back
    ///   and fails every operation of the group: nothing of it is committed.
    /// - Throws: the error of an isolated `work` (its savepoint is rolled back), ``EngineError/Kind/spoolIO`` when
    ///   the group fails, ``EngineError/Kind/shutDown`` after ``close()``.
    /// - Parameter readOnly: `work` only reads; alone, it runs outside any write transaction.
    /// - Parameter onWriterQueue: never on the caller's thread: for work that reads the whole spool (a `count(*)`),
    ///   which must not hold a thread of the cooperative pool.
    func perform<T: Sendable>(
        appended: AppendTally = AppendTally(), isolated: Bool = false, readOnly: Bool = false,
        onWriterQueue: Bool = false, _ work: @escaping @Sendable (Database) throws -> T
    ) async throws -> T {
        let direct: Bool =
            commitsOnCaller && !onWriterQueue
            && pending.withLock { state in
                guard !state.closed, !state.draining else { return false }
                state.draining = true
                state.directActive = true
                return true
            }
        if direct {
            let result = commit(
                [
                    DirectOperation(appended: appended, isolated: isolated, readOnly: readOnly, work: work)
                ]
            )[0]
            let (handOff, closers): (Bool, [CheckedContinuation<Void, Never>]) = pending.withLock { state in
                state.directActive = false
                if state.operations.isEmpty && !state.checkpointDue {
                    return (false, state.endDraining())
                }
                return (true, [])  // stays draining: the writer queue takes over what arrived meanwhile
            }
            if handOff { writerQueue.async { self.drain() } }
            for closer in closers { closer.resume() }
            // The operation's closure returned a `T`.
            return try result.get() as! T
        }
        let value = try await withCheckedThrowingContinuation {
            (continuation: CheckedContinuation<any Sendable, any Error>) in
            let operation = PendingOperation(
                appended: appended, isolated: isolated, readOnly: readOnly, work: { try work($0) },
                continuation: continuation)
            let start: Bool? = pending.withLock { state in
                if state.closed { return nil }
                state.operations.append(operation)
                if state.draining { return false }
                state.draining = true
                return true
            }
            switch start {
            case nil: continuation.resume(throwing: EngineError(.shutDown, "the spool \(path) is closed", path: path))
            case true?: writerQueue.async { self.drain() }
            case false?: break
            }
        }
        // The operation's closure returned a `T`; the box only crossed the writer queue.
        return value as! T
    }

    /// What ``commit(_:)`` needs of an operation.
    private protocol Committable {
        var appended: AppendTally { get }
        var isolated: Bool { get }
        var readOnly: Bool { get }
        func run(_ db: Database) throws -> any Sendable
    }

    private struct DirectOperation<T: Sendable>: Committable {
        let appended: AppendTally
        let isolated: Bool
        let readOnly: Bool
        let work: @Sendable (Database) throws -> T
        func run(_ db: Database) throws -> any Sendable { try work(db) }
    }

    /// Runs operations in one transaction (isolated ones in savepoints) and commits once; marks a checkpoint due
    /// for the writer queue when the log passed ``checkpointFrames``; then reports appended rows to the append
    /// handler. Returns each operation's result; a failed transaction fails them all with
    /// ``EngineError/Kind/spoolIO``.
    private func commit(_ operations: [some Committable]) -> [Result<any Sendable, any Error>] {
        var results: [Result<any Sendable, any Error>] = []
        results.reserveCapacity(operations.count)
        if operations.allSatisfy(\.readOnly) {
            // Reads only (stats, dead-letter lists): no write transaction, no commit.
            return operations.map { operation in
                Result { try database.inDatabase { db in try operation.run(db) } }.mapError { error in
                    error is EngineError
                        ? error : EngineError(.spoolIO, "reading the spool \(path) failed: \(error)", path: path)
                }
            }
        }
        do {
            try database.inDatabase { db in
                try db.inTransaction(.immediate) {
                    for operation in operations {
                        guard operation.isolated else {
                            // An error here aborts the transaction: the whole group fails, nothing commits.
                            results.append(.success(try operation.run(db)))
                            continue
                        }
                        do {
                            var value: (any Sendable)?
                            try db.inSavepoint {
                                value = try operation.run(db)
                                return .commit
                            }
                            results.append(.success(value!))
                        } catch {
                            results.append(.failure(error))
                        }
                    }
                    return .commit
                }
            }
        } catch {
            settledInTransaction.withLock { $0 = 0 }
            // After an error inside a savepoint SQLite may roll the whole transaction back by itself (SQLITE_FULL
            // does): the commit then fails with "transaction was aborted", and the savepoint's error is the cause.
            let cause =
                results.lazy.compactMap { result -> (any Error)? in
                    if case .failure(let error) = result, error is DatabaseError { return error }
                    return nil
                }.first ?? error
            let failure = EngineError(.spoolIO, "writing the spool \(path) failed: \(cause)", path: path)
            return operations.map { _ in .failure(failure) }
        }
        if walFrames.frames.load(ordering: .relaxed) >= Spool.checkpointFrames {
            pending.withLock { $0.checkpointDue = true }
        }
        var appended = AppendTally()
        for (operation, result) in zip(operations, results) {
            if case .success = result { appended.add(operation.appended) }
        }
        let rows = appended.rows
        let settled = settledInTransaction.withLock { settled in
            defer { settled = 0 }
            return settled
        }
        if rows > 0 || settled > 0 {
            tally.withLock {
                $0.appended += Int64(rows)
                $0.settled += settled
            }
            recordMark(open: true)
        }
        if !appended.isEmpty, let handler = onAppend.withLock({ $0 }) { handler.call(appended) }
        return results
    }

    /// Writes the ``SpoolMark`` of what is committed to the lock file (before the callers of the commit resume).
    private func recordMark(open: Bool) {
        guard let lock else { return }
        let (appended, settled) = tally.withLock { ($0.appended, $0.settled) }
        lock.record(SpoolMark(spoolID: spoolID, appended: appended, settled: settled, open: open))
    }

    private func drain() {
        while true {
            let (operations, checkpoint, closers): ([PendingOperation], Bool, [CheckedContinuation<Void, Never>]) =
                pending.withLock { state in
                    if state.checkpointDue {
                        state.checkpointDue = false
                        return ([], true, [])
                    }
                    if state.operations.isEmpty {
                        return ([], false, state.endDraining())
                    }
                    defer { state.operations.removeAll(keepingCapacity: true) }
                    return (state.operations, false, [])
                }
            if checkpoint {
                checkpointLog()
                continue
            }
            if operations.isEmpty {
                for closer in closers { closer.resume() }
                return
            }
            let results = commit(operations)
            for (operation, result) in zip(operations, results) {
                operation.continuation.resume(with: result)
            }
        }
    }

    /// Copies the write-ahead log into the database file (on the writer queue, between group commits). A failure
    /// leaves the log as it is; the next commit past the threshold tries again, and SQLite checkpoints on close.
    private func checkpointLog() {
        if (try? database.inDatabase({ db in try db.checkpoint(.passive) })) != nil {
            walFrames.frames.store(0, ordering: .relaxed)
        }
    }

    /// Refuses further operations, lets the pending ones finish, and closes the file.
    ///
    /// Waits without blocking a thread: when a commit is under way (on the writer queue or on a caller's thread),
    /// the one that ends the draining resumes this call; no operation can start once `closed` is set.
    func close() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let idle: Bool = pending.withLock { state in
                state.closed = true
                guard state.draining else { return true }
                state.closeWaiters.append(continuation)
                return false
            }
            if idle { continuation.resume() }
        }
        // Closed: the log is checkpointed into the file (an fsync) and removed, on the writer queue, not on a
        // thread of the cooperative pool.
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            writerQueue.async {
                if (try? self.database.close()) != nil { self.recordMark(open: false) }
                continuation.resume()
            }
        }
    }

    // MARK: Operations

    /// How ``append(_:dedup:)`` checks and records (subscription, transaction id) pairs.
    struct Dedup: Sendable {
        /// Unix seconds recorded for the new pairs.
        var now: Double
        /// Pairs recorded before this (Unix seconds) are forgotten.
        var since: Double
        /// The most pairs kept.
        var maxEntries: Int
    }

    /// What ``append(_:dedup:)`` did.
    enum AppendResult: Sendable {
        /// Committed; the rows' ids, in order.
        case appended([Int64])
        /// Nothing appended: these rows (indices) were seen within the dedup window.
        case duplicates([Int])
    }

    /// Appends events; returns once they are committed.
    ///
    /// With `dedup`, the (subscription, transaction id) of each row that has a subscription is looked up first: if
    /// any was recorded since `dedup.since`, nothing is appended and their indices are returned; otherwise the rows
    /// are appended and their pairs recorded, in the same commit.
    @discardableResult
    func append(_ rows: [NewSpoolRow], dedup: Dedup? = nil) async throws -> AppendResult {
        let tally = AppendTally(rows)
        // Hashed here, on the caller's thread (producers hash in parallel), not inside the one writer's commit.
        let checksums = rows.map { Spool.checksum($0.body) }
        if let dedup {
            do {
                return .appended(
                    try await perform(appended: tally, isolated: true) { db in
                        let duplicates = try self.recordSeen(db, rows, dedup)
                        guard duplicates.isEmpty else { throw DuplicateRows(indices: duplicates) }
                        return try Spool.insertRows(db, rows, checksums: checksums)
                    })
            } catch let duplicates as DuplicateRows {
                return .duplicates(duplicates.indices)
            }
        }
        return .appended(
            try await perform(appended: tally) { db in
                try Spool.insertRows(db, rows, checksums: checksums)
            })
    }

    /// Thrown inside an isolated append so that its savepoint (and the append counts) roll back.
    private struct DuplicateRows: Error {
        var indices: [Int]
    }

    /// Looks up each row's pair; when none is a duplicate, records them all. Returns the duplicates' indices.
    private func recordSeen(_ db: Database, _ rows: [NewSpoolRow], _ dedup: Dedup) throws -> [Int] {
        let lookup = try db.cachedStatement(
            sql: "SELECT accepted_at FROM seen WHERE external_subscription_id = ? AND transaction_id = ?")
        // Bound through SQLite's C API on GRDB's prepared statements (as `insertRows`): no argument array per row.
        let lookupHandle = lookup.sqliteStatement
        sqlite3_reset(lookupHandle)
        defer {
            sqlite3_reset(lookupHandle)
            sqlite3_clear_bindings(lookupHandle)
        }
        var duplicates: [Int] = []
        var expired = Set<Int>()
        for (index, row) in rows.enumerated() {
            guard let subscription = row.externalSubscriptionID else { continue }
            let (code, acceptedAt) = Spool.withText(subscription) { sub, subLength in
                Spool.withText(row.transactionID) { id, idLength in
                    sqlite3_bind_text(lookupHandle, 1, sub, subLength, nil)
                    sqlite3_bind_text(lookupHandle, 2, id, idLength, nil)
                    let code = sqlite3_step(lookupHandle)
                    // `accepted_at` is REAL NOT NULL.
                    let acceptedAt: Double? = code == SQLITE_ROW ? sqlite3_column_double(lookupHandle, 0) : nil
                    return (code, acceptedAt)
                }
            }
            guard code == SQLITE_ROW || code == SQLITE_DONE else {
                throw DatabaseError(resultCode: ResultCode(rawValue: code), message: db.lastErrorMessage)
            }
            sqlite3_reset(lookupHandle)
            if let acceptedAt {
                if acceptedAt >= dedup.since { duplicates.append(index) } else { expired.insert(index) }
            }
        }
        guard duplicates.isEmpty else { return duplicates }
        let insert = try db.cachedStatement(
            sql: "INSERT OR REPLACE INTO seen (external_subscription_id, transaction_id, accepted_at) VALUES (?, ?, ?)")
        let insertHandle = insert.sqliteStatement
        sqlite3_reset(insertHandle)
        defer {
            sqlite3_reset(insertHandle)
            sqlite3_clear_bindings(insertHandle)
        }
        var added = 0
        for (index, row) in rows.enumerated() {
            guard let subscription = row.externalSubscriptionID else { continue }
            let code = Spool.withText(subscription) { sub, subLength in
                Spool.withText(row.transactionID) { id, idLength in
                    sqlite3_bind_text(insertHandle, 1, sub, subLength, nil)
                    sqlite3_bind_text(insertHandle, 2, id, idLength, nil)
                    sqlite3_bind_double(insertHandle, 3, dedup.now)
                    return sqlite3_step(insertHandle)
                }
            }
            guard code == SQLITE_DONE else {
                throw DatabaseError(resultCode: ResultCode(rawValue: code), message: db.lastErrorMessage)
            }
            sqlite3_reset(insertHandle)
            if !expired.contains(index) { added += 1 }
        }
        var count = seenCount.add(added, ordering: .relaxed).newValue
        if seenInsertsSincePrune.add(added, ordering: .relaxed).newValue >= 1_000 {
            seenInsertsSincePrune.store(0, ordering: .relaxed)
            try db.execute(sql: "DELETE FROM seen WHERE accepted_at < ?", arguments: [dedup.since])
            count = seenCount.subtract(db.changesCount, ordering: .relaxed).newValue
        }
        if count > dedup.maxEntries {
            try db.execute(
                sql: """
                    DELETE FROM seen WHERE (external_subscription_id, transaction_id) IN (
                        SELECT external_subscription_id, transaction_id FROM seen ORDER BY accepted_at LIMIT ?)
                    """,
                arguments: [count - dedup.maxEntries])
            seenCount.subtract(db.changesCount, ordering: .relaxed)
        }
        return []
    }

    /// Inserts rows with their bodies' checksums and verdicts (held rows into the held list); returns their ids
    /// (a held row's is its id in the held list).
    private static func insertRows(_ db: Database, _ rows: [NewSpoolRow], checksums: [Int64]) throws -> [Int64] {
        let statement = try db.cachedStatement(
            sql: """
                INSERT INTO events (
                    transaction_id, body, enqueued_at, attempts, checksum, verdict, reasons, source, mapped_field)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
        // The hot path binds through SQLite's C API on GRDB's prepared statement: no per-row argument array, no
        // copy of the body into `Data`.
        let handle = statement.sqliteStatement
        sqlite3_reset(handle)
        defer {
            sqlite3_reset(handle)
            sqlite3_clear_bindings(handle)
        }
        var ids: [Int64] = []
        ids.reserveCapacity(rows.count)
        for (row, checksum) in zip(rows, checksums) {
            let storage = row.verdict?.storage
            if row.held {
                try db.execute(
                    sql: """
                        INSERT INTO held (
                            transaction_id, body, enqueued_at, checksum, verdict, reasons, source, mapped_field)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        row.transactionID, Data(row.body), row.enqueuedAt, checksum, storage?.code, storage?.reasons,
                        row.origin?.source.rawValue, row.origin?.coding.storageText,
                    ])
                ids.append(db.lastInsertedRowID)
                continue
            }
            Spool.bindOptionalText(handle, 8, row.origin?.source.rawValue)
            Spool.bindOptionalText(handle, 9, row.origin?.coding.storageText)
            let code = Spool.withText(row.transactionID) { id, idLength in
                row.body.withUnsafeBytes { body in
                    sqlite3_bind_text(handle, 1, id, idLength, nil)
                    if body.isEmpty {
                        sqlite3_bind_zeroblob(handle, 2, 0)
                    } else {
                        sqlite3_bind_blob(handle, 2, body.baseAddress, Int32(body.count), nil)
                    }
                    sqlite3_bind_double(handle, 3, row.enqueuedAt)
                    sqlite3_bind_int64(handle, 4, Int64(row.attempts))
                    sqlite3_bind_int64(handle, 5, checksum)
                    if let storage {
                        sqlite3_bind_int64(handle, 6, Int64(storage.code))
                    } else {
                        sqlite3_bind_null(handle, 6)
                    }
                    guard let reasons = storage?.reasons else {
                        sqlite3_bind_null(handle, 7)
                        return sqlite3_step(handle)
                    }
                    return Spool.withText(reasons) { text, length in
                        sqlite3_bind_text(handle, 7, text, length, nil)
                        return sqlite3_step(handle)
                    }
                }
            }
            guard code == SQLITE_DONE else {
                throw DatabaseError(resultCode: ResultCode(rawValue: code), message: db.lastErrorMessage)
            }
            ids.append(sqlite3_last_insert_rowid(db.sqliteConnection))
            sqlite3_reset(handle)
        }
        return ids
    }

    /// Binds a short text SQLite copies (`SQLITE_TRANSIENT`), or NULL.
    private static func bindOptionalText(_ handle: OpaquePointer?, _ index: Int32, _ text: String?) {
        guard let text else {
            sqlite3_bind_null(handle, index)
            return
        }
        withText(text) { chars, length in
            _ = sqlite3_bind_text(handle, index, chars, length, unsafeBitCast(-1, to: sqlite3_destructor_type.self))
        }
    }

    /// Calls `body` with a string's UTF-8 bytes and their count (never a null pointer, NUL bytes kept).
    private static func withText<T>(_ text: String, _ body: (UnsafePointer<CChar>, Int32) -> T) -> T {
        var text = text
        return text.withUTF8 { utf8 in
            utf8.withMemoryRebound(to: CChar.self) { chars in
                if let base = chars.baseAddress { return body(base, Int32(chars.count)) }
                return "".withCString { body($0, 0) }
            }
        }
    }

    /// Reads up to `batches` consecutive batches after `cursor` in one read, in id order, each of at most `maxCount`
    /// events and stopping before `maxBytes` (at least one event); none when nothing is after `cursor`. Only reads:
    /// a batch read ahead may never be sent (the engine stops, the process dies), so each request records its own
    /// attempt when it goes out (``markAttempted(_:)``). `attempts` counts the requests that carried the event.
    func claim(after cursor: Int64, maxCount: Int, maxBytes: Int, batches: Int) async throws -> [[SpoolRow]] {
        let batches = max(1, batches)
        let maxCount = max(1, maxCount)
        return try await perform(readOnly: true) { db in
            let statement = try db.cachedStatement(
                sql: """
                    SELECT id, transaction_id, body, enqueued_at, attempts, checksum, verdict, reasons, source,
                        mapped_field
                    FROM events WHERE id > ? ORDER BY id LIMIT ?
                    """)
            // Read through SQLite's C API (as `append` writes): each body is copied once, from SQLite's page.
            let handle = statement.sqliteStatement
            sqlite3_reset(handle)
            defer {
                sqlite3_reset(handle)
                sqlite3_clear_bindings(handle)
            }
            sqlite3_bind_int64(handle, 1, cursor)
            sqlite3_bind_int64(handle, 2, Int64(maxCount * batches))
            var claimed: [[SpoolRow]] = []
            var rows: [SpoolRow] = []
            rows.reserveCapacity(maxCount)
            var bytes = 0
            while true {
                let code = sqlite3_step(handle)
                if code == SQLITE_DONE { break }
                guard code == SQLITE_ROW else {
                    throw DatabaseError(resultCode: ResultCode(rawValue: code), message: db.lastErrorMessage)
                }
                let blob = sqlite3_column_blob(handle, 2)
                let bodyCount = Int(sqlite3_column_bytes(handle, 2))
                if !rows.isEmpty && (rows.count == maxCount || bytes + bodyCount > maxBytes) {
                    // This batch is full: the row opens the next one, if one more is wanted.
                    if claimed.count + 1 == batches { break }
                    claimed.append(rows)
                    rows = []
                    rows.reserveCapacity(maxCount)
                    bytes = 0
                }
                bytes += bodyCount
                let body = bodyCount == 0 ? [] : [UInt8](UnsafeRawBufferPointer(start: blob, count: bodyCount))
                let text = sqlite3_column_text(handle, 1)
                let textCount = Int(sqlite3_column_bytes(handle, 1))
                let transactionID =
                    text.map { String(decoding: UnsafeBufferPointer(start: $0, count: textCount), as: UTF8.self) } ?? ""
                var row = SpoolRow(
                    id: sqlite3_column_int64(handle, 0), transactionID: transactionID, body: body,
                    enqueuedAt: sqlite3_column_double(handle, 3),
                    attempts: Int(sqlite3_column_int64(handle, 4)), checksum: sqlite3_column_int64(handle, 5))
                switch sqlite3_column_type(handle, 6) == SQLITE_NULL ? 0 : sqlite3_column_int64(handle, 6) {
                case 1: row.verdict = .billable()
                case 2:
                    let reasons = sqlite3_column_text(handle, 7).map {
                        String(
                            decoding: UnsafeBufferPointer(start: $0, count: Int(sqlite3_column_bytes(handle, 7))),
                            as: UTF8.self)
                    }
                    row.verdict = BillingVerdict(storageCode: 2, reasons: reasons)
                default: break
                }
                if let source = Spool.columnText(handle, 8).flatMap(EventOrigin.Source.init(rawValue:)) {
                    row.origin = EventOrigin(source: source, coding: .init(storageText: Spool.columnText(handle, 9)))
                }
                rows.append(row)
            }
            sqlite3_reset(handle)
            if !rows.isEmpty { claimed.append(rows) }
            return claimed
        }
    }

    /// A text column of the current row, `nil` when NULL.
    private static func columnText(_ handle: OpaquePointer?, _ index: Int32) -> String? {
        guard sqlite3_column_type(handle, index) != SQLITE_NULL, let text = sqlite3_column_text(handle, index) else {
            return nil
        }
        return String(
            decoding: UnsafeBufferPointer(start: text, count: Int(sqlite3_column_bytes(handle, index))), as: UTF8.self)
    }

    /// Persists one more attempt on the given rows, before the request that carries them is sent.
    func markAttempted(_ ids: [Int64]) async throws {
        try await perform { db in
            let statement = try db.cachedStatement(
                sql: "UPDATE events SET attempts = attempts + 1 WHERE id BETWEEN ? AND ?")
            for range in Spool.ranges(ids) {
                try statement.execute(arguments: [range.lowerBound, range.upperBound])
            }
        }
    }

    /// Removes delivered rows and moves dead ones to the dead letters, in one commit.
    func settle(_ settlement: SpoolSettlement) async throws {
        guard !settlement.isEmpty else { return }
        let removals = settlement.remove
        let dead = settlement.dead.map { DeadRecord(row: $0.row, reason: $0.reason) }
        let deadAt = settlement.deadAt
        let failedAttempts = settlement.failedAttempts
        try await perform { db in
            var settled = 0
            if !removals.isEmpty {
                let statement = try db.cachedStatement(sql: "DELETE FROM events WHERE id BETWEEN ? AND ?")
                let log = try db.cachedStatement(sql: "DELETE FROM attempt_log WHERE event_id BETWEEN ? AND ?")
                let history = try db.cachedStatement(sql: Spool.recordDeliveredSQL)
                for range in Spool.ranges(removals) {
                    try history.execute(arguments: [deadAt, range.lowerBound, range.upperBound])
                    try statement.execute(arguments: [range.lowerBound, range.upperBound])
                    settled += db.changesCount
                    try log.execute(arguments: [range.lowerBound, range.upperBound])
                }
            }
            if !failedAttempts.isEmpty {
                let insert = try db.cachedStatement(
                    sql:
                        "INSERT OR REPLACE INTO attempt_log (event_id, attempt, at, status, answer) VALUES (?, ?, ?, ?, ?)"
                )
                for attempt in failedAttempts {
                    try insert.execute(
                        arguments: [
                            attempt.eventID, attempt.attempt, attempt.at.timeIntervalSince1970, attempt.httpStatus,
                            String(attempt.answer.prefix(4096)),
                        ])
                }
            }
            for record in dead {
                try Spool.insertDeadLetter(db, row: record.row, reason: record.reason, deadAt: deadAt)
                try db.execute(sql: "DELETE FROM events WHERE id = ?", arguments: [record.row.id])
                settled += db.changesCount
                try db.execute(sql: "DELETE FROM attempt_log WHERE event_id = ?", arguments: [record.row.id])
                // Not in Lago: the client may send its id again.
                try self.forgetSeen(db, transactionID: record.row.transactionID, body: record.row.body)
            }
            if !removals.isEmpty { try self.pruneDelivered(db, added: removals.count, now: deadAt) }
            // Events ever settled, in the same transaction (the recovery report compares it with the lock file's).
            if settled > 0 {
                try db.cachedStatement(sql: "UPDATE meta SET value = value + ? WHERE key = 'settled_total'")
                    .execute(arguments: [settled])
                self.settledInTransaction.withLock { $0 += Int64(settled) }
            }
        }
    }

    private struct DeadRecord: Sendable {
        var row: SpoolRow
        var reason: DeadLetterReason
    }

    private static func insertDeadLetter(_ db: Database, row: SpoolRow, reason: DeadLetterReason, deadAt: Double) throws
    {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let reasonText = String(decoding: try encoder.encode(reason), as: UTF8.self)
        try db.execute(
            sql: """
                INSERT INTO dead_letters (
                    transaction_id, body, enqueued_at, attempts, dead_at, reason, source, mapped_field)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                row.transactionID, Data(row.body), row.enqueuedAt, row.attempts, deadAt, reasonText,
                row.origin?.source.rawValue, row.origin?.coding.storageText,
            ])
    }

    /// The number of undelivered events and the enqueue time of the oldest (Unix seconds), counted in the file (a
    /// whole-table read, on the writer queue).
    func queueSummary() async throws -> (count: Int, oldest: Double?) {
        try await perform(readOnly: true, onWriterQueue: true) { db in
            let count = try Int.fetchOne(db, sql: "SELECT count(*) FROM events") ?? 0
            let oldest = try Double.fetchOne(db, sql: "SELECT enqueued_at FROM events ORDER BY id LIMIT 1")
            return (count, oldest)
        }
    }

    /// The enqueue time of the oldest undelivered event (Unix seconds); one index lookup, cheap on any spool size.
    func oldestEnqueuedAt() async throws -> Double? {
        try await perform(readOnly: true) { db in
            try Double.fetchOne(db, sql: "SELECT enqueued_at FROM events ORDER BY id LIMIT 1")
        }
    }

    /// SQLite's `PRAGMA synchronous` in force (1 NORMAL, 2 FULL).
    func synchronousLevel() async throws -> Int {
        try await perform(readOnly: true) { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1 }
    }

    /// The number of dead letters, counted in the file (a whole-table read, on the writer queue).
    func deadLetterCount() async throws -> Int {
        try await perform(readOnly: true, onWriterQueue: true) { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM dead_letters") ?? 0
        }
    }

    /// Dead letters, oldest first.
    func deadLetters(limit: Int, offset: Int) async throws -> [DeadLetter] {
        try await perform(readOnly: true) { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM dead_letters ORDER BY id LIMIT ? OFFSET ?", arguments: [limit, offset]
            ).map(Spool.deadLetter(from:))
        }
    }

    /// One dead letter.
    func deadLetter(id: Int64) async throws -> DeadLetter? {
        try await perform(readOnly: true) { db in
            try Row.fetchOne(db, sql: "SELECT * FROM dead_letters WHERE id = ?", arguments: [id]).map(
                Spool.deadLetter(from:))
        }
    }

    /// Moves a dead letter back into the queue, optionally edited; returns the new row's transaction id and id.
    ///
    /// SQLite's `json_set` rewrites only the edited fields: every other byte of the event (its numerals, its
    /// timestamp) stays as it was. The row counts its attempts anew: its earlier requests had a final answer.
    func replayDeadLetter(
        id: Int64, edit: DeadLetterEdit?, verdict: BillingVerdict?, path: String
    ) async throws -> (String, Int64) {
        var assignments: [String] = []
        var arguments: [(any DatabaseValueConvertible)?] = []
        if let code = edit?.code {
            assignments.append("'$.code', ?")
            arguments.append(code)
        }
        if let subscription = edit?.externalSubscriptionID {
            assignments.append("'$.external_subscription_id', ?")
            arguments.append(subscription)
        }
        if let properties = edit?.properties {
            var text: [UInt8] = []
            try EventJSON.appendValue(.object(properties), to: &text)
            assignments.append("'$.properties', json(?)")
            arguments.append(String(decoding: text, as: UTF8.self))
        }
        if let transactionID = edit?.transactionID {
            assignments.append("'$.transaction_id', ?")
            arguments.append(transactionID)
        }
        let bodySQL =
            assignments.isEmpty
            ? "body" : "CAST(json_set(CAST(body AS TEXT), \(assignments.joined(separator: ", "))) AS BLOB)"
        let setArguments = StatementArguments(arguments)
        var appended = AppendTally()
        appended.rows = 1
        appended.verdicts.add(verdict ?? .unchecked)
        let storage = verdict?.storage
        return try await perform(appended: appended, isolated: true) { db in
            guard
                let row = try Row.fetchOne(
                    db, sql: "SELECT *, \(bodySQL) AS edited_body FROM dead_letters WHERE id = ?",
                    arguments: setArguments + [id])
            else {
                throw EngineError(.deadLetterNotFound, "no dead letter has id \(id) in \(path)", path: path)
            }
            let storedID: String = row["transaction_id"]
            // A damaged copy is never sent, edited or not: what is left of it cannot be trusted.
            if Spool.deadLetter(from: row).reason.kind == .spoolDamaged {
                throw EngineError(
                    .invalidEvent,
                    "dead letter \(id) in \(path) holds a damaged copy of event \(storedID), which is never "
                        + "sent; send the event again from its source with the same transaction id, then discard "
                        + "this dead letter",
                    path: path)
            }
            let body: Data = row["edited_body"]
            let transactionID = edit?.transactionID ?? storedID
            try db.execute(
                sql: """
                    INSERT INTO events (
                        transaction_id, body, enqueued_at, attempts, checksum, verdict, reasons, source, mapped_field)
                    VALUES (?, ?, ?, 0, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    transactionID, body, row["enqueued_at"] as Double, body.withUnsafeBytes { Spool.checksum($0) },
                    storage?.code, storage?.reasons, row["source"] as String?, row["mapped_field"] as String?,
                ])
            let rowID = db.lastInsertedRowID
            try db.execute(sql: "DELETE FROM dead_letters WHERE id = ?", arguments: [id])
            return (transactionID, rowID)
        }
    }

    // MARK: Held events

    /// Held events, oldest first.
    func heldEvents(limit: Int, offset: Int) async throws -> [HeldEvent] {
        try await perform(readOnly: true) { db in
            try Row.fetchAll(db, sql: "SELECT * FROM held ORDER BY id LIMIT ? OFFSET ?", arguments: [limit, offset])
                .map(Spool.heldEvent(from:))
        }
    }

    /// One held event.
    func heldEvent(id: Int64) async throws -> HeldEvent? {
        try await perform(readOnly: true) { db in
            try Row.fetchOne(db, sql: "SELECT * FROM held WHERE id = ?", arguments: [id]).map(Spool.heldEvent(from:))
        }
    }

    /// Moves a held event into the queue with `verdict` (checked again by the caller); returns it as it was held
    /// and its new row id. Its bytes move unchanged.
    func releaseHeld(id: Int64, verdict: BillingVerdict, path: String) async throws -> (HeldEvent, Int64) {
        var appended = AppendTally()
        appended.rows = 1
        appended.verdicts.add(verdict)
        let storage = verdict.storage
        return try await perform(appended: appended, isolated: true) { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM held WHERE id = ?", arguments: [id]) else {
                throw EngineError(.heldEventNotFound, "no held event has id \(id) in \(path)", path: path)
            }
            let held = Spool.heldEvent(from: row)
            guard Spool.checksum(held.body) == row["checksum"] as Int64 else {
                throw EngineError(
                    .invalidEvent,
                    "held event \(id) in \(path) no longer matches the checksum it was stored with (damaged on "
                        + "disk); it is never sent. Send event \(held.transactionID) again from its source, then "
                        + "discard this one",
                    path: path)
            }
            try db.execute(
                sql: """
                    INSERT INTO events (
                        transaction_id, body, enqueued_at, attempts, checksum, verdict, reasons, source, mapped_field)
                    VALUES (?, ?, ?, 0, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    held.transactionID, Data(held.body), held.enqueuedAt.timeIntervalSince1970,
                    row["checksum"] as Int64, storage.code, storage.reasons, row["source"] as String?,
                    row["mapped_field"] as String?,
                ])
            let rowID = db.lastInsertedRowID
            try db.execute(sql: "DELETE FROM held WHERE id = ?", arguments: [id])
            return (held, rowID)
        }
    }

    /// Deletes a held event for good (it leaves the dedup index: it never reached Lago, so its source may send it
    /// again); returns it.
    func discardHeld(id: Int64, path: String) async throws -> HeldEvent {
        try await perform(isolated: true) { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM held WHERE id = ?", arguments: [id]) else {
                throw EngineError(.heldEventNotFound, "no held event has id \(id) in \(path)", path: path)
            }
            let held = Spool.heldEvent(from: row)
            try db.execute(sql: "DELETE FROM held WHERE id = ?", arguments: [id])
            try self.forgetSeen(db, transactionID: held.transactionID, body: held.body)
            return held
        }
    }

    /// Takes an event that never reached Lago (dead-lettered, discarded from the held list) out of the relay's dedup
    /// index, so its source may send it again.
    private func forgetSeen(_ db: Database, transactionID: String, body: [UInt8]) throws {
        try db.execute(
            sql: """
                DELETE FROM seen WHERE transaction_id = ?
                    AND external_subscription_id = json_extract(?, '$.external_subscription_id')
                """,
            arguments: [transactionID, String(decoding: body, as: UTF8.self)])
        seenCount.subtract(db.changesCount, ordering: .relaxed)
    }

    private static func heldEvent(from row: Row) -> HeldEvent {
        let body: Data = row["body"]
        return HeldEvent(
            id: row["id"], transactionID: row["transaction_id"],
            event: try? JSONDecoder().decode(EventInput.self, from: body), body: [UInt8](body),
            verdict: BillingVerdict(storageCode: row["verdict"], reasons: row["reasons"]),
            enqueuedAt: Date(timeIntervalSince1970: row["enqueued_at"]), origin: origin(from: row))
    }

    /// The failed attempts logged for a queued event, oldest first.
    func attemptLog(eventID: Int64) async throws -> [AttemptRecord] {
        try await perform(readOnly: true) { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM attempt_log WHERE event_id = ? ORDER BY attempt", arguments: [eventID]
            ).map { row in
                AttemptRecord(
                    eventID: row["event_id"], attempt: row["attempt"], at: Date(timeIntervalSince1970: row["at"]),
                    httpStatus: row["status"], answer: row["answer"])
            }
        }
    }

    /// Deletes a dead letter for good.
    func discardDeadLetter(id: Int64, path: String) async throws {
        try await perform(isolated: true) { db in
            try db.execute(sql: "DELETE FROM dead_letters WHERE id = ?", arguments: [id])
            guard db.changesCount > 0 else {
                throw EngineError(.deadLetterNotFound, "no dead letter has id \(id) in \(path)", path: path)
            }
        }
    }

    private static func deadLetter(from row: Row) -> DeadLetter {
        let body: Data = row["body"]
        let reasonText: String = row["reason"]
        let reason =
            (try? JSONDecoder().decode(DeadLetterReason.self, from: Data(reasonText.utf8)))
            ?? DeadLetterReason(kind: .rejected, message: reasonText)
        return DeadLetter(
            id: row["id"], transactionID: row["transaction_id"],
            event: try? JSONDecoder().decode(EventInput.self, from: body),
            payload: String(decoding: body, as: UTF8.self), reason: reason, attempts: row["attempts"],
            enqueuedAt: Date(timeIntervalSince1970: row["enqueued_at"]),
            deadAt: Date(timeIntervalSince1970: row["dead_at"]), origin: origin(from: row))
    }

    /// Sorted ids as maximal runs of consecutive values.
    static func ranges(_ ids: [Int64]) -> [ClosedRange<Int64>] {
        let sorted = ids.sorted()
        var result: [ClosedRange<Int64>] = []
        guard var low = sorted.first else { return [] }
        var high = low
        for id in sorted.dropFirst() {
            if id == high + 1 || id == high {
                high = id
            } else {
                result.append(low...high)
                low = id
                high = id
            }
        }
        result.append(low...high)
        return result
    }
}
