import Foundation
import LagoAPI
import LagoEngine
import LagoSandbox
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
    _ configuration: EngineConfiguration, sandbox: Sandbox, apiKey: String? = nil, seed: UInt64 = 1
) throws -> LagoEngine {
    try LagoEngine(
        configuration: configuration, baseURL: LagoBaseURL(sandbox.baseURL.absoluteString),
        apiKey: apiKey ?? sandbox.apiKey, random: SplitMix64(seed: seed))
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
