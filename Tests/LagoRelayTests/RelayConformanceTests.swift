import Foundation
import IngestConformance
import LagoAPI
import LagoEngine
import LagoRelay
import LagoSandbox
import Logging
import Testing

/// A relay in front of an engine delivering to a sandbox ("Lago behind the relay"), for conformance and
/// connection-level tests.
struct RelayStack: Sendable {
    /// `http://127.0.0.1:PORT/api/v1`.
    let relayURL: URL
    let sandbox: Sandbox
    let engine: LagoEngine

    var port: Int { relayURL.port ?? 0 }

    /// A client of the relay presenting ``testAPIKey``.
    var client: TestClient {
        TestClient(root: URL(string: "http://127.0.0.1:\(port)")!, apiKey: testAPIKey)
    }

    /// The relay as a target of the shared ingestion cases. "Stored" means stored in the Lago behind the relay,
    /// read after the engine has flushed: an accepted event must get there intact, a refused one never.
    var target: IngestTarget {
        let engine = engine
        let sandbox = sandbox
        let lago = TestClient(root: sandbox.rootURL, apiKey: sandbox.apiKey)
        return IngestTarget(
            kind: .relay, client: client, answersLagoID: false, createdAt: .null,
            receptionTimestamp: "2026-01-15T10:00:00.000Z",
            storedEventCount: {
                _ = await engine.flush(deadline: .seconds(10))
                return sandbox.storedEventCount
            },
            storedEvent: { transactionID in
                _ = await engine.flush(deadline: .seconds(10))
                let encoded = transactionID.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
                let response = try await lago.get("/api/v1/events/\(encoded)")
                return response.status == 200 ? response.json["event"] : nil
            }
        )
    }
}

private let quietLogger = Logger(label: "lago.relay.tests") { _ in SwiftLogNoOpLogHandler() }

/// Runs a sandbox, an engine with a spool in a temporary directory delivering to it, and a relay (token
/// ``testAPIKey``, clock fixed at ``fixedNow``, no default subscription) in front of the engine.
func withRelayStack(
    idleTimeout: Duration = .seconds(30), maxBodyBytes: Int = 1 << 20,
    bodyBudgetBytes: Int? = nil,
    _ body: @Sendable (RelayStack) async throws -> Void
) async throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("relay-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    try await Sandbox.withRunning(SandboxOptions(port: 0, now: { fixedNow }), logger: quietLogger) { sandbox in
        var configuration = EngineConfiguration(spoolPath: directory.appendingPathComponent("spool.sqlite").path)
        configuration.flushInterval = .milliseconds(20)
        let engine = try LagoEngine(
            configuration: configuration, baseURL: try LagoBaseURL(sandbox.baseURL.absoluteString),
            apiKey: sandbox.apiKey)
        engine.start()
        // No default subscription: the relay's one addition to Lago is tested in `RelayTests`; here it must answer
        // exactly as Lago does.
        let options = RelayOptions(
            host: "127.0.0.1", port: 0, token: testAPIKey, maxBodyBytes: maxBodyBytes,
            bodyBudgetBytes: bodyBudgetBytes, idleTimeout: idleTimeout, now: { fixedNow })
        do {
            try await LagoRelay.withRunning(engine: engine, options: options, logger: quietLogger) { url in
                try await body(RelayStack(relayURL: url, sandbox: sandbox, engine: engine))
            }
        } catch {
            await engine.shutdown()
            throw error
        }
        await engine.shutdown()
    }
}

/// The sandbox's ingestion conformance cases (``IngestCases``), run against the relay.
///
/// Not shared, because only Lago can answer them (see the sandbox's `EventConformanceTests`): duplicates against
/// events already stored in Lago (phase 2 against the store), expression evaluation (needs Lago's billable
/// metrics), `GET /events[/{id}]` and `/health` (the relay serves ingestion only).
@Suite("Relay ingestion conformance")
struct RelayConformanceTests {
    @Test("Shared ingestion case", arguments: IngestCases.all)
    func ingestion(_ ingestCase: IngestCase) async throws {
        try await withRelayStack { stack in
            try await ingestCase.run(against: stack.target)
        }
    }
}

/// Connection-level abuse: partial and trickling bodies.
@Suite("Relay connections")
struct RelayConnectionTests {
    static func head(contentLength: Int) -> String {
        "POST /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(testAPIKey)\r\n"
            + "Content-Type: application/json\r\nContent-Length: \(contentLength)\r\n\r\n"
    }

    static let goodEvent = #"{"event":{"transaction_id":"TX","code":"c","external_subscription_id":"s"}}"#

    @Test func aPartialBodyIsTimedOutNothingIsQueuedAndOtherClientsAreServed() async throws {
        try await withRelayStack(idleTimeout: .seconds(1)) { stack in
            let stalled = try await RawConnection.open(port: stack.port)
            defer { stalled.close() }
            let start = ContinuousClock.now
            // Content-Length 1000, then 10 bytes, then silence.
            let partial = #"{"event":{"#
            #expect(partial.utf8.count == 10)
            #expect(try await stalled.send(Self.head(contentLength: 1000) + partial))

            // While that connection hangs, another client is served.
            let during = try await stack.client.post(
                "/api/v1/events", Self.goodEvent.replacingOccurrences(of: "TX", with: "during"))
            #expect(during.status == 200)

            let exchange = try await stalled.receiveUntilClosed(timeout: .seconds(10))
            #expect(exchange.closedByPeer, "the relay must close a connection whose body stalls")
            #expect(ContinuousClock.now - start >= .milliseconds(950), "closed by the timeout, not by an error")
            // The connection is closed without an answer (nothing of the request was taken); never a 2xx.
            #expect(!exchange.text.hasPrefix("HTTP/1.1 2"), "answered \(exchange.text)")

            // Still serving afterwards, and only the complete requests were queued and delivered.
            let after = try await stack.client.post(
                "/api/v1/events", Self.goodEvent.replacingOccurrences(of: "TX", with: "after"))
            #expect(after.status == 200)
            let flushed = await stack.engine.flush(deadline: .seconds(10))
            #expect(flushed.pending == 0 && flushed.dead == 0)
            #expect(stack.sandbox.events().map(\.transactionID).sorted() == ["after", "during"])
            let stats = await stack.engine.stats()
            #expect(stats.refused.total == 0)
        }
    }

    @Test func aBodyTricklingInIsCutOffAtTheTimeout() async throws {
        try await withRelayStack(idleTimeout: .seconds(1)) { stack in
            let body = Self.goodEvent.replacingOccurrences(of: "TX", with: "slow")
            let trickle = try await RawConnection.open(port: stack.port)
            defer { trickle.close() }
            #expect(try await trickle.send(Self.head(contentLength: body.utf8.count)))
            // One byte every 100 ms keeps resetting an idle timer; the whole body would take about 8 s.
            var cutOff = false
            for byte in body.utf8 {
                guard try await trickle.send([byte]) else {
                    cutOff = true
                    break
                }
                try await Task.sleep(for: .milliseconds(100))
            }
            let exchange = try await trickle.receiveUntilClosed(timeout: .seconds(10))
            #expect(cutOff, "the whole body trickled in")
            #expect(exchange.closedByPeer)
            #expect(!exchange.text.hasPrefix("HTTP/1.1 2"), "answered \(exchange.text)")

            let after = try await stack.client.post(
                "/api/v1/events", Self.goodEvent.replacingOccurrences(of: "TX", with: "after"))
            #expect(after.status == 200)
            _ = await stack.engine.flush(deadline: .seconds(10))
            #expect(stack.sandbox.events().map(\.transactionID) == ["after"])
        }
    }
}
