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
            Comma-separated parts to run: sandbox, engine, relay, render; engine.<run> runs one engine run in this \
            process (rss, enqueue, healthy, healthy-single, latency, resume, ingest; healthy-sync-full, the healthy run \
            with synchronous = FULL, only when named). With "engine", the peak-RSS run happens in a \
            fresh child process, so earlier runs do not inflate its high-water mark. relay-rss (not run by default): \
            peak memory with 200 concurrent 1 MiB bodies, without and with the relay's body budget.
            """)
    var parts: String = "sandbox,engine,relay,render"

    @Option(help: "Events for the throughput runs.")
    var events: Int = 100_000

    @Option(help: "max_in_flight of the engine's healthy runs (default: the configuration's default, 4).")
    var healthyMaxInFlight: Int = 4

    @Option(help: "Repetitions of the healthy run; the median is reported.")
    var healthyRepetitions: Int = 5

    @Option(help: "Events spooled for the peak-memory run.")
    var rssEvents: Int = 1_000_000

    @Option(
        help: """
            Body budget (bytes) of the relay.rss run: 0 for none (the relay before the budget), default 64 MiB.             "relay-rss" runs relay.rss in two fresh child processes, without a budget and with the default one.
            """)
    var relayRSSBudget: Int?

    @Option(help: "Concurrent clients of the relay.rss run, each posting one 1 MiB body.")
    var relayRSSClients: Int = 200

    @OptionGroup(title: "Console part (--parts console; not run by default, needs tmux)")
    var console: ConsoleBenchOptions

    struct Report: Encodable {
        var build: String
        var cores: Int
        var sandbox: SandboxBenchmarkResult?
        var engine: EngineBenchmarkResult?
        var relay: RelayBenchmarkResult?
        var console: ConsoleKeyBenchmarkResult?
        /// Peak memory with concurrent large bodies, one fresh process per budget (`relay-rss`, `relay.rss`).
        var relayMemory: [RelayMemoryResult]?
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
        let engineRuns = Set(selected.filter { $0.hasPrefix("engine.") }.map { String($0.dropFirst("engine.".count)) })
        if selected.contains("engine") || !engineRuns.isEmpty {
            var options = EngineBenchmarkOptions()
            options.throughputEvents = events
            options.latencyEvents = events
            options.resumeEvents = events
            options.rssEvents = rssEvents
            options.healthyMaxInFlight = healthyMaxInFlight
            options.healthyRepetitions = healthyRepetitions
            options.parts = engineRuns.isEmpty ? options.parts.subtracting(["rss"]) : engineRuns
            var result = try await EngineBenchmark.run(options)
            if engineRuns.isEmpty && rssEvents > 0 {
                result.memory = try await Self.memoryInChildProcess(rssEvents: rssEvents)
            }
            report.engine = result
        }
        if selected.contains("relay") {
            var options = RelayBenchmarkOptions()
            options.events = events
            report.relay = try await RelayBenchmark.run(options)
        }
        if selected.contains("relay.rss") {
            var options = RelayMemoryOptions()
            options.clients = relayRSSClients
            options.bodyBudgetBytes = relayRSSBudget
            report.relayMemory = [try await RelayMemoryBenchmark.run(options)]
        }
        if selected.contains("relay-rss") {
            var runs: [RelayMemoryResult] = []
            // No budget (the relay before it), then the default one (8 × the 1 MiB body limit), then 64 MiB.
            for budget in [0, nil, 64 << 20] as [Int?] {
                runs += try await Self.relayMemoryInChildProcess(budget: budget, clients: relayRSSClients)
            }
            report.relayMemory = runs
        }
        if selected.contains("console") {
            report.console = try await ConsoleKeyBenchmark.run(console.options())
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        print(String(decoding: try encoder.encode(report), as: UTF8.self))
    }

    /// Runs `bench --parts engine.rss` in a child process and returns its memory figures.
    static func memoryInChildProcess(rssEvents: Int) async throws -> MemoryFigures? {
        struct ChildReport: Decodable {
            struct Engine: Decodable { var memory: MemoryFigures? }
            var engine: Engine?
        }
        let data = try await benchInChildProcess(["--parts", "engine.rss", "--rss-events", "\(rssEvents)"])
        return try JSONDecoder().decode(ChildReport.self, from: data).engine?.memory
    }
}

extension BenchCommand {
    /// Runs `bench ARGUMENTS` with this binary in a child process (a fresh `VmHWM`) and returns what it printed.
    /// The wait happens on a thread of its own, off the concurrency pool.
    /// - Throws: when the child cannot start or exits non-zero.
    static func benchInChildProcess(_ arguments: [String]) async throws -> Data {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ConsoleBenchOptions.currentExecutable())
        process.arguments = ["bench"] + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardInput = FileHandle.nullDevice
        let data: Data = try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                do {
                    try process.run()
                    let data = output.fileHandleForReading.readDataToEndOfFile()
                    process.waitUntilExit()
                    continuation.resume(returning: data)
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
        guard process.terminationStatus == 0 else {
            throw ConsoleFailure(
                description: "bench \(arguments.joined(separator: " ")) failed with status \(process.terminationStatus)")
        }
        return data
    }

    /// Runs `bench --parts relay.rss` in a child process (a fresh `VmHWM`) and returns its figures.
    static func relayMemoryInChildProcess(budget: Int?, clients: Int) async throws -> [RelayMemoryResult] {
        struct ChildReport: Decodable { var relayMemory: [RelayMemoryResult]? }
        let data = try await benchInChildProcess(
            ["--parts", "relay.rss", "--relay-rss-clients", "\(clients)"]
                + (budget.map { ["--relay-rss-budget", "\($0)"] } ?? []))
        return try JSONDecoder().decode(ChildReport.self, from: data).relayMemory ?? []
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
        var options = ConsoleKeyBenchmarkOptions(binary: consoleBinary ?? Self.currentExecutable())
        options.idleSeconds = consoleIdleSeconds
        options.warmUpSeconds = consoleWarmUpSeconds
        options.loadSeconds = consoleLoadSeconds
        options.eventsPerSecond = consoleEventsPerSecond
        options.keys = consoleKeys
        return options
    }

    /// This process's executable (`/proc/self/exe`), else `argv[0]` resolved.
    static func currentExecutable() -> String {
        if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return path }
        return URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().path
    }
}
