import Foundation
import LagoSandbox
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The `lago-console` binary built beside the test bundle, if it has the hidden `_engine-child` command.
enum EngineChild {
    static let binary: URL = {
        let here = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        var directory = here
        // The test bundle may be a directory (`…xctest/`) or an executable beside `lago-console`.
        for _ in 0..<4 {
            let candidate = directory.appendingPathComponent("lago-console")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        return here.appendingPathComponent("lago-console")
    }()

    static let isAvailable: Bool = {
        guard FileManager.default.isExecutableFile(atPath: binary.path) else { return false }
        let process = Process()
        process.executableURL = binary
        process.arguments = ["_engine-child", "--help"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return false }
        process.waitUntilExit()
        return process.terminationStatus == 0
    }()
}

/// A running child whose stdout lines are collected as they arrive.
///
/// `@unchecked Sendable`: `Process` is not marked `Sendable`, but after `run()` it is only asked for its pid,
/// `isRunning` and `terminationStatus`, which Foundation guards internally; the collected lines live in a `Mutex`.
final class ChildProcess: @unchecked Sendable {
    private let process: Process
    private let lines = Mutex<[String]>([])
    private let finished = Mutex(false)

    init(arguments: [String]) throws {
        let process = Process()
        process.executableURL = EngineChild.binary
        process.arguments = arguments
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
}

@Suite(.serialized) struct CrashTests {
    /// SIGKILL at several moments (before the first ack, right after one, mid-stream, mid-flush), then the child runs
    /// again on the same spool until it is empty: every acknowledged event is at Lago exactly once, and no event
    /// twice.
    @Test(.enabled(if: EngineChild.isAvailable, "lago-console has no _engine-child command (register EngineChildCommand)"))
    func killNineLosesNoAcknowledgedEvent() async throws {
        let directory = try TemporaryDirectory()
        let spool = directory.file("spool.sqlite")
        try await Sandbox.withRunning { sandbox in
            sandbox.faults.latency(.milliseconds(5))
            let base = ["_engine-child", "--spool", spool, "--url", sandbox.baseURL.absoluteString, "--key", sandbox.apiKey]
            var acknowledged: [String] = []
            // (acks to wait for before the kill; -1: kill once the flush has begun)
            let moments = [0, 1, 137, 350, -1]
            for (round, moment) in moments.enumerated() {
                if round == 3 { sandbox.faults.ackLoss(next: 4, mode: .dropConnection) }
                let child = try ChildProcess(arguments: base + ["--count", "400", "--prefix", "r\(round)"])
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
            }
            sandbox.faults.clear()
            var drained = false
            for _ in 0..<5 where !drained {
                let child = try ChildProcess(arguments: base + ["--count", "0"])
                await child.wait()
                drained = child.exitStatus == 0 && child.output.last?.contains("pending=0") == true
            }
            #expect(drained)
            #expect(acknowledged.count >= 1 + 137 + 350 + 400)
            expectExactlyOnce(sandbox, acknowledged)
            let stored = sandbox.events().map(\.transactionID)
            #expect(Set(stored).count == stored.count, "no event is stored twice")
        }
    }
}
