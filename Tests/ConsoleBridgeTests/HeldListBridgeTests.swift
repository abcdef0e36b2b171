import ConsoleBridge
import ConsoleUI
import Foundation
import LagoAPI
import LagoBilling
import LagoConfig
import LagoEngine
import LagoSandbox
import LagoUsage
import Synchronization
import Testing

/// The Billing pane's held list and its release and discard, against a real engine holding unbillable events
/// (policy `hold`) checked against the sandbox's real catalogue.
@Suite("The held list, release and discard reach a real engine")
struct HeldListBridgeTests {
    final class Posted: Sendable {
        let events = Mutex<[ConsoleEvent]>([])
        func post(_ event: ConsoleEvent) { events.withLock { $0.append(event) } }
        var all: [ConsoleEvent] { events.withLock { $0 } }
    }

    /// Polls `condition` every 10 ms until it holds or `timeout` passes.
    func eventually(timeout: Duration = .seconds(20), _ condition: () async throws -> Bool) async rethrows -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return try await condition()
    }

    @Test func theConsoleSeesTheHeldEventsAndReleasesAndDiscardsThem() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("held-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let store = try ConfigStore(path: folder.appendingPathComponent("config.toml").path, environment: [:])
        try await Sandbox.withRunning(SandboxOptions()) { sandbox in
            let clientConfiguration = LagoClientConfiguration(
                baseURL: try LagoBaseURL(sandbox.baseURL.absoluteString), apiKey: sandbox.apiKey)
            try await withLagoClient(configuration: clientConfiguration) { client in
                let catalogue = BillingCatalogueService(
                    client: client, refreshInterval: .seconds(3600), minimumLoadSpacing: .milliseconds(50))
                let refresher = Task { await catalogue.run() }
                defer { refresher.cancel() }
                #expect(await catalogue.firstLoad(timeout: .seconds(20)))
                var configuration = EngineConfiguration(
                    spoolPath: folder.appendingPathComponent("spool.sqlite").path, flushInterval: .milliseconds(20))
                configuration.defaultSubscription = SandboxSeed.subscriptionExternalID
                configuration.billingChecker = catalogue
                configuration.unbillablePolicy = .hold
                let engine = try LagoEngine(configuration: configuration, client: client)
                engine.start()
                let runner = EffectRunner(
                    engine: engine, client: client, store: store,
                    coding: UsageCoding(metricCodes: [:], defaultSubscription: SandboxSeed.subscriptionExternalID),
                    billing: catalogue, copy: { "copied \($0.count) characters" })
                do {
                    try await run(engine: engine, runner: runner, catalogue: catalogue, sandbox: sandbox)
                } catch {
                    await engine.shutdown()
                    throw error
                }
                await engine.shutdown()
            }
        }
    }

    private func run(
        engine: LagoEngine, runner: EffectRunner, catalogue: BillingCatalogueService, sandbox: Sandbox
    ) async throws {
        // The Events pane's rows, from the engine's lifecycle stream through the bridge's adapter.
        let changes = Mutex<[EventLifecycleChange]>([])
        let stream = engine.lifecycleEvents()
        let collector = Task { for await change in stream { changes.withLock { $0.append(change) } } }
        defer { collector.cancel() }
        try await engine.enqueue([
            EventInput(
                transactionID: "ok-1", externalSubscriptionID: SandboxSeed.subscriptionExternalID,
                code: "llm_input_tokens", properties: ["value": 5]),
            EventInput(
                transactionID: "held-code", externalSubscriptionID: SandboxSeed.subscriptionExternalID,
                code: "metric_made_later", properties: ["value": 7]),
            EventInput(
                transactionID: "held-sub", externalSubscriptionID: "sub_nobody", code: "llm_input_tokens",
                properties: ["value": 9]),
        ])
        #expect(await engine.flush(deadline: .seconds(20)).pending == 0)

        // What the console polls: the held list, with each event's reasons, as the Billing pane shows it.
        var poller = StatsPoller(
            connection: ConnectionInfo(url: sandbox.baseURL.absoluteString, isSandbox: true, maskedKey: "••••"))
        let posted = poller.polled(
            await engine.stats(), deadLetters: [], heldEvents: try await engine.heldEvents(limit: 200, offset: 0),
            attachedTo: nil, now: Date())
        let queue = try #require(posted.compactMap { if case .stats(let queue) = $0 { queue } else { nil } }.first)
        #expect(queue.billing.policy == "hold" && queue.billing.held == 2)
        #expect(queue.heldEvents.map(\.transactionID) == ["held-code", "held-sub"])
        #expect(queue.heldEvents.map(\.reasons) == [[.invalidCode], [.subscriptionNotFound]])
        #expect(queue.heldEvents.map(\.code) == ["metric_made_later", "llm_input_tokens"])
        #expect(queue.heldEvents[1].externalSubscriptionID == "sub_nobody")
        // The catalogue the verdicts come from: its metrics for the fixes, its age.
        let catalogueEvents = poller.catalogue(catalogue.catalogue, status: catalogue.status)
        guard case .catalogueChanged(let metrics, let status)? = catalogueEvents.first else {
            Issue.record("no catalogue event: \(catalogueEvents)")
            return
        }
        #expect(metrics.map(\.code).contains("llm_input_tokens") && status.loadedAt != nil)
        #expect(poller.catalogue(catalogue.catalogue, status: catalogue.status).isEmpty, "only changes are posted")
        #expect(!sandbox.events().contains { $0.transactionID.hasPrefix("held-") }, "held: not sent")

        // The operator creates the metric in Lago and refreshes: the release is checked again, billable now.
        try sandbox.addBillableMetric(code: "metric_made_later")
        let refreshed = Posted()
        await runner.run(EffectRequest(id: RequestID(1), effect: .refreshCatalogue), post: refreshed.post)
        guard case .operationSucceeded(RequestID(1), _)? = refreshed.all.first else {
            Issue.record("refresh: \(refreshed.all)")
            return
        }
        #expect(await eventually { catalogue.catalogue?.metrics["metric_made_later"] != nil })
        let released = Posted()
        let codeHeld = queue.heldEvents[0]
        await runner.run(EffectRequest(id: RequestID(2), effect: .releaseHeld(id: codeHeld.id)), post: released.post)
        guard case .heldReleased(let answered, let release)? = released.all.first else {
            Issue.record("release: \(released.all)")
            return
        }
        #expect(answered == RequestID(2))
        #expect(release.id == codeHeld.id && release.transactionID == "held-code" && release.billing == .billable())
        #expect(await engine.flush(deadline: .seconds(20)).pending == 0)
        let stored = try #require(sandbox.events().first { $0.transactionID == "held-code" })
        #expect(stored.code == "metric_made_later", "released with its bytes unchanged")

        // In the console: the held row is released (done), and the event goes on in a row of its own, delivered.
        #expect(
            await eventually {
                changes.withLock { $0.contains { $0.transactionID == "held-code" && $0.stage == .delivered } }
            })
        var adapter = LifecycleAdapter()
        var state = AppState(
            size: TerminalSize(width: 80, height: 24), now: Date(),
            options: ConsoleOptions(connection: ConnectionInfo(url: "sandbox", isSandbox: true, maskedKey: "••••")))
        _ = state.handle(.eventLifecycle(changes.withLock { $0 }.map { adapter.update(for: $0) }))
        _ = state.handle(.heldReleased(RequestID(2), release))
        let rows = (state.history.firstSequence..<state.history.nextSequence).compactMap {
            state.history.record(sequence: $0)
        }
        let heldCodeRows = rows.filter { $0.transactionID == "held-code" }
        #expect(heldCodeRows.map(\.state) == [.released, .delivered])
        #expect(heldCodeRows.first?.key == "held#\(codeHeld.id)")
        #expect(heldCodeRows.last?.billing == .billable(), "the engine's second check")
        #expect(rows.first { $0.transactionID == "held-sub" }?.state == .held)

        // Discard the other: gone from the held list, never sent.
        let discarded = Posted()
        let subscriptionHeld = queue.heldEvents[1]
        await runner.run(
            EffectRequest(id: RequestID(3), effect: .discardHeld(id: subscriptionHeld.id)), post: discarded.post)
        guard case .operationSucceeded(RequestID(3), let text)? = discarded.all.first else {
            Issue.record("discard: \(discarded.all)")
            return
        }
        #expect(text.contains("discarded held event \(subscriptionHeld.id)"))
        #expect(try await engine.heldEvents(limit: 200, offset: 0).isEmpty)
        #expect(await engine.stats().billing.held == BillingCounts())
        #expect(!sandbox.events().contains { $0.transactionID == "held-sub" })

        // The poller's next read has an empty list; a second discard of the same id fails its own request.
        for _ in 0..<3 { _ = poller.polled(await engine.stats(), deadLetters: nil, attachedTo: nil, now: Date()) }
        let next = poller.polled(
            await engine.stats(), deadLetters: [], heldEvents: try await engine.heldEvents(limit: 200, offset: 0),
            attachedTo: nil, now: Date())
        let emptied = next.compactMap { if case .stats(let queue) = $0 { queue } else { nil } }.last
        #expect(emptied?.heldEvents == [] && emptied?.billing.held == 0)
        let again = Posted()
        await runner.run(
            EffectRequest(id: RequestID(4), effect: .discardHeld(id: subscriptionHeld.id)), post: again.post)
        guard case .operationFailed(RequestID(4), let error)? = again.all.first else {
            Issue.record("second discard: \(again.all)")
            return
        }
        #expect(error.message.contains("no held event has id \(subscriptionHeld.id)"))
    }
}
