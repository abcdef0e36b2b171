import ArgumentParser
import Foundation
import LagoAPI
import LagoBilling
import LagoSession

/// `lago-console check`: whether the configured Lago will bill each event, and why not.
struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Tell whether the configured Lago will bill events, and every reason why not.",
        discussion: """
            Reads the configured Lago's billable metrics and subscriptions (every page, every status), then checks \
            each event as Lago would bill it: known code, the metric's property present and numeric where it \
            aggregates one, filter values in their lists, a subscription that exists, is active and started before \
            the event. Nothing is sent. Exits 1 when any event is unbillable.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Option(help: "An event as JSON: Lago's event object, {\"event\": …} or {\"events\": […]}.")
    var event: String?

    @Option(help: "A file of events, one JSON document a line (- for standard input).")
    var file: String?

    @Flag(help: "Print the verdicts as JSON.")
    var json = false

    func run() async throws {
        let inputs: [HeadlessCheck.Input]
        do {
            inputs = try HeadlessCheck.inputs(
                eventJSON: event, fileText: try file.map(HeadlessCheck.readFile), fileName: file ?? "--file")
        } catch let problem as HeadlessCheck.InputProblem {
            throw ValidationError(problem.description)
        }
        let configuration = try global.loadConfigStore().configuration
        let baseURL = try configuredLago(configuration, purpose: "check reads a real Lago's metrics and subscriptions")
        let clientConfiguration = LagoClientConfiguration(
            baseURL: baseURL, apiKey: configuration.lago.apiKey, requestTimeout: configuration.engine.requestTimeout)
        let catalogue = try await withLagoClient(configuration: clientConfiguration) { client in
            try await BillingCatalogueService.load(client: client)
        }
        let report = HeadlessCheck.report(inputs, catalogue: catalogue)
        if json { try printJSON(report) } else { report.lines.forEach { print($0) } }
        if report.unbillable > 0 { throw ExitCode(1) }
    }
}
