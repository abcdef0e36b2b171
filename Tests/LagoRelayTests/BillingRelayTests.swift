import Foundation
import LagoAPI
import LagoBilling
import LagoEngine
import LagoRelay
import LagoSandbox
import Logging
import Testing

/// The relay in front of an engine that checks every event against the sandbox's catalogue (issue #13, points 3
/// and 4): `reject` answers 422 naming index, field and reason; an event naming only its customer is billed to the
/// customer's one active subscription; `hold` answers 200 and keeps the event out of delivery.
@Suite struct BillingRelayTests {
    static func withCheckingRelay(
        policy: UnbillablePolicy, prepare: (Sandbox) throws -> Void = { _ in },
        _ body: @Sendable (_ relayURL: URL, _ sandbox: Sandbox, _ engine: LagoEngine) async throws -> Void
    ) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("relay-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try await Sandbox.withRunning { sandbox in
            try prepare(sandbox)
            let clientConfiguration = LagoClientConfiguration(
                baseURL: try LagoBaseURL(sandbox.baseURL.absoluteString), apiKey: sandbox.apiKey)
            try await withLagoClient(configuration: clientConfiguration, logger: Logger(label: "test")) { client in
                let catalogue = BillingCatalogueService(client: client, refreshInterval: .seconds(3600))
                let refresher = Task { await catalogue.run() }
                defer { refresher.cancel() }
                #expect(await catalogue.firstLoad(timeout: .seconds(20)))
                var configuration = EngineConfiguration(
                    spoolPath: directory.appendingPathComponent("spool.sqlite").path)
                configuration.flushInterval = .milliseconds(20)
                configuration.billingChecker = catalogue
                configuration.unbillablePolicy = policy
                let engine = try LagoEngine(configuration: configuration, client: client)
                engine.start()
                var options = RelayOptions(host: "127.0.0.1", port: 0, defaultSubscription: { "sub_sandbox" })
                options.customerSubscription = { catalogue.subscription(forCustomer: $0) }
                do {
                    try await LagoRelay.withRunning(engine: engine, options: options, logger: Logger(label: "relay")) {
                        url in try await body(url, sandbox, engine)
                    }
                } catch {
                    await engine.shutdown()
                    throw error
                }
                await engine.shutdown()
            }
        }
    }

    static let billable =
        #"{"transaction_id":"ok-1","external_subscription_id":"sub_sandbox","code":"llm_input_tokens","properties":{"value":3}}"#
    static let unknownCode =
        #"{"transaction_id":"bad-1","external_subscription_id":"sub_sandbox","code":"nope_code","properties":{"value":1}}"#
    static let strangerCustomer =
        #"{"transaction_id":"who-1","external_customer_id":"cus_nobody","code":"llm_input_tokens","properties":{"value":1}}"#

    @Test func rejectAnswers422InLagosShapeNamingEachEventAndSpoolsNothing() async throws {
        try await Self.withCheckingRelay(policy: .reject) { relayURL, sandbox, engine in
            let batch = #"{"events":[\#(Self.billable),\#(Self.unknownCode),\#(Self.strangerCustomer)]}"#
            let answer = try await post(relayURL, path: "/events/batch", body: Array(batch.utf8))
            #expect(answer.status == 422)
            #expect(answer.json?["code"] == "validation_errors")
            #expect(
                answer.json?["error_details"] == [
                    "1": ["code": ["invalid_code"]],
                    "2": ["external_customer_id": ["customer_has_no_active_subscription"]],
                ])
            // POST /events answers by field, as Lago does.
            let single = try await post(relayURL, path: "/events", body: Array(#"{"event":\#(Self.unknownCode)}"#.utf8))
            #expect(single.status == 422)
            #expect(single.json?["error_details"] == ["code": ["invalid_code"]])
            let stats = await engine.stats()
            #expect(stats.queued == 0 && stats.refused.unbillable == 4, "nothing of either request was spooled")
            // The billable event alone goes through, and bills.
            let ok = try await post(relayURL, path: "/events", body: Array(#"{"event":\#(Self.billable)}"#.utf8))
            #expect(ok.status == 200)
            #expect(await engine.flush(deadline: .seconds(20)).pending == 0)
            #expect(sandbox.events().map(\.transactionID) == ["ok-1"])
        }
    }

    @Test func anEventNamingOnlyItsCustomerIsBilledToTheCustomersActiveSubscription() async throws {
        try await Self.withCheckingRelay(
            policy: .reject, prepare: { try $0.addBillableMetric(code: "llm_usage", fieldName: "cost_nanos") }
        ) { relayURL, sandbox, engine in
            let changes = engine.lifecycleEvents()
            // @ai-billing/lago's shape: customer from the tags, no subscription, its own send time.
            let event =
                #"{"transaction_id":"gen-1","external_customer_id":"cus_sandbox","code":"llm_usage","timestamp":1764000000,"#
                + #""properties":{"cost_nanos":1250000,"currency":"USD","model_id":"gpt-x","input_tokens":12}}"#
            let answer = try await post(relayURL, path: "/events", body: Array(#"{"event":\#(event)}"#.utf8))
            #expect(answer.status == 200, "\(String(describing: answer.json))")
            #expect(answer.json?["event"]?["external_subscription_id"] == "sub_sandbox")
            #expect(await engine.flush(deadline: .seconds(20)).pending == 0)
            let stored = try #require(sandbox.events().first { $0.transactionID == "gen-1" })
            #expect(stored.externalSubscriptionID == "sub_sandbox")
            #expect(stored.properties["cost_nanos"] == .integer(1_250_000) && stored.code == "llm_usage")
            let stats = await engine.stats()
            #expect(stats.billing.accepted.billable == 1 && stats.billing.accepted.unbillable == 0)
            // The lifecycle says where it bills, and that the subscription came from the customer.
            let queued = try #require(await changes.first { $0.stage == .queued })
            #expect(queued.billing == .billable(resolvedSubscriptionID: "sub_sandbox"))
        }
    }

    @Test func holdAnswers200AndKeepsTheUnbillableEventOutOfDelivery() async throws {
        try await Self.withCheckingRelay(policy: .hold) { relayURL, sandbox, engine in
            let batch = #"{"events":[\#(Self.billable),\#(Self.unknownCode)]}"#
            let answer = try await post(relayURL, path: "/events/batch", body: Array(batch.utf8))
            #expect(answer.status == 200, "Lago would take it: so does the relay, and holds it")
            #expect(await engine.flush(deadline: .seconds(20)).pending == 0)
            #expect(sandbox.events().map(\.transactionID) == ["ok-1"])
            let held = try await engine.heldEvents()
            #expect(held.map(\.transactionID) == ["bad-1"] && held[0].verdict.reasons == [.invalidCode])
            // Byte for byte as the client wrote it, plus the time of reception it did not send.
            #expect(held[0].payload.hasPrefix(String(Self.unknownCode.dropLast()) + #","timestamp":"#))
            // Sent again while held: the relay's dedup index still knows it.
            let again = try await post(relayURL, path: "/events", body: Array(#"{"event":\#(Self.unknownCode)}"#.utf8))
            #expect(again.status == 422)
        }
    }
}
