import Foundation
import GRDB
import Testing

@testable import LagoEngine

/// Lago's verdicts and the webhooks' keys do not grow without end: what is older than the retention goes, the
/// newer stays counted.
@Suite struct LagoVerdictRetentionTests {
    private static let day: Double = 86_400

    private static func report(_ key: String, _ transactionID: String, at seconds: Double) -> LagoWebhookReport {
        LagoWebhookReport(
            uniqueKey: key, webhookType: "events.errors",
            events: [LagoReportedEvent(transactionID: transactionID, reason: "invalid_code")],
            receivedAt: Date(timeIntervalSince1970: seconds))
    }

    /// A verdict past 35 days leaves the counts with the next webhook; one inside them stays.
    @Test func verdictsPastTheRetentionArePruned() async throws {
        let directory = try TemporaryDirectory()
        let spool = try Spool(path: directory.file("spool.sqlite"), synchronous: .normal)
        let start = 1_700_000_000.0
        #expect(try await spool.recordLagoWebhook(Self.report("old", "evt-old", at: start)) == .recorded(events: 1))
        #expect(
            try await spool.recordLagoWebhook(Self.report("mid", "evt-mid", at: start + 20 * Self.day))
                == .recorded(events: 1))
        #expect(try await spool.lagoConfirmedStats().notBilled == 2)
        #expect(
            try await spool.recordLagoWebhook(Self.report("new", "evt-new", at: start + 36 * Self.day))
                == .recorded(events: 1))
        let stats = try await spool.lagoConfirmedStats()
        #expect(stats.notBilled == 2)
        #expect(Set(stats.recent.map(\.transactionID)) == ["evt-mid", "evt-new"])
        await spool.close()
    }

    /// A webhook's key is kept for the retention (a replay inside it changes nothing), then pruned with the
    /// hundredth webhook after it.
    @Test func webhookKeysPastTheRetentionArePruned() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("spool.sqlite")
        let spool = try Spool(path: path, synchronous: .normal)
        let start = 1_700_000_000.0
        _ = try await spool.recordLagoWebhook(Self.report("first", "evt-0", at: start))
        #expect(try await spool.recordLagoWebhook(Self.report("first", "evt-0", at: start + Self.day)) == .replayed)
        let later = start + 36 * Self.day
        for index in 1...100 {
            _ = try await spool.recordLagoWebhook(
                Self.report("key-\(index)", "evt-\(index)", at: later + Double(index)))
        }
        #expect(try await spool.recordLagoWebhook(Self.report("key-100", "evt-100", at: later + 200)) == .replayed)
        await spool.close()
        let reader = try DatabaseQueue(path: path)
        let counts = try await reader.read { db in
            (
                first: try Int.fetchOne(db, sql: "SELECT count(*) FROM lago_webhooks WHERE unique_key = 'first'"),
                webhooks: try Int.fetchOne(db, sql: "SELECT count(*) FROM lago_webhooks"),
                verdicts: try Int.fetchOne(db, sql: "SELECT count(*) FROM lago_verdicts")
            )
        }
        #expect(counts.first == 0)
        #expect(counts.webhooks == 100)
        #expect(counts.verdicts == 100)
        try reader.close()
    }
}
