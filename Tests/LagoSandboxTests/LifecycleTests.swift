import Foundation
import IngestConformance
import LagoAPI
import LagoSandbox
import Testing

@Suite("Sandbox lifecycle and persistence")
struct LifecycleTests {
    @Test("--data: events, created metrics and dedup survive an in-process restart")
    func persistenceAcrossRestart() async throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("sandbox.sqlite").path

        let firstLagoID: JSONValue = try await withSandbox(testOptions(dataPath: path)) { sandbox, client in
            let created = try await client.post(
                "/api/v1/events/batch",
                #"{"events":[{"transaction_id":"p1","code":"llm_input_tokens","external_subscription_id":"sub_sandbox","timestamp":"1651240791.123456","properties":{"value":5,"note":"ü"},"precise_total_amount_cents":"12.5"},{"transaction_id":"p2","code":"calls","external_subscription_id":"sub_sandbox"}]}"#
            )
            #expect(created.status == 200)
            try sandbox.addBillableMetric(code: "calls", aggregationType: .countAgg)
            try sandbox.addSubscription(SandboxSubscription(externalID: "sub_2", externalCustomerID: "cus_2"))
            #expect(try sandbox.removeBillableMetric(code: "llm_tool_calls"))
            return created.json["events"]?.arrayValue?.first?["lago_id"] ?? nil
        }

        try await withSandbox(testOptions(seed: false, dataPath: path)) { sandbox, client in
            #expect(sandbox.storedEventCount == 2)
            let event = try await client.get("/api/v1/events/p1")
            #expect(
                event.json
                    == [
                        "event": expectedEvent(
                            lagoID: firstLagoID,
                            transactionID: "p1",
                            code: "llm_input_tokens",
                            timestamp: "2022-04-29T13:59:51.123Z",
                            precise: "12.5",
                            properties: ["value": 5, "note": "ü"]
                        )
                    ]
            )
            #expect(sandbox.events(subscription: "sub_sandbox").first?.timestampMicroseconds == 1_651_240_791_123_456)
            #expect(sandbox.billableMetrics().contains { $0.code == "calls" })
            #expect(!sandbox.billableMetrics().contains { $0.code == "llm_tool_calls" })
            #expect(sandbox.subscriptions().map(\.externalID) == ["sub_sandbox", "sub_2"])
            #expect(sandbox.customers().map(\.externalID) == ["cus_sandbox", "cus_2"])
            let replay = try await client.post(
                "/api/v1/events",
                #"{"event":{"transaction_id":"p2","code":"calls","external_subscription_id":"sub_sandbox"}}"#
            )
            #expect(replay.json == validationErrors(["transaction_id": ["value_already_exist"]]))
        }

        // Seeding a reopened store adds only what is missing.
        try await withSandbox(testOptions(seed: true, dataPath: path)) { sandbox, _ in
            #expect(sandbox.billableMetrics().filter { $0.code == "llm_input_tokens" }.count == 1)
            #expect(sandbox.billableMetrics().contains { $0.code == "llm_tool_calls" })
            #expect(sandbox.customers().count == 2)
        }
    }

    @Test("withRunning listens on an ephemeral loopback port and shuts down afterwards")
    func withRunningLifecycle() async throws {
        let (port, baseURL) = try await withSandbox { sandbox, client in
            #expect(sandbox.baseURL.absoluteString.hasPrefix("http://127.0.0.1:"))
            #expect(sandbox.baseURL.absoluteString.hasSuffix("/api/v1"))
            #expect(try await client.get("/health").status == 200)
            return (try #require(sandbox.port), sandbox.baseURL)
        }
        #expect(port > 0)
        #expect(baseURL.port == port)
        let exchange = try? await rawExchange(port: port, request: rawRequest("GET", "/health"))
        #expect(exchange == nil || exchange?.bytes.isEmpty == true)
    }

    @Test("long-running API: run in a task, waitUntilRunning, stop; a second run is refused")
    func longRunning() async throws {
        let sandbox = try Sandbox(options: testOptions(), logger: quietLogger)
        #expect(sandbox.apiKey == testAPIKey)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await sandbox.run() }
            let url = try await sandbox.waitUntilRunning()
            #expect(url == sandbox.baseURL)
            let client = TestClient(root: sandbox.rootURL, apiKey: testAPIKey)
            #expect(try await client.get("/api/v1/subscriptions").status == 200)
            await #expect(throws: SandboxError.alreadyStarted) { try await sandbox.run() }
            sandbox.stop()
            try await group.waitForAll()
        }
        #expect(sandbox.port == nil)
    }

    @Test("a port in use makes run and waitUntilRunning throw")
    func bindFailure() async throws {
        try await withSandbox { first, _ in
            let port = try #require(first.port)
            let options = SandboxOptions(port: port, seed: false, apiKeys: [testAPIKey])
            await #expect(throws: (any Error).self) {
                try await Sandbox.withRunning(options, logger: quietLogger) { _ in }
            }
        }
    }

    @Test("generated API key is a UUID; seed can be turned off")
    func options() async throws {
        let sandbox = try Sandbox(options: SandboxOptions(seed: false), logger: quietLogger)
        #expect(UUID(uuidString: sandbox.apiKey) != nil)
        #expect(sandbox.billableMetrics().isEmpty)
        #expect(sandbox.customers().isEmpty)
        let seeded = try Sandbox(options: SandboxOptions(), logger: quietLogger)
        #expect(seeded.billableMetrics().map(\.code) == SandboxSeed.metricCodes)
        #expect(seeded.billableMetrics().allSatisfy { $0.aggregationType == .sumAgg && $0.fieldName == "value" })
        #expect(seeded.subscriptions().first?.externalID == "sub_sandbox")
        #expect(seeded.subscriptions().first?.externalCustomerID == "cus_sandbox")
        #expect(throws: SandboxError.metricCodeTaken("llm_input_tokens")) {
            try seeded.addBillableMetric(code: "llm_input_tokens")
        }
    }
}
