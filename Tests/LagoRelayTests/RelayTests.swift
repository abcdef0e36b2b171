import AsyncHTTPClient
import Foundation
import LagoAPI
import LagoEngine
import LagoRelay
import LagoSandbox
import Logging
import NIOCore
import Testing

/// Runs a sandbox, an engine delivering to it, and a relay in front of the engine.
func withRelay(
    token: String? = nil, maxBodyBytes: Int = 1 << 20, now: @escaping @Sendable () -> Date = { Date() },
    _ body: @Sendable (_ relayURL: URL, _ sandbox: Sandbox, _ engine: LagoEngine) async throws -> Void
) async throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("relay-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    try await Sandbox.withRunning { sandbox in
        var configuration = EngineConfiguration(spoolPath: directory.appendingPathComponent("spool.sqlite").path)
        configuration.flushInterval = .milliseconds(20)
        configuration.defaultSubscription = "sub_sandbox"
        let engine = try LagoEngine(
            configuration: configuration, baseURL: try LagoBaseURL(sandbox.baseURL.absoluteString),
            apiKey: sandbox.apiKey)
        engine.start()
        let options = RelayOptions(
            host: "127.0.0.1", port: 0, token: token, maxBodyBytes: maxBodyBytes,
            defaultSubscription: { "sub_sandbox" }, now: now)
        do {
            try await LagoRelay.withRunning(engine: engine, options: options, logger: Logger(label: "relay-test")) {
                url in try await body(url, sandbox, engine)
            }
        } catch {
            await engine.shutdown()
            throw error
        }
        await engine.shutdown()
    }
}

/// Posts raw bytes to the relay.
func post(_ url: URL, path: String, body: [UInt8], key: String = "any-key", contentType: String = "application/json")
    async throws -> (status: Int, json: JSONValue?)
{
    var request = HTTPClientRequest(url: url.absoluteString + path)
    request.method = .POST
    request.headers.add(name: "Authorization", value: "Bearer \(key)")
    request.headers.add(name: "Content-Type", value: contentType)
    request.body = .bytes(ByteBuffer(bytes: body))
    let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
    let bytes = try await response.body.collect(upTo: 1 << 24)
    return (Int(response.status.code), try? JSONValue.parse(Data(bytes.readableBytesView)))
}

@Suite("Relay")
struct RelayTests {
    @Test func anUnmodifiedLagoClientsEventsReachLagoExactlyOnce() async throws {
        try await withRelay { relayURL, sandbox, engine in
            let client = LagoClient(
                configuration: LagoClientConfiguration(baseURL: try LagoBaseURL(relayURL.absoluteString), apiKey: "k"))
            let batch = (0..<100).map {
                EventInput(
                    transactionID: "relay-\($0)", externalSubscriptionID: "sub_sandbox", code: "llm_input_tokens",
                    timestamp: 1_764_000_000.5, properties: ["value": .integer(Int64($0))])
            }
            let answered = try await client.createBatch(batch)
            #expect(answered.map(\.transactionID) == batch.map(\.transactionID))
            #expect(answered.first?.timestamp.text == "2025-11-24T16:00:00.500Z")
            // No subscription: the relay applies the default one.
            let single = try await client.createEvent(
                EventInput(transactionID: "relay-single", externalSubscriptionID: nil, code: "llm_output_tokens"))
            #expect(single.externalSubscriptionID == "sub_sandbox")
            try await client.shutdown()

            let result = await engine.flush(deadline: .seconds(20))
            #expect(result.pending == 0 && result.dead == 0)
            let stored = sandbox.events(subscription: "sub_sandbox").map(\.transactionID)
            #expect(stored.count == 101)
            #expect(Set(stored) == Set(batch.map(\.transactionID) + ["relay-single"]))
        }
    }

    @Test func hostileInputGetsLagoShapedErrorsAndTheRelayStaysUp() async throws {
        try await withRelay(maxBodyBytes: 1 << 20) { relayURL, sandbox, _ in
            let malformed = try await post(relayURL, path: "/events/batch", body: Array("{\"events\": [".utf8))
            #expect(malformed.status == 400)
            #expect(malformed.json == ["status": 400, "error": "Bad Request"])

            let tooMany = (0..<101).map { #"{"transaction_id":"t\#($0)","code":"c"}"# }.joined(separator: ",")
            let overLimit = try await post(relayURL, path: "/events/batch", body: Array(#"{"events":[\#(tooMany)]}"#.utf8))
            #expect(overLimit.status == 422)
            #expect(overLimit.json?["error_details"] == ["events": ["too_many_events"]])

            let wrongTypes = try await post(
                relayURL, path: "/events/batch",
                body: Array(#"{"events":[{"transaction_id":"a","code":"c"},{"code":["x"],"timestamp":"yesterday"}]}"#.utf8))
            #expect(wrongTypes.status == 422)
            #expect(wrongTypes.json?["error_details"]?["1"] == ["timestamp": ["invalid_format"]])

            let unwrapped = try await post(relayURL, path: "/events", body: Array(#"{"transaction_id":"a","code":"c"}"#.utf8))
            #expect(unwrapped.status == 400)
            #expect(
                unwrapped.json?["error"] == "BadRequest: param is missing or the value is empty or invalid: event")

            let huge = [UInt8](repeating: UInt8(ascii: " "), count: 10 << 20)
            let tooLarge = try await post(relayURL, path: "/events/batch", body: huge)
            #expect(tooLarge.status == 413)
            #expect(tooLarge.json == ["status": 413, "error": "Payload Too Large"])

            let duplicates = try await post(
                relayURL, path: "/events/batch",
                body: Array(#"{"events":[{"transaction_id":"d","code":"c"},{"transaction_id":"d","code":"c"}]}"#.utf8))
            #expect(duplicates.json?["error_details"] == ["1": ["transaction_id": ["value_already_exist"]]])

            let unknownRoute = try await post(relayURL, path: "/customers", body: [])
            #expect(unknownRoute.json == ["status": 404, "error": "Not Found", "code": "resource_not_found"])

            // Still serving, and nothing of the refused requests was queued.
            let fine = try await post(
                relayURL, path: "/events", body: Array(#"{"event":{"transaction_id":"ok","code":"llm_input_tokens"}}"#.utf8))
            #expect(fine.status == 200)
            #expect(fine.json?["event"]?["lago_id"] == .null)
        }
    }

    @Test func theRelayTokenIsRequiredWhenSet() async throws {
        try await withRelay(token: "relay-secret") { relayURL, _, _ in
            let body = Array(#"{"event":{"transaction_id":"a","code":"c"}}"#.utf8)
            let refused = try await post(relayURL, path: "/events", body: body, key: "wrong")
            #expect(refused.status == 401)
            #expect(refused.json == ["status": 401, "error": "Unauthorized"])
            let accepted = try await post(relayURL, path: "/events", body: body, key: "relay-secret")
            #expect(accepted.status == 200)
        }
    }

    @Test func aNonLoopbackAddressWithoutATokenIsRefused() async throws {
        try await withRelay { _, sandbox, engine in
            await #expect(throws: RelayError.self) {
                try await LagoRelay.withRunning(
                    engine: engine, options: RelayOptions(host: "0.0.0.0", port: 0), logger: Logger(label: "t")
                ) { _ in }
            }
        }
    }
}
