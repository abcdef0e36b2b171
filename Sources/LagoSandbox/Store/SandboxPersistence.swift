import Foundation
import GRDB
import LagoAPI
import LagoIngest

/// SQLite persistence (GRDB, WAL) behind `--data PATH`: events, billable metrics, customers, subscriptions and
/// plans.
///
/// The store keeps everything in memory and writes through to this file; a sandbox started later with the same
/// path loads it back. Events of one request are written in one transaction.
final class SandboxPersistence: Sendable {
    private let pool: DatabasePool

    /// Everything read back at start.
    struct Snapshot {
        var events: [SandboxEvent] = []
        var metrics: [SandboxBillableMetric] = []
        var customers: [SandboxCustomer] = []
        var subscriptions: [SandboxSubscription] = []
        var plans: [SandboxPlan] = []
    }

    /// Opens (creating if needed) the database at `path`.
    /// - Throws: GRDB's `DatabaseError` when the file cannot be opened or migrated.
    init(path: String) throws {
        var configuration = Configuration()
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        pool = try DatabasePool(path: path, configuration: configuration)
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE events (
                        seq INTEGER PRIMARY KEY AUTOINCREMENT,
                        lago_id TEXT NOT NULL,
                        transaction_id TEXT NOT NULL,
                        external_subscription_id TEXT,
                        code TEXT NOT NULL,
                        timestamp_us INTEGER NOT NULL,
                        precise_total_amount_cents TEXT,
                        properties TEXT NOT NULL,
                        created_at_us INTEGER NOT NULL
                    );
                    CREATE UNIQUE INDEX index_unique_transaction_id
                        ON events (external_subscription_id, transaction_id);
                    CREATE TABLE billable_metrics (code TEXT PRIMARY KEY, seq INTEGER NOT NULL, json TEXT NOT NULL);
                    CREATE TABLE customers (external_id TEXT PRIMARY KEY, seq INTEGER NOT NULL, json TEXT NOT NULL);
                    CREATE TABLE subscriptions (external_id TEXT PRIMARY KEY, seq INTEGER NOT NULL, json TEXT NOT NULL);
                    """
            )
        }
        migrator.registerMigration("v2 plans") { db in
            try db.execute(sql: "CREATE TABLE plans (code TEXT PRIMARY KEY, seq INTEGER NOT NULL, json TEXT NOT NULL)")
        }
        try migrator.migrate(pool)
    }

    /// Reads everything, in insertion order.
    func load() throws -> Snapshot {
        try pool.read { db in
            var snapshot = Snapshot()
            let rows = try Row.fetchCursor(
                db,
                sql: """
                    SELECT lago_id, transaction_id, external_subscription_id, code, timestamp_us,
                           precise_total_amount_cents, properties, created_at_us
                    FROM events ORDER BY seq
                    """
            )
            while let row = try rows.next() {
                let propertiesText: String = row[6]
                let properties = (try? JSONParser.parse(propertiesText))?.objectValue ?? [:]
                snapshot.events.append(
                    SandboxEvent(
                        lagoID: row[0],
                        transactionID: row[1],
                        externalSubscriptionID: row[2],
                        code: row[3],
                        timestampMicroseconds: row[4],
                        preciseTotalAmountCents: row[5],
                        properties: properties,
                        createdAtMicroseconds: row[7]
                    )
                )
            }
            let decoder = JSONDecoder()
            snapshot.metrics = try String.fetchAll(db, sql: "SELECT json FROM billable_metrics ORDER BY seq").map {
                try decoder.decode(SandboxBillableMetric.self, from: Data($0.utf8))
            }
            snapshot.customers = try String.fetchAll(db, sql: "SELECT json FROM customers ORDER BY seq").map {
                try decoder.decode(SandboxCustomer.self, from: Data($0.utf8))
            }
            snapshot.subscriptions = try String.fetchAll(db, sql: "SELECT json FROM subscriptions ORDER BY seq").map {
                try decoder.decode(SandboxSubscription.self, from: Data($0.utf8))
            }
            snapshot.plans = try String.fetchAll(db, sql: "SELECT json FROM plans ORDER BY seq").map {
                try decoder.decode(SandboxPlan.self, from: Data($0.utf8))
            }
            return snapshot
        }
    }

    /// Inserts the events of one request in one transaction.
    /// - Throws: `DatabaseError` (nothing is written then).
    func insert(_ events: [SandboxEvent]) throws {
        try pool.write { db in
            let statement = try db.cachedStatement(
                sql: """
                    INSERT INTO events (lago_id, transaction_id, external_subscription_id, code, timestamp_us,
                                        precise_total_amount_cents, properties, created_at_us)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """
            )
            for event in events {
                var propertiesBytes: [UInt8] = []
                JSONOutput.write(.object(event.properties), into: &propertiesBytes)
                try statement.execute(arguments: [
                    event.lagoID, event.transactionID, event.externalSubscriptionID, event.code,
                    event.timestampMicroseconds, event.preciseTotalAmountCents,
                    String(decoding: propertiesBytes, as: UTF8.self), event.createdAtMicroseconds,
                ])
            }
        }
    }

    private static func json(_ value: some Encodable) throws -> String {
        String(decoding: try JSONEncoder().encode(value), as: UTF8.self)
    }

    func save(metric: SandboxBillableMetric, order: Int) throws {
        let text = try Self.json(metric)
        try pool.write { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO billable_metrics (code, seq, json) VALUES (?, ?, ?)",
                arguments: [metric.code, order, text]
            )
        }
    }

    func deleteMetric(code: String) throws {
        try pool.write { db in
            try db.execute(sql: "DELETE FROM billable_metrics WHERE code = ?", arguments: [code])
        }
    }

    func save(customer: SandboxCustomer, order: Int) throws {
        let text = try Self.json(customer)
        try pool.write { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO customers (external_id, seq, json) VALUES (?, ?, ?)",
                arguments: [customer.externalID, order, text]
            )
        }
    }

    func save(subscription: SandboxSubscription, order: Int) throws {
        let text = try Self.json(subscription)
        try pool.write { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO subscriptions (external_id, seq, json) VALUES (?, ?, ?)",
                arguments: [subscription.externalID, order, text]
            )
        }
    }

    func save(plan: SandboxPlan, order: Int) throws {
        let text = try Self.json(plan)
        try pool.write { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO plans (code, seq, json) VALUES (?, ?, ?)",
                arguments: [plan.code, order, text]
            )
        }
    }

    /// Closes the database; later calls fail.
    func close() throws {
        try pool.close()
    }
}
