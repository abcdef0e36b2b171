import ArgumentParser
import Foundation
import LagoAPI
import LagoEngine
import LagoSandbox

/// `lago-console _engine-child`: a hidden test-support command for the engine's crash test.
///
/// Opens an engine on `--spool`, enqueues `--count` events one after another (transaction ids
/// `<prefix>-<n>`), prints `ack <transaction_id>` on stdout as soon as each `enqueue` has returned (the event is then
/// committed to the spool), then flushes until the spool is empty and prints `done delivered=<n> pending=<n>`.
/// The test kills it with SIGKILL at various moments and runs it again on the same spool with `--count 0` until
/// `pending=0`, then checks that every acknowledged event reached Lago exactly once.
struct EngineChildCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "_engine-child",
        abstract: "Test support: enqueue events through the engine and report acknowledgements.",
        shouldDisplay: false
    )

    @Option(help: "The spool file.")
    var spool: String

    @Option(help: "The Lago API base URL (e.g. http://127.0.0.1:PORT/api/v1).")
    var url: String

    @Option(help: "The API key.")
    var key: String

    @Option(help: "How many events to enqueue.")
    var count: Int = 0

    @Option(help: "Transaction id prefix.")
    var prefix: String = "child"

    @Option(help: "The subscription of the events.")
    var subscription: String = SandboxSeed.subscriptionExternalID

    @Option(help: "The billable metric code of the events.")
    var code: String = "llm_input_tokens"

    @Option(help: "Seconds to keep flushing before giving up.")
    var flushSeconds: Int = 60

    func run() async throws {
        var configuration = EngineConfiguration(spoolPath: spool)
        configuration.flushInterval = .milliseconds(5)
        configuration.retryBase = .milliseconds(20)
        configuration.maxRetryBackoff = .milliseconds(200)
        configuration.probeInterval = .milliseconds(100)
        configuration.requestTimeout = .seconds(5)
        let engine = try LagoEngine(
            configuration: configuration, baseURL: LagoBaseURL(url, allowInsecureHTTP: true), apiKey: key)
        engine.start()
        let output = FileHandle.standardOutput
        for index in 0..<count {
            let event = EventInput(
                transactionID: "\(prefix)-\(index)", externalSubscriptionID: subscription, code: code,
                properties: ["value": .integer(Int64(index + 1))])
            let id = try await engine.enqueue(event)
            output.write(Data("ack \(id)\n".utf8))
        }
        let result = await engine.flush(deadline: .seconds(flushSeconds))
        await engine.shutdown()
        output.write(Data("done delivered=\(result.delivered) pending=\(result.pending) dead=\(result.dead)\n".utf8))
        if result.pending > 0 { throw ExitCode(3) }
    }
}
