import LagoAPI
import LagoIngest

/// What Lago bills of a stored event: the rules `current_usage` aggregates by (`lago-api-facts.md` §8.1–8.2).
///
/// Lago's Postgres store matches an event to a subscription by time (`Event#subscription`), reads properties as
/// Postgres's `properties->>'key'` text, keeps only numerals `^-?\d+(\.\d+)?$` for sum, max, weighted sum and
/// latest (`numeric_condition`), and its post-validation calls an event with a filter value outside the filter's
/// list `invalid_filter_values`. The sandbox keeps these rules here, on its own, so that it needs no other module.
enum BillingRule {
    /// Whether `subscription` bills an event of `timestampMicroseconds`: it has started (a pending or canceled one
    /// never did), `started_at` is at or before the event (to the millisecond, as Lago compares), and it was not
    /// terminated before the event.
    static func subscription(_ subscription: SandboxSubscription, covers timestampMicroseconds: Int64) -> Bool {
        switch subscription.status {
        case .pending, .canceled: return false
        case .active, .terminated: break
        }
        guard milliseconds(subscription.startedAtMicroseconds) <= timestampMicroseconds else { return false }
        if let terminated = subscription.terminatedAtMicroseconds, milliseconds(terminated) < timestampMicroseconds {
            return false
        }
        return true
    }

    /// Whether Lago aggregates an event with `properties` into `metric`: the metric's property is there (a numeral
    /// for sum, max, weighted sum and latest; not null for unique count), and no property named like one of the
    /// metric's filters holds a value outside that filter's values.
    ///
    /// `count_agg` needs no property, and neither does a metric whose `expression` computes it at ingestion (an
    /// expression that fails refuses the event there).
    static func bills(_ properties: [String: JSONValue], into metric: SandboxBillableMetric) -> Bool {
        if metric.aggregationType != .countAgg, metric.expression?.isEmpty ?? true,
            let field = metric.fieldName, !field.isEmpty
        {
            guard let text = properties[field].flatMap(LagoPropertyText.text) else { return false }
            switch metric.aggregationType {
            case .sumAgg, .maxAgg, .weightedSumAgg, .latestAgg:
                guard LagoPropertyText.isNumeral(text) else { return false }
            case .countAgg, .uniqueCountAgg:
                break
            }
        }
        for filter in metric.filters {
            if let value = properties[filter.key], let text = LagoPropertyText.text(value),
                !filter.values.contains(text)
            {
                return false
            }
        }
        return true
    }

    /// The numeric value of a property Lago aggregates (a numeral as ``LagoAPI/LagoPropertyText`` reads it), or nil.
    static func number(_ value: JSONValue?) -> LagoDecimal? {
        guard let text = value.flatMap(LagoPropertyText.text), LagoPropertyText.isNumeral(text) else { return nil }
        return LagoDecimal(bigDecimal: text)
    }

    /// Microseconds truncated to the millisecond (Lago's `date_trunc('millisecond', …)`).
    private static func milliseconds(_ microseconds: Int64) -> Int64 {
        microseconds - ((microseconds % 1000) + 1000) % 1000
    }
}
