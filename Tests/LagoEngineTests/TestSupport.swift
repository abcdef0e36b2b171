import Foundation
import LagoAPI
import LagoEngine
import LagoSandbox
import Synchronization
import Testing

/// A temporary directory removed when the test ends.
struct TemporaryDirectory: ~Copyable {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory
            .appendingPathComponent("lago-engine-tests-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> String { path + "/" + name }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// Engine settings for tests: short intervals so faults resolve in milliseconds.
func testConfiguration(spoolPath: String) -> EngineConfiguration {
    EngineConfiguration(
        spoolPath: spoolPath, flushInterval: .milliseconds(20), maxInFlight: 4, requestTimeout: .seconds(5),
        retryBase: .milliseconds(20), maxRetryBackoff: .milliseconds(200), probeInterval: .milliseconds(100),
        defaultSubscription: SandboxSeed.subscriptionExternalID)
}

func makeEngine(
    _ configuration: EngineConfiguration, sandbox: Sandbox, apiKey: String? = nil, seed: UInt64 = 1,
    clock: any EngineClock = SystemEngineClock()
) throws -> LagoEngine {
    try LagoEngine(
        configuration: configuration, baseURL: LagoBaseURL(sandbox.baseURL.absoluteString),
        apiKey: apiKey ?? sandbox.apiKey, clock: clock, random: SplitMix64(seed: seed))
}

func event(_ index: Int, prefix: String = "ev", code: String = "llm_input_tokens") -> EventInput {
    EventInput(
        transactionID: "\(prefix)-\(index)", externalSubscriptionID: SandboxSeed.subscriptionExternalID, code: code,
        properties: ["value": .integer(Int64(index % 1000 + 1))])
}

/// Enqueues `count` events from `producers` concurrent tasks; returns the transaction ids.
func enqueueConcurrently(_ engine: LagoEngine, count: Int, producers: Int = 8, prefix: String = "ev") async throws -> [String] {
    try await withThrowingTaskGroup(of: [String].self) { group in
        for producer in 0..<producers {
            group.addTask {
                var ids: [String] = []
                for index in stride(from: producer, to: count, by: producers) {
                    ids.append(try await engine.enqueue(event(index, prefix: prefix)))
                }
                return ids
            }
        }
        var all: [String] = []
        for try await ids in group { all += ids }
        return all
    }
}

/// Checks that the sandbox holds each id exactly once.
func expectExactlyOnce(_ sandbox: Sandbox, _ ids: [String], sourceLocation: SourceLocation = #_sourceLocation) {
    let stored = sandbox.events().map(\.transactionID)
    var counts: [String: Int] = [:]
    for id in stored { counts[id, default: 0] += 1 }
    let missing = ids.filter { counts[$0] == nil }
    let duplicated = counts.filter { $0.value > 1 }
    #expect(missing.isEmpty, "missing \(missing.count), e.g. \(missing.prefix(3))", sourceLocation: sourceLocation)
    #expect(duplicated.isEmpty, "duplicated \(duplicated.count)", sourceLocation: sourceLocation)
}

/// A clock that moves only when the test says: the engine's flush interval, backoffs, probes and hold probes wait
/// for ``advance(by:)``, so a test proves that nothing happens before an instant without sleeping.
final class ManualEngineClock: EngineClock {
    private struct Sleeper {
        var deadline: ContinuousClock.Instant
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var now: ContinuousClock.Instant
        var wall: Date
        var sleepers: [Int: Sleeper] = [:]
        var nextID = 0
    }

    private let state: Mutex<State>

    init(wall: Date = Date(timeIntervalSince1970: 1_764_000_000)) {
        state = Mutex(State(now: ContinuousClock.now, wall: wall))
    }

    func now() -> ContinuousClock.Instant { state.withLock { $0.now } }
    func wallNow() -> Date { state.withLock { $0.wall } }

    /// Moves both clocks on and wakes every sleeper whose deadline has come.
    func advance(by duration: Duration) {
        let due: [CheckedContinuation<Void, any Error>] = state.withLock { state in
            state.now += duration
            state.wall += duration / .seconds(1)
            let now = state.now
            let ids = state.sleepers.filter { $0.value.deadline <= now }.map(\.key)
            return ids.compactMap { state.sleepers.removeValue(forKey: $0)?.continuation }
        }
        for continuation in due { continuation.resume() }
    }

    /// The earliest instant a sleeper waits for, if any sleeps.
    var nextDeadline: ContinuousClock.Instant? {
        state.withLock { $0.sleepers.values.map(\.deadline).min() }
    }

    func sleep(until deadline: ContinuousClock.Instant) async throws {
        let id = state.withLock { state in
            defer { state.nextID += 1 }
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let resumeNow: Bool = state.withLock { state in
                    if deadline <= state.now { return true }
                    if Task.isCancelled {
                        continuation.resume(throwing: CancellationError())
                        return false
                    }
                    state.sleepers[id] = Sleeper(deadline: deadline, continuation: continuation)
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let cancelled = state.withLock { $0.sleepers.removeValue(forKey: id)?.continuation }
            cancelled?.resume(throwing: CancellationError())
        }
    }
}
