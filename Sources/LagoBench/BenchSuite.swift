import Foundation

/// What `lago-console bench` runs: the parts chosen and their sizes.
public struct BenchSuiteOptions: Sendable {
    /// Parts to run: `sandbox`, `engine`, `adaptive`, `relay`, `render`, `console`, `relay.rss`, `relay-rss`,
    /// `engine.<run>`, `billing` (the billing check's cost, and the relay with and without it), `otlp` (OTLP JSON
    /// spans in, beside relay event ingest).
    public var parts: Set<String> = ["sandbox", "engine", "adaptive", "relay", "render"]
    /// Events for the throughput runs.
    public var events = 100_000
    /// `max_in_flight` of the engine's healthy runs.
    public var healthyMaxInFlight = 4
    /// Repetitions of the healthy run (the median is reported).
    public var healthyRepetitions = 5
    /// Events spooled for the peak-memory run.
    public var rssEvents = 1_000_000
    /// Body budget of the `relay.rss` run (0: none; `nil`: the relay's default).
    public var relayRSSBudget: Int?
    /// Concurrent clients of the `relay.rss` run.
    public var relayRSSClients = 200
    /// The console part's options (its binary is the one opened in tmux).
    public var console: ConsoleKeyBenchmarkOptions
    /// The `lago-console` binary the child-process runs start (`bench …` in a fresh process, for a fresh `VmHWM`).
    public var executable: String

    /// Defaults, with `executable` for the child processes and the console part.
    public init(executable: String) {
        self.executable = executable
        console = ConsoleKeyBenchmarkOptions(binary: executable)
    }
}

/// The JSON document `lago-console bench` prints; a part not run is absent.
public struct BenchReport: Encodable, Sendable {
    /// `release`, or a warning that a debug build's figures mean nothing.
    public var build: String
    /// Cores of this machine (figures are quoted with it).
    public var cores: Int
    /// Sandbox batch ingestion.
    public var sandbox: SandboxBenchmarkResult?
    /// The engine's runs.
    public var engine: EngineBenchmarkResult?
    /// Adaptive delivery against fixed limits (issue #14).
    public var adaptive: AdaptiveBenchmarkResult?
    /// The relay's ingest and delivery.
    public var relay: RelayBenchmarkResult?
    /// The console in tmux.
    public var console: ConsoleKeyBenchmarkResult?
    /// Peak memory with concurrent large bodies, one fresh process per budget (`relay-rss`, `relay.rss`).
    public var relayMemory: [RelayMemoryResult]?
    /// Full-frame render time at 200×60 with 10k events.
    public var renderMillisecondsPerFrame: Double?
    /// The billing check: per event, and the relay's ingest rate with and without it.
    public var billing: BillingBenchmarkResult?
    /// OTLP GenAI spans in (`/v1/traces`), beside the relay's event ingest in the same run.
    public var otlp: OTLPBenchmarkResult?
}

/// A child `bench` process that failed.
public struct BenchChildProcessError: Error, CustomStringConvertible {
    /// What failed, for the operator.
    public var description: String
}

/// Runs the parts of `lago-console bench` and assembles their report.
public enum BenchSuite {
    /// Runs the chosen parts in order: render, sandbox, engine, relay, relay memory, console.
    ///
    /// - Throws: what a part throws (a child process that fails, a sandbox that cannot listen, tmux missing…).
    public static func run(_ options: BenchSuiteOptions) async throws -> BenchReport {
        let selected = options.parts
        #if DEBUG
            let build = "debug (figures are not representative: use -c release)"
        #else
            let build = "release"
        #endif
        var report = BenchReport(build: build, cores: ProcessInfo.processInfo.activeProcessorCount)
        if selected.contains("render") {
            report.renderMillisecondsPerFrame = ConsoleBenchmark.renderFrame(width: 200, height: 60, events: 10_000)
        }
        if selected.contains("sandbox") {
            report.sandbox = try await SandboxBenchmark.run(events: max(options.events, 10_000))
        }
        let engineRuns = Set(selected.filter { $0.hasPrefix("engine.") }.map { String($0.dropFirst("engine.".count)) })
        if selected.contains("engine") || !engineRuns.isEmpty {
            var engine = EngineBenchmarkOptions()
            engine.throughputEvents = options.events
            engine.latencyEvents = options.events
            engine.resumeEvents = options.events
            engine.rssEvents = options.rssEvents
            engine.healthyMaxInFlight = options.healthyMaxInFlight
            engine.healthyRepetitions = options.healthyRepetitions
            engine.parts = engineRuns.isEmpty ? engine.parts.subtracting(["rss"]) : engineRuns
            var result = try await EngineBenchmark.run(engine)
            if engineRuns.isEmpty && options.rssEvents > 0 {
                result.memory = try await memoryInChildProcess(options)
            }
            report.engine = result
        }
        if selected.contains("adaptive") {
            report.adaptive = try await AdaptiveBenchmark.run()
        }
        if selected.contains("relay") {
            var relay = RelayBenchmarkOptions()
            relay.events = options.events
            report.relay = try await RelayBenchmark.run(relay)
        }
        if selected.contains("relay.rss") {
            var memory = RelayMemoryOptions()
            memory.clients = options.relayRSSClients
            memory.bodyBudgetBytes = options.relayRSSBudget
            report.relayMemory = [try await RelayMemoryBenchmark.run(memory)]
        }
        if selected.contains("relay-rss") {
            var runs: [RelayMemoryResult] = []
            // No budget (the relay before it), then the default one (8 × the 1 MiB body limit), then 64 MiB.
            for budget in [0, nil, 64 << 20] as [Int?] {
                runs += try await relayMemoryInChildProcess(options, budget: budget)
            }
            report.relayMemory = runs
        }
        if selected.contains("console") {
            report.console = try await ConsoleKeyBenchmark.run(options.console)
        }
        if selected.contains("otlp") {
            var otlp = OTLPBenchmarkOptions()
            otlp.relayEvents = options.events
            otlp.spans = max(1_000, options.events / 2)
            report.otlp = try await OTLPBenchmark.run(otlp)
        }
        if selected.contains("billing") {
            var billing = BillingBenchmarkOptions()
            billing.relayEvents = options.events
            report.billing = try await BillingBenchmark.run(billing)
        }
        return report
    }

    /// This process's executable (`/proc/self/exe`), else `argv[0]` resolved.
    public static func currentExecutable() -> String {
        if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return path }
        return URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().path
    }

    /// Runs `bench --parts engine.rss` in a child process and returns its memory figures.
    static func memoryInChildProcess(_ options: BenchSuiteOptions) async throws -> MemoryFigures? {
        struct ChildReport: Decodable {
            struct Engine: Decodable { var memory: MemoryFigures? }
            var engine: Engine?
        }
        let data = try await benchInChildProcess(
            options.executable, ["--parts", "engine.rss", "--rss-events", "\(options.rssEvents)"])
        return try JSONDecoder().decode(ChildReport.self, from: data).engine?.memory
    }

    /// Runs `bench --parts relay.rss` in a child process (a fresh `VmHWM`) and returns its figures.
    static func relayMemoryInChildProcess(
        _ options: BenchSuiteOptions, budget: Int?
    ) async throws
        -> [RelayMemoryResult]
    {
        struct ChildReport: Decodable { var relayMemory: [RelayMemoryResult]? }
        let data = try await benchInChildProcess(
            options.executable,
            ["--parts", "relay.rss", "--relay-rss-clients", "\(options.relayRSSClients)"]
                + (budget.map { ["--relay-rss-budget", "\($0)"] } ?? []))
        return try JSONDecoder().decode(ChildReport.self, from: data).relayMemory ?? []
    }

    /// Runs `bench ARGUMENTS` with `executable` in a child process and returns what it printed. The wait happens on
    /// a thread of Dispatch's, off the concurrency pool.
    /// - Throws: ``BenchChildProcessError`` when the child cannot start or exits non-zero.
    static func benchInChildProcess(_ executable: String, _ arguments: [String]) async throws -> Data {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
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
            throw BenchChildProcessError(
                description: "bench \(arguments.joined(separator: " ")) failed with status \(process.terminationStatus)"
            )
        }
        return data
    }
}
