public import Foundation
import GRDB
public import LagoBilling
import Synchronization

/// One event a Lago webhook named as not billed.
public struct LagoReportedEvent: Sendable, Hashable, Codable {
    /// The event's transaction id.
    public var transactionID: String
    /// Its subscription, when the webhook names it (`event.error` does; `events.errors` carries ids only).
    public var externalSubscriptionID: String?
    /// Lago's reason in Lago's words: `invalid_code`, `missing_aggregation_property`, `invalid_filter_values`,
    /// `missing_group_key` (`events.errors`) or the error code of an `event.error` (`value_already_exist`).
    public var reason: String

    /// Creates a reported event.
    public init(transactionID: String, externalSubscriptionID: String? = nil, reason: String) {
        self.transactionID = transactionID
        self.externalSubscriptionID = externalSubscriptionID
        self.reason = reason
    }
}

/// A verified Lago webhook about ingested events (`events.errors`, `event.error`), as the relay read it.
public struct LagoWebhookReport: Sendable, Hashable, Codable {
    /// The webhook's `X-Lago-Unique-Key`: a second webhook with the same key is ignored.
    public var uniqueKey: String
    /// `events.errors` or `event.error`.
    public var webhookType: String
    /// The events it names.
    public var events: [LagoReportedEvent]
    /// When the relay received it.
    public var receivedAt: Date

    /// Creates a report.
    public init(uniqueKey: String, webhookType: String, events: [LagoReportedEvent], receivedAt: Date) {
        self.uniqueKey = uniqueKey
        self.webhookType = webhookType
        self.events = events
        self.receivedAt = receivedAt
    }
}

/// What recording a webhook did.
public enum LagoWebhookRecording: Sendable, Hashable, Codable {
    /// Recorded: this many events named (each transaction id and reason once).
    case recorded(events: Int)
    /// A webhook with this `X-Lago-Unique-Key` was recorded before: nothing changed.
    case replayed
}

/// What our own check predicted for an event Lago later reported not billed.
public enum LagoAgreement: String, Sendable, Hashable, Codable {
    /// We predicted it unbillable too, for the same reason.
    case agreed
    /// We predicted it unbillable, for another reason.
    case reasonDiffers = "reason_differs"
    /// We predicted it billable: a disagreement.
    case predictedBillable = "predicted_billable"
    /// We had no verdict (no catalogue when it was accepted).
    case unchecked
    /// No event with this transaction id went through this spool in the last day (another client sent it).
    case notFromThisSpool = "not_from_this_spool"
}

extension LagoAgreement {
    /// Which agreement an event with several reasons shows: the closest to ours.
    fileprivate var rank: Int {
        switch self {
        case .agreed: 0
        case .reasonDiffers: 1
        case .predictedBillable, .unchecked, .notFromThisSpool: 2
        }
    }
}

/// One Lago-confirmed verdict, as the spool keeps it.
public struct LagoConfirmedEvent: Sendable, Hashable, Codable {
    // Lago's snake_case names in --json and on the control API.
    enum CodingKeys: String, CodingKey {
        case reason, agreement, predicted
        case transactionID = "transaction_id"
        case externalSubscriptionID = "external_subscription_id"
        case reportedAt = "reported_at"
        case webhookType = "webhook_type"
    }

    /// The event's transaction id.
    public var transactionID: String
    /// Its subscription when the webhook named it.
    public var externalSubscriptionID: String?
    /// Lago's reason.
    public var reason: String
    /// When the webhook that said so was received.
    public var reportedAt: Date
    /// `events.errors` or `event.error`.
    public var webhookType: String
    /// How it compares with our own verdict.
    public var agreement: LagoAgreement
    /// Our own verdict when Lago reported it (`nil`: not from this spool).
    public var predicted: BillingVerdict?

    /// Creates a confirmed verdict.
    public init(
        transactionID: String, externalSubscriptionID: String?, reason: String, reportedAt: Date,
        webhookType: String, agreement: LagoAgreement, predicted: BillingVerdict?
    ) {
        self.transactionID = transactionID
        self.externalSubscriptionID = externalSubscriptionID
        self.reason = reason
        self.reportedAt = reportedAt
        self.webhookType = webhookType
        self.agreement = agreement
        self.predicted = predicted
    }
}

/// Lago's own after-the-fact verdicts (its webhooks), beside the engine's prediction.
public struct LagoConfirmedStats: Sendable, Hashable, Codable {
    // Lago's snake_case names in --json and on the control API.
    enum CodingKeys: String, CodingKey {
        case webhooks, disagreements, recent
        case replaysIgnored = "replays_ignored"
        case lastWebhookAt = "last_webhook_at"
        case notBilled = "not_billed"
        case byReason = "by_reason"
        case byAgreement = "by_agreement"
        case predictedUnbillableNotReported = "predicted_unbillable_not_reported"
    }

    /// Webhooks recorded (replays not counted).
    public var webhooks = 0
    /// Replayed webhooks ignored since the engine started.
    public var replaysIgnored = 0
    /// When the last webhook was recorded.
    public var lastWebhookAt: Date?
    /// Events Lago reported not billed (each transaction id once, whatever the number of reasons).
    public var notBilled = 0
    /// Those events by Lago's reason (an event with two reasons counts under each).
    public var byReason: [String: Int] = [:]
    /// Those events by how they compare with our verdict (``LagoAgreement`` raw values).
    public var byAgreement: [String: Int] = [:]
    /// Events we predicted unbillable for a reason Lago's post-validation reports, delivered before the hour an
    /// `events.errors` webhook covered, that no webhook named: Lago billed them as far as it says (a
    /// disagreement the other way).
    public var predictedUnbillableNotReported = 0
    /// Disagreements: Lago said not billed where we predicted billable, plus the reverse
    /// (``predictedUnbillableNotReported``).
    public var disagreements = 0
    /// The latest Lago-confirmed events (at most 500, newest first), for the console's event details.
    public var recent: [LagoConfirmedEvent] = []

    /// None.
    public init() {}
}

extension Spool {
    /// Copies delivered rows (a range of ids) into the `delivered` history with the time of settlement.
    static let recordDeliveredSQL = """
        INSERT INTO delivered (transaction_id, external_subscription_id, verdict, reasons, delivered_at)
        SELECT transaction_id,
            CASE WHEN json_valid(CAST(body AS TEXT))
                THEN json_extract(CAST(body AS TEXT), '$.external_subscription_id') END,
            verdict, reasons, ?
        FROM events WHERE id BETWEEN ? AND ?
        """

    /// How long the `delivered` history keeps an event: Lago validates events of the previous full hour at *:05
    /// and retries a webhook 3 times, so a day covers every webhook that can still name it.
    static let deliveredRetention: Double = 26 * 3600
    /// At most this many rows in the `delivered` history (the oldest go first).
    static let deliveredLimit = 2_000_000

    /// The tables schema version 4 added.
    static func createVersion4Tables(_ db: Database) throws {
        try db.execute(
            sql: """
                CREATE TABLE delivered (
                    transaction_id TEXT NOT NULL,
                    external_subscription_id TEXT,
                    verdict INTEGER,
                    reasons TEXT,
                    delivered_at REAL NOT NULL
                );
                CREATE INDEX delivered_by_transaction ON delivered(transaction_id);
                CREATE INDEX delivered_by_time ON delivered(delivered_at);
                CREATE INDEX delivered_unbillable ON delivered(delivered_at) WHERE verdict = 2;
                CREATE TABLE lago_verdicts (
                    transaction_id TEXT NOT NULL,
                    external_subscription_id TEXT NOT NULL DEFAULT '',
                    reason TEXT NOT NULL,
                    reported_at REAL NOT NULL,
                    webhook_type TEXT NOT NULL,
                    unique_key TEXT NOT NULL,
                    agreement TEXT NOT NULL,
                    predicted_verdict INTEGER,
                    predicted_reasons TEXT,
                    PRIMARY KEY (transaction_id, external_subscription_id, reason)
                ) WITHOUT ROWID;
                CREATE INDEX lago_verdicts_by_time ON lago_verdicts(reported_at);
                CREATE TABLE lago_webhooks (
                    unique_key TEXT PRIMARY KEY,
                    webhook_type TEXT NOT NULL,
                    received_at REAL NOT NULL,
                    events INTEGER NOT NULL
                ) WITHOUT ROWID;
                """)
    }

    /// Drops history rows past ``deliveredRetention`` or ``deliveredLimit``, every thousand rows added.
    func pruneDelivered(_ db: Database, added: Int, now: Double) throws {
        guard deliveredSincePrune.add(added, ordering: .relaxed).newValue >= 1_000 else { return }
        deliveredSincePrune.store(0, ordering: .relaxed)
        try db.execute(sql: "DELETE FROM delivered WHERE delivered_at < ?", arguments: [now - Spool.deliveredRetention])
        try db.execute(
            sql: "DELETE FROM delivered WHERE rowid <= (SELECT max(rowid) FROM delivered) - ?",
            arguments: [Spool.deliveredLimit])
    }

    /// How long Lago's verdicts (and the webhooks' unique keys) are kept: a monthly billing period and the days
    /// after it in which an operator still asks what did not bill. Lago retries a webhook within hours, so a replay
    /// is still recognised.
    static let lagoVerdictRetention: Double = 35 * 86_400
    /// At most this many rows in `lago_verdicts`, and as many in `lago_webhooks` (the oldest go first).
    static let lagoVerdictLimit = 1_000_000

    /// Drops Lago's verdicts reported before ``lagoVerdictRetention`` (indexed by time: on every webhook); every
    /// hundred webhooks also the webhooks' keys past it and the rows past ``lagoVerdictLimit``.
    func pruneLagoVerdicts(_ db: Database, now: Double) throws {
        let cutoff = now - Spool.lagoVerdictRetention
        try db.execute(sql: "DELETE FROM lago_verdicts WHERE reported_at < ?", arguments: [cutoff])
        guard lagoWebhooksSincePrune.add(1, ordering: .relaxed).newValue >= 100 else { return }
        lagoWebhooksSincePrune.store(0, ordering: .relaxed)
        try db.execute(sql: "DELETE FROM lago_webhooks WHERE received_at < ?", arguments: [cutoff])
        try db.execute(
            sql: """
                DELETE FROM lago_verdicts WHERE (transaction_id, external_subscription_id, reason) IN (
                    SELECT transaction_id, external_subscription_id, reason FROM lago_verdicts
                    ORDER BY reported_at DESC LIMIT -1 OFFSET ?)
                """,
            arguments: [Spool.lagoVerdictLimit])
        try db.execute(
            sql: """
                DELETE FROM lago_webhooks WHERE unique_key IN (
                    SELECT unique_key FROM lago_webhooks ORDER BY received_at DESC LIMIT -1 OFFSET ?)
                """,
            arguments: [Spool.lagoVerdictLimit])
    }

    /// Records a verified webhook once (by its unique key), each named event with our verdict beside it; returns
    /// what changed.
    func recordLagoWebhook(_ report: LagoWebhookReport) async throws -> LagoWebhookRecording {
        try await perform(isolated: true) { db in
            let known = try Int.fetchOne(
                db, sql: "SELECT count(*) FROM lago_webhooks WHERE unique_key = ?", arguments: [report.uniqueKey])
            if (known ?? 0) > 0 { return .replayed }
            var recorded = 0
            for event in report.events {
                let predicted = try Spool.predictedVerdict(db, event: event)
                let agreement = Spool.agreement(predicted: predicted, reason: event.reason)
                let storage = predicted?.storage
                try db.execute(
                    sql: """
                        INSERT OR IGNORE INTO lago_verdicts (transaction_id, external_subscription_id, reason,
                            reported_at, webhook_type, unique_key, agreement, predicted_verdict, predicted_reasons)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        event.transactionID, event.externalSubscriptionID ?? "", event.reason,
                        report.receivedAt.timeIntervalSince1970, report.webhookType, report.uniqueKey,
                        agreement.rawValue, storage?.code, storage?.reasons,
                    ])
                recorded += db.changesCount
            }
            try db.execute(
                sql: "INSERT INTO lago_webhooks (unique_key, webhook_type, received_at, events) VALUES (?, ?, ?, ?)",
                arguments: [report.uniqueKey, report.webhookType, report.receivedAt.timeIntervalSince1970, recorded])
            try self.pruneLagoVerdicts(db, now: report.receivedAt.timeIntervalSince1970)
            return .recorded(events: recorded)
        }
    }

    /// Our verdict for an event Lago named: the latest delivery of its transaction id (of its subscription when
    /// named), else the queue, the held list or the dead letters; `nil` when this spool never had it.
    private static func predictedVerdict(_ db: Database, event: LagoReportedEvent) throws -> BillingVerdict? {
        let subscriptionFilter = event.externalSubscriptionID == nil ? "" : " AND external_subscription_id = ?"
        var arguments: StatementArguments = [event.transactionID]
        if let subscription = event.externalSubscriptionID { arguments += [subscription] }
        if let row = try Row.fetchOne(
            db,
            sql: """
                SELECT verdict, reasons FROM delivered WHERE transaction_id = ?\(subscriptionFilter)
                ORDER BY delivered_at DESC LIMIT 1
                """, arguments: arguments)
        {
            return BillingVerdict(storageCode: row["verdict"], reasons: row["reasons"])
        }
        for table in ["events", "held"] {
            if let row = try Row.fetchOne(
                db, sql: "SELECT verdict, reasons FROM \(table) WHERE transaction_id = ? LIMIT 1",
                arguments: [event.transactionID])
            {
                return BillingVerdict(storageCode: row["verdict"], reasons: row["reasons"])
            }
        }
        let dead = try Int.fetchOne(
            db, sql: "SELECT count(*) FROM dead_letters WHERE transaction_id = ?", arguments: [event.transactionID])
        return (dead ?? 0) > 0 ? .unchecked : nil
    }

    /// How Lago's reason compares with our verdict.
    static func agreement(predicted: BillingVerdict?, reason: String) -> LagoAgreement {
        guard let predicted else { return .notFromThisSpool }
        switch predicted.status {
        case .billable: return .predictedBillable
        case .unchecked: return .unchecked
        case .unbillable: return predicted.reasons.contains { $0.rawValue == reason } ? .agreed : .reasonDiffers
        }
    }

    /// The reasons Lago's post-validation reports (`events.errors`): only events predicted unbillable for one of
    /// these can be contradicted by a webhook's silence.
    static let postValidationReasons: Set<BillingReason> = [
        .invalidCode, .missingAggregationProperty, .invalidFilterValues,
    ]

    /// Lago's verdicts as counted in the file now.
    func lagoConfirmedStats(recentLimit: Int = 500) async throws -> LagoConfirmedStats {
        try await perform(readOnly: true, onWriterQueue: true) { db in
            var stats = LagoConfirmedStats()
            if let row = try Row.fetchOne(db, sql: "SELECT count(*) AS n, max(received_at) AS last FROM lago_webhooks")
            {
                stats.webhooks = row["n"]
                stats.lastWebhookAt = (row["last"] as Double?).map(Date.init(timeIntervalSince1970:))
            }
            stats.notBilled =
                try Int.fetchOne(
                    db,
                    sql:
                        "SELECT count(*) FROM (SELECT DISTINCT transaction_id, external_subscription_id FROM lago_verdicts)"
                ) ?? 0
            for row in try Row.fetchAll(db, sql: "SELECT reason, count(*) AS n FROM lago_verdicts GROUP BY reason") {
                stats.byReason[row["reason"]] = row["n"]
            }
            // Each event once: it agrees if any of its reasons does.
            var agreements: [String: LagoAgreement] = [:]
            for row in try Row.fetchAll(
                db, sql: "SELECT transaction_id, external_subscription_id, agreement FROM lago_verdicts")
            {
                let key = (row["transaction_id"] as String) + "\u{0}" + (row["external_subscription_id"] as String)
                let agreement = LagoAgreement(rawValue: row["agreement"]) ?? .notFromThisSpool
                if let current = agreements[key], current.rank <= agreement.rank { continue }
                agreements[key] = agreement
            }
            for agreement in agreements.values { stats.byAgreement[agreement.rawValue, default: 0] += 1 }
            stats.predictedUnbillableNotReported = try Spool.unreportedPredictions(db)
            stats.disagreements =
                (stats.byAgreement[LagoAgreement.predictedBillable.rawValue] ?? 0)
                + stats.predictedUnbillableNotReported
            stats.recent = try Row.fetchAll(
                db, sql: "SELECT * FROM lago_verdicts ORDER BY reported_at DESC LIMIT ?", arguments: [recentLimit]
            ).map { row in
                let code: Int? = row["predicted_verdict"]
                let agreement = LagoAgreement(rawValue: row["agreement"]) ?? .notFromThisSpool
                let subscription: String = row["external_subscription_id"]
                return LagoConfirmedEvent(
                    transactionID: row["transaction_id"],
                    externalSubscriptionID: subscription.isEmpty ? nil : subscription,
                    reason: row["reason"], reportedAt: Date(timeIntervalSince1970: row["reported_at"]),
                    webhookType: row["webhook_type"], agreement: agreement,
                    predicted: agreement == .notFromThisSpool
                        ? nil : BillingVerdict(storageCode: code, reasons: row["predicted_reasons"]))
            }
            return stats
        }
    }

    /// Delivered events we predicted unbillable for a post-validation reason, created before the start of the hour
    /// of the last `events.errors` webhook (Lago's post-validation at *:05 covers the previous full hour, so such a
    /// webhook has covered them), that no Lago webhook named.
    private static func unreportedPredictions(_ db: Database) throws -> Int {
        guard
            let last = try Double.fetchOne(
                db, sql: "SELECT max(received_at) FROM lago_webhooks WHERE webhook_type = 'events.errors'")
        else { return 0 }
        let covered = (last / 3600).rounded(.down) * 3600
        let rows = try Row.fetchAll(
            db,
            sql: """
                SELECT d.reasons FROM delivered d WHERE d.verdict = 2 AND d.delivered_at < ?
                AND NOT EXISTS (SELECT 1 FROM lago_verdicts v WHERE v.transaction_id = d.transaction_id)
                """, arguments: [covered])
        return rows.filter { row in
            let verdict = BillingVerdict(storageCode: 2, reasons: row["reasons"])
            return verdict.reasons.contains(where: postValidationReasons.contains)
        }.count
    }
}
