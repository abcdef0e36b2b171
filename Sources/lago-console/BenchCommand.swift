import ArgumentParser
import ConsoleUI
import Foundation
import LagoBench
import LagoSandbox

/// `lago-console bench`: the project's benchmark. Prints one JSON document; build with `-c release`.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure the sandbox, the engine and the console renderer; print JSON.",
        discussion: """
            Run it from a release build (`swift run -c release lago-console bench`). Figures: sandbox batch \
            ingestion over loopback; engine enqueue latency with the durable spool, events/s to the in-process \
            sandbox healthy and with added latency, time to resume with a full spool, peak RSS with 1M spooled; \
            relay ingest (batches of 100 from keep-alive clients over loopback, each answered once durably \
            spooled) and its delivery; full-frame render time at 200×60 with 10k events.
            """
    )

    @Option(help: "Comma-separated parts to run: sandbox, engine, relay, render.")
    var parts: String = "sandbox,engine,relay,render"

    @Option(help: "Events for the throughput runs.")
    var events: Int = 100_000

    @Option(help: "Events spooled for the peak-memory run.")
    var rssEvents: Int = 1_000_000

    struct Report: Encodable {
        var build: String
        var cores: Int
        var sandbox: SandboxBenchmarkResult?
        var engine: EngineBenchmarkResult?
        var relay: RelayBenchmarkResult?
        var renderMillisecondsPerFrame: Double?
    }

    func run() async throws {
        let selected = Set(parts.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
        #if DEBUG
            let build = "debug (figures are not representative: use -c release)"
        #else
            let build = "release"
        #endif
        var report = Report(build: build, cores: ProcessInfo.processInfo.activeProcessorCount)
        if selected.contains("render") {
            report.renderMillisecondsPerFrame = ConsoleBenchmark.renderFrame(width: 200, height: 60, events: 10_000)
        }
        if selected.contains("sandbox") {
            report.sandbox = try await SandboxBenchmark.run(events: max(events, 10_000))
        }
        if selected.contains("engine") {
            var options = EngineBenchmarkOptions()
            options.throughputEvents = events
            options.latencyEvents = events
            options.resumeEvents = events
            options.rssEvents = rssEvents
            report.engine = try await EngineBenchmark.run(options)
        }
        if selected.contains("relay") {
            var options = RelayBenchmarkOptions()
            options.events = events
            report.relay = try await RelayBenchmark.run(options)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        print(String(decoding: try encoder.encode(report), as: UTF8.self))
    }
}
