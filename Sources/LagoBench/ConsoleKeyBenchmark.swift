import AsyncHTTPClient
import Foundation
import LagoSandbox
import NIOCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Settings of ``ConsoleKeyBenchmark/run(_:)``.
public struct ConsoleKeyBenchmarkOptions: Sendable, Codable, Hashable {
    /// The `lago-console` binary opened as the console (a release build for meaningful figures).
    public var binary: String
    /// The tmux window, in cells.
    public var width = 120
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
        public var p50Ms: Double
        public var p95Ms: Double
        public var p99Ms: Double
        public var maxMs: Double
        public var meanMs: Double
        /// Keys answered within the timeout (the figures are over these).
        public var samples: Int
    }

    public var width: Int
    public var height: Int
    public var keysSent: Int
    /// Keys whose change did not show within `keyTimeoutSeconds` (0 in a healthy run).
    public var keysUnanswered: Int
    public var keyLatency: KeyLatency
    /// The console's own part of ``keyLatency``: from the curses thread reading a key to it drawing the next frame
    /// (recorded by the console; the rest is tmux delivering the key and the capture seeing the frame).
    public var keyToDrawInConsole: KeyLatency?
    /// Median round trip of one `capture-pane -p` during the load: the resolution of each latency sample.
    public var pollOverheadMs: Double
    /// Median round trip of one `send-keys` during the load (included in each latency sample).
    public var sendKeysMs: Double
    public var pollIntervalMs: Double
    public var idleSeconds: Double
    /// The console process's CPU (all threads, utime + stime) over the idle window, percent of one core.
    public var idleCPUPercent: Double
    /// Frames the console wrote to the terminal per second while idle.
    public var idleRedrawsPerSecond: Double
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
    public var eventsPerSecondTarget: Int
    /// Events answered 200 by the relay (durably spooled) per second over the load window.
    public var eventsPerSecondAchieved: Double
    /// Events answered 200 during the whole load (warm-up included, requests cut short by the end excluded).
    public var eventsAccepted: Int
    /// Batches answered other than 200, or failed at the transport level (0 in a healthy run).
    public var refusedRequests: Int
    public var firstRefusal: String?
    /// How far behind its schedule the load generator sent its latest batch, at worst, milliseconds.
    public var generatorMaxLagMs: Double
    /// The CPU of the benchmark process itself (load generator, tmux control client) over the load window.
    public var benchCPUPercent: Double
    /// The tmux server's CPU over the load window (it parses the console's output and answers the captures).
    public var tmuxServerCPUPercent: Double?
    public var cores: Int
}

/// Why the console benchmark could not run.
public struct ConsoleKeyBenchmarkError: Error, Sendable, CustomStringConvertible {
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
    /// - Throws: ``ConsoleKeyBenchmarkError`` when tmux or the console cannot start or the console dies; the
    ///   load generator's setup errors.
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
                    pollOverheadMs: median(probe.captureRoundTrips), sendKeysMs: median(probe.sendRoundTrips),
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
            let seconds = ConsoleKeyBenchmark.seconds(time - start.time)
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

    static func seconds(_ duration: Duration) -> Double {
        duration / .seconds(1)
    }

    static func milliseconds(_ duration: Duration) -> Double { seconds(duration) * 1000 }

    static func median(_ values: [Double]) -> Double { percentile(values.sorted(), 0.5) }

    /// The nearest-rank percentile of sorted values (0 when empty).
    static func percentile(_ sorted: [Double], _ fraction: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        let rank = Int((fraction * Double(sorted.count)).rounded(.up)) - 1
        return sorted[min(sorted.count - 1, max(0, rank))]
    }

    /// A process's CPU time so far, all threads, user + system, in clock ticks (`/proc/<pid>/stat` fields 14, 15).
    static func cpuTicks(pid: Int32) -> Int? {
        guard let fields = statFields(pid: pid), fields.count > 12, let user = Int(fields[11]),
            let system = Int(fields[12])
        else { return nil }
        return user + system
    }

    /// The fields of `/proc/<pid>/stat` after the command name, starting with the state (field 3).
    static func statFields(pid: Int32) -> [Substring]? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = text.lastIndex(of: ")")
        else { return nil }
        return text[text.index(after: close)...].split(separator: " ")
    }

    // MARK: Processes and threads

    /// Runs blocking work on a thread of its own, off the concurrency pool, and returns its result.
    ///
    /// SIGPIPE is blocked on that thread: a write to a tmux client that has gone (the session ended) then fails with
    /// EPIPE instead of killing the process; the pending signal is discarded when the thread ends.
    static func onThread<T: Sendable>(_ name: String, _ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                var pipeSignal = sigset_t()
                sigemptyset(&pipeSignal)
                sigaddset(&pipeSignal, SIGPIPE)
                pthread_sigmask(SIG_BLOCK, &pipeSignal, nil)
                continuation.resume(with: Result { try body() })
            }
            thread.name = name
            thread.start()
        }
    }

    /// A free TCP port on 127.0.0.1: bound to port 0, read, closed (another process could take it in between).
    static func freeLoopbackPort() throws -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else {
            throw ConsoleKeyBenchmarkError(description: "socket: errno \(errno)")
        }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(descriptor, pointer, length) == 0 && getsockname(descriptor, pointer, &length) == 0
            }
        }
        guard bound else {
            throw ConsoleKeyBenchmarkError(description: "bind 127.0.0.1:0: errno \(errno)")
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// The console's process, once known: the clean-up needs it whether the run succeeded or not.
final class ConsoleProcess: Sendable {
    let identity = Mutex<ProcessIdentity?>(nil)
}

/// A process known by its pid and its start time, so a recycled pid is never mistaken for it.
struct ProcessIdentity: Sendable, Hashable {
    var pid: Int32
    var startTime: String
    var command: String

    /// The process running as `pid` now; nil when there is none or it is a zombie.
    init?(pid: Int32) {
        guard let fields = ConsoleKeyBenchmark.statFields(pid: pid), fields.count > 19,
            fields[0] != "Z",
            let comm = try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)
        else { return nil }
        self.pid = pid
        startTime = String(fields[19])
        command = comm.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

func shellQuote(_ text: String) -> String {
    "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
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
            if due > .now { Thread.sleep(forTimeInterval: ConsoleKeyBenchmark.seconds(due - .now)) }
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
            run.sendRoundTrips.append(ConsoleKeyBenchmark.milliseconds(.now - sent))
            run.sent += 1
            var answered = false
            while ContinuousClock.now - sent < timeout {
                let asked = ContinuousClock.now
                let screen = try control.command("capture-pane -p").joined(separator: "\n")
                let answeredAt = ContinuousClock.now
                run.captureRoundTrips.append(ConsoleKeyBenchmark.milliseconds(answeredAt - asked))
                if screen.contains(expected) {
                    run.latencies.append(ConsoleKeyBenchmark.milliseconds(answeredAt - sent))
                    answered = true
                    break
                }
                Thread.sleep(forTimeInterval: ConsoleKeyBenchmark.seconds(pollInterval))
            }
            if !answered { run.unanswered += 1 }
        }
        // The window lasts its full length whatever the last key took, so the rates cover what was asked.
        let end = start + window
        if end > .now { Thread.sleep(forTimeInterval: ConsoleKeyBenchmark.seconds(end - .now)) }
        return run
    }

    static func figures(_ latencies: [Double]) -> ConsoleKeyBenchmarkResult.KeyLatency {
        let sorted = latencies.sorted()
        return ConsoleKeyBenchmarkResult.KeyLatency(
            p50Ms: ConsoleKeyBenchmark.percentile(sorted, 0.5),
            p95Ms: ConsoleKeyBenchmark.percentile(sorted, 0.95),
            p99Ms: ConsoleKeyBenchmark.percentile(sorted, 0.99), maxMs: sorted.last ?? 0,
            meanMs: sorted.isEmpty ? 0 : sorted.reduce(0, +) / Double(sorted.count), samples: sorted.count
        )
    }
}

// MARK: tmux

/// A tmux server of its own (`-L socket`, no config file) with one session.
struct Tmux: Sendable {
    let socket: String
    let session: String

    /// Starts the server with a detached `width` × `height` session running `command`. Blocks until tmux returns.
    func startServer(command: String, width: Int, height: Int) throws {
        let status = try spawnAndWait([
            "new-session", "-d", "-s", session, "-x", "\(width)", "-y", "\(height)", command,
        ])
        guard status == 0 else {
            throw ConsoleKeyBenchmarkError(
                description: "tmux new-session failed (status \(status)); is tmux installed?")
        }
    }

    /// Ends the server and everything in it, and removes its socket file (tmux leaves it behind). Blocks until tmux
    /// returns.
    func killServer() {
        _ = try? spawnAndWait(["kill-server"])
        let directory = ProcessInfo.processInfo.environment["TMUX_TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        try? FileManager.default.removeItem(atPath: "\(directory)/tmux-\(getuid())/\(socket)")
    }

    private func spawnAndWait(_ arguments: [String]) throws -> Int32 {
        let pid = try spawnTmux(socket: socket, arguments, standardInput: nil, standardOutput: nil)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        return status
    }
}

/// Starts `tmux -L socket -f /dev/null arguments…` through bash, which first closes every descriptor above 2: the
/// tmux server daemonizes from the first call and must hold none of this process's sockets or pipes. Standard
/// input and output go to the given descriptors, or to /dev/null; standard error to /dev/null.
///
/// The child starts with no signal blocked and every signal at its default action: a thread created from the
/// concurrency pool inherits the pool's mask, which blocks SIGTERM and SIGHUP, and a tmux server (and the console
/// in its pane) inheriting that would ignore `kill-server` and the hang-up that follows.
public func spawnTmux(
    socket: String, _ arguments: [String], standardInput: Int32? = nil, standardOutput: Int32? = nil
) throws -> Int32 {
    let closeInherited =
        #"for fd in /proc/$$/fd/*; do n=${fd##*/}; if [ "$n" -gt 2 ]; then eval "exec $n>&-"; fi; done 2>/dev/null; exec "$@""#
    let argv =
        ["bash", "-c", closeInherited, "tmux-spawn", "tmux", "-L", socket, "-f", "/dev/null"]
        + arguments
    var cArguments: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
    defer { cArguments.forEach { free($0) } }
    // A benchmark started from inside tmux must not make this server think it is nested.
    let environment = ProcessInfo.processInfo.environment.filter {
        $0.key != "TMUX" && $0.key != "TMUX_PANE"
    }
    var cEnvironment: [UnsafeMutablePointer<CChar>?] =
        environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer { cEnvironment.forEach { free($0) } }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    if let standardInput {
        posix_spawn_file_actions_adddup2(&actions, standardInput, 0)
    } else {
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    }
    if let standardOutput {
        posix_spawn_file_actions_adddup2(&actions, standardOutput, 1)
    } else {
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
    }
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var noSignals = sigset_t()
    sigemptyset(&noSignals)
    var defaultSignals = sigset_t()
    sigemptyset(&defaultSignals)
    for signal: Int32 in 1..<32 where signal != SIGKILL && signal != SIGSTOP {
        sigaddset(&defaultSignals, signal)
    }
    posix_spawnattr_setsigmask(&attributes, &noSignals)
    posix_spawnattr_setsigdefault(&attributes, &defaultSignals)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    var pid: pid_t = 0
    let result = posix_spawnp(&pid, "bash", &actions, &attributes, &cArguments, &cEnvironment)
    guard result == 0 else {
        throw ConsoleKeyBenchmarkError(description: "cannot start tmux: errno \(result)")
    }
    return pid
}

/// One tmux control-mode client (`tmux -C attach`) on the session: commands go down a pipe and their output comes
/// back framed by `%begin`/`%end`, a round trip far below a process start. Pane output notifications are turned
/// off (`refresh-client -f no-output`). Calls block the calling thread: use it from a dedicated one.
final class TmuxControl: Sendable {
    private struct Channel {
        var input: Int32
        var output: Int32
        var pid: pid_t
        var buffer: [UInt8] = []
        var closed = false
    }

    private let channel: Mutex<Channel>

    /// Attaches a control client to the session. Blocks until it answers.
    /// - Throws: when tmux cannot start or the session is gone.
    init(_ tmux: Tmux) throws {
        var toClient: [Int32] = [0, 0]
        var fromClient: [Int32] = [0, 0]
        // Close-on-exec, so no other child inherits them; the client gets its ends through dup2.
        guard pipe(&toClient) == 0, pipe(&fromClient) == 0 else {
            throw ConsoleKeyBenchmarkError(description: "pipe: errno \(errno)")
        }
        for descriptor in toClient + fromClient { _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC) }
        let pid: pid_t
        do {
            pid = try spawnTmux(
                socket: tmux.socket, ["-C", "attach-session", "-t", tmux.session],
                standardInput: toClient[0],
                standardOutput: fromClient[1])
        } catch {
            for descriptor in toClient + fromClient { Glibc.close(descriptor) }
            throw error
        }
        Glibc.close(toClient[0])
        Glibc.close(fromClient[1])
        channel = Mutex(Channel(input: toClient[1], output: fromClient[0], pid: pid))
        do {
            _ = try? command("refresh-client -f no-output")
            _ = try command("display-message -p ok")
        } catch {
            close()
            throw error
        }
    }

    /// Runs one tmux command (targets default to the attached session's pane) and returns its output lines.
    /// - Throws: when tmux answers `%error`, the client ends (the session is gone) or nothing comes within `timeout`.
    func command(_ line: String, timeout: Duration = .seconds(10)) throws -> [String] {
        try channel.withLock { channel in
            guard !channel.closed else {
                throw ConsoleKeyBenchmarkError(description: "tmux control client closed")
            }
            let bytes = Array((line + "\n").utf8)
            var written = 0
            while written < bytes.count {
                let count = bytes.withUnsafeBytes {
                    write(channel.input, $0.baseAddress! + written, $0.count - written)
                }
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else {
                    throw ConsoleKeyBenchmarkError(description: "tmux control client: write failed")
                }
                written += count
            }
            let deadline = ContinuousClock.now + timeout
            var block: [String]?
            while true {
                let text = try Self.readLine(&channel, deadline: deadline, command: line)
                if var lines = block {
                    if text.hasPrefix("%end ") || text.hasPrefix("%error ") {
                        // Only blocks flagged 1 answer this client's commands; others (the attach) are skipped.
                        guard text.split(separator: " ").last == "1" else {
                            block = nil
                            continue
                        }
                        if text.hasPrefix("%error ") {
                            throw ConsoleKeyBenchmarkError(
                                description: "tmux \(line): \(lines.joined(separator: " "))")
                        }
                        return lines
                    }
                    lines.append(text)
                    block = lines
                } else if text.hasPrefix("%begin ") {
                    block = []
                } else if text.hasPrefix("%exit") {
                    throw ConsoleKeyBenchmarkError(description: "tmux control client exited: \(text)")
                }
                // Anything else is a notification between blocks.
            }
        }
    }

    /// Captures the pane until `predicate` holds or `timeout` passes; returns the last screen either way.
    @discardableResult
    func waitForScreen(timeout: Duration, _ predicate: (String) -> Bool) throws -> String {
        let deadline = ContinuousClock.now + timeout
        var screen = ""
        repeat {
            screen = try command("capture-pane -p").joined(separator: "\n")
            if predicate(screen) { return screen }
            Thread.sleep(forTimeInterval: 0.02)
        } while ContinuousClock.now < deadline
        return screen
    }

    /// Detaches the client (end of its input) and reaps it, killing it if it lingers.
    func close() {
        channel.withLock { channel in
            guard !channel.closed else { return }
            channel.closed = true
            Glibc.close(channel.input)
            let deadline = ContinuousClock.now + .seconds(5)
            var status: Int32 = 0
            while waitpid(channel.pid, &status, WNOHANG) == 0 {
                if ContinuousClock.now > deadline {
                    kill(channel.pid, SIGKILL)
                    while waitpid(channel.pid, &status, 0) == -1 && errno == EINTR {}
                    break
                }
                Thread.sleep(forTimeInterval: 0.01)
            }
            Glibc.close(channel.output)
        }
    }

    private static func readLine(
        _ channel: inout Channel, deadline: ContinuousClock.Instant, command: String
    ) throws -> String {
        while true {
            if let newline = channel.buffer.firstIndex(of: UInt8(ascii: "\n")) {
                var line = channel.buffer[..<newline]
                if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
                let text = String(decoding: line, as: UTF8.self)
                channel.buffer.removeSubrange(...newline)
                return text
            }
            let remaining = deadline - .now
            guard remaining > .zero else {
                throw ConsoleKeyBenchmarkError(description: "tmux did not answer `\(command)` in time")
            }
            var descriptor = pollfd(fd: channel.output, events: Int16(POLLIN), revents: 0)
            let ready = poll(
                &descriptor, 1, Int32(max(1, ConsoleKeyBenchmark.milliseconds(remaining).rounded(.up))))
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else { continue }
            var chunk = [UInt8](repeating: 0, count: 65_536)
            let count = chunk.withUnsafeMutableBytes { read(channel.output, $0.baseAddress!, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else {
                throw ConsoleKeyBenchmarkError(
                    description: "the tmux session ended (while running `\(command)`)")
            }
            channel.buffer.append(contentsOf: chunk[..<count])
        }
    }
}

// MARK: Load

/// Posts batches to the relay on a fixed schedule (batch `i` due at `start + i × batchSize / eventsPerSecond`) from
/// several keep-alive clients until stopped or past its deadline; a batch behind schedule goes at once.
final class LoadGenerator: Sendable {
    struct Outcome: Sendable {
        var accepted: Int
        var refused: Int
        var firstRefusal: String?
        var maxLagMilliseconds: Double
    }

    let url: String
    let eventsPerSecond: Int
    let batchSize: Int
    let clients: Int
    let deadline: ContinuousClock.Instant
    private let stopped = Atomic<Bool>(false)
    private let nextBatch = Atomic<Int>(0)
    private let acceptedEvents = Atomic<Int>(0)
    private let refusedBatches = Atomic<Int>(0)
    private let firstRefusal = Mutex<String?>(nil)
    private let maxLag = Mutex<Duration>(.zero)
    private let runID = String(UUID().uuidString.prefix(8)).lowercased()

    init(
        url: String, eventsPerSecond: Int, batchSize: Int, clients: Int,
        deadline: ContinuousClock.Instant
    ) {
        self.url = url
        self.eventsPerSecond = eventsPerSecond
        self.batchSize = batchSize
        self.clients = clients
        self.deadline = deadline
    }

    /// Events answered 200 so far.
    var accepted: Int { acceptedEvents.load(ordering: .relaxed) }

    /// Stops after the requests in flight.
    func stop() { stopped.store(true, ordering: .relaxed) }

    /// Posts until ``stop()`` or the deadline, then shuts its clients down.
    func run() async throws -> Outcome {
        var configuration = HTTPClient.Configuration()
        configuration.httpVersion = .http1Only
        configuration.connectionPool = .init(
            idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 1)
        let httpClients = (0..<clients).map { _ in
            HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
        }
        let interval = Duration.seconds(Double(batchSize) / Double(eventsPerSecond))
        let start = ContinuousClock.now
        await withTaskGroup(of: Void.self) { group in
            for client in httpClients {
                group.addTask { await self.lane(client, start: start, interval: interval) }
            }
        }
        for client in httpClients { try? await client.shutdown() }
        return Outcome(
            accepted: accepted, refused: refusedBatches.load(ordering: .relaxed),
            firstRefusal: firstRefusal.withLock { $0 },
            maxLagMilliseconds: ConsoleKeyBenchmark.milliseconds(maxLag.withLock { $0 }))
    }

    private func lane(_ client: HTTPClient, start: ContinuousClock.Instant, interval: Duration) async {
        while !stopped.load(ordering: .relaxed) && !Task.isCancelled {
            let index = nextBatch.wrappingAdd(1, ordering: .relaxed).oldValue
            let due = start + interval * index
            guard due < deadline else { return }
            if due > .now {
                do { try await Task.sleep(until: due, clock: .continuous) } catch { return }
                if stopped.load(ordering: .relaxed) { return }
            }
            let lag = ContinuousClock.now - due
            maxLag.withLock { $0 = max($0, lag) }
            var request = HTTPClientRequest(url: url)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.headers.add(name: "Authorization", value: "Bearer bench")
            request.body = .bytes(ByteBuffer(string: body(batch: index)))
            do {
                let response = try await client.execute(request, timeout: .seconds(30))
                let answer = try await response.body.collect(upTo: 1 << 20)
                if response.status.code == 200 {
                    acceptedEvents.add(batchSize, ordering: .relaxed)
                } else {
                    refuse("\(response.status.code) \(String(buffer: answer))")
                }
            } catch  where !stopped.load(ordering: .relaxed) {
                refuse("\(error)")
            } catch {
                return
            }
        }
    }

    private func refuse(_ reason: String) {
        refusedBatches.add(1, ordering: .relaxed)
        firstRefusal.withLock { $0 = $0 ?? reason }
    }

    /// A batch of canonical input-token events for the sandbox's seeded subscription, unique transaction ids.
    func body(batch: Int) -> String {
        var text = #"{"events":["#
        text.reserveCapacity(batchSize * 160)
        for offset in 0..<batchSize {
            let number = batch * batchSize + offset
            if offset > 0 { text += "," }
            text +=
                #"{"transaction_id":"console-bench-\#(runID)-\#(number)","#
                + #""external_subscription_id":"\#(SandboxSeed.subscriptionExternalID)","#
            text += #""code":"llm_input_tokens","properties":{"value":"\#(number % 4000 + 1)"}}"#
        }
        return text + "]}"
    }
}
