import Foundation
import TmuxDriver

#if canImport(Glibc)
import Glibc
#endif

/// Settings of ``ConsoleKeyBenchmark/run(_:)``.
public struct ConsoleKeyBenchmarkOptions: Sendable, Codable, Hashable {
    /// The `lago-console` binary opened as the console (a release build for meaningful figures).
    public var binary: String
    /// The tmux window's width, in cells.
    public var width = 120
    /// The tmux window's height, in cells.
    public var height = 40
    /// The idle window: the console on its embedded sandbox with nothing happening.
    public var idleSeconds: Double = 10
    /// Load before the measured window starts (connections opened, the spool and the screen in their steady state).
    public var warmUpSeconds: Double = 2
    /// The measured load window; the keys are spread over it.
    public var loadSeconds: Double = 15
    /// Events per second posted to the console's relay, paced (open loop: a late batch is sent at once).
    public var eventsPerSecond = 20_000
    /// Events per `POST /api/v1/events/batch` (Lago's limit is 100).
    public var batchSize = 100
    /// Concurrent HTTP/1.1 clients, each on one keep-alive connection.
    public var clients = 8
    /// Keys sent during the load window, alternately `2` (Queue pane) and `1` (Events pane).
    public var keys = 40
    /// How long one key may take to show before it counts as unanswered.
    public var keyTimeoutSeconds: Double = 2
    /// Pause between two screen captures while waiting for a key's change.
    public var pollIntervalMilliseconds: Double = 1
    /// How long the console may take to draw its first screen.
    public var startTimeoutSeconds: Double = 60
    /// Directory for the config, spool, log and frame counts (a temporary one when nil); removed afterwards.
    public var directory: String?

    /// The defaults of issue #5: 10 s idle, then 20,000 events/s for 15 s with 40 keys, in a 120×40 tmux window.
    public init(binary: String) {
        self.binary = binary
    }
}

/// What ``ConsoleKeyBenchmark/run(_:)`` measured.
public struct ConsoleKeyBenchmarkResult: Sendable, Codable, Hashable {
    /// Key-to-screen latency, milliseconds: from just before `send-keys` until a capture shows the new pane.
    public struct KeyLatency: Sendable, Codable, Hashable {
        /// The median (nearest rank, as every percentile here).
        public var p50Ms: Double
        /// The 95th percentile.
        public var p95Ms: Double
        /// The 99th percentile.
        public var p99Ms: Double
        /// The slowest key.
        public var maxMs: Double
        /// The mean.
        public var meanMs: Double
        /// Keys answered within the timeout (the figures are over these).
        public var samples: Int
    }

    /// The tmux window's width, in cells.
    public var width: Int
    /// The tmux window's height, in cells.
    public var height: Int
    /// Keys sent during the load window.
    public var keysSent: Int
    /// Keys whose change did not show within `keyTimeoutSeconds` (0 in a healthy run).
    public var keysUnanswered: Int
    /// Key-to-screen latency of the answered keys.
    public var keyLatency: KeyLatency
    /// The console's own part of ``keyLatency``: from the curses thread reading a key to it drawing the next frame
    /// (recorded by the console; the rest is tmux delivering the key and the capture seeing the frame).
    public var keyToDrawInConsole: KeyLatency?
    /// Median round trip of one `capture-pane -p` during the load: the resolution of each latency sample.
    public var pollOverheadMs: Double
    /// Median round trip of one `send-keys` during the load (included in each latency sample).
    public var sendKeysMs: Double
    /// The pause between two captures while waiting for a key
    /// (``ConsoleKeyBenchmarkOptions/pollIntervalMilliseconds``).
    public var pollIntervalMs: Double
    /// The idle window's measured length.
    public var idleSeconds: Double
    /// The console process's CPU (all threads, utime + stime) over the idle window, percent of one core.
    public var idleCPUPercent: Double
    /// Frames the console wrote to the terminal per second while idle.
    public var idleRedrawsPerSecond: Double
    /// The load window's measured length.
    public var loadSeconds: Double
    /// The console process's CPU over the load window (relay, engine, in-process sandbox and screen), % of one core.
    public var loadCPUPercent: Double
    /// Frames the console wrote to the terminal (curses `doupdate`) per second over the load window.
    public var redrawsPerSecond: Double
    /// Frames rendered per second over the load window (one per 50 ms tick at most, only when something changed).
    public var rendersPerSecond: Double
    /// Rendered frames that differed from the previous one, handed to the curses thread, per second; frames handed
    /// over faster than that thread draws are merged, so `redrawsPerSecond` ≤ this ≤ `rendersPerSecond`.
    public var presentsPerSecond: Double
    /// The events per second asked of the load generator.
    public var eventsPerSecondTarget: Int
    /// Events answered 200 by the relay (durably spooled) per second over the load window.
    public var eventsPerSecondAchieved: Double
    /// Events answered 200 during the whole load (warm-up included, requests cut short by the end excluded).
    public var eventsAccepted: Int
    /// Batches answered other than 200, or failed at the transport level (0 in a healthy run).
    public var refusedRequests: Int
    /// The first refusal's status and body, or transport error, if any.
    public var firstRefusal: String?
    /// How far behind its schedule the load generator sent its latest batch, at worst, milliseconds.
    public var generatorMaxLagMs: Double
    /// The CPU of the benchmark process itself (load generator, tmux control client) over the load window.
    public var benchCPUPercent: Double
    /// The tmux server's CPU over the load window (it parses the console's output and answers the captures).
    public var tmuxServerCPUPercent: Double?
    /// The machine's active processor count.
    public var cores: Int
}

/// Why the console benchmark could not run.
public struct ConsoleKeyBenchmarkError: Error, Sendable, CustomStringConvertible {
    /// What failed, with the console's stderr and the end of its log where they help.
    public let description: String
}

/// The console's responsiveness under load, from the real binary in a real terminal (tmux).
///
/// Opens `lago-console` on its embedded sandbox in a detached tmux session (its own server socket, 120×40,
/// `LANG=C.UTF-8`, `TERM=xterm-256color`, `--no-demo-traffic`) with its relay on a free loopback port, then:
/// - idle: the console process's CPU from `/proc/<pid>/stat` over `idleSeconds` with nothing happening;
/// - load: posts `eventsPerSecond` to the relay in paced batches from several keep-alive connections and, over the
///   measured window, sends keys with `tmux send-keys`, each switching pane (`2` Queue, `1` Events), timing each
///   until `capture-pane -p` shows the new pane's heading. tmux is driven through one control-mode client
///   (`tmux -C`), so a capture costs a round trip on a pipe, not a process start; its median is reported;
/// - redraws: the console writes its frame counts to `LAGO_CONSOLE_FRAME_STATS` (opt-in, every 250 ms), read at
///   both ends of each window.
///
/// Linux only (`/proc`); needs `tmux` on `PATH`. Every process it starts is ended, on success and on error. Waits
/// happen on dedicated threads, never on the concurrency pool.
public enum ConsoleKeyBenchmark {
    /// Runs the benchmark.
    /// - Throws: `TmuxError` when tmux cannot start; ``ConsoleKeyBenchmarkError`` when the console cannot start or
    ///   dies; the load generator's setup errors.
    public static func run(_ options: ConsoleKeyBenchmarkOptions) async throws -> ConsoleKeyBenchmarkResult {
        precondition(options.eventsPerSecond > 0 && options.batchSize > 0 && options.clients > 0, "nothing to post")
        precondition(options.keys > 0 && options.loadSeconds > 0, "nothing to measure")
        let temporary = FileManager.default.temporaryDirectory.appendingPathComponent(
            "lago-console-bench-\(UUID().uuidString)")
        let root = options.directory ?? temporary.path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let files = Files(root: root)
        let port = try freeLoopbackPort()
        try """
        [engine]
        spool_path = "\(files.root)/state/spool.sqlite"

        [relay]
        listen = "127.0.0.1:\(port)"
        control_listen = "127.0.0.1:0"
        """.write(toFile: files.config, atomically: true, encoding: .utf8)

        let id = UUID().uuidString.prefix(8).lowercased()
        let tmux = Tmux(socket: "lc-bench-\(id)", session: "console")
        let console = ConsoleProcess()
        do {
            try await onThread("tmux-start") {
                try tmux.startServer(
                    command: consoleCommand(options.binary, files: files), width: options.width,
                    height: options.height)
            }
            let result = try await measure(
                options, tmux: tmux, files: files, relayURL: "http://127.0.0.1:\(port)/api/v1/events/batch",
                console: console)
            await cleanUp(tmux, console: console.identity.withLock { $0 })
            return result
        } catch {
            await cleanUp(tmux, console: console.identity.withLock { $0 })
            throw error
        }
    }

    // MARK: The run

    struct Files: Sendable {
        let root: String
        var config: String { root + "/config.toml" }
        var frames: String { root + "/frames.json" }
        var log: String { root + "/console.log" }
        var stderr: String { root + "/console.stderr" }
    }

    /// The pane's shell command: `exec`, so the pane's process is the console itself.
    static func consoleCommand(_ binary: String, files: Files) -> String {
        let environment = [
            "LANG=C.UTF-8", "LC_ALL=C.UTF-8", "TERM=xterm-256color", "HOME=\(files.root)",
            "XDG_CONFIG_HOME=\(files.root)/config", "XDG_STATE_HOME=\(files.root)/state",
            "LAGO_CONSOLE_FRAME_STATS=\(files.frames)", "SWIFT_BACKTRACE=interactive=no",
        ]
        let arguments =
            [
                binary, "console", "--config", files.config, "--sandbox", "--no-demo-traffic", "--log-file",
                files.log,
            ]
        return "exec env -u LAGO_API_URL -u LAGO_API_KEY -u NO_COLOR "
            + (environment + arguments).map(shellQuote).joined(separator: " ") + " 2>"
            + shellQuote(files.stderr)
    }

    private static func measure(
        _ options: ConsoleKeyBenchmarkOptions, tmux: Tmux, files: Files, relayURL: String,
        console: ConsoleProcess
    ) async throws -> ConsoleKeyBenchmarkResult {
        let control: TmuxControl
        do {
            control = try await onThread("tmux-control") { try TmuxControl(tmux) }
        } catch {
            throw ConsoleKeyBenchmarkError(description: "the console did not start: \(error)\(consoleOutput(files))")
        }
        do {
            let result = try await measure(
                options, control: control, files: files, relayURL: relayURL, console: console)
            _ = try? await onThread("tmux-control") { control.close() }
            return result
        } catch {
            _ = try? await onThread("tmux-control") { control.close() }
            throw error
        }
    }

    private static func measure(
        _ options: ConsoleKeyBenchmarkOptions, control: TmuxControl, files: Files, relayURL: String,
        console: ConsoleProcess
    ) async throws -> ConsoleKeyBenchmarkResult {
        // The first screen: the Events pane.
        let first: String
        do {
            first = try await onThread("tmux-wait") {
                try control.waitForScreen(timeout: .seconds(options.startTimeoutSeconds)) {
                    $0.contains(Probe.eventsHeading)
                }
            }
        } catch {
            throw ConsoleKeyBenchmarkError(
                description: "the console did not draw: \(error)\(consoleOutput(files))")
        }
        guard first.contains(Probe.eventsHeading) else {
            throw ConsoleKeyBenchmarkError(
                description:
                    "the console did not show its Events pane; screen:\n\(first)\(consoleOutput(files))")
        }
        let pidText = try await onThread("tmux-control") {
            try control.command("display-message -p '#{pane_pid}'")
        }
        guard let pid = Int32(pidText.joined().trimmingCharacters(in: .whitespaces)),
            let identity = ProcessIdentity(pid: pid)
        else {
            throw ConsoleKeyBenchmarkError(description: "no console process in the pane (\(pidText))")
        }
        console.identity.withLock { $0 = identity }
        guard identity.command == "lago-console" else {
            throw ConsoleKeyBenchmarkError(
                description: "the pane runs \(identity.command), not lago-console")
        }
        let serverText = try await onThread("tmux-control") {
            try control.command("display-message -p '#{pid}'")
        }
        let serverPID = Int32(serverText.joined().trimmingCharacters(in: .whitespaces))

        // Idle: a second for the start-up to settle (sandbox seeding, first stats), then nothing happens.
        try await Task.sleep(for: .seconds(1))
        let idleStart = try Snapshot(
            console: pid, tmuxServer: serverPID, frames: files.frames, accepted: 0)
        try await Task.sleep(for: .seconds(options.idleSeconds))
        let idleEnd = try Snapshot(
            console: pid, tmuxServer: serverPID, frames: files.frames, accepted: 0)

        // Load: the generator runs until stopped (bounded by a deadline); keys go out over the measured window.
        let generator = LoadGenerator(
            url: relayURL, eventsPerSecond: options.eventsPerSecond, batchSize: options.batchSize,
            clients: options.clients,
            deadline: .now
                + .seconds(options.warmUpSeconds + options.loadSeconds + options.keyTimeoutSeconds + 30))
        return try await withThrowingTaskGroup(of: LoadGenerator.Outcome?.self) { group in
            group.addTask { try await generator.run() }
            do {
                try await Task.sleep(for: .seconds(options.warmUpSeconds))
                let loadStart = try Snapshot(
                    console: pid, tmuxServer: serverPID, frames: files.frames, accepted: generator.accepted)
                let probe = try await onThread("key-probe") {
                    try Probe.run(
                        control, keys: options.keys, over: .seconds(options.loadSeconds),
                        timeout: .seconds(options.keyTimeoutSeconds),
                        pollInterval: .milliseconds(options.pollIntervalMilliseconds))
                }
                let loadEnd = try Snapshot(
                    console: pid, tmuxServer: serverPID, frames: files.frames, accepted: generator.accepted)
                // Lanes asleep until their next batch wake up at once; a request cut short is not a refusal.
                generator.stop()
                group.cancelAll()
                var outcome: LoadGenerator.Outcome?
                for try await finished in group { outcome = outcome ?? finished }
                guard let outcome else {
                    throw ConsoleKeyBenchmarkError(description: "the load generator ended early")
                }
                guard ProcessIdentity(pid: pid) == identity else {
                    throw ConsoleKeyBenchmarkError(
                        description: "the console exited during the load\(consoleOutput(files))")
                }
                let load = loadEnd.since(loadStart)
                let idle = idleEnd.since(idleStart)
                return ConsoleKeyBenchmarkResult(
                    width: options.width, height: options.height, keysSent: probe.sent,
                    keysUnanswered: probe.unanswered, keyLatency: Probe.figures(probe.latencies),
                    keyToDrawInConsole: load.keyToDraw.isEmpty ? nil : Probe.figures(load.keyToDraw),
                    pollOverheadMs: BenchStatistics.median(probe.captureRoundTrips),
                    sendKeysMs: BenchStatistics.median(probe.sendRoundTrips),
                    pollIntervalMs: options.pollIntervalMilliseconds, idleSeconds: idle.seconds,
                    idleCPUPercent: idle.consoleCPUPercent, idleRedrawsPerSecond: idle.drawnPerSecond ?? 0,
                    loadSeconds: load.seconds, loadCPUPercent: load.consoleCPUPercent,
                    redrawsPerSecond: load.drawnPerSecond ?? 0, rendersPerSecond: load.renderedPerSecond ?? 0,
                    presentsPerSecond: load.presentedPerSecond ?? 0,
                    eventsPerSecondTarget: options.eventsPerSecond,
                    eventsPerSecondAchieved: load.acceptedPerSecond,
                    eventsAccepted: outcome.accepted, refusedRequests: outcome.refused,
                    firstRefusal: outcome.firstRefusal, generatorMaxLagMs: outcome.maxLagMilliseconds,
                    benchCPUPercent: load.benchCPUPercent, tmuxServerCPUPercent: load.tmuxServerCPUPercent,
                    cores: ProcessInfo.processInfo.activeProcessorCount)
            } catch {
                generator.stop()
                group.cancelAll()
                throw error
            }
        }
    }

    /// The console's stderr and the tail of its log, for an error message.
    static func consoleOutput(_ files: Files) -> String {
        let stderr = (try? String(contentsOfFile: files.stderr, encoding: .utf8)) ?? ""
        let log = ((try? String(contentsOfFile: files.log, encoding: .utf8)) ?? "").split(separator: "\n").suffix(10)
        var text = ""
        if !stderr.isEmpty { text += "\nconsole stderr:\n" + stderr }
        if !log.isEmpty { text += "\nconsole log (last lines):\n" + log.joined(separator: "\n") }
        return text
    }

    /// Ends the tmux server (the console gets SIGHUP and restores its terminal), waits up to 10 s for the console
    /// to exit, then kills it if it is still the same process.
    static func cleanUp(_ tmux: Tmux, console: ProcessIdentity?) async {
        _ = try? await onThread("tmux-stop") {
            tmux.killServer()
            guard let console else { return }
            let deadline = ContinuousClock.now + .seconds(10)
            while ContinuousClock.now < deadline, ProcessIdentity(pid: console.pid) == console {
                Thread.sleep(forTimeInterval: 0.05)
            }
            if ProcessIdentity(pid: console.pid) == console { kill(console.pid, SIGKILL) }
        }
    }

    // MARK: Figures

    /// CPU times and frame counts at one instant.
    struct Snapshot {
        var time: ContinuousClock.Instant
        var consoleTicks: Int
        var benchTicks: Int
        var tmuxServerTicks: Int?
        var frames: FrameStats?
        var accepted: Int

        init(console: Int32, tmuxServer: Int32?, frames: String, accepted: Int) throws {
            guard let ticks = cpuTicks(pid: console) else {
                throw ConsoleKeyBenchmarkError(description: "the console process \(console) is gone")
            }
            time = .now
            consoleTicks = ticks
            benchTicks = cpuTicks(pid: getpid()) ?? 0
            tmuxServerTicks = tmuxServer.flatMap { cpuTicks(pid: $0) }
            self.frames = (try? Data(contentsOf: URL(fileURLWithPath: frames)))
                .flatMap { try? JSONDecoder().decode(FrameStats.self, from: $0) }
            self.accepted = accepted
        }

        func since(_ start: Snapshot) -> Window {
            let seconds = (time - start.time) / .seconds(1)
            let tick = Double(sysconf(Int32(_SC_CLK_TCK)))
            func percent(_ ticks: Int) -> Double { Double(ticks) / tick / seconds * 100 }
            var window = Window(
                seconds: seconds, consoleCPUPercent: percent(consoleTicks - start.consoleTicks),
                benchCPUPercent: percent(benchTicks - start.benchTicks),
                acceptedPerSecond: Double(accepted - start.accepted) / seconds)
            if let end = tmuxServerTicks, let begin = start.tmuxServerTicks {
                window.tmuxServerCPUPercent = percent(end - begin)
            }
            // Rates over the console's own timestamps, whenever within 250 ms of the window's ends they were written.
            if let end = frames, let begin = start.frames, end.time > begin.time {
                window.drawnPerSecond = Double(end.drawn - begin.drawn) / (end.time - begin.time)
                window.renderedPerSecond = Double(end.rendered - begin.rendered) / (end.time - begin.time)
                window.presentedPerSecond =
                    Double(end.presented - begin.presented) / (end.time - begin.time)
                let all = end.keyToDrawMilliseconds ?? []
                let before = begin.keyToDrawMilliseconds?.count ?? 0
                if all.count > before { window.keyToDraw = Array(all[before...]) }
            }
            return window
        }
    }

    struct Window {
        var seconds: Double
        var consoleCPUPercent: Double
        var benchCPUPercent: Double
        var acceptedPerSecond: Double
        var tmuxServerCPUPercent: Double?
        var drawnPerSecond: Double?
        var renderedPerSecond: Double?
        var presentedPerSecond: Double?
        /// Key-read-to-frame-drawn samples the console recorded during the window.
        var keyToDraw: [Double] = []
    }

    /// What the console writes to `LAGO_CONSOLE_FRAME_STATS` (see `ConsoleSession.FrameStats`).
    struct FrameStats: Decodable {
        var pid: Int32
        var rendered: Int
        var presented: Int
        var drawn: Int
        var time: Double
        var keyToDrawMilliseconds: [Double]?
    }
}

// MARK: Keys

/// Sends keys and times them until the screen shows their effect.
enum Probe {
    static let eventsHeading = "┌ 1 Events"
    static let queueHeading = "┌ 2 Queue"

    struct Run: Sendable {
        var sent = 0
        var unanswered = 0
        var latencies: [Double] = []
        var captureRoundTrips: [Double] = []
        var sendRoundTrips: [Double] = []
    }

    /// Sends `keys` keys spread over `window` (one per slot, at a random point of its first half), alternately `2`
    /// and `1` (starting from the Events pane), each timed from just before its `send-keys` until a capture shows the
    /// pane it switches to. Blocks the calling thread until the window has passed.
    static func run(
        _ control: TmuxControl, keys: Int, over window: Duration, timeout: Duration,
        pollInterval: Duration
    ) throws -> Run {
        var run = Run()
        let start = ContinuousClock.now
        let spacing = window / keys
        for index in 0..<keys {
            // Keys at a fixed spacing would meet the console's 50 ms render tick at the same phase every time and
            // measure one point of the latency's range; a random offset within the first half of each slot samples
            // it all.
            let due = start + spacing * index + spacing * Double.random(in: 0..<0.5)
            if due > .now { Thread.sleep(forTimeInterval: (due - .now) / .seconds(1)) }
            let (key, expected, previous) =
                index % 2 == 0 ? ("2", queueHeading, eventsHeading) : ("1", eventsHeading, queueHeading)
            // The screen must show the other pane first, or an earlier key still pending would be timed as this one.
            let before = try control.waitForScreen(timeout: timeout) { $0.contains(previous) }
            guard before.contains(previous) else {
                throw ConsoleKeyBenchmarkError(
                    description: "the console does not show \(previous):\n\(before)")
            }
            let sent = ContinuousClock.now
            _ = try control.command("send-keys \(key)")
            run.sendRoundTrips.append((.now - sent) / .milliseconds(1))
            run.sent += 1
            var answered = false
            while ContinuousClock.now - sent < timeout {
                let asked = ContinuousClock.now
                let screen = try control.command("capture-pane -p").joined(separator: "\n")
                let answeredAt = ContinuousClock.now
                run.captureRoundTrips.append((answeredAt - asked) / .milliseconds(1))
                if screen.contains(expected) {
                    run.latencies.append((answeredAt - sent) / .milliseconds(1))
                    answered = true
                    break
                }
                Thread.sleep(forTimeInterval: pollInterval / .seconds(1))
            }
            if !answered { run.unanswered += 1 }
        }
        // The window lasts its full length whatever the last key took, so the rates cover what was asked.
        let end = start + window
        if end > .now { Thread.sleep(forTimeInterval: (end - .now) / .seconds(1)) }
        return run
    }

    static func figures(_ latencies: [Double]) -> ConsoleKeyBenchmarkResult.KeyLatency {
        let sorted = latencies.sorted()
        return ConsoleKeyBenchmarkResult.KeyLatency(
            p50Ms: BenchStatistics.percentile(sorted, 0.5),
            p95Ms: BenchStatistics.percentile(sorted, 0.95),
            p99Ms: BenchStatistics.percentile(sorted, 0.99), maxMs: sorted.last ?? 0,
            meanMs: sorted.isEmpty ? 0 : sorted.reduce(0, +) / Double(sorted.count), samples: sorted.count
        )
    }
}
