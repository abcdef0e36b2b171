public import LagoAPI
public import LagoConfig
import LagoUsage
import Foundation

/// One check of `lago-console verify` and its outcome.
public struct VerifyCheck: Encodable, Sendable, Hashable {
    /// How a check ended.
    public enum Status: String, Encodable, Sendable { case ok, failed, skipped }
    /// What was checked (`API key`, `metric_codes.input`…).
    public var name: String
    /// Its outcome.
    public var status: Status
    /// What the operator needs to know (Lago's answer, what is missing).
    public var detail: String

    /// Creates a check.
    public init(name: String, status: Status, detail: String) {
        self.name = name
        self.status = status
        self.detail = detail
    }
}

/// Whether a Lago is ready to bill the console's events: reachable, key valid, mapped codes exist, default
/// subscription active, and optionally a test event (value 0, billing nothing) sent and read back.
public enum LagoVerification {
    /// Runs every check against the Lago `client` talks to, in order; a refused key or an unreachable Lago skips
    /// the rest. Never throws: each failure is a failed check.
    public static func checks(
        client: LagoClient, configuration: LagoConsoleConfiguration, sendTest: Bool
    ) async -> [VerifyCheck] {
        var checks: [VerifyCheck] = []
        // Reachability and the key: one authenticated request tells both.
        let metrics: [BillableMetric]
        do {
            metrics = try await client.allBillableMetrics()
            checks.append(
                VerifyCheck(name: "Lago reachable", status: .ok, detail: "answered GET /billable_metrics"))
            checks.append(VerifyCheck(name: "API key", status: .ok, detail: "accepted"))
        } catch let error as LagoAPIError where error.status == 401 || error.status == 403 {
            checks.append(
                VerifyCheck(name: "Lago reachable", status: .ok, detail: "answered HTTP \(error.status ?? 0)"))
            checks.append(VerifyCheck(name: "API key", status: .failed, detail: error.description))
            return checks + skippedRest(configuration, sendTest: sendTest, reason: "the API key was refused")
        } catch {
            checks.append(VerifyCheck(name: "Lago reachable", status: .failed, detail: "\(error)"))
            return checks + skippedRest(configuration, sendTest: sendTest, reason: "Lago is not reachable")
        }
        let known = Dictionary(metrics.map { ($0.code, $0) }, uniquingKeysWith: { first, _ in first })
        for field in CanonicalField.allCases {
            let code = configuration.metricCodes[field]
            if let metric = known[code] {
                checks.append(
                    VerifyCheck(
                        name: "metric_codes.\(field.rawValue)", status: .ok,
                        detail: "\(code): \(metric.name) (\(metric.aggregationType))"))
            } else {
                checks.append(
                    VerifyCheck(
                        name: "metric_codes.\(field.rawValue)", status: .failed,
                        detail: "\(code) is not a billable metric in this Lago"))
            }
        }
        guard let subscriptionID = configuration.lago.defaultSubscriptionID else {
            checks.append(
                VerifyCheck(
                    name: "default subscription", status: .failed, detail: "lago.default_subscription_id is not set"))
            if sendTest { checks.append(VerifyCheck(name: "test event", status: .skipped, detail: "no subscription")) }
            return checks
        }
        do {
            let subscription = try await client.subscription(externalID: subscriptionID)
            if subscription.status == .active {
                checks.append(
                    VerifyCheck(name: "default subscription", status: .ok, detail: "\(subscriptionID) is active"))
            } else {
                checks.append(
                    VerifyCheck(
                        name: "default subscription", status: .failed,
                        detail: "\(subscriptionID) is \(subscription.status), not active"))
            }
        } catch {
            checks.append(
                VerifyCheck(name: "default subscription", status: .failed, detail: "\(subscriptionID): \(error)"))
        }
        if sendTest {
            checks.append(await roundTrip(client: client, configuration: configuration, subscriptionID: subscriptionID))
        }
        return checks
    }

    static func roundTrip(
        client: LagoClient, configuration: LagoConsoleConfiguration, subscriptionID: String
    ) async -> VerifyCheck {
        let event = EventInput(
            transactionID: "lago-console-verify-\(UUID().uuidString.lowercased())",
            externalSubscriptionID: subscriptionID, code: configuration.metricCodes[.input],
            timestamp: Date().timeIntervalSince1970, properties: ["value": 0])
        do {
            _ = try await client.createEvent(event)
            let stored = try await client.event(transactionID: event.transactionID)
            guard stored.code == event.code, stored.externalSubscriptionID == subscriptionID else {
                return VerifyCheck(
                    name: "test event", status: .failed,
                    detail: "read back \(stored.transactionID) with code \(stored.code), expected \(event.code)")
            }
            return VerifyCheck(name: "test event", status: .ok, detail: "\(event.transactionID) sent and read back")
        } catch {
            return VerifyCheck(name: "test event", status: .failed, detail: "\(event.transactionID): \(error)")
        }
    }

    static func skippedRest(
        _ configuration: LagoConsoleConfiguration, sendTest: Bool, reason: String
    ) -> [VerifyCheck] {
        var checks = CanonicalField.allCases.map {
            VerifyCheck(name: "metric_codes.\($0.rawValue)", status: .skipped, detail: reason)
        }
        checks.append(VerifyCheck(name: "default subscription", status: .skipped, detail: reason))
        if sendTest { checks.append(VerifyCheck(name: "test event", status: .skipped, detail: reason)) }
        return checks
    }

    /// One line per check as `verify` prints them: a mark (✔ ✗ –), the name padded to the longest, the detail.
    public static func lines(_ checks: [VerifyCheck]) -> [String] {
        let width = checks.map(\.name.count).max() ?? 0
        return checks.map { check in
            let mark =
                switch check.status {
                case .ok: "✔"
                case .failed: "✗"
                case .skipped: "–"
                }
            return "\(mark) \(check.name.padding(toLength: width, withPad: " ", startingAt: 0))  \(check.detail)"
        }
    }
}
