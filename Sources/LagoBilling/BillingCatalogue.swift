public import Foundation
public import LagoAPI

/// What a Lago bills with, at one moment: its billable metrics and its subscriptions of every status.
///
/// Immutable: the engine and the relay check events against the last snapshot loaded, and its ``loadedAt`` says
/// how old it is. A class, so handing the snapshot to each check costs one reference, and the check reads the small
/// rules computed once here (``MetricRule``, ``SubscriptionRule``), never copies of Lago's records.
public final class BillingCatalogue: Sendable {
    /// When the snapshot was read from Lago.
    public let loadedAt: Date
    /// Billable metrics by code.
    public let metrics: [String: BillableMetric]
    /// Subscriptions by external id (an upgraded plan leaves a terminated one beside the active one under the same
    /// external id), newest first.
    public let subscriptions: [String: [Subscription]]
    /// Active subscriptions by external customer id.
    public let activeSubscriptionsByCustomer: [String: [Subscription]]
    /// Subscriptions of every status in the snapshot.
    public let subscriptionCount: Int

    /// A snapshot of `metrics` and `subscriptions` (every status), read at `loadedAt`.
    public init(metrics: [BillableMetric], subscriptions: [Subscription], loadedAt: Date) {
        self.loadedAt = loadedAt
        self.metrics = Dictionary(metrics.map { ($0.code, $0) }, uniquingKeysWith: { first, _ in first })
        let newestFirst = subscriptions.sorted {
            ($0.startedAt?.date ?? .distantFuture) > ($1.startedAt?.date ?? .distantFuture)
        }
        self.subscriptions = Dictionary(grouping: newestFirst, by: \.externalID)
        self.subscriptionCount = subscriptions.count
        var byCustomer: [String: [Subscription]] = [:]
        for subscription in newestFirst where subscription.status == .active {
            guard let customer = subscription.externalCustomerID else { continue }
            byCustomer[customer, default: []].append(subscription)
        }
        self.activeSubscriptionsByCustomer = byCustomer
        metricRules = self.metrics.mapValues(MetricRule.init)
        subscriptionRules = self.subscriptions.mapValues { candidates in
            let active = candidates.first { $0.status == .active }
            return SubscriptionRule(hasActive: active != nil, startedAt: active?.startedAt?.date)
        }
        customerRules = byCustomer.mapValues { active in
            CustomerRule(
                activeCount: active.count, onlyExternalID: active.count == 1 ? active[0].externalID : nil,
                onlyStartedAt: active.count == 1 ? active[0].startedAt?.date : nil)
        }
    }

    /// What the check needs of each metric, by code.
    let metricRules: [String: MetricRule]
    /// What the check needs of each subscription external id (its newest active one).
    let subscriptionRules: [String: SubscriptionRule]
    /// What the check needs of each customer's active subscriptions.
    let customerRules: [String: CustomerRule]
}

/// What Lago's post-validation reads of a billable metric.
final class MetricRule: Sendable {
    /// The property Lago aggregates, when it reads one (not `count_agg`, `custom_agg`, nor a metric whose
    /// `expression` computes it at ingest).
    let field: String?
    /// The property must match `^-?\d+(\.\d+)?$` (sum, max, weighted sum, latest); else only be present.
    let numeric: Bool
    /// Filter keys with their allowed values.
    let filters: [(key: String, values: Set<String>)]

    init(_ metric: BillableMetric) {
        let reads: Bool
        switch metric.aggregationType {
        case .countAgg, .customAgg: reads = false
        default: reads = (metric.expression ?? "").isEmpty
        }
        field = reads ? ((metric.fieldName ?? "").isEmpty ? nil : metric.fieldName) : nil
        switch metric.aggregationType {
        case .sumAgg, .maxAgg, .weightedSumAgg, .latestAgg: numeric = true
        default: numeric = false
        }
        filters = (metric.filters ?? []).map { ($0.key, Set($0.values)) }
    }
}

/// A subscription external id as the check reads it.
struct SubscriptionRule: Sendable {
    /// One of its subscriptions is active.
    let hasActive: Bool
    /// That one's `started_at`.
    let startedAt: Date?
}

/// A customer's active subscriptions as the check reads them.
struct CustomerRule: Sendable {
    let activeCount: Int
    /// The only active one's external id and start, when there is exactly one.
    let onlyExternalID: String?
    let onlyStartedAt: Date?
}
