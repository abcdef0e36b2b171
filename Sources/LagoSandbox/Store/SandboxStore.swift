import Foundation
import LagoAPI
import LagoIngest
import Synchronization

/// Why the store refused a change.
enum StoreError: Error, Equatable {
    /// A billable metric with this code exists (Lago: `{"code":["value_already_exist"]}`).
    case metricCodeTaken
    /// No such billable metric.
    case metricNotFound
    /// Writing to the `--data` file failed.
    case persistence(String)
}

/// The sandbox's data: events, billable metrics, customers and subscriptions, in memory behind one lock, written
/// through to SQLite when a data path is set.
///
/// Ingestion holds the lock for the whole batch (dedup check, file write, append), which makes a batch
/// all-or-nothing and concurrent batches serializable, like Lago's `insert_all` inside a transaction.
final class SandboxStore: Sendable {
    /// The dedup key of Lago's unique index `(organization_id, external_subscription_id, transaction_id)`.
    /// Events without a subscription never collide (Postgres treats NULLs as distinct), as in Lago.
    struct EventKey: Hashable {
        var externalSubscriptionID: String
        var transactionID: String
    }

    typealias ExpressionRule = EventValidation.ExpressionRule

    struct State {
        var events: [SandboxEvent] = []
        var keys: Set<EventKey> = []
        var firstIndexByTransactionID: [String: Int] = [:]
        var metrics: [SandboxBillableMetric] = []
        var customers: [SandboxCustomer] = []
        var subscriptions: [SandboxSubscription] = []
        var plans: [SandboxPlan] = []
        var expressionRules: [String: ExpressionRule] = [:]
        var nextOrder = 0
        var batchesAccepted = 0
        var singleEventsAccepted = 0
        var duplicateAttemptsRejected = 0

        mutating func rebuildExpressionRules() {
            expressionRules = [:]
            for metric in metrics {
                guard let source = metric.expression, !source.isEmpty, let fieldName = metric.fieldName,
                    let expression = try? SandboxExpression(source)
                else { continue }
                expressionRules[metric.code] = ExpressionRule(fieldName: fieldName, expression: expression)
            }
        }

        mutating func append(_ event: SandboxEvent) {
            let index = events.count
            events.append(event)
            if let subscription = event.externalSubscriptionID {
                keys.insert(EventKey(externalSubscriptionID: subscription, transactionID: event.transactionID))
            }
            if firstIndexByTransactionID[event.transactionID] == nil {
                firstIndexByTransactionID[event.transactionID] = index
            }
        }
    }

    private let state: Mutex<State>
    private let persistence: SandboxPersistence?

    /// Opens the store, loading `dataPath` when given.
    /// - Throws: when the SQLite file cannot be opened or read.
    init(dataPath: String?) throws {
        var initial = State()
        if let dataPath {
            let persistence = try SandboxPersistence(path: dataPath)
            let snapshot = try persistence.load()
            for event in snapshot.events { initial.append(event) }
            initial.metrics = snapshot.metrics
            initial.customers = snapshot.customers
            initial.subscriptions = snapshot.subscriptions
            initial.plans = snapshot.plans
            initial.nextOrder =
                snapshot.metrics.count + snapshot.customers.count + snapshot.subscriptions.count + snapshot.plans.count
            initial.rebuildExpressionRules()
            self.persistence = persistence
        } else {
            self.persistence = nil
        }
        state = Mutex(initial)
    }

    /// Closes the SQLite file, if any.
    func close() {
        try? persistence?.close()
    }

    // MARK: - Events

    enum InsertOutcome {
        case stored([SandboxEvent])
        /// 0-based indexes of events whose `(external_subscription_id, transaction_id)` is already stored or
        /// repeats an earlier event of the same request (the first occurrence wins).
        case duplicates([Int])
    }

    /// Phase 2: rejects the whole request if any event is a duplicate; otherwise stores all events.
    /// - Throws: `StoreError.persistence` when the SQLite write fails (nothing stored).
    func insert(_ drafts: [EventDraft], createdAt: Int64, isBatch: Bool) throws -> InsertOutcome {
        // Made before taking the lock (unused when the request turns out to hold duplicates).
        let lagoIDs = drafts.map { _ in RandomUUID.lowercasedString() }
        return try state.withLock { state in
            var seen = Set<EventKey>(minimumCapacity: drafts.count)
            var duplicates: [Int] = []
            for (index, draft) in drafts.enumerated() {
                guard let subscription = draft.externalSubscriptionID else { continue }
                let key = EventKey(externalSubscriptionID: subscription, transactionID: draft.transactionID)
                if state.keys.contains(key) || !seen.insert(key).inserted {
                    duplicates.append(index)
                }
            }
            if !duplicates.isEmpty {
                state.duplicateAttemptsRejected += duplicates.count
                return .duplicates(duplicates)
            }
            let events = zip(drafts, lagoIDs).map { draft, lagoID in
                SandboxEvent(
                    lagoID: lagoID,
                    transactionID: draft.transactionID,
                    externalSubscriptionID: draft.externalSubscriptionID,
                    code: draft.code,
                    timestampMicroseconds: draft.timestampMicroseconds,
                    preciseTotalAmountCents: draft.preciseTotalAmountCents,
                    properties: draft.properties,
                    createdAtMicroseconds: createdAt
                )
            }
            if let persistence {
                do {
                    try persistence.insert(events)
                } catch {
                    throw StoreError.persistence(String(describing: error))
                }
            }
            for event in events { state.append(event) }
            if isBatch { state.batchesAccepted += 1 } else { state.singleEventsAccepted += 1 }
            return .stored(events)
        }
    }

    /// Expression rules by metric code (metrics with an `expression`), read once per request.
    var expressionRules: [String: ExpressionRule] {
        state.withLock { $0.expressionRules }
    }

    /// The first stored event with this transaction id (any subscription), as Lago's `find_by`.
    func firstEvent(transactionID: String) -> SandboxEvent? {
        state.withLock { state in
            state.firstIndexByTransactionID[transactionID].map { state.events[$0] }
        }
    }

    /// Stored events, in insertion order, optionally of one subscription.
    func events(subscription: String? = nil) -> [SandboxEvent] {
        state.withLock { state in
            guard let subscription else { return state.events }
            return state.events.filter { $0.externalSubscriptionID == subscription }
        }
    }

    /// Events matching a predicate, in insertion order (the predicate runs under the store lock: keep it cheap).
    func events(where predicate: (SandboxEvent) -> Bool) -> [SandboxEvent] {
        state.withLock { state in state.events.filter(predicate) }
    }

    struct Counters {
        var eventsStored: Int
        var uniqueTransactionIDs: Int
        var duplicateAttemptsRejected: Int
        var batchesAccepted: Int
        var singleEventsAccepted: Int
    }

    var counters: Counters {
        state.withLock { state in
            Counters(
                eventsStored: state.events.count,
                uniqueTransactionIDs: state.firstIndexByTransactionID.count,
                duplicateAttemptsRejected: state.duplicateAttemptsRejected,
                batchesAccepted: state.batchesAccepted,
                singleEventsAccepted: state.singleEventsAccepted
            )
        }
    }

    func resetCounters() {
        state.withLock { state in
            state.duplicateAttemptsRejected = 0
            state.batchesAccepted = 0
            state.singleEventsAccepted = 0
        }
    }

    var eventCount: Int {
        state.withLock { $0.events.count }
    }

    // MARK: - Billable metrics

    var metrics: [SandboxBillableMetric] {
        state.withLock { $0.metrics }
    }

    func metric(code: String) -> SandboxBillableMetric? {
        state.withLock { state in state.metrics.first { $0.code == code } }
    }

    /// Adds a metric.
    /// - Throws: `StoreError.metricCodeTaken`, or `.persistence` when the file write fails.
    func add(_ metric: SandboxBillableMetric) throws {
        try state.withLock { state in
            guard !state.metrics.contains(where: { $0.code == metric.code }) else { throw StoreError.metricCodeTaken }
            do {
                try persistence?.save(metric: metric, order: state.nextOrder)
            } catch {
                throw StoreError.persistence(String(describing: error))
            }
            state.nextOrder += 1
            state.metrics.append(metric)
            state.rebuildExpressionRules()
        }
    }

    /// Removes a metric and returns it.
    /// - Throws: `StoreError.metricNotFound`, or `.persistence` when the file write fails.
    @discardableResult
    func removeMetric(code: String) throws -> SandboxBillableMetric {
        try state.withLock { state in
            guard let index = state.metrics.firstIndex(where: { $0.code == code }) else {
                throw StoreError.metricNotFound
            }
            do {
                try persistence?.deleteMetric(code: code)
            } catch {
                throw StoreError.persistence(String(describing: error))
            }
            let metric = state.metrics.remove(at: index)
            state.rebuildExpressionRules()
            return metric
        }
    }

    // MARK: - Customers and subscriptions

    var customers: [SandboxCustomer] {
        state.withLock { $0.customers }
    }

    var subscriptions: [SandboxSubscription] {
        state.withLock { $0.subscriptions }
    }

    func customer(externalID: String) -> SandboxCustomer? {
        state.withLock { state in state.customers.first { $0.externalID == externalID } }
    }

    /// Adds or replaces a customer (by external id) and returns it with its sequential id.
    @discardableResult
    func upsert(_ customer: SandboxCustomer) throws -> SandboxCustomer {
        try state.withLock { state in
            var customer = customer
            if let index = state.customers.firstIndex(where: { $0.externalID == customer.externalID }) {
                customer.sequentialID = state.customers[index].sequentialID
                customer.lagoID = state.customers[index].lagoID
                try save(customer, order: state.nextOrder)
                state.customers[index] = customer
            } else {
                customer.sequentialID = (state.customers.map(\.sequentialID).max() ?? 0) + 1
                try save(customer, order: state.nextOrder)
                state.customers.append(customer)
            }
            state.nextOrder += 1
            return customer
        }
    }

    private func save(_ customer: SandboxCustomer, order: Int) throws {
        do {
            try persistence?.save(customer: customer, order: order)
        } catch {
            throw StoreError.persistence(String(describing: error))
        }
    }

    /// Adds or replaces a subscription (by external id); its plan becomes known if it was not.
    func upsert(_ subscription: SandboxSubscription) throws {
        try state.withLock { state in
            try Self.store(subscription, plan: SandboxPlan(code: subscription.planCode), in: &state, persistence)
        }
    }

    private static func store(
        _ subscription: SandboxSubscription, plan: SandboxPlan, in state: inout State,
        _ persistence: SandboxPersistence?
    ) throws {
        var subscription = subscription
        let existing = state.subscriptions.firstIndex(where: { $0.externalID == subscription.externalID })
        if let existing { subscription.lagoID = state.subscriptions[existing].lagoID }
        let newPlan = !state.plans.contains { $0.code == subscription.planCode }
        do {
            try persistence?.save(subscription: subscription, order: state.nextOrder)
            if newPlan { try persistence?.save(plan: plan, order: state.nextOrder + 1) }
        } catch {
            throw StoreError.persistence(String(describing: error))
        }
        state.nextOrder += 2
        if newPlan { state.plans.append(plan) }
        if let existing {
            state.subscriptions[existing] = subscription
        } else {
            state.subscriptions.append(subscription)
        }
    }

    /// The customer with `customer`'s external id, adding `customer` (with the next sequential id) if there is none.
    /// - Throws: `StoreError.persistence` when the file write fails.
    func customer(creatingIfMissing customer: SandboxCustomer) throws -> SandboxCustomer {
        try state.withLock { state in
            if let existing = state.customers.first(where: { $0.externalID == customer.externalID }) { return existing }
            var customer = customer
            customer.sequentialID = (state.customers.map(\.sequentialID).max() ?? 0) + 1
            try save(customer, order: state.nextOrder)
            state.nextOrder += 1
            state.customers.append(customer)
            return customer
        }
    }

    /// What ``create(_:customer:)`` did.
    enum SubscriptionOutcome {
        /// Stored, with the customer it belongs to (created when it was unknown).
        case created(SandboxSubscription, SandboxCustomer)
        /// The customer already has this subscription, active or pending, on this plan: Lago changes nothing.
        case unchanged(SandboxSubscription, SandboxCustomer)
        /// Another customer has an active subscription with this external id (or a pending one: Lago would add a
        /// second, the sandbox keeps one subscription per external id).
        case externalIDTaken
        /// The customer has this subscription on another plan (an upgrade or downgrade, not modelled).
        case planChange(SandboxSubscription)
    }

    /// Lago's `Subscriptions::CreateService` under one lock: creates `customer` if no customer has its external
    /// id, then stores `subscription` unless the customer already has it (active or pending) or another customer's
    /// active subscription has its external id. A terminated or canceled one with the same id is replaced.
    /// - Throws: `StoreError.persistence` when the file write fails.
    func create(_ subscription: SandboxSubscription, customer: SandboxCustomer) throws -> SubscriptionOutcome {
        try state.withLock { state in
            let sameID = state.subscriptions.first { $0.externalID == subscription.externalID }
            let customerIndex = state.customers.firstIndex { $0.externalID == subscription.externalCustomerID }
            if let sameID, sameID.status == .active || sameID.status == .pending {
                guard sameID.externalCustomerID == subscription.externalCustomerID, let customerIndex else {
                    return .externalIDTaken
                }
                guard sameID.planCode == subscription.planCode else { return .planChange(sameID) }
                return .unchanged(sameID, state.customers[customerIndex])
            }
            var owner: SandboxCustomer
            if let customerIndex {
                owner = state.customers[customerIndex]
                if owner.currency == nil {
                    // Lago's `UpdateCurrencyService`: a customer without a currency takes the plan's.
                    owner.currency = subscription.currency
                    try save(owner, order: state.nextOrder)
                    state.nextOrder += 1
                    state.customers[customerIndex] = owner
                }
            } else {
                owner = customer
                owner.sequentialID = (state.customers.map(\.sequentialID).max() ?? 0) + 1
                try save(owner, order: state.nextOrder)
                state.nextOrder += 1
                state.customers.append(owner)
            }
            let plan =
                state.plans.first { $0.code == subscription.planCode } ?? SandboxPlan(code: subscription.planCode)
            try Self.store(subscription, plan: plan, in: &state, persistence)
            return .created(state.subscriptions.first { $0.externalID == subscription.externalID }!, owner)
        }
    }

    /// Ends the subscription with `externalID` and `status` (active or pending) at `now`, as Lago's
    /// `TerminateService`: an active one is terminated, a pending one canceled. Nil when there is none.
    /// - Throws: `StoreError.persistence` when the file write fails.
    func terminate(externalID: String, status: SandboxSubscriptionStatus, now: Int64) throws -> SandboxSubscription? {
        try state.withLock { state in
            guard
                let index = state.subscriptions.firstIndex(where: { $0.externalID == externalID && $0.status == status }
                )
            else { return nil }
            var subscription = state.subscriptions[index]
            if subscription.status == .pending {
                subscription.status = .canceled
                subscription.canceledAtMicroseconds = now
            } else {
                subscription.status = .terminated
                subscription.terminatedAtMicroseconds = now
            }
            do {
                try persistence?.save(subscription: subscription, order: state.nextOrder)
            } catch {
                throw StoreError.persistence(String(describing: error))
            }
            state.nextOrder += 1
            state.subscriptions[index] = subscription
            return subscription
        }
    }

    // MARK: - Plans

    var plans: [SandboxPlan] {
        state.withLock { $0.plans }
    }

    func plan(code: String) -> SandboxPlan? {
        state.withLock { state in state.plans.first { $0.code == code } }
    }

    /// Adds a plan, or renames the one with its code.
    /// - Throws: `StoreError.persistence` when the file write fails.
    func upsert(_ plan: SandboxPlan) throws {
        try state.withLock { state in
            var plan = plan
            let existing = state.plans.firstIndex { $0.code == plan.code }
            if let existing { plan.lagoID = state.plans[existing].lagoID }
            do {
                try persistence?.save(plan: plan, order: state.nextOrder)
            } catch {
                throw StoreError.persistence(String(describing: error))
            }
            state.nextOrder += 1
            if let existing { state.plans[existing] = plan } else { state.plans.append(plan) }
        }
    }

    /// Adds the seed (metrics, plan, customer, subscription) where absent; existing records are kept.
    func seed(now: Date, unitAmount: String = "0.001") throws {
        if plan(code: SandboxSeed.planCode) == nil {
            try upsert(SandboxPlan(code: SandboxSeed.planCode, name: "Sandbox plan", createdAt: now))
        }
        for code in SandboxSeed.metricCodes where metric(code: code) == nil {
            try add(
                SandboxBillableMetric(
                    code: code,
                    name: SandboxSeed.name(for: code),
                    description: "Seeded by the Lago Console sandbox: sum of properties.value",
                    aggregationType: .sumAgg,
                    fieldName: SandboxSeed.valueProperty,
                    createdAt: now
                )
            )
        }
        if customer(externalID: SandboxSeed.customerExternalID) == nil {
            try upsert(
                SandboxCustomer(externalID: SandboxSeed.customerExternalID, name: "Sandbox customer", createdAt: now)
            )
        }
        if !subscriptions.contains(where: { $0.externalID == SandboxSeed.subscriptionExternalID }) {
            try upsert(
                SandboxSubscription(
                    externalID: SandboxSeed.subscriptionExternalID,
                    externalCustomerID: SandboxSeed.customerExternalID,
                    planCode: SandboxSeed.planCode,
                    name: "Sandbox subscription",
                    unitAmount: unitAmount,
                    createdAt: now
                )
            )
        }
    }
}
