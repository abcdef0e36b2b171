import ArgumentParser
import Foundation
import LagoAPI
import LagoBilling
import LagoConfig
import LagoSession

/// `lago-console usage`: the customer's current usage in Lago for a subscription, and what moved since the last run.
struct UsageCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "usage",
        abstract: "Show what Lago will bill a subscription this period so far (its customer's current usage).",
        discussion: """
            Reads GET /customers/{id}/current_usage for the subscription (its customer is looked up in Lago): the \
            period, the currency, the total and one line per charge (metric, aggregation, units, events, amount). \
            Each run keeps its reading beside the spool, so the next run for the same subscription also says what \
            moved since (send a test event between two runs to see it counted). --json prints Lago's own \
            customer_usage object with the changes beside it. Exit code 3 when Lago cannot be reached or refuses \
            (Lago's own words are printed: 405 no_active_subscription, 404 customer_not_found).
            """
    )

    @OptionGroup var global: GlobalOptions

    @Option(help: "The subscription's external id (default: lago.default_subscription_id).")
    var subscription: String?

    @Flag(help: "Print Lago's customer_usage object and the changes since the previous run as JSON.")
    var json = false

    func run() async throws {
        let configuration = try global.loadConfigStore().configuration
        guard let subscriptionID = subscription ?? configuration.lago.defaultSubscriptionID, !subscriptionID.isEmpty
        else {
            FileHandle.standardError.write(
                Data(
                    ("usage: no subscription given and lago.default_subscription_id is not set: pass --subscription ID"
                        + " or run `lago-console config set lago.default_subscription_id ID`\n").utf8))
            throw ExitCode(2)
        }
        let baseURL = try configuredLago(configuration, purpose: "usage reads a real Lago (and lago.api_key)")
        let clientConfiguration = LagoClientConfiguration(
            baseURL: baseURL, apiKey: configuration.lago.apiKey, requestTimeout: configuration.engine.requestTimeout)
        let reading: UsageReading
        do {
            reading = try await withLagoClient(configuration: clientConfiguration) { client in
                try await CustomerUsageReader(client: client).read(externalSubscriptionID: subscriptionID)
            }
        } catch {
            FileHandle.standardError.write(Data("usage of \(subscriptionID): \(error)\n".utf8))
            throw ExitCode(3)
        }
        let store = UsageReadingStore(
            spoolPath: EngineSettings.spoolPath(configuration, isSandbox: configuration.lago.apiURL == nil))
        let report = UsageReport(reading: reading, previous: store.previous(subscription: subscriptionID))
        do {
            try store.save(reading)
        } catch {
            FileHandle.standardError.write(Data("warning: the next run cannot say what moved: \(error)\n".utf8))
        }
        if json { return try printJSON(report.json) }
        for line in report.lines { print(line) }
    }
}
