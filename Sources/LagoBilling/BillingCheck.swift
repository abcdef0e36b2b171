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
            let text = properties[field].flatMap(lagoText)
            if rule.numeric {
                if !(text.map(isLagoNumber) ?? false) { reasons.append(.missingAggregationProperty) }
            } else if text == nil {
                reasons.append(.missingAggregationProperty)
            }
        }
        for filter in rule.filters {
            guard let value = properties[filter.key], let text = lagoText(value) else { continue }
            if !filter.values.contains(text) {
                reasons.append(.invalidFilterValues)
                break
            }
        }
    }

    /// Whether Lago's post-validation looks at the metric's property: not for `count_agg`, not when an
    /// `expression` computes it at ingest (a failing expression is refused at once), not for `custom_agg`.
    static func needsProperty(_ metric: BillableMetric) -> Bool {
        switch metric.aggregationType {
        case .countAgg, .customAgg: return false
        default: return nonEmpty(metric.expression) == nil
        }
    }

    /// A property as Postgres's `properties->>'key'` reads it: strings as they are, numbers in their digits,
    /// `true`/`false`, objects and arrays as JSON; `nil` for JSON `null`.
    static func lagoText(_ value: JSONValue) -> String? {
        switch value {
        case .null: nil
        case .string(let text): text
        case .integer(let integer): String(integer)
        case .bigInteger(let digits): digits
        case .number(let number): number.isFinite ? plainDecimal(number) : "NaN"
        case .bool(let flag): flag ? "true" : "false"
        case .array, .object: value.jsonText
        }
    }

    /// Lago's numeric test for sum, max, weighted-sum and latest: `^-?\d+(\.\d+)?$` on the text (ASCII digits).
    static func isLagoNumber(_ text: String) -> Bool {
        var bytes = Substring(text).utf8[...]
        if bytes.first == UInt8(ascii: "-") { bytes = bytes.dropFirst() }
        func digits() -> Int {
            let count = bytes.prefix { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }.count
            bytes = bytes.dropFirst(count)
            return count
        }
        guard digits() > 0 else { return false }
        if bytes.isEmpty { return true }
        guard bytes.first == UInt8(ascii: ".") else { return false }
        bytes = bytes.dropFirst()
        return digits() > 0 && bytes.isEmpty
    }

    /// A finite double as Postgres's `numeric` prints the JSON numeral Rails wrote for it: plain digits, no
    /// exponent (`1e20` → `100000000000000000000`, `1.5e-7` → `0.00000015`).
    static func plainDecimal(_ number: Double) -> String {
        let shortest = "\(number)"
        guard let exponentIndex = shortest.firstIndex(where: { $0 == "e" || $0 == "E" }) else { return shortest }
        let mantissa = shortest[..<exponentIndex]
        guard let exponent = Int(shortest[shortest.index(after: exponentIndex)...]) else { return shortest }
        let negative = mantissa.hasPrefix("-")
        let unsigned = negative ? mantissa.dropFirst() : mantissa[...]
        let parts = unsigned.split(separator: ".", omittingEmptySubsequences: false)
        let whole = String(parts[0])
        let fraction = parts.count > 1 ? String(parts[1]) : ""
        var digits = whole + fraction
        var point = whole.count + exponent
        if point <= 0 {
            digits = String(repeating: "0", count: 1 - point) + digits
            point = 1
        } else if point > digits.count {
            digits += String(repeating: "0", count: point - digits.count)
        }
        var text = String(digits.prefix(point))
        let rest = digits.dropFirst(point).replacingOccurrences(of: "0+$", with: "", options: .regularExpression)
        if !rest.isEmpty { text += "." + rest }
        return (negative ? "-" : "") + text
    }

    private static func nonEmpty(_ text: String?) -> String? {
        guard let text, !text.isEmpty else { return nil }
        return text
    }
}
