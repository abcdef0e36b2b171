public import Foundation
public import LagoAPI

/// What a Lago bills with, at one moment: its billable metrics and its subscriptions of every status.
///
/// A value: the engine and the relay check events against the last snapshot loaded, and its ``loadedAt`` says
/// how old it is.
public struct BillingCatalogue: Sendable {
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
    }
}
