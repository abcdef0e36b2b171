public import Foundation
public import LagoAPI

/// An event as the billing check reads it: what Lago matches it on.
public struct BillingEvent: Sendable, Hashable {
    /// The event's idempotency key (for the operator; not checked).
    public var transactionID: String
    /// The billable metric code.
    public var code: String
    /// The subscription it names, if any.
    public var externalSubscriptionID: String?
    /// The customer it names, if any (Lago drops this field: only a subscription resolved from it bills).
    public var externalCustomerID: String?
    /// When it happened: its own timestamp, or the time it was accepted.
    public var timestamp: Date
    /// Its properties.
    public var properties: [String: JSONValue]

    /// Creates an event to check.
    public init(
        transactionID: String, code: String, externalSubscriptionID: String?, externalCustomerID: String? = nil,
        timestamp: Date, properties: [String: JSONValue]
    ) {
        self.transactionID = transactionID
        self.code = code
        self.externalSubscriptionID = externalSubscriptionID
        self.externalCustomerID = externalCustomerID
        self.timestamp = timestamp
        self.properties = properties
    }

    /// The event of `input`, timestamped `acceptedAt` when it carries no timestamp of its own.
    public init(_ input: EventInput, externalCustomerID: String? = nil, acceptedAt: Date) {
        self.init(
            transactionID: input.transactionID, code: input.code,
            externalSubscriptionID: input.externalSubscriptionID, externalCustomerID: externalCustomerID,
            timestamp: input.timestamp.map { Date(timeIntervalSince1970: $0) } ?? acceptedAt,
            properties: input.properties)
    }
}

/// Whether Lago will bill an event, and why not.
public struct BillingVerdict: Sendable, Hashable, Codable {
    // Lago's snake_case names in --json and on the control API.
    enum CodingKeys: String, CodingKey {
        case status, reasons
        case resolvedSubscriptionID = "resolved_subscription_id"
    }

    /// The three answers.
    public enum Status: String, Sendable, Hashable, Codable {
        /// Lago will bill it.
        case billable
        /// Lago will accept it and never bill it (see ``BillingVerdict/reasons``).
        case unbillable
        /// No catalogue was loaded when it was checked: nobody knows yet.
        case unchecked
    }

    /// The answer.
    public var status: Status
    /// Every reason that applies, in ``BillingReason``'s order; empty unless ``status`` is `unbillable`.
    public var reasons: [BillingReason]
    /// The subscription found for an event that named only its customer (``BillingEvent/externalCustomerID``): the
    /// event bills only when sent with it.
    public var resolvedSubscriptionID: String?

    /// Lago will bill it (to `resolvedSubscriptionID` when it was found from the customer).
    public static func billable(resolvedSubscriptionID: String? = nil) -> BillingVerdict {
        BillingVerdict(status: .billable, reasons: [], resolvedSubscriptionID: resolvedSubscriptionID)
    }

    /// Nobody knows yet: no catalogue.
    public static let unchecked = BillingVerdict(status: .unchecked, reasons: [], resolvedSubscriptionID: nil)

    /// Lago will not bill it, for `reasons`.
    public static func unbillable(_ reasons: [BillingReason], resolvedSubscriptionID: String? = nil) -> BillingVerdict {
        BillingVerdict(status: .unbillable, reasons: reasons.sorted(), resolvedSubscriptionID: resolvedSubscriptionID)
    }
}

/// The billing check: pure, no I/O. Mirrors what Lago does with an accepted event (its `Event#subscription` match
/// and its hourly post-validation, `../shared/lago-api-facts.md` §8.1–8.2).
public enum BillingCheck {
    /// The verdict on `event` against `catalogue`; `unchecked` when there is no catalogue.
    ///
    /// An event naming only `external_customer_id` is matched to that customer's only active subscription
    /// (``BillingVerdict/resolvedSubscriptionID``). Lago drops the field, so such an event bills only on a path that
    /// adds the subscription it resolves to (`resolvesCustomers`); sent to Lago as it is, it is `subscription_missing`,
    /// with the resolution as the fix.
    public static func check(
        _ event: BillingEvent, against catalogue: BillingCatalogue?, resolvesCustomers: Bool = false
    ) -> BillingVerdict {
        guard let catalogue else { return .unchecked }
        var reasons: [BillingReason] = []
        var resolved: String?
        var startedAt: Date?
        var matched = false
        if let externalID = nonEmpty(event.externalSubscriptionID) {
            if let rule = catalogue.subscriptionRules[externalID] {
                if rule.hasActive {
                    matched = true
                    startedAt = rule.startedAt
                } else {
                    reasons.append(.subscriptionNotActive)
                }
            } else {
                reasons.append(.subscriptionNotFound)
            }
        } else if let customer = nonEmpty(event.externalCustomerID) {
            let rule = catalogue.customerRules[customer]
            switch rule?.activeCount ?? 0 {
            case 0:
                reasons.append(.customerHasNoActiveSubscription)
            case 1:
                matched = true
                startedAt = rule?.onlyStartedAt
                resolved = rule?.onlyExternalID
                if !resolvesCustomers { reasons.append(.subscriptionMissing) }
            default:
                reasons.append(.ambiguousCustomerSubscription)
            }
        } else {
            reasons.append(.subscriptionMissing)
        }
        if matched, let startedAt, event.timestamp < startedAt {
            reasons.append(.beforeSubscriptionStart)
        }
        if let rule = catalogue.metricRules[event.code] {
            metricReasons(event.properties, rule, into: &reasons)
        } else {
            reasons.append(.invalidCode)
        }
        return reasons.isEmpty
            ? .billable(resolvedSubscriptionID: resolved) : .unbillable(reasons, resolvedSubscriptionID: resolved)
    }

    /// `missing_aggregation_property` and `invalid_filter_values`, as Lago's post-validation decides them.
    static func metricReasons(_ properties: [String: JSONValue], _ metric: BillableMetric) -> [BillingReason] {
        var reasons: [BillingReason] = []
        metricReasons(properties, MetricRule(metric), into: &reasons)
        return reasons
    }

    static func metricReasons(
        _ properties: [String: JSONValue], _ rule: MetricRule, into reasons: inout [BillingReason]
    ) {
        if let field = rule.field {
            let text = properties[field].flatMap(LagoPropertyText.text)
            if rule.numeric {
                if !(text.map(LagoPropertyText.isNumeral) ?? false) { reasons.append(.missingAggregationProperty) }
            } else if text == nil {
                reasons.append(.missingAggregationProperty)
            }
        }
        for filter in rule.filters {
            guard let value = properties[filter.key], let text = LagoPropertyText.text(value) else { continue }
            if !filter.values.contains(text) {
                reasons.append(.invalidFilterValues)
                break
            }
        }
    }

    private static func nonEmpty(_ text: String?) -> String? {
        guard let text, !text.isEmpty else { return nil }
        return text
    }
}
