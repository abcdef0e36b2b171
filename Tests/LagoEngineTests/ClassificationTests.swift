import Foundation
import LagoAPI
import LagoEngine
import LagoSandbox
import TestSupport
import Testing

/// Answers from something in front of Lago (a proxy's 400 or 413, a 404 from a wrong route) must never turn valid
/// events into dead letters; real faults of the sandbox, nothing mocked.
@Suite(.serialized) struct ClassificationTests {
    private func configuration(_ directory: borrowing TemporaryDirectory) -> EngineConfiguration {
        var configuration = testConfiguration(spoolPath: directory.file("spool.sqlite"))
        configuration.holdProbeInterval = .milliseconds(200)
        return configuration
    }

    @Test(arguments: [400, 413, 404])
    func aTransientProxyErrorDeadLettersNothing(status: Int) async throws {
        let directory = try TemporaryDirectory()
        try await Sandbox.withRunning { sandbox in
            sandbox.faults.proxyFailNext(3, status: status, pathPrefix: "/api/v1/events")
            let engine = try makeEngine(configuration(directory), sandbox: sandbox)
            engine.start()
            let ids = try await enqueueConcurrently(engine, count: 300, producers: 2)
            var result = await engine.flush(deadline: .seconds(20))
            // A 404 holds sending (flush returns at once); the probe resumes it by itself.
            if status == 404 {
                #expect(await eventually { await engine.stats().pending == 0 })
                result = await engine.flush(deadline: .seconds(20))
            }
            let stats = await engine.stats()
            #expect(result.pending == 0 && stats.dead == 0, "\(stats)")
            #expect(sandbox.stats().requests(status: status) == 3)
            expectExactlyOnce(sandbox, ids)
            await engine.shutdown()
        }
    }

    @Test func anEventTooLargeAloneIsDeadLetteredTooLargeAndTheRestDelivered() async throws {
        let directory = try TemporaryDirectory()
        try await Sandbox.withRunning { sandbox in
            // The proxy refuses every request for a while: the batch is halved down to single events, and only
            // an event refused on its own is dead; once the proxy lets requests through, the rest is delivered.
            sandbox.faults.proxyFailNext(15, status: 413, pathPrefix: "/api/v1/events")
            var configuration = configuration(directory)
            configuration.maxInFlight = 1
            let engine = try makeEngine(configuration, sandbox: sandbox)
            engine.start()
            let ids = try await engine.enqueue((0..<8).map { event($0, prefix: "big") })
            let result = await engine.flush(deadline: .seconds(20))
            let dead = try await engine.deadLetters()
            #expect(result.pending == 0)
            #expect(dead.allSatisfy { $0.reason.kind == .tooLarge }, "\(dead.map(\.reason))")
            #expect(dead.count + sandbox.storedEventCount == 8)
            #expect(!dead.isEmpty, "15 refusals reach single events")
            expectExactlyOnce(sandbox, ids.filter { id in !dead.contains { $0.transactionID == id } })
            await engine.shutdown()
        }
    }

    @Test func anAuthHoldResumesByItselfWhenTheKeyWorksAgain() async throws {
        let directory = try TemporaryDirectory()
        try await Sandbox.withRunning { sandbox in
            let key = sandbox.apiKey
            let engine = try makeEngine(configuration(directory), sandbox: sandbox)
            engine.start()
            sandbox.setAPIKeys(["another-key"])  // the key is revoked in Lago
            let ids = try await enqueueConcurrently(engine, count: 200, producers: 2)
            #expect(await eventually { await engine.stats().state == .authFailed })
            #expect(await engine.stats().holdReason?.contains("401") == true)
            sandbox.setAPIKeys([key])  // … and restored: nobody touches the console
            #expect(await eventually { await engine.stats().pending == 0 })
            #expect(await engine.stats().state == .running)
            expectExactlyOnce(sandbox, ids)
            await engine.shutdown()
        }
    }

    @Test func aWrongURLIsHeldAsSuchNotAsAuth() async throws {
        let directory = try TemporaryDirectory()
        try await Sandbox.withRunning { sandbox in
            let engine = try LagoEngine(
                configuration: configuration(directory),
                baseURL: LagoBaseURL(sandbox.rootURL.absoluteString + "/not-lago/api/v1"), apiKey: sandbox.apiKey)
            engine.start()
            try await engine.enqueue(event(1))
            #expect(await eventually { await engine.stats().state == .wrongURL })
            let stats = await engine.stats()
            #expect(stats.dead == 0 && stats.pending == 1)
            #expect(stats.holdReason?.contains("lago.api_url") == true)
            await engine.shutdown()
        }
    }
}
