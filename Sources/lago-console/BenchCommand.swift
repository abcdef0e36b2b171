import ArgumentParser
import Foundation
import LagoBench

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

    @Option(
        help: """
            Comma-separated parts to run: sandbox, engine, adaptive (max_in_flight auto against fixed 4/16/32/64 \
            at 100 ms and 500 requests/s, a burst of 429s, healthy loopback), relay, render; engine.<run> runs one \
            engine run in this \
            process (rss, enqueue, healthy, healthy-single, latency, resume, ingest; healthy-sync-full, the healthy run \
            with synchronous = FULL, only when named). With "engine", the peak-RSS run happens in a \
            fresh child process, so earlier runs do not inflate its high-water mark. relay-rss (not run by default): \
            peak memory with 200 concurrent 1 MiB bodies, without and with the relay's body budget. billing (not run \
            by default): the billing check's cost per event, and the relay's ingest rate with and without it. otlp \
            (not run by default): OTLP JSON GenAI spans into /v1/traces (events/2 spans, 100 per request), with the \
            relay's event ingest in the same run for the ratio.
            """)
    var parts: String = "sandbox,engine,adaptive,relay,render"

    @Option(help: "Events for the throughput runs.")
    var events: Int = 100_000

    @Option(
        help:
            "A fixed max_in_flight for the engine's healthy runs (default 4, the figures before adaptive delivery; --parts adaptive compares auto)."
    )
    var healthyMaxInFlight: Int = 4

    @Option(help: "Repetitions of the healthy run; the median is reported.")
    var healthyRepetitions: Int = 5

    @Option(help: "Events spooled for the peak-memory run.")
    var rssEvents: Int = 1_000_000

    @Option(
        help: """
            Body budget (bytes) of the relay.rss run: 0 for none (the relay before the budget); by default the \
            relay's own (8 × its 1 MiB body limit). "relay-rss" runs relay.rss in three fresh child processes: no \
            budget, the default one, and 64 MiB.
            """)
    var relayRSSBudget: Int?

    @Option(help: "Concurrent clients of the relay.rss run, each posting one 1 MiB body.")
    var relayRSSClients: Int = 200

    @OptionGroup(title: "Console part (--parts console; not run by default, needs tmux)")
    var console: ConsoleBenchOptions

    func run() async throws {
        var options = BenchSuiteOptions(executable: BenchSuite.currentExecutable())
        options.parts = Set(parts.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
        options.events = events
        options.healthyMaxInFlight = healthyMaxInFlight
        options.healthyRepetitions = healthyRepetitions
        options.rssEvents = rssEvents
        options.relayRSSBudget = relayRSSBudget
        options.relayRSSClients = relayRSSClients
        options.console = console.options()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        print(String(decoding: try encoder.encode(try await BenchSuite.run(options)), as: UTF8.self))
    }
}

/// Options of the console part: the real binary in tmux, keys answered under relay load, redraws, CPU.
struct ConsoleBenchOptions: ParsableArguments {
    @Option(help: "The lago-console binary to open in tmux (default: this one).")
    var consoleBinary: String?

    @Option(help: "Seconds the console is measured idle.")
    var consoleIdleSeconds: Double = 10

    @Option(help: "Seconds of load before the measured window.")
    var consoleWarmUpSeconds: Double = 2

    @Option(help: "Seconds of the measured load window.")
    var consoleLoadSeconds: Double = 15

    @Option(help: "Events per second posted to the console's relay.")
    var consoleEventsPerSecond: Int = 20_000

    @Option(help: "Keys sent during the load window.")
    var consoleKeys: Int = 40

    func options() -> ConsoleKeyBenchmarkOptions {
        var options = ConsoleKeyBenchmarkOptions(binary: consoleBinary ?? BenchSuite.currentExecutable())
        options.idleSeconds = consoleIdleSeconds
        options.warmUpSeconds = consoleWarmUpSeconds
        options.loadSeconds = consoleLoadSeconds
        options.eventsPerSecond = consoleEventsPerSecond
        options.keys = consoleKeys
        return options
    }
}
