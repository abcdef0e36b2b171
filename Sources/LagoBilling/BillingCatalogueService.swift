public import Foundation
public import LagoAPI
import Synchronization

/// What the console and `status` show of the catalogue: its age, and the last error reading it.
public struct BillingCatalogueStatus: Sendable, Hashable, Codable {
    // Lago's snake_case names in --json and on the control API.
    enum CodingKeys: String, CodingKey {
        case metrics, subscriptions
        case loadedAt = "loaded_at"
        case lastError = "last_error"
        case lastErrorAt = "last_error_at"
        case lastErrorStatus = "last_error_status"
    }

    /// When the snapshot in use was read; `nil` until the first good load (events are `unchecked` until then).
    public var loadedAt: Date?
    /// Billable metrics and subscriptions in it.
    public var metrics: Int
    /// Subscriptions of every status in it.
    public var subscriptions: Int
    /// The last load's failure in Lago's words, `nil` once a load succeeds again (the last good snapshot stays).
    public var lastError: String?
    /// When that failure happened.
    public var lastErrorAt: Date?
    /// The HTTP status Lago answered that failure with (`nil`: it did not answer, or no failure): 401 says the
    /// API key is wrong, from the first read on, before any event is sent.
    public var lastErrorStatus: Int?

    /// Creates a status.
    public init(
        loadedAt: Date?, metrics: Int, subscriptions: Int, lastError: String? = nil, lastErrorAt: Date? = nil
    ) {
        self.loadedAt = loadedAt
        self.metrics = metrics
        self.subscriptions = subscriptions
        self.lastError = lastError
        self.lastErrorAt = lastErrorAt
    }

    /// The status of `catalogue` (`nil`: none loaded yet), with the last load's failure.
    public init(
        _ catalogue: BillingCatalogue?, lastError: String? = nil, lastErrorAt: Date? = nil, lastErrorStatus: Int? = nil
    ) {
        self.init(
            loadedAt: catalogue?.loadedAt, metrics: catalogue?.metrics.count ?? 0,
            subscriptions: catalogue?.subscriptionCount ?? 0, lastError: lastError, lastErrorAt: lastErrorAt)
        self.lastErrorStatus = lastErrorStatus
    }
}

/// Keeps a ``BillingCatalogue`` fresh from the configured Lago and checks events against it.
///
/// Every page of billable metrics and of subscriptions (active, pending, canceled, terminated) is read at start,
/// every refresh interval, on demand (``refresh()``) and early when an event names a code or subscription the
/// catalogue does not know (at most once per 10 s per name, and never sooner than 5 s after the last load). Pages
/// are paced to stay well within Lago's 50 requests/s for these endpoints. A failed load keeps the last good snapshot
/// and is retried after 5 s.
public final class BillingCatalogueService: BillingChecker {
    /// The least time between two page requests (25 ms: 40 requests/s at most, under Lago's 50/s).
    public static let pageSpacing = Duration.milliseconds(25)

    private struct State: Sendable {
        var machine: CatalogueRefreshStateMachine
        var catalogue: BillingCatalogue?
        var lastError: String?
        var lastErrorAt: Date?
        var lastErrorStatus: Int?
        var wake: CheckedContinuation<Void, Never>?
        /// Inputs since the loop last looked, coalesced: a refresh asked, and the unknown names seen (at most
        /// ``maxUnknownNames``; more within one wake-up are one refresh all the same).
        var refreshRequested = false
        var unknownNames: Set<String> = []
        var hasInputs: Bool { refreshRequested || !unknownNames.isEmpty }
    }

    private enum Input: Sendable {
        case refresh
        case unknown(String)
    }

    private static let maxUnknownNames = 1_000

    private let client: LagoClient
    private let state: Mutex<State>

    /// A service reading through `client` (owned by the caller) every `refreshInterval`, early loads at least
    /// `minimumLoadSpacing` after the last one. Call ``run()`` in a task.
    public init(
        client: LagoClient, refreshInterval: Duration = .seconds(60), minimumLoadSpacing: Duration = .seconds(5)
    ) {
        self.client = client
        var settings = CatalogueRefreshStateMachine.Settings(refreshInterval: refreshInterval)
        settings.minimumLoadSpacing = minimumLoadSpacing
        state = Mutex(State(machine: CatalogueRefreshStateMachine(settings: settings)))
    }

    /// The snapshot in use (`nil` before the first good load).
    public var catalogue: BillingCatalogue? { state.withLock { $0.catalogue } }

    /// The catalogue's age and last error (``BillingChecker``'s view of it).
    public var catalogueStatus: BillingCatalogueStatus? { status }

    /// The catalogue's age and last error.
    public var status: BillingCatalogueStatus {
        state.withLock {
            BillingCatalogueStatus(
                $0.catalogue, lastError: $0.lastError, lastErrorAt: $0.lastErrorAt, lastErrorStatus: $0.lastErrorStatus)
        }
    }

    /// The verdict on `event` against the snapshot in use; a code or subscription it does not know asks for an
    /// early load (so a metric created a moment ago is known within seconds; loads are at least 5 s apart).
    public func check(_ event: BillingEvent) -> BillingVerdict {
        let verdict = BillingCheck.check(event, against: catalogue)
        if verdict.reasons.contains(.invalidCode) { post(.unknown("code:" + event.code)) }
        if verdict.reasons.contains(.subscriptionNotFound), let id = event.externalSubscriptionID {
            post(.unknown("subscription:" + id))
        }
        if verdict.reasons.contains(.customerHasNoActiveSubscription), let id = event.externalCustomerID {
            post(.unknown("customer:" + id))
        }
        return verdict
    }

    /// The external id of `customer`'s only active subscription, for an event that names the customer and no
    /// subscription; `nil` when the customer has none or several (or no catalogue is loaded). A customer the
    /// catalogue does not know asks for an early load.
    public func subscription(forCustomer customer: String) -> String? {
        guard let catalogue else { return nil }
        let active = catalogue.activeSubscriptionsByCustomer[customer] ?? []
        if active.isEmpty { post(.unknown("customer:" + customer)) }
        return active.count == 1 ? active[0].externalID : nil
    }

    /// Waits until the first load ends (a catalogue, or its error) or `timeout` passes, so that a server opening
    /// its doors checks its first events instead of calling them `unchecked`. Returns whether a catalogue is loaded.
    public func firstLoad(timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline, !Task.isCancelled {
            let done = state.withLock { $0.catalogue != nil || $0.lastError != nil }
            if done { break }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return catalogue != nil
    }

    /// Asks for a load now (the operator's refresh).
    public func refresh() { post(.refresh) }

    /// Loads at once, then keeps the catalogue fresh until the task is cancelled.
    public func run() async {
        var action = state.withLock { $0.machine.started(now: .now) }
        while !Task.isCancelled {
            if action == .load {
                let succeeded = await load()
                action = state.withLock { $0.machine.loadFinished(succeeded: succeeded, now: .now) }
                continue
            }
            let due = state.withLock { $0.machine.nextLoadAt }
            await waitForInput(until: due)
            let now = ContinuousClock.now
            action = state.withLock { state in
                var next = state.machine.tick(now: now)
                if state.refreshRequested, state.machine.requested(now: now) == .load { next = .load }
                for name in state.unknownNames where state.machine.unknownSeen(name, now: now) == .load {
                    next = .load
                }
                state.refreshRequested = false
                state.unknownNames = []
                return next
            }
        }
    }

    /// Reads every page; keeps the snapshot on success, the error on failure.
    private func load() async -> Bool {
        do {
            let catalogue = try await Self.load(client: client)
            state.withLock {
                $0.catalogue = catalogue
                $0.lastError = nil
                $0.lastErrorAt = nil
                $0.lastErrorStatus = nil
            }
            return true
        } catch {
            state.withLock {
                $0.lastError = "\(error)"
                $0.lastErrorAt = Date()
                $0.lastErrorStatus = (error as? LagoAPIError)?.status
            }
            return false
        }
    }

    /// Every page of billable metrics and subscriptions (every status), paced by ``pageSpacing``.
    ///
    /// - Throws: ``LagoAPIError`` in Lago's words, or the transport's failure.
    public static func load(client: LagoClient) async throws -> BillingCatalogue {
        let started = Date()
        let metrics = try await client.allBillableMetrics(pageSpacing: pageSpacing)
        try await Task.sleep(for: pageSpacing)
        let subscriptions = try await client.allSubscriptions(
            status: [.active, .pending, .canceled, .terminated], pageSpacing: pageSpacing)
        return BillingCatalogue(metrics: metrics, subscriptions: subscriptions, loadedAt: started)
    }

    private func post(_ input: Input) {
        let wake = state.withLock { state -> CheckedContinuation<Void, Never>? in
            switch input {
            case .refresh: state.refreshRequested = true
            case .unknown(let name):
                if state.unknownNames.count < Self.maxUnknownNames { state.unknownNames.insert(name) }
            }
            defer { state.wake = nil }
            return state.wake
        }
        wake?.resume()
    }

    /// Waits until an input arrives, `deadline` passes or the task is cancelled.
    private func waitForInput(until deadline: ContinuousClock.Instant?) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await withTaskCancellationHandler {
                    await withCheckedContinuation { continuation in
                        let ready = self.state.withLock { state -> Bool in
                            if state.hasInputs || Task.isCancelled { return true }
                            state.wake = continuation
                            return false
                        }
                        if ready { continuation.resume() }
                    }
                } onCancel: {
                    let wake = self.state.withLock { state -> CheckedContinuation<Void, Never>? in
                        defer { state.wake = nil }
                        return state.wake
                    }
                    wake?.resume()
                }
            }
            if let deadline {
                group.addTask { try? await Task.sleep(until: deadline, clock: .continuous) }
            }
            await group.next()
            group.cancelAll()
        }
    }
}
