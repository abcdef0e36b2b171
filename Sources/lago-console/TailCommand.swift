import ArgumentParser
import Foundation
import LagoConfig
import LagoControl
import LagoSession

/// `lago-console tail`: the live lifecycle of events on the spool a running `serve` delivers, as lines or NDJSON.
struct TailCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tail",
        abstract: "Stream the lifecycle of events (queued, in flight, delivered, retries, dead…) as lines or NDJSON.",
        discussion: """
            Follows the `lago-console serve` that delivers the configured spool, through its control API, until \
            interrupted (Ctrl-C). Each change of an event is one line (--json: one JSON object a line, Lago's \
            snake_case names, ISO-8601 UTC times), so it pipes into grep, jq or a log collector. Filters: --code, \
            --subscription, --state (one or more of \(LifecycleTail.stageNames.joined(separator: ", "))).
            """
    )

    @OptionGroup var global: GlobalOptions

    @Option(help: "Only events with this metric code.")
    var code: String?

    @Option(help: "Only events billed to this subscription.")
    var subscription: String?

    @Option(parsing: .upToNextOption, help: "Only these stages (comma- or space-separated).")
    var state: [String] = []

    @Flag(help: "One JSON object a line (NDJSON).")
    var json = false

    func validate() throws {
        do {
            _ = try LifecycleTail(code: code, subscription: subscription, stages: state)
        } catch let error as LifecycleTail.InvalidStage {
            throw ValidationError(error.description)
        }
    }

    func run() async throws {
        var tail = try LifecycleTail(code: code, subscription: subscription, stages: state)
        let configuration = try global.loadConfigStore().configuration
        let spoolPath = EngineSettings.spoolPath(configuration, isSandbox: configuration.lago.apiURL == nil)
        guard let remote = await RemoteEngine.connect(forSpool: spoolPath) else {
            FileHandle.standardError.write(
                Data(
                    ("tail: no `lago-console serve` runs on \(spoolPath): tail follows the serve that delivers the "
                        + "spool; start one (`lago-console serve`), or use the console's Events pane\n").utf8))
            throw ExitCode(1)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            var container = encoder.singleValueContainer()
            try container.encode(formatter.string(from: date))
        }
        FileHandle.standardError.write(Data("tail: following serve on \(spoolPath) (Ctrl-C stops)\n".utf8))
        for await change in remote.lifecycleEvents(bufferSize: 10_000) {
            guard let line = tail.line(for: change) else { continue }
            let text = json ? String(decoding: try encoder.encode(line), as: UTF8.self) : line.text()
            // One line at a time even into a pipe: a reader sees each change as it happens.
            FileHandle.standardOutput.write(Data((text + "\n").utf8))
        }
        await remote.shutdown()
    }
}
