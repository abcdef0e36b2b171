import Foundation
import LagoAPI
import LagoEngine
import LagoSandbox
import Synchronization
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The `lago-console` binary built beside the test bundle, if it has the hidden `_engine-child` command.
enum EngineChild {
    static let binary: URL = {
        if let path = try? lagoConsoleBinary() { return URL(fileURLWithPath: path) }
        // Not built: `isAvailable` says so and the children run from this test bundle instead.
        return URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .appendingPathComponent("lago-console")
    }()

    static let isAvailable: Bool = {
        guard FileManager.default.isExecutableFile(atPath: binary.path) else { return false }
        let process = Process()
        process.executableURL = binary
        process.arguments = ["_engine-child", "--help"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return false }
        let help = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        // An unregistered subcommand prints the root command's help instead.
        return process.terminationStatus == 0 && help.contains("_engine-child") && help.contains("--spool")
    }()

    /// Starts a child: `lago-console _engine-child …` when the binary has the command, else this test bundle
    /// re-executed to run only ``EngineChildEntryPoint`` (same engine code, a separate process all the same).
    static func launch(spool: String, url: String, key: String, count: Int, prefix: String) throws -> ChildProcess {
        if isAvailable {
            return try ChildProcess(
                executable: binary,
                arguments: [
                    "_engine-child", "--spool", spool, "--url", url, "--key", key, "--count", "\(count)", "--prefix", prefix,
                ])
        }
        return try ChildProcess(
            executable: URL(fileURLWithPath: CommandLine.arguments[0]),
            arguments: ["--testing-library", "swift-testing", "--filter", "engineChildEntryPoint"],
            environment: [
                "LAGO_ENGINE_CHILD_SPOOL": spool, "LAGO_ENGINE_CHILD_URL": url, "LAGO_ENGINE_CHILD_KEY": key,
                "LAGO_ENGINE_CHILD_COUNT": "\(count)", "LAGO_ENGINE_CHILD_PREFIX": prefix,
            ])
    }
}

/// The child's work when the test bundle itself plays the child (see ``EngineChild/launch(spool:url:key:count:prefix:)``);
/// the same steps as `EngineChildCommand`.
@Suite struct EngineChildEntryPoint {
    static let environment = ProcessInfo.processInfo.environment

    @Test(.enabled(if: environment["LAGO_ENGINE_CHILD_SPOOL"] != nil, "runs only as a crash-test child"))
    func engineChildEntryPoint() async throws {
        let environment = Self.environment
        var configuration = EngineConfiguration(spoolPath: environment["LAGO_ENGINE_CHILD_SPOOL"]!)
        configuration.flushInterval = .milliseconds(5)
        configuration.retryBase = .milliseconds(20)
        configuration.maxRetryBackoff = .milliseconds(200)
        configuration.probeInterval = .milliseconds(100)
        configuration.requestTimeout = .seconds(5)
        let engine = try LagoEngine(
            configuration: configuration, baseURL: LagoBaseURL(environment["LAGO_ENGINE_CHILD_URL"]!),
            apiKey: environment["LAGO_ENGINE_CHILD_KEY"]!)
        engine.start()
        let prefix = environment["LAGO_ENGINE_CHILD_PREFIX"] ?? "child"
        let output = FileHandle.standardOutput
        for index in 0..<(Int(environment["LAGO_ENGINE_CHILD_COUNT"] ?? "0") ?? 0) {
            let id = try await engine.enqueue(
                EventInput(
                    transactionID: "\(prefix)-\(index)", externalSubscriptionID: SandboxSeed.subscriptionExternalID,
                    code: "llm_input_tokens", properties: ["value": .integer(Int64(index + 1))]))
            output.write(Data("ack \(id)\n".utf8))
        }
        let result = await engine.flush(deadline: .seconds(60))
        await engine.shutdown()
        output.write(Data("done delivered=\(result.delivered) pending=\(result.pending) dead=\(result.dead)\n".utf8))
        #expect(result.pending == 0)
    }
}

/// A running child whose stdout lines are collected as they arrive.
///
/// `@unchecked Sendable`: `Process` is not marked `Sendable`, but after `run()` it is only asked for its pid,
/// `isRunning` and `terminationStatus`, which Foundation guards internally; the collected lines live in a `Mutex`.
final class ChildProcess: @unchecked Sendable {
    private let process: Process
    private let lines = Mutex<[String]>([])
    private let finished = Mutex(false)

    init(executable: URL, arguments: [String], environment: [String: String] = [:]) throws {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        self.process = process
        try process.run()
        let handle = pipe.fileHandleForReading
        let thread = Thread { [self] in
            var pending = Data()
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                pending.append(chunk)
                while let newline = pending.firstIndex(of: 0x0A) {
                    let line = String(decoding: pending[pending.startIndex..<newline], as: UTF8.self)
                    pending.removeSubrange(pending.startIndex...newline)
                    self.lines.withLock { $0.append(line) }
                }
            }
            self.finished.withLock { $0 = true }
        }
        thread.start()
    }

    var output: [String] { lines.withLock { $0 } }
    var acknowledged: [String] { output.compactMap { $0.hasPrefix("ack ") ? String($0.dropFirst(4)) : nil } }
    var isFinished: Bool { finished.withLock { $0 } }

    func killHard() {
        kill(process.processIdentifier, SIGKILL)
    }

    /// Waits for the process to exit and its output to be read.
    func wait() async {
        _ = await eventually(timeout: .seconds(90)) { self.isFinished && !self.process.isRunning }
    }

    var exitStatus: Int32 { process.terminationStatus }

    /// True when the process died of a signal (the SIGKILL landed before it finished).
    var wasKilled: Bool { process.terminationReason == .uncaughtSignal }
}

@Suite(.serialized) struct CrashTests {
    /// SIGKILL at several moments (before the first ack, right after one, mid-stream, mid-flush), then the child runs
    /// again on the same spool until it is empty: every acknowledged event is at Lago exactly once, and no event
    /// twice.
    @Test(.disabled(if: EngineChildEntryPoint.environment["LAGO_ENGINE_CHILD_SPOOL"] != nil))
    func killNineLosesNoAcknowledgedEvent() async throws {
        let directory = try TemporaryDirectory()
        let spool = directory.file("spool.sqlite")
        try await Sandbox.withRunning { sandbox in
            sandbox.faults.latency(.milliseconds(5))
            let url = sandbox.baseURL.absoluteString
            var acknowledged: [String] = []
            var killedMidway = 0
            // (acks to wait for before the kill; -1: kill once the flush has begun)
            let moments = [0, 1, 137, 350, -1]
            for (round, moment) in moments.enumerated() {
                if round == 3 { sandbox.faults.ackLoss(next: 4, mode: .dropConnection) }
                let child = try EngineChild.launch(
                    spool: spool, url: url, key: sandbox.apiKey, count: 400, prefix: "r\(round)")
                switch moment {
                case 0:
                    try await Task.sleep(for: .milliseconds(30))  // the process starts, opens the spool, maybe enqueues
                case -1:
                    _ = await eventually(timeout: .seconds(60)) { child.acknowledged.count >= 400 || child.isFinished }
                default:
                    _ = await eventually(timeout: .seconds(60)) { child.acknowledged.count >= moment || child.isFinished }
                }
                child.killHard()
                await child.wait()
                acknowledged += child.acknowledged
                killedMidway += child.wasKilled ? 1 : 0
                print("crash round \(round): killed=\(child.wasKilled) acks=\(child.acknowledged.count) stored=\(sandbox.storedEventCount)")
            }
            sandbox.faults.clear()
            var drained = false
            for _ in 0..<5 where !drained {
                let child = try EngineChild.launch(spool: spool, url: url, key: sandbox.apiKey, count: 0, prefix: "drain")
                await child.wait()
                drained = child.exitStatus == 0 && child.output.contains { $0.hasPrefix("done") && $0.contains("pending=0") }
            }
            #expect(drained)
            #expect(killedMidway >= 4, "the kills must land before the children finish")
            #expect(acknowledged.count >= 1 + 137 + 350 + 400)
            expectExactlyOnce(sandbox, acknowledged)
            let stored = sandbox.events().map(\.transactionID)
            #expect(Set(stored).count == stored.count, "no event is stored twice")
        }
    }
}
