public import LagoAPI

/// One usage measurement (e.g. one LLM call) in the console's canonical fields, turned by the engine into one Lago
/// event per non-zero field.
///
/// Each event is coded with the metric code mapped to its field and carries the dimensions plus the field's value
/// under the property `value`. The billable metrics must therefore aggregate the property `value` (the sandbox
/// seeds its metrics as `sum_agg` with `field_name: "value"`). Transaction ids are `<idBase>:<field>`, e.g.
/// `call-42:output`, so re-sending the same record with the same base never bills twice. The conversion,
/// `events(metricCodes:defaultSubscription:newID:)`, is the engine's (`LagoEngine`).
public struct UsageRecord: Sendable, Hashable, Codable {
    /// The numeric value of each canonical field; zero and absent fields produce no event.
    public var values: [CanonicalField: Double]
    /// Properties copied onto every event (`model`, `region`, …): strings or JSON scalars. `value` is reserved.
    public var dimensions: [String: JSONValue]
    /// The subscription billed; `nil` uses the engine's default subscription.
    public var externalSubscriptionID: String?
    /// The base of the transaction ids; `nil`: a new UUID.
    public var idBase: String?
    /// Unix seconds of the usage; `nil`: Lago uses the time of reception.
    public var timestamp: Double?
    /// What the usage cost, for the cost event (``CostEvents``); `nil`: none known.
    public var cost: UsageCost?

    /// Creates a usage record.
    public init(
        values: [CanonicalField: Double], dimensions: [String: JSONValue] = [:], externalSubscriptionID: String? = nil,
        idBase: String? = nil, timestamp: Double? = nil, cost: UsageCost? = nil
    ) {
        self.cost = cost
        self.values = values
        self.dimensions = dimensions
        self.externalSubscriptionID = externalSubscriptionID
        self.idBase = idBase
        self.timestamp = timestamp
    }
}
