import Foundation
import LagoAPI
import LagoBilling
import LagoEngine
import LagoSandbox
import Logging
import Synchronization
import TestSupport
import Testing

/// Every accepted event is checked against the sandbox's catalogue (the real service over the real client); the
/// verdict is stored with it, counted in `stats()`, carried on the lifecycle stream, and the policy decides what
/// happens to the unbillable ones.
@Suite struct BillingPolicyTests {
    /// One billable event, one with a code that is no metric, one for a subscription Lago does not have.
    static func mixedEvents(prefix: String) -> [EventInput] {
        [
            event(1, prefix: prefix),
            event(2, prefix: prefix, code: "no_such_metric"),
            EventInput(
                transactionID: "\(prefix)-3", externalSubscriptionID: "sub_nobody", code: "llm_input_tokens",
                properties: ["value": 5]),
        ]
    }

    /// Runs `body` with a catalogue service over the sandbox, loaded.
    static func withCatalogue<T: Sendable>(
        _ sandbox: Sandbox, _ body: (BillingCatalogueService) async throws -> T
    ) async throws -> T {
        let configuration = LagoClientConfiguration(
            baseURL: try LagoBaseURL(sandbox.baseURL.absoluteString), apiKey: sandbox.apiKey)
        return try await withLagoClient(configuration: configuration, logger: Logger(label: "test")) { client in
            let service = BillingCatalogueService(
                client: client, refreshInterval: .seconds(3600), minimumLoadSpacing: .milliseconds(50))
            let refresher = Task { await service.run() }
            defer { refresher.cancel() }
            #expect(await service.firstLoad(timeout: .seconds(20)))
            return try await body(service)
        }
    }

    @Test func forwardDeliversEverythingAndCountsEachVerdictWhereTheEventIs() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("spool.sqlite")
        try await Sandbox.withRunning { sandbox in
            try await Self.withCatalogue(sandbox) { service in
                var configuration = testConfiguration(spoolPath: path)
                configuration.billingChecker = service
                let engine = try makeEngine(configuration, sandbox: sandbox)
                let changes = engine.lifecycleEvents()
                try await engine.enqueue(Self.mixedEvents(prefix: "fw"))
                var stats = await engine.stats()
                var expected = BillingCounts()
                expected.billable = 1
                expected.unbillable = 2
                expected.byReason = ["invalid_code": 1, "subscription_not_found": 1]
                #expect(stats.billing.checking && stats.billing.policy == .forward)
                #expect(stats.billing.accepted == expected)
                #expect(stats.billing.spooled == expected, "not started: all three wait in the spool")
                #expect(stats.billing.catalogue?.loadedAt != nil)
                var verdicts: [String: BillingVerdict] = [:]
                for await change in changes where change.stage == .queued {
                    verdicts[change.transactionID] = change.billing
                    if verdicts.count == 3 { break }
                }
                #expect(verdicts["fw-1"] == .billable())
                #expect(verdicts["fw-2"] == .unbillable([.invalidCode]))
                #expect(verdicts["fw-3"] == .unbillable([.subscriptionNotFound]))
                await engine.shutdown()

                // The verdicts are on disk: an engine without a check reads them back.
                let reopened = try makeEngine(testConfiguration(spoolPath: path), sandbox: sandbox)
                stats = await reopened.stats()
                #expect(!stats.billing.checking)
                #expect(stats.billing.spooled == expected)
                #expect(stats.billing.accepted == BillingCounts(), "nothing accepted by this engine")
                reopened.start()
                let flushed = await reopened.flush(deadline: .seconds(20))
                #expect(flushed.pending == 0 && flushed.dead == 0, "forward: Lago takes all three (and bills one)")
                #expect(Set(sandbox.events().map(\.transactionID)).isSuperset(of: ["fw-1", "fw-2", "fw-3"]))
                #expect(await reopened.stats().billing.spooled == BillingCounts(), "delivered: none left")
                await reopened.shutdown()
            }
        }
    }

    @Test func holdKeepsUnbillableEventsOutOfDeliveryUntilReleasedOrDiscarded() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("spool.sqlite")
        try await Sandbox.withRunning { sandbox in
            try await Self.withCatalogue(sandbox) { service in
                var configuration = testConfiguration(spoolPath: path)
                configuration.billingChecker = service
                configuration.unbillablePolicy = .hold
                let engine = try makeEngine(configuration, sandbox: sandbox)
                engine.start()
                try await engine.enqueue(Self.mixedEvents(prefix: "hd"))
                let flushed = await engine.flush(deadline: .seconds(20))
                #expect(flushed.pending == 0)
                #expect(sandbox.events().map(\.transactionID).filter { $0.hasPrefix("hd-") } == ["hd-1"])
                var held = try await engine.heldEvents()
                #expect(held.map(\.transactionID) == ["hd-2", "hd-3"])
                #expect(held.map(\.verdict.reasons) == [[.invalidCode], [.subscriptionNotFound]])
                #expect(held[0].payload.contains(#""code":"no_such_metric""#), "its bytes, as accepted")
                var stats = await engine.stats()
                #expect(stats.billing.held.unbillable == 2 && stats.billing.held.total == 2)
                #expect(stats.queued == 0 && stats.pending == 0, "held events are not pending delivery")
                await engine.shutdown()

                // Held across a restart; the operator creates the metric, then releases the event.
                let reopened = try makeEngine(configuration, sandbox: sandbox)
                reopened.start()
                #expect(await reopened.stats().billing.held.total == 2)
                try sandbox.addBillableMetric(code: "no_such_metric")
                service.refresh()
                let check = BillingEvent(held[0].event!, acceptedAt: held[0].enqueuedAt)
                #expect(await eventually { service.check(check) == .billable() })
                let changes = reopened.lifecycleEvents()
                let release = try await reopened.releaseHeld(id: held[0].id)
                #expect(release.transactionID == "hd-2" && release.billing == .billable())
                // Every watcher learns which held event left the list, then sees it queued in its new row.
                var told: [EventLifecycleChange] = []
                for await change in changes where change.transactionID == "hd-2" {
                    told.append(change)
                    if told.count == 2 { break }
                }
                #expect(told.map(\.stage) == [.released, .queued])
                #expect(told.first?.eventID == held[0].id && told.last?.billing == .billable())
                #expect(await reopened.flush(deadline: .seconds(20)).pending == 0)
                let stored = try #require(sandbox.events().first { $0.transactionID == "hd-2" })
                #expect(stored.code == "no_such_metric")
                try await reopened.discardHeld(id: held[1].id)
                held = try await reopened.heldEvents()
                #expect(held.isEmpty)
                stats = await reopened.stats()
                #expect(stats.billing.held == BillingCounts())
                #expect(!sandbox.events().contains { $0.transactionID == "hd-3" }, "discarded: never sent")
                await #expect(throws: EngineError.self) { try await reopened.discardHeld(id: 999) }
                await reopened.shutdown()
            }
        }
    }

    @Test func rejectRefusesTheWholeRequestNamingEachUnbillableEvent() async throws {
        let directory = try TemporaryDirectory()
        try await Sandbox.withRunning { sandbox in
            try await Self.withCatalogue(sandbox) { service in
                var configuration = testConfiguration(spoolPath: directory.file("spool.sqlite"))
                configuration.billingChecker = service
                configuration.unbillablePolicy = .reject
                let engine = try makeEngine(configuration, sandbox: sandbox)
                do {
                    try await engine.enqueue(Self.mixedEvents(prefix: "rj"))
                    Issue.record("an unbillable event was accepted under reject")
                } catch let error as EngineError {
                    #expect(error.kind == .unbillable)
                    #expect(
                        error.unbillable == [
                            .init(index: 1, reasons: [.invalidCode]), .init(index: 2, reasons: [.subscriptionNotFound]),
                        ])
                    #expect(error.message.contains("rj-2") && error.message.contains("invalid_code"))
                }
                let stats = await engine.stats()
                #expect(stats.queued == 0 && stats.refused.unbillable == 3, "nothing of the request is spooled")
                #expect(stats.billing.accepted == BillingCounts())
                // A billable request goes through.
                try await engine.enqueue([event(9, prefix: "rj")])
                #expect(await engine.stats().billing.spooled.billable == 1)
                await engine.shutdown()
            }
        }
    }
}
