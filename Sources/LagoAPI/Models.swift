public import Foundation

/// A usage event as sent to Lago (`POST /events`, `POST /events/batch`).
///
/// Field names follow Lago's `EventInputObject`. `timestamp` is Unix seconds (UTC) with an optional fraction for
/// sub-second precision; `nil` means "time of reception". Properties hold strings, integers, numbers and booleans.
public struct EventInput: Sendable, Hashable, Codable {
    /// The idempotency key: Lago rejects a second event with the same id for the same subscription.
    public var transactionID: String
    /// The subscription the event is billed to (Lago accepts events without one, but never bills them).
    public var externalSubscriptionID: String?
    /// The billable metric code.
    public var code: String
    /// Unix seconds with an optional fraction; `nil` lets Lago use the time of reception.
    public var timestamp: Double?
    /// Event properties; the billable metric's `field_name` selects the aggregated one.
    public var properties: [String: JSONValue]
    /// A decimal string such as `"1234.56"`, for dynamic pricing.
    public var preciseTotalAmountCents: String?

    /// Creates an event input.
    public init(
        transactionID: String,
        externalSubscriptionID: String?,
        code: String,
        timestamp: Double? = nil,
        properties: [String: JSONValue] = [:],
        preciseTotalAmountCents: String? = nil
    ) {
        self.transactionID = transactionID
        self.externalSubscriptionID = externalSubscriptionID
        self.code = code
        self.timestamp = timestamp
        self.properties = properties
        self.preciseTotalAmountCents = preciseTotalAmountCents
    }

    enum CodingKeys: String, CodingKey {
        case transactionID = "transaction_id"
        case externalSubscriptionID = "external_subscription_id"
        case code
        case timestamp
        case properties
        case preciseTotalAmountCents = "precise_total_amount_cents"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        transactionID = try container.decode(String.self, forKey: .transactionID)
        externalSubscriptionID = try container.decodeIfPresent(String.self, forKey: .externalSubscriptionID)
        code = try container.decode(String.self, forKey: .code)
        if let number = try? container.decodeIfPresent(Double.self, forKey: .timestamp) {
            timestamp = number
        } else if let text = try container.decodeIfPresent(String.self, forKey: .timestamp) {
            guard let number = Double(text) else {
                throw DecodingError.dataCorruptedError(
                    forKey: .timestamp, in: container, debugDescription: "timestamp must be Unix seconds")
            }
            timestamp = number
        } else {
            timestamp = nil
        }
        properties = try container.decodeIfPresent([String: JSONValue].self, forKey: .properties) ?? [:]
        preciseTotalAmountCents = try container.decodeIfPresent(String.self, forKey: .preciseTotalAmountCents)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(transactionID, forKey: .transactionID)
        try container.encodeIfPresent(externalSubscriptionID, forKey: .externalSubscriptionID)
        try container.encode(code, forKey: .code)
        try container.encodeIfPresent(timestamp, forKey: .timestamp)
        try container.encode(properties, forKey: .properties)
        try container.encodeIfPresent(preciseTotalAmountCents, forKey: .preciseTotalAmountCents)
    }
}

/// An event as Lago returns it (`EventObject`).
public struct LagoEvent: Sendable, Hashable, Codable {
    /// Lago's id for the stored event (`null` on the ClickHouse store).
    public var lagoID: String?
    /// The idempotency key the event was sent with.
    public var transactionID: String
    /// Legacy field; `null` for events created by current Lago.
    public var lagoCustomerID: String?
    /// The billable metric code.
    public var code: String
    /// The event time; Lago writes it with milliseconds, e.g. `2022-04-29T08:59:51.123Z`.
    public var timestamp: LagoDate
    /// A plain decimal string, or `nil` when not sent.
    public var preciseTotalAmountCents: String?
    /// The stored properties.
    public var properties: [String: JSONValue]
    /// Legacy field; `null` for events created by current Lago.
    public var lagoSubscriptionID: String?
    /// The subscription the event was sent for.
    public var externalSubscriptionID: String?
    /// The reception time; Lago writes it in seconds, e.g. `2022-04-29T08:59:51Z` (`null` on the ClickHouse store).
    public var createdAt: LagoDate?

    /// Creates an event object (used by tests and by servers that answer like Lago).
    public init(
        lagoID: String?, transactionID: String, lagoCustomerID: String? = nil, code: String, timestamp: LagoDate,
        preciseTotalAmountCents: String? = nil, properties: [String: JSONValue] = [:],
        lagoSubscriptionID: String? = nil, externalSubscriptionID: String?, createdAt: LagoDate?
    ) {
        self.lagoID = lagoID
        self.transactionID = transactionID
        self.lagoCustomerID = lagoCustomerID
        self.code = code
        self.timestamp = timestamp
        self.preciseTotalAmountCents = preciseTotalAmountCents
        self.properties = properties
        self.lagoSubscriptionID = lagoSubscriptionID
        self.externalSubscriptionID = externalSubscriptionID
        self.createdAt = createdAt
    }

    enum CodingKeys: String, CodingKey {
        case lagoID = "lago_id"
        case transactionID = "transaction_id"
        case lagoCustomerID = "lago_customer_id"
        case code
        case timestamp
        case preciseTotalAmountCents = "precise_total_amount_cents"
        case properties
        case lagoSubscriptionID = "lago_subscription_id"
        case externalSubscriptionID = "external_subscription_id"
        case createdAt = "created_at"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        lagoID = try container.decodeIfPresent(String.self, forKey: .lagoID)
        transactionID = try container.decode(String.self, forKey: .transactionID)
        lagoCustomerID = try container.decodeIfPresent(String.self, forKey: .lagoCustomerID)
        code = try container.decode(String.self, forKey: .code)
        timestamp = try container.decode(LagoDate.self, forKey: .timestamp)
        preciseTotalAmountCents = try container.decodeIfPresent(String.self, forKey: .preciseTotalAmountCents)
        properties = try container.decodeIfPresent([String: JSONValue].self, forKey: .properties) ?? [:]
        lagoSubscriptionID = try container.decodeIfPresent(String.self, forKey: .lagoSubscriptionID)
        externalSubscriptionID = try container.decodeIfPresent(String.self, forKey: .externalSubscriptionID)
        createdAt = try container.decodeIfPresent(LagoDate.self, forKey: .createdAt)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(lagoID, forKey: .lagoID)
        try container.encode(transactionID, forKey: .transactionID)
        try container.encode(lagoCustomerID, forKey: .lagoCustomerID)
        try container.encode(code, forKey: .code)
        try container.encode(timestamp, forKey: .timestamp)
        try container.encode(preciseTotalAmountCents, forKey: .preciseTotalAmountCents)
        try container.encode(properties, forKey: .properties)
        try container.encode(lagoSubscriptionID, forKey: .lagoSubscriptionID)
        try container.encode(externalSubscriptionID, forKey: .externalSubscriptionID)
        try container.encode(createdAt, forKey: .createdAt)
    }
}

/// Lago's date formats: `iso8601(3)` for event timestamps, seconds for `created_at`.
public enum LagoDateFormat {
    /// Parses `2022-04-29T08:59:51.123Z` or `2022-04-29T08:59:51Z`.
    public static func parse(_ text: String) -> Date? {
        if let date = try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)) {
            return date
        }
        return try? Date(text, strategy: Date.ISO8601FormatStyle())
    }

    /// Formats with milliseconds, as Lago formats event timestamps, rounded to the nearest millisecond.
    ///
    /// Foundation's ISO-8601 style truncates the fraction of the binary `Double` it holds: `1651222791.123` is stored
    /// as `1651222791.12299990…` and would print as `.122Z`, one millisecond before the instant it was parsed from.
    public static func milliseconds(_ date: Date) -> String {
        let totalMilliseconds = (date.timeIntervalSince1970 * 1000).rounded()
        let wholeSeconds = (totalMilliseconds / 1000).rounded(.down)
        let millisecond = Int(totalMilliseconds - wholeSeconds * 1000)
        let secondsText = seconds(Date(timeIntervalSince1970: wholeSeconds))
        let fraction = String(millisecond + 1000).dropFirst()
        return secondsText.dropLast() + "." + fraction + "Z"
    }

    /// Formats in whole seconds, as Lago formats `created_at`.
    public static func seconds(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle())
    }
}

/// An instant as Lago writes it: ISO-8601 in UTC, in seconds (`2022-04-29T08:59:51Z`, `created_at`) or with a
/// fraction (`2022-04-29T08:59:51.123Z`, event timestamps and `started_at`).
///
/// The wire text is kept beside the parsed ``date``, so that encoding writes back exactly what Lago sent and a
/// screen shows Lago's own text. Decoding throws a `DecodingError` for text that is not ISO-8601. Equality compares
/// the text too (`…51Z` and `…51.000Z` differ); compare ``date`` for the instant.
public struct LagoDate: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The instant.
    public let date: Date
    /// The exact text Lago sent (or the text formatted by ``init(_:fractionalSeconds:)``).
    public let text: String

    /// Parses Lago's text, with or without fractional seconds; `nil` when it is not ISO-8601.
    public init?(_ text: String) {
        guard let date = LagoDateFormat.parse(text) else { return nil }
        self.date = date
        self.text = text
    }

    /// Formats `date` as Lago does: in whole seconds, or with milliseconds when `fractionalSeconds` is set.
    public init(_ date: Date, fractionalSeconds: Bool = false) {
        self.date = date
        self.text = fractionalSeconds ? LagoDateFormat.milliseconds(date) : LagoDateFormat.seconds(date)
    }

    /// The wire text.
    public var description: String { text }

    /// Decodes a JSON string in ISO-8601.
    ///
    /// - Throws: `DecodingError.dataCorrupted` when the string is not ISO-8601.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let parsed = LagoDate(text) else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "not an ISO-8601 date: \(text)")
        }
        self = parsed
    }

    /// Encodes the wire text unchanged.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(text)
    }
}

/// Lago's pagination block (`meta`), including the zeroed empty case (`current_page: 0`).
public struct PaginationMeta: Sendable, Hashable, Codable {
    /// The page returned (0 when the collection is empty).
    public var currentPage: Int
    /// The next page, if any.
    public var nextPage: Int?
    /// The previous page, if any.
    public var prevPage: Int?
    /// The number of pages.
    public var totalPages: Int
    /// The number of items in the whole collection.
    public var totalCount: Int

    /// Creates a pagination block.
    public init(currentPage: Int, nextPage: Int?, prevPage: Int?, totalPages: Int, totalCount: Int) {
        self.currentPage = currentPage
        self.nextPage = nextPage
        self.prevPage = prevPage
        self.totalPages = totalPages
        self.totalCount = totalCount
    }

    enum CodingKeys: String, CodingKey {
        case currentPage = "current_page"
        case nextPage = "next_page"
        case prevPage = "prev_page"
        case totalPages = "total_pages"
        case totalCount = "total_count"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(currentPage, forKey: .currentPage)
        try container.encode(nextPage, forKey: .nextPage)
        try container.encode(prevPage, forKey: .prevPage)
        try container.encode(totalPages, forKey: .totalPages)
        try container.encode(totalCount, forKey: .totalCount)
    }
}

/// One page of a Lago list endpoint.
public struct Page<Item: Sendable & Hashable>: Sendable, Hashable {
    /// The items on this page.
    public var items: [Item]
    /// The pagination block.
    public var meta: PaginationMeta

    /// Creates a page.
    public init(items: [Item], meta: PaginationMeta) {
        self.items = items
        self.meta = meta
    }
}

/// A billable metric (`BillableMetricObject`).
public struct BillableMetric: Sendable, Hashable, Codable {
    public var lagoID: String?
    public var name: String
    public var code: String
    public var description: String?
    /// How the metric aggregates its events.
    public var aggregationType: AggregationType
    /// The property aggregated (not used by `count_agg`).
    public var fieldName: String?
    public var expression: String?
    public var recurring: Bool?
    public var weightedInterval: String?
    public var roundingFunction: String?
    public var roundingPrecision: Int?
    public var createdAt: LagoDate?
    public var filters: [BillableMetricFilter]?

    /// Creates a billable metric.
    public init(
        lagoID: String? = nil, name: String, code: String, description: String? = nil,
        aggregationType: AggregationType,
        fieldName: String? = nil, expression: String? = nil, recurring: Bool? = false,
        weightedInterval: String? = nil, roundingFunction: String? = nil, roundingPrecision: Int? = nil,
        createdAt: LagoDate? = nil, filters: [BillableMetricFilter]? = []
    ) {
        self.lagoID = lagoID
        self.name = name
        self.code = code
        self.description = description
        self.aggregationType = aggregationType
        self.fieldName = fieldName
        self.expression = expression
        self.recurring = recurring
        self.weightedInterval = weightedInterval
        self.roundingFunction = roundingFunction
        self.roundingPrecision = roundingPrecision
        self.createdAt = createdAt
        self.filters = filters
    }

    enum CodingKeys: String, CodingKey {
        case lagoID = "lago_id"
        case name, code, description, expression, recurring, filters
        case aggregationType = "aggregation_type"
        case fieldName = "field_name"
        case weightedInterval = "weighted_interval"
        case roundingFunction = "rounding_function"
        case roundingPrecision = "rounding_precision"
        case createdAt = "created_at"
    }
}

/// A billable metric filter (`{"key": "region", "values": ["eu", "us"]}`).
public struct BillableMetricFilter: Sendable, Hashable, Codable {
    public var key: String
    public var values: [String]

    /// Creates a filter.
    public init(key: String, values: [String]) {
        self.key = key
        self.values = values
    }
}

/// One of Lago's enumerations read from its answers, kept open: a value this client does not know (a newer Lago's)
/// is kept as Lago wrote it, so decoding never fails on it and encoding writes it back unchanged. `description` is the
/// wire string.
public protocol OpenLagoValue: Sendable, Hashable, Codable, RawRepresentable, CustomStringConvertible
where RawValue == String {
    /// Reads a wire string; never `nil` (an unknown value is kept).
    init(rawValue: String)
}

extension OpenLagoValue {
    /// The wire string.
    public var description: String { rawValue }

    /// Decodes a wire string; never fails on an unknown one.
    public init(from decoder: any Decoder) throws {
        self.init(rawValue: try decoder.singleValueContainer().decode(String.self))
    }

    /// Encodes the wire string.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

/// How a billable metric aggregates its events (Lago's `aggregation_type`).
///
/// A value this client does not know (a newer Lago's) decodes as ``unknown(_:)`` and encodes back unchanged, so it
/// never fails decoding. `description` is the wire string.
public enum AggregationType: OpenLagoValue {
    /// `count_agg`: the number of events.
    case countAgg
    /// `sum_agg`: the sum of the `field_name` property.
    case sumAgg
    /// `max_agg`: the largest `field_name` value.
    case maxAgg
    /// `unique_count_agg`: the number of distinct `field_name` values.
    case uniqueCountAgg
    /// `weighted_sum_agg`: the sum weighted by the time each value held.
    case weightedSumAgg
    /// `latest_agg`: the last `field_name` value of the period.
    case latestAgg
    /// `custom_agg`: an aggregation Lago defines for the organization.
    case customAgg
    /// A value this client does not know, kept as Lago wrote it.
    case unknown(String)

    /// The values this client knows, in Lago's order.
    public static let known: [AggregationType] = [
        .countAgg, .sumAgg, .maxAgg, .uniqueCountAgg, .weightedSumAgg, .latestAgg, .customAgg,
    ]

    /// Reads a wire string; an unknown one becomes ``unknown(_:)`` (never `nil`).
    public init(rawValue: String) {
        self = Self.known.first { $0.rawValue == rawValue } ?? .unknown(rawValue)
    }

    /// The wire string, e.g. `sum_agg`.
    public var rawValue: String {
        switch self {
        case .countAgg: "count_agg"
        case .sumAgg: "sum_agg"
        case .maxAgg: "max_agg"
        case .uniqueCountAgg: "unique_count_agg"
        case .weightedSumAgg: "weighted_sum_agg"
        case .latestAgg: "latest_agg"
        case .customAgg: "custom_agg"
        case .unknown(let value): value
        }
    }

}

/// A subscription's status (Lago's `status`), also the filter of `GET /subscriptions?status[]=`.
///
/// A value this client does not know (a newer Lago's) decodes as ``unknown(_:)`` and encodes back unchanged, so it
/// never fails decoding. `description` is the wire string.
public enum SubscriptionStatus: OpenLagoValue {
    /// `active`: events sent for it are billed.
    case active
    /// `pending`: starts in the future (or waits for a plan change).
    case pending
    /// `canceled`: a pending subscription that was canceled before it started.
    case canceled
    /// `terminated`: ended; events are no longer billed to it.
    case terminated
    /// A value this client does not know, kept as Lago wrote it.
    case unknown(String)

    /// The values this client knows, in Lago's order.
    public static let known: [SubscriptionStatus] = [.active, .pending, .canceled, .terminated]

    /// Reads a wire string; an unknown one becomes ``unknown(_:)`` (never `nil`).
    public init(rawValue: String) {
        self = Self.known.first { $0.rawValue == rawValue } ?? .unknown(rawValue)
    }

    /// The wire string, e.g. `active`.
    public var rawValue: String {
        switch self {
        case .active: "active"
        case .pending: "pending"
        case .canceled: "canceled"
        case .terminated: "terminated"
        case .unknown(let value): value
        }
    }

}

/// A subscription (`SubscriptionObject`, the fields the console uses).
public struct Subscription: Sendable, Hashable, Codable {
    public var lagoID: String?
    public var externalID: String
    public var lagoCustomerID: String?
    public var externalCustomerID: String?
    public var name: String?
    public var planCode: String?
    /// `active`, `pending`, `canceled` or `terminated` (or a newer Lago's value).
    public var status: SubscriptionStatus
    public var billingTime: String?
    public var subscriptionAt: LagoDate?
    public var startedAt: LagoDate?
    public var endingAt: LagoDate?
    public var terminatedAt: LagoDate?
    public var canceledAt: LagoDate?
    public var createdAt: LagoDate?

    /// Creates a subscription.
    public init(
        lagoID: String? = nil, externalID: String, lagoCustomerID: String? = nil, externalCustomerID: String?,
        name: String? = nil, planCode: String?, status: SubscriptionStatus, billingTime: String? = nil,
        subscriptionAt: LagoDate? = nil, startedAt: LagoDate? = nil, endingAt: LagoDate? = nil,
        terminatedAt: LagoDate? = nil, canceledAt: LagoDate? = nil, createdAt: LagoDate? = nil
    ) {
        self.lagoID = lagoID
        self.externalID = externalID
        self.lagoCustomerID = lagoCustomerID
        self.externalCustomerID = externalCustomerID
        self.name = name
        self.planCode = planCode
        self.status = status
        self.billingTime = billingTime
        self.subscriptionAt = subscriptionAt
        self.startedAt = startedAt
        self.endingAt = endingAt
        self.terminatedAt = terminatedAt
        self.canceledAt = canceledAt
        self.createdAt = createdAt
    }

    enum CodingKeys: String, CodingKey {
        case lagoID = "lago_id"
        case externalID = "external_id"
        case lagoCustomerID = "lago_customer_id"
        case externalCustomerID = "external_customer_id"
        case name
        case planCode = "plan_code"
        case status
        case billingTime = "billing_time"
        case subscriptionAt = "subscription_at"
        case startedAt = "started_at"
        case endingAt = "ending_at"
        case terminatedAt = "terminated_at"
        case canceledAt = "canceled_at"
        case createdAt = "created_at"
    }
}

/// A customer (`CustomerObject`, the fields the console uses).
public struct Customer: Sendable, Hashable, Codable {
    public var lagoID: String?
    public var externalID: String
    public var name: String?
    public var email: String?
    public var currency: String?
    public var country: String?
    public var timezone: String?
    public var createdAt: LagoDate?

    /// Creates a customer.
    public init(
        lagoID: String? = nil, externalID: String, name: String? = nil, email: String? = nil,
        currency: String? = nil, country: String? = nil, timezone: String? = nil, createdAt: LagoDate? = nil
    ) {
        self.lagoID = lagoID
        self.externalID = externalID
        self.name = name
        self.email = email
        self.currency = currency
        self.country = country
        self.timezone = timezone
        self.createdAt = createdAt
    }

    enum CodingKeys: String, CodingKey {
        case lagoID = "lago_id"
        case externalID = "external_id"
        case name, email, currency, country, timezone
        case createdAt = "created_at"
    }
}

/// A customer's usage for the current billing period (`customer_usage`).
public struct CustomerUsage: Sendable, Hashable, Codable {
    public var fromDatetime: LagoDate?
    public var toDatetime: LagoDate?
    /// A calendar date (`2022-07-01`) in the customer's time zone, not an instant, so kept as text.
    public var issuingDate: String?
    public var currency: String?
    public var amountCents: Int64
    public var totalAmountCents: Int64
    public var taxesAmountCents: Int64
    public var chargesUsage: [ChargeUsage]

    /// Creates a usage summary.
    public init(
        fromDatetime: LagoDate?, toDatetime: LagoDate?, issuingDate: String?, currency: String?, amountCents: Int64,
        totalAmountCents: Int64, taxesAmountCents: Int64, chargesUsage: [ChargeUsage]
    ) {
        self.fromDatetime = fromDatetime
        self.toDatetime = toDatetime
        self.issuingDate = issuingDate
        self.currency = currency
        self.amountCents = amountCents
        self.totalAmountCents = totalAmountCents
        self.taxesAmountCents = taxesAmountCents
        self.chargesUsage = chargesUsage
    }

    enum CodingKeys: String, CodingKey {
        case fromDatetime = "from_datetime"
        case toDatetime = "to_datetime"
        case issuingDate = "issuing_date"
        case currency
        case amountCents = "amount_cents"
        case totalAmountCents = "total_amount_cents"
        case taxesAmountCents = "taxes_amount_cents"
        case chargesUsage = "charges_usage"
    }
}

/// Usage of one charge in the current period.
public struct ChargeUsage: Sendable, Hashable, Codable {
    /// Aggregated units as a decimal string, e.g. `"42.0"`.
    public var units: String
    public var eventsCount: Int
    public var amountCents: Int64
    public var amountCurrency: String?
    public var billableMetric: MetricReference
    /// The plan's charge the line is for (a plan may charge one metric more than once).
    public var charge: ChargeReference?

    /// Creates a charge usage line.
    public init(
        units: String, eventsCount: Int, amountCents: Int64, amountCurrency: String?, billableMetric: MetricReference,
        charge: ChargeReference? = nil
    ) {
        self.units = units
        self.eventsCount = eventsCount
        self.amountCents = amountCents
        self.amountCurrency = amountCurrency
        self.billableMetric = billableMetric
        self.charge = charge
    }

    enum CodingKeys: String, CodingKey {
        case units
        case eventsCount = "events_count"
        case amountCents = "amount_cents"
        case amountCurrency = "amount_currency"
        case billableMetric = "billable_metric"
        case charge
    }
}

/// The charge a usage line refers to (`charges_usage[].charge`).
public struct ChargeReference: Sendable, Hashable, Codable {
    public var lagoID: String?
    /// `standard`, `graduated`, `package`, `percentage`, `volume`…
    public var chargeModel: String?
    public var invoiceDisplayName: String?

    /// Creates a charge reference.
    public init(lagoID: String?, chargeModel: String?, invoiceDisplayName: String? = nil) {
        self.lagoID = lagoID
        self.chargeModel = chargeModel
        self.invoiceDisplayName = invoiceDisplayName
    }

    enum CodingKeys: String, CodingKey {
        case lagoID = "lago_id"
        case chargeModel = "charge_model"
        case invoiceDisplayName = "invoice_display_name"
    }
}

/// The billable metric a usage line refers to.
public struct MetricReference: Sendable, Hashable, Codable {
    public var lagoID: String?
    public var name: String
    public var code: String
    public var aggregationType: AggregationType

    /// Creates a metric reference.
    public init(lagoID: String?, name: String, code: String, aggregationType: AggregationType) {
        self.lagoID = lagoID
        self.name = name
        self.code = code
        self.aggregationType = aggregationType
    }

    enum CodingKeys: String, CodingKey {
        case lagoID = "lago_id"
        case name, code
        case aggregationType = "aggregation_type"
    }
}
