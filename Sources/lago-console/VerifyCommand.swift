import ArgumentParser
import Foundation
import LagoAPI
import LagoConfig
import LagoUsage

/// `lago-console verify`: checks that the configured Lago is ready to bill the console's events.
struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check the configured Lago: reachable, key valid, mapped codes exist, default subscription active.",
        discussion: """
            Prints one line per check and exits non-zero naming each failure. With --send-test, also sends one \
            event (the input metric, property value 0, so it bills nothing) and reads it back by transaction id.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Flag(help: "Print the checks as JSON.")
    var json = false

    @Flag(help: "Also send a test event with value 0 and read it back.")
    var sendTest = false

    /// One check and its outcome.
    struct Check: Encodable {
        enum Status: String, Encodable { case ok, failed, skipped }
        var name: String
        var status: Status
        var detail: String
    }

    func run() async throws {
        let configuration = try global.loadConfigStore().configuration
        let baseURL = try configuredLago(configuration, purpose: "verify checks a real Lago (and lago.api_key)")
        let clientConfiguration = LagoClientConfiguration(
            baseURL: baseURL, apiKey: configuration.lago.apiKey, requestTimeout: configuration.engine.requestTimeout)
        let checks = try await withLagoClient(configuration: clientConfiguration) { client in
            await Self.checks(client: client, configuration: configuration, sendTest: sendTest)
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(checks), as: UTF8.self))
        } else {
            print("Lago \(baseURL.apiRoot)  key \(ConfigMasking.mask(configuration.lago.apiKey))")
            let width = checks.map(\.name.count).max() ?? 0
            for check in checks {
                let mark = switch check.status {
                case .ok: "✔"
                case .failed: "✗"
                case .skipped: "–"
                }
                print("\(mark) \(check.name.padding(toLength: width, withPad: " ", startingAt: 0))  \(check.detail)")
            }
        }
        let failed = checks.filter { $0.status == .failed }
        if !failed.isEmpty {
            FileHandle.standardError.write(
                Data("verify failed: \(failed.map(\.name).joined(separator: ", "))\n".utf8))
            throw ExitCode(1)
        }
    }

    static func checks(client: LagoClient, configuration: LagoConsoleConfiguration, sendTest: Bool) async -> [Check] {
        var checks: [Check] = []
        // Reachability and the key: one authenticated request tells both.
        let metrics: [BillableMetric]
        do {
            metrics = try await client.allBillableMetrics()
            checks.append(Check(name: "Lago reachable", status: .ok, detail: "answered GET /billable_metrics"))
            checks.append(Check(name: "API key", status: .ok, detail: "accepted"))
        } catch let error as LagoAPIError where error.status == 401 || error.status == 403 {
            checks.append(Check(name: "Lago reachable", status: .ok, detail: "answered HTTP \(error.status ?? 0)"))
            checks.append(Check(name: "API key", status: .failed, detail: error.description))
            return checks + skippedRest(configuration, sendTest: sendTest, reason: "the API key was refused")
        } catch {
            checks.append(Check(name: "Lago reachable", status: .failed, detail: "\(error)"))
            return checks + skippedRest(configuration, sendTest: sendTest, reason: "Lago is not reachable")
        }
        let known = Dictionary(metrics.map { ($0.code, $0) }, uniquingKeysWith: { first, _ in first })
        for field in CanonicalField.allCases {
            let code = configuration.metricCodes[field]
            if let metric = known[code] {
                checks.append(
                    Check(
                        name: "metric_codes.\(field.rawValue)", status: .ok,
                        detail: "\(code): \(metric.name) (\(metric.aggregationType))"))
            } else {
                checks.append(
                    Check(
                        name: "metric_codes.\(field.rawValue)", status: .failed,
                        detail: "\(code) is not a billable metric in this Lago"))
            }
        }
        guard let subscriptionID = configuration.lago.defaultSubscriptionID else {
            checks.append(
                Check(name: "default subscription", status: .failed, detail: "lago.default_subscription_id is not set"))
            if sendTest { checks.append(Check(name: "test event", status: .skipped, detail: "no subscription")) }
            return checks
        }
        do {
            let subscription = try await client.subscription(externalID: subscriptionID)
            if subscription.status == .active {
                checks.append(Check(name: "default subscription", status: .ok, detail: "\(subscriptionID) is active"))
            } else {
                checks.append(
                    Check(
                        name: "default subscription", status: .failed,
                        detail: "\(subscriptionID) is \(subscription.status), not active"))
            }
        } catch {
            checks.append(Check(name: "default subscription", status: .failed, detail: "\(subscriptionID): \(error)"))
        }
        if sendTest {
            checks.append(await roundTrip(client: client, configuration: configuration, subscriptionID: subscriptionID))
        }
        return checks
    }

    static func roundTrip(
        client: LagoClient, configuration: LagoConsoleConfiguration, subscriptionID: String
    ) async -> Check {
        let event = EventInput(
            transactionID: "lago-console-verify-\(UUID().uuidString.lowercased())",
            externalSubscriptionID: subscriptionID, code: configuration.metricCodes[.input],
            timestamp: Date().timeIntervalSince1970, properties: ["value": 0])
        do {
            _ = try await client.createEvent(event)
            let stored = try await client.event(transactionID: event.transactionID)
            guard stored.code == event.code, stored.externalSubscriptionID == subscriptionID else {
                return Check(
                    name: "test event", status: .failed,
                    detail: "read back \(stored.transactionID) with code \(stored.code), expected \(event.code)")
            }
            return Check(name: "test event", status: .ok, detail: "\(event.transactionID) sent and read back")
        } catch {
            return Check(name: "test event", status: .failed, detail: "\(event.transactionID): \(error)")
        }
    }

    static func skippedRest(_ configuration: LagoConsoleConfiguration, sendTest: Bool, reason: String) -> [Check] {
        var checks = CanonicalField.allCases.map {
            Check(name: "metric_codes.\($0.rawValue)", status: .skipped, detail: reason)
        }
        checks.append(Check(name: "default subscription", status: .skipped, detail: reason))
        if sendTest { checks.append(Check(name: "test event", status: .skipped, detail: reason)) }
        return checks
    }
}
