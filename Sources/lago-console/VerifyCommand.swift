import ArgumentParser
import Foundation
import LagoAPI
import LagoConfig
import LagoSession
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

    func run() async throws {
        let configuration = try global.loadConfigStore().configuration
        let baseURL = try configuredLago(configuration, purpose: "verify checks a real Lago (and lago.api_key)")
        let clientConfiguration = LagoClientConfiguration(
            baseURL: baseURL, apiKey: configuration.lago.apiKey, requestTimeout: configuration.engine.requestTimeout)
        let checks = try await withLagoClient(configuration: clientConfiguration) { client in
            await LagoVerification.checks(client: client, configuration: configuration, sendTest: sendTest)
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(checks), as: UTF8.self))
        } else {
            print("Lago \(baseURL.apiRoot)  key \(ConfigMasking.mask(configuration.lago.apiKey))")
            for line in LagoVerification.lines(checks) { print(line) }
        }
        let failed = checks.filter { $0.status == .failed }
        if !failed.isEmpty {
            FileHandle.standardError.write(
                Data("verify failed: \(failed.map(\.name).joined(separator: ", "))\n".utf8))
            throw ExitCode(1)
        }
    }
}
