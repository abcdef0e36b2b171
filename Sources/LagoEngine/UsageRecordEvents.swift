public import LagoAPI
public import LagoUsage

/// The engine's reading of a usage record: one Lago event per non-zero canonical field.
extension UsageRecord {
    /// The events this record becomes under a metric-code mapping and a default subscription.
    /// - Throws: ``EngineError/Kind/noSubscription`` when neither the record nor `defaultSubscription` names one;
    ///   ``EngineError/Kind/invalidUsage`` for a non-finite value, a non-scalar dimension or a dimension named
    ///   `value`, or a record without a cost when `cost` is `only`.
    /// - Parameter cost: whether a cost event (`<idBase>:cost`, code `cost.code`, properties the dimensions plus
    ///   `cost_nanos` and `currency`) goes beside the token events (`also`) or instead of them (`only`).
    public func events(
        metricCodes: [CanonicalField: String], defaultSubscription: String?, cost costEvents: CostEvents = .off,
        newID: () -> String = { RandomUUID.lowercasedString() }
    ) throws -> [EventInput] {
        try codedEvents(
            metricCodes: metricCodes, defaultSubscription: defaultSubscription, cost: costEvents, newID: newID
        ).map(\.event)
    }

    /// The events of ``events(metricCodes:defaultSubscription:cost:newID:)``, each with what gave it its code:
    /// the mapping of one canonical field, or `usage.cost_code`.
    public func codedEvents(
        metricCodes: [CanonicalField: String], defaultSubscription: String?, cost costEvents: CostEvents = .off,
        newID: () -> String = { RandomUUID.lowercasedString() }
    ) throws -> [(event: EventInput, coding: EventOrigin.Coding)] {
        guard let subscription = externalSubscriptionID ?? defaultSubscription, !subscription.isEmpty else {
            throw EngineError(
                .noSubscription,
                "the usage record names no subscription and no default subscription is configured; nothing was queued")
        }
        for (key, value) in dimensions {
            if key == "value" {
                throw EngineError(.invalidUsage, "the dimension name 'value' is reserved for the field's value")
            }
            switch value {
            case .array, .object:
                throw EngineError(.invalidUsage, "the dimension '\(key)' must be a string or a JSON scalar")
            case .number(let number) where !number.isFinite:
                throw EngineError(.invalidUsage, "the dimension '\(key)' is not a finite number")
            default: break
            }
        }
        if let timestamp, !timestamp.isFinite {
            throw EngineError(.invalidUsage, "the timestamp is not a finite number")
        }
        if costEvents.mode == .only, cost == nil {
            throw EngineError(
                .invalidUsage, "usage.cost_events is only and the usage has no cost: send its cost, or set also or off")
        }
        let base = idBase ?? newID()
        var events: [(event: EventInput, coding: EventOrigin.Coding)] = []
        events.reserveCapacity(values.count + 1)
        if costEvents.mode != .off, let cost {
            var properties = dimensions
            properties["cost_nanos"] = .integer(cost.nanos)
            properties["currency"] = .string(cost.currency)
            events.append(
                (
                    EventInput(
                        transactionID: "\(base):cost", externalSubscriptionID: subscription, code: costEvents.code,
                        timestamp: timestamp, properties: properties), .cost
                ))
            if costEvents.mode == .only { return events }
        }
        for field in CanonicalField.allCases {
            guard let value = values[field], value != 0 else { continue }
            guard value.isFinite else {
                throw EngineError(.invalidUsage, "the value of \(field.rawValue) is not a finite number")
            }
            var properties = dimensions
            properties["value"] = UsageRecord.jsonNumber(value)
            events.append(
                (
                    EventInput(
                        transactionID: "\(base):\(field.rawValue)", externalSubscriptionID: subscription,
                        code: metricCodes[field] ?? field.defaultMetricCode, timestamp: timestamp,
                        properties: properties), .field(field)
                ))
        }
        return events
    }

    /// Whole numbers as JSON integers (`1200`, not `1200.0`).
    static func jsonNumber(_ value: Double) -> JSONValue {
        if value == value.rounded(), abs(value) < 9e15 { return .integer(Int64(value)) }
        return .number(value)
    }
}
