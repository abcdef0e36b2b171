public import Foundation
public import LagoAPI
import LagoIngest

/// A usage event as the sandbox stored it (Lago's Postgres `events` row).
public struct SandboxEvent: Sendable, Hashable, Codable {
    /// Lago's id of the event, a lowercase UUID.
    public var lagoID: String
    /// The client's idempotency key; unique per `externalSubscriptionID`.
    public var transactionID: String
    /// The subscription the event bills, as sent (not checked against known subscriptions, as in Lago).
    public var externalSubscriptionID: String?
    /// The billable metric code, as sent (unknown codes are accepted, as in Lago).
    public var code: String
    /// Event time in microseconds since the Unix epoch (Postgres keeps microseconds; Lago shows milliseconds).
    public var timestampMicroseconds: Int64
    /// `precise_total_amount_cents` after Lago's `decimal(40,15)` cast, in Rails' plain notation ("1234.56").
    public var preciseTotalAmountCents: String?
    /// Event properties as sent (plus the value computed by the metric's `expression`, if any).
    public var properties: [String: JSONValue]
    /// Reception time in microseconds since the Unix epoch.
    public var createdAtMicroseconds: Int64

    /// Creates an event value (the sandbox makes these itself; useful for comparisons in tests).
    public init(
        lagoID: String,
        transactionID: String,
        externalSubscriptionID: String?,
        code: String,
        timestampMicroseconds: Int64,
        preciseTotalAmountCents: String?,
        properties: [String: JSONValue],
        createdAtMicroseconds: Int64
    ) {
        self.lagoID = lagoID
        self.transactionID = transactionID
        self.externalSubscriptionID = externalSubscriptionID
        self.code = code
        self.timestampMicroseconds = timestampMicroseconds
        self.preciseTotalAmountCents = preciseTotalAmountCents
        self.properties = properties
        self.createdAtMicroseconds = createdAtMicroseconds
    }

    /// The event time (microsecond precision).
    public var timestamp: Date { LagoTime.date(timestampMicroseconds) }
    /// The reception time.
    public var createdAt: Date { LagoTime.date(createdAtMicroseconds) }
}

/// How a billable metric aggregates events (Lago's `aggregation_type`).
public enum SandboxAggregationType: String, Sendable, Hashable, Codable, CaseIterable {
    case countAgg = "count_agg"
    case sumAgg = "sum_agg"
    case maxAgg = "max_agg"
    case uniqueCountAgg = "unique_count_agg"
    case weightedSumAgg = "weighted_sum_agg"
    case latestAgg = "latest_agg"

    /// Whether Lago requires a `field_name` for this aggregation (all but `count_agg`).
    public var needsFieldName: Bool { self != .countAgg }
}

/// A billable metric (Lago's `BillableMetric`), the thing events are aggregated into by `code`.
public struct SandboxBillableMetric: Sendable, Hashable, Codable {
    /// A filter dimension of a metric (`{"key": "region", "values": ["eu", "us"]}`).
    public struct Filter: Sendable, Hashable, Codable {
        public var key: String
        public var values: [String]

        public init(key: String, values: [String]) {
            self.key = key
            self.values = values
        }
    }

    public var lagoID: String
    public var name: String
    public var code: String
    public var description: String?
    public var aggregationType: SandboxAggregationType
    /// The event property aggregated by sum/max/unique/latest/weighted metrics.
    public var fieldName: String?
    /// A Lago expression computing `properties[fieldName]` at ingestion (see ``SandboxExpression``), or nil.
    public var expression: String?
    public var recurring: Bool
    public var roundingFunction: String?
    public var roundingPrecision: Int?
    public var weightedInterval: String?
    public var filters: [Filter]
    public var createdAtMicroseconds: Int64

    /// Creates a metric value; `lagoID` defaults to a new UUID and the creation time to now.
    ///
    /// `fieldName` defaults to ``SandboxSeed/valueProperty`` and is dropped for `count_agg`, which counts events.
    public init(
        code: String,
        name: String? = nil,
        description: String? = nil,
        aggregationType: SandboxAggregationType = .sumAgg,
        fieldName: String? = "value",
        expression: String? = nil,
        recurring: Bool = false,
        roundingFunction: String? = nil,
        roundingPrecision: Int? = nil,
        weightedInterval: String? = nil,
        filters: [Filter] = [],
        lagoID: String = RandomUUID.lowercasedString(),
        createdAt: Date = Date()
    ) {
        self.lagoID = lagoID
        self.name = name ?? code
        self.code = code
        self.description = description
        self.aggregationType = aggregationType
        self.fieldName = aggregationType == .countAgg ? nil : fieldName
        self.expression = expression
        self.recurring = recurring
        self.roundingFunction = roundingFunction
        self.roundingPrecision = roundingPrecision
        self.weightedInterval = weightedInterval
        self.filters = filters
        self.createdAtMicroseconds = LagoTime.microseconds(createdAt)
    }
}

/// A customer (Lago's `Customer`, reduced to what the sandbox needs).
public struct SandboxCustomer: Sendable, Hashable, Codable {
    public var lagoID: String
    public var externalID: String
    public var name: String?
    public var email: String?
    public var currency: String?
    public var timezone: String?
    public var sequentialID: Int
    public var createdAtMicroseconds: Int64

    /// Creates a customer value; the sandbox assigns `sequentialID` when it is added.
    public init(
        externalID: String,
        name: String? = nil,
        email: String? = nil,
        currency: String? = "USD",
        timezone: String? = nil,
        lagoID: String = RandomUUID.lowercasedString(),
        createdAt: Date = Date()
    ) {
        self.lagoID = lagoID
        self.externalID = externalID
        self.name = name
        self.email = email
        self.currency = currency
        self.timezone = timezone
        self.sequentialID = 0
        self.createdAtMicroseconds = LagoTime.microseconds(createdAt)
    }
}

/// A subscription status (Lago's `status`).
public enum SandboxSubscriptionStatus: String, Sendable, Hashable, Codable, CaseIterable {
    case active, pending, canceled, terminated
}

/// When a subscription's billing periods start (Lago's `billing_time`): the first of each month, or each month on
/// the day it started. The sandbox's `current_usage` period is the calendar month either way.
public enum SandboxBillingTime: String, Sendable, Hashable, Codable, CaseIterable {
    case calendar, anniversary
}

/// A plan (Lago's `Plan`, reduced to its code): `POST /subscriptions` answers `404 plan_not_found` for any other.
///
/// Every sandbox plan charges every billable metric the same way (see ``SandboxSubscription``).
public struct SandboxPlan: Sendable, Hashable, Codable {
    public var lagoID: String
    public var code: String
    public var name: String
    public var createdAtMicroseconds: Int64

    /// Creates a plan value; `name` defaults to the code.
    public init(
        code: String, name: String? = nil, lagoID: String = RandomUUID.lowercasedString(), createdAt: Date = Date()
    ) {
        self.lagoID = lagoID
        self.code = code
        self.name = name ?? code
        self.createdAtMicroseconds = LagoTime.microseconds(createdAt)
    }
}

/// A subscription (Lago's `Subscription`): binds a customer to a plan; events name it by `external_id`.
///
/// Every plan in the sandbox charges every billable metric with a standard, pay-in-advance charge of
/// ``SandboxSubscription/unitAmount`` per unit, so `current_usage` and `estimate_fees` have something to price.
public struct SandboxSubscription: Sendable, Hashable, Codable {
    public var lagoID: String
    public var externalID: String
    public var externalCustomerID: String
    public var name: String?
    public var planCode: String
    public var status: SandboxSubscriptionStatus
    public var billingTime: SandboxBillingTime
    /// Price per unit of every charge, in major currency units (e.g. "0.001" USD).
    public var unitAmount: String
    public var currency: String
    /// Its `subscription_at`, which is also its `started_at` once it is active (a pending one has not started).
    public var startedAtMicroseconds: Int64
    /// When it was terminated (nil unless `terminated`).
    public var terminatedAtMicroseconds: Int64?
    /// When it was canceled (nil unless `canceled`).
    public var canceledAtMicroseconds: Int64?
    public var createdAtMicroseconds: Int64

    /// Creates a subscription value; a terminated or canceled one without its date ended at `createdAt`.
    public init(
        externalID: String,
        externalCustomerID: String,
        planCode: String = "sandbox_plan",
        name: String? = nil,
        status: SandboxSubscriptionStatus = .active,
        billingTime: SandboxBillingTime = .calendar,
        unitAmount: String = "0.001",
        currency: String = "USD",
        startedAt: Date = Date(timeIntervalSince1970: 1_704_067_200),
        terminatedAt: Date? = nil,
        canceledAt: Date? = nil,
        lagoID: String = RandomUUID.lowercasedString(),
        createdAt: Date = Date()
    ) {
        self.lagoID = lagoID
        self.externalID = externalID
        self.externalCustomerID = externalCustomerID
        self.name = name
        self.planCode = planCode
        self.status = status
        self.billingTime = billingTime
        self.unitAmount = unitAmount
        self.currency = currency
        self.startedAtMicroseconds = LagoTime.microseconds(startedAt)
        let created = LagoTime.microseconds(createdAt)
        self.terminatedAtMicroseconds =
            terminatedAt.map(LagoTime.microseconds) ?? (status == .terminated ? created : nil)
        self.canceledAtMicroseconds = canceledAt.map(LagoTime.microseconds) ?? (status == .canceled ? created : nil)
        self.createdAtMicroseconds = created
    }

    /// Reads a stored subscription; one written before billing times and end dates were kept is `calendar`, and
    /// ended at its creation if terminated or canceled.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        lagoID = try container.decode(String.self, forKey: .lagoID)
        externalID = try container.decode(String.self, forKey: .externalID)
        externalCustomerID = try container.decode(String.self, forKey: .externalCustomerID)
        name = try container.decodeIfPresent(String.self, forKey: .name)
        planCode = try container.decode(String.self, forKey: .planCode)
        status = try container.decode(SandboxSubscriptionStatus.self, forKey: .status)
        billingTime = try container.decodeIfPresent(SandboxBillingTime.self, forKey: .billingTime) ?? .calendar
        unitAmount = try container.decode(String.self, forKey: .unitAmount)
        currency = try container.decode(String.self, forKey: .currency)
        startedAtMicroseconds = try container.decode(Int64.self, forKey: .startedAtMicroseconds)
        createdAtMicroseconds = try container.decode(Int64.self, forKey: .createdAtMicroseconds)
        terminatedAtMicroseconds =
            try container.decodeIfPresent(Int64.self, forKey: .terminatedAtMicroseconds)
            ?? (status == .terminated ? createdAtMicroseconds : nil)
        canceledAtMicroseconds =
            try container.decodeIfPresent(Int64.self, forKey: .canceledAtMicroseconds)
            ?? (status == .canceled ? createdAtMicroseconds : nil)
    }
}

/// What the seeded sandbox contains (`--no-seed` / `SandboxOptions.seed = false` skips it).
public enum SandboxSeed {
    /// The property every seeded metric sums: an engine sends the usage amount as `properties.value`.
    public static let valueProperty = "value"
    /// Codes of the seeded `sum_agg` metrics, each summing ``valueProperty``.
    public static let metricCodes = [
        "llm_input_tokens", "llm_output_tokens", "llm_cached_input_tokens", "llm_cache_creation_tokens",
        "llm_cache_write_5m_tokens", "llm_cache_write_1h_tokens", "llm_reasoning_tokens", "llm_tool_calls",
        "llm_image_input_tokens", "llm_audio_input_tokens",
    ]
    /// The seeded customer's `external_id`.
    public static let customerExternalID = "cus_sandbox"
    /// The seeded active subscription's `external_id`.
    public static let subscriptionExternalID = "sub_sandbox"
    /// The seeded subscription's plan code.
    public static let planCode = "sandbox_plan"

    /// A readable name for a metric code (`llm_input_tokens` → "LLM input tokens").
    static func name(for code: String) -> String {
        let words = code.split(separator: "_").map(String.init)
        guard let first = words.first else { return code }
        return ([first == "llm" ? "LLM" : first.capitalized] + words.dropFirst()).joined(separator: " ")
    }
}
