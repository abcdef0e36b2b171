import ConsoleBridge
import ConsoleUI
import Foundation
import LagoAPI
import LagoConfig
import LagoUsage
import LagoEngine
import LagoSandbox
import Synchronization
import Testing

@Suite("Effects run against the engine, Lago and the config store, answering with their request's id")
struct EffectRunnerTests {
    final class Posted: Sendable {
        let events = Mutex<[ConsoleEvent]>([])
        func post(_ event: ConsoleEvent) { events.withLock { $0.append(event) } }
        var all: [ConsoleEvent] { events.withLock { $0 } }
    }

    func withRunner(
        _ body: (EffectRunner, LagoEngine) async throws -> Void
    ) async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("runner-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let store = try ConfigStore(path: folder.appendingPathComponent("config.toml").path, environment: [:])
        try await Sandbox.withRunning(SandboxOptions()) { sandbox in
            let clientConfiguration = LagoClientConfiguration(
                baseURL: try LagoBaseURL(sandbox.baseURL.absoluteString), apiKey: sandbox.apiKey)
            try await withLagoClient(configuration: clientConfiguration) { client in
                var configuration = EngineConfiguration(spoolPath: folder.appendingPathComponent("spool.sqlite").path)
                configuration.defaultSubscription = SandboxSeed.subscriptionExternalID
                let engine = try LagoEngine(configuration: configuration, client: client)
                let runner = EffectRunner(
                    engine: engine, client: client, store: store,
                    coding: UsageCoding(metricCodes: [:], defaultSubscription: SandboxSeed.subscriptionExternalID),
                    copy: { "copied \($0.count) characters" })
                do {
                    try await body(runner, engine)
                } catch {
                    await engine.shutdown()
                    throw error
                }
                await engine.shutdown()
            }
        }
    }

    @Test("A subscription Lago does not know fails its own request, with Lago's status and code")
    func typedFailure() async throws {
        try await withRunner { runner, _ in
            let posted = Posted()
            let id = RequestID(7)
            await runner.run(EffectRequest(id: id, effect: .saveDefaultSubscription("sub_nope")), post: posted.post)
            guard case .operationFailed(let failed, let error)? = posted.all.first, posted.all.count == 1 else {
                Issue.record("unexpected \(posted.all)")
                return
            }
            #expect(failed == id)
            #expect(error.status == 404)
            #expect(error.code != nil)
            #expect(error.message.hasPrefix("subscription sub_nope does not exist in Lago"))
        }
    }

    @Test("The flush before quitting reports what is left, then finishes")
    func quitFlush() async throws {
        try await withRunner { runner, engine in
            _ = try await engine.enqueue(UsageRecord(values: [.input: 5, .output: 2]))
            engine.start()
            let posted = Posted()
            await runner.run(EffectRequest(id: RequestID(1), effect: .quit(flushFirst: true)), post: posted.post)
            let events = posted.all
            #expect(events.contains { if case .quitFlushProgress = $0 { true } else { false } })
            guard case .quitFlushFinished(let summary)? = events.last else {
                Issue.record("unexpected \(events)")
                return
            }
            #expect(summary.pending == 0)
            #expect(summary.delivered == 2)
        }
    }

    @Test("Copy and retry answer with their own id")
    func succeeded() async throws {
        try await withRunner { runner, _ in
            let posted = Posted()
            await runner.run(EffectRequest(id: RequestID(3), effect: .copy("hello")), post: posted.post)
            guard case .operationSucceeded(let id, let text)? = posted.all.first else {
                Issue.record("unexpected \(posted.all)")
                return
            }
            #expect(id == RequestID(3))
            #expect(text == "copied 5 characters")
        }
    }
}
