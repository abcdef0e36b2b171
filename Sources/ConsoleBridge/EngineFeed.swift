public import ConsoleUI
import Foundation
import LagoAPI
public import LagoBilling
import LagoConfig
import LagoControl
public import LagoEngine
import LagoUsage
import Synchronization

/// What the console learns from the engine while it runs: lifecycle changes (batched, bounded) and stats
/// snapshots (``StatsPoller``), posted as console events. Each function runs until its task is cancelled.
public struct EngineFeed: Sendable {
    private let engine: any EngineControl
    private let post: @Sendable (ConsoleEvent) -> Void
    private let check: (@Sendable (BillingEvent) -> BillingVerdict)?
    private let catalogue: BillingCatalogueService?

    /// Feeds the console from `engine` through `post`; `check` gives each event its billing verdict, against
    /// `catalogue` (whose metrics, age and last error the Billing pane shows).
    public init(
        engine: any EngineControl, check: (@Sendable (BillingEvent) -> BillingVerdict)? = nil,
        catalogue: BillingCatalogueService? = nil, post: @escaping @Sendable (ConsoleEvent) -> Void
    ) {
        self.engine = engine
        self.check = check
        self.catalogue = catalogue
        self.post = post
    }

    /// Engine lifecycle changes, coalesced into one console event per ~50 ms (bounded: see ``LifecycleBuffer``).
    public func forwardLifecycle() async {
        let stream = engine.lifecycleEvents(bufferSize: 20_000)
        let lifecycle = SharedLifecycleBuffer(check: check)
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await change in stream { lifecycle.buffer.withLock { $0.append(change) } }
            }
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(50))
                    let batch = lifecycle.buffer.withLock { $0.take() }
                    if batch.missed > 0 { self.post(.lifecycleMissed(batch.missed)) }
                    guard !batch.updates.isEmpty else { continue }
                    self.post(.eventLifecycle(batch.updates))
                    // Events resumed from the spool: their earlier attempts (Lago's answers) are read back, for
                    // at most 100 rows per 50 ms (a spool of a million retried events must not stall this loop).
                    for id in batch.resumed.prefix(100) {
                        if let attempts = try? await self.engine.attemptLog(eventID: id), !attempts.isEmpty {
                            self.post(.eventAttempts(key: "#\(id)", LifecycleAdapter.timeline(attempts)))
                        }
                    }
                }
            }
            await group.next()
            group.cancelAll()
        }
    }

    /// Engine stats four times a second; dead letters, held events and the catalogue's status once a second;
    /// ``StatsPoller`` decides what to post.
    public func pollStats(connection: ConnectionInfo) async {
        var poller = StatsPoller(connection: connection)
        while !Task.isCancelled {
            guard let stats = try? await engine.stats() else {
                poller.unavailable().forEach(post)
                try? await Task.sleep(for: StatsPoller.unavailableRetryInterval)
                continue
            }
            let readsLists = poller.readsDeadLetters
            let letters = readsLists ? try? await engine.deadLetters(limit: 200) : nil
            let held = readsLists ? try? await engine.heldEvents(limit: 200, offset: 0) : nil
            let attachedTo = (engine as? RemoteEngine).map { EngineHolder($0.endpoint) }
            poller.polled(stats, deadLetters: letters, heldEvents: held, attachedTo: attachedTo, now: Date())
                .forEach(post)
            if readsLists, let catalogue {
                poller.catalogue(catalogue.catalogue, status: catalogue.status).forEach(post)
            }
            try? await Task.sleep(for: StatsPoller.pollInterval)
        }
    }

}

/// The lifecycle buffer shared by the task reading the engine's stream and the one handing batches on.
private final class SharedLifecycleBuffer: Sendable {
    let buffer: Mutex<LifecycleBuffer>

    init(check: (@Sendable (BillingEvent) -> BillingVerdict)?) {
        buffer = Mutex(LifecycleBuffer(check: check))
    }
}

/// Realistic demo traffic for the embedded sandbox.
public enum DemoTraffic {
    /// Realistic LLM usage: a few models and providers, token counts with a long tail, occasional cache and tool use.
    public static func run(engine: any EngineControl, coding: UsageCoding) async {
        var random = SystemRandomNumberGenerator()
        let models = [
            ("gpt-4.1", "openai"), ("claude-sonnet-4", "anthropic"), ("gemini-2.5-pro", "google"),
            ("llama-3.3-70b", "meta"),
        ]
        while !Task.isCancelled {
            let (model, provider) = models.randomElement(using: &random)!
            var values: [CanonicalField: Double] = [
                .input: Double(Int.random(in: 50...4000, using: &random)),
                .output: Double(Int.random(in: 10...1200, using: &random)),
            ]
            if Bool.random(using: &random) { values[.cacheRead] = Double(Int.random(in: 100...8000, using: &random)) }
            if Int.random(in: 0..<5, using: &random) == 0 {
                values[.toolCalls] = Double(Int.random(in: 1...4, using: &random))
            }
            if provider == "anthropic", Int.random(in: 0..<4, using: &random) == 0 {
                values[.cacheWrite5m] = Double(Int.random(in: 200...3000, using: &random))
            }
            let record = UsageRecord(
                values: values, dimensions: ["model": .string(model), "provider": .string(provider)])
            if let coded = try? coding.events(for: record) {
                _ = try? await engine.enqueue(coded.map(\.event), codedBy: coded.map(\.coding))
            }
            try? await Task.sleep(for: .milliseconds(Int.random(in: 300...900, using: &random)))
        }
    }
}
