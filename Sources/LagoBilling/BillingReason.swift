/// Why Lago will accept an event and still never bill it.
///
/// Lago's own names where Lago has them (its hourly post-validation, `events.errors`: `invalid_code`,
/// `missing_aggregation_property`, `invalid_filter_values`); the console's for what Lago never reports (an unknown,
/// inactive or missing subscription, an event before its subscription started, a customer whose subscription cannot
/// be told).
public enum BillingReason: String, Sendable, Hashable, Codable, CaseIterable, Comparable {
    /// The event names no subscription and no customer.
    case subscriptionMissing = "subscription_missing"
    /// No subscription of this Lago has the event's `external_subscription_id`.
    case subscriptionNotFound = "subscription_not_found"
    /// The subscription exists but is pending, canceled or terminated.
    case subscriptionNotActive = "subscription_not_active"
    /// The event's timestamp is before its subscription's `started_at`.
    case beforeSubscriptionStart = "before_subscription_start"
    /// The event names only a customer, and that customer has no active subscription.
    case customerHasNoActiveSubscription = "customer_has_no_active_subscription"
    /// The event names only a customer, and that customer has several active subscriptions.
    case ambiguousCustomerSubscription = "ambiguous_customer_subscription"
    /// No billable metric has the event's `code` (Lago's `invalid_code`).
    case invalidCode = "invalid_code"
    /// The metric's `field_name` property is absent, or not a number where the aggregation needs one (Lago's
    /// `missing_aggregation_property`).
    case missingAggregationProperty = "missing_aggregation_property"
    /// A property named like one of the metric's filters has a value outside that filter's list (Lago's
    /// `invalid_filter_values`).
    case invalidFilterValues = "invalid_filter_values"

    /// The order reasons are listed in: the subscription first, then the metric.
    public static func < (lhs: BillingReason, rhs: BillingReason) -> Bool { lhs.rank < rhs.rank }

    /// The reason's place in ``allCases`` (the order reasons are listed in).
    private var rank: Int {
        switch self {
        case .subscriptionMissing: 0
        case .subscriptionNotFound: 1
        case .subscriptionNotActive: 2
        case .beforeSubscriptionStart: 3
        case .customerHasNoActiveSubscription: 4
        case .ambiguousCustomerSubscription: 5
        case .invalidCode: 6
        case .missingAggregationProperty: 7
        case .invalidFilterValues: 8
        }
    }

    /// One sentence for the operator: what is wrong and what fixes it.
    /// The event's field at fault, in Lago's names (how the relay's `reject` answer keys the reason).
    public var field: String {
        switch self {
        case .subscriptionMissing, .subscriptionNotFound, .subscriptionNotActive: "external_subscription_id"
        case .beforeSubscriptionStart: "timestamp"
        case .customerHasNoActiveSubscription, .ambiguousCustomerSubscription: "external_customer_id"
        case .invalidCode: "code"
        case .missingAggregationProperty, .invalidFilterValues: "properties"
        }
    }

    public var explanation: String {
        switch self {
        case .subscriptionMissing:
            "The event names no external_subscription_id (Lago drops external_customer_id): Lago stores it and never "
                + "bills it; send the subscription's external id, or set a default subscription."
        case .subscriptionNotFound:
            "No subscription of this Lago has this external_subscription_id: Lago accepts the event and never bills "
                + "it; create the subscription or fix the id."
        case .subscriptionNotActive:
            "The subscription is not active (pending, canceled or terminated): its events are not billed; activate "
                + "it or send to the customer's active subscription."
        case .beforeSubscriptionStart:
            "The event's timestamp is before its subscription's started_at: Lago matches it to no subscription; fix "
                + "the timestamp or the subscription's start."
        case .customerHasNoActiveSubscription:
            "The event names only an external_customer_id (which Lago drops) and that customer has no active "
                + "subscription to bill it to; create one or send external_subscription_id."
        case .ambiguousCustomerSubscription:
            "The event names only an external_customer_id (which Lago drops) and that customer has several active "
                + "subscriptions; send external_subscription_id to say which one."
        case .invalidCode:
            "No billable metric has this code: Lago accepts the event and never bills it; create the metric or remap "
                + "the field to an existing code."
        case .missingAggregationProperty:
            "The metric aggregates a property the event lacks, or one that is not a number (Lago wants "
                + "-?digits[.digits]); send it under the metric's field_name."
        case .invalidFilterValues:
            "A property named like one of the metric's filters has a value outside the filter's list: Lago does not "
                + "bill it; use one of the listed values."
        }
    }
}
