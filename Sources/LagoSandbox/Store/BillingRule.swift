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
            guard let text = properties[field].flatMap(text) else { return false }
            switch metric.aggregationType {
            case .sumAgg, .maxAgg, .weightedSumAgg, .latestAgg:
                guard isNumeral(text) else { return false }
            case .countAgg, .uniqueCountAgg:
                break
            }
        }
        for filter in metric.filters {
            if let value = properties[filter.key], let text = text(value), !filter.values.contains(text) {
                return false
            }
        }
        return true
    }

    /// The numeric value of a property Lago aggregates (a numeral as ``text(_:)`` reads it), or nil.
    static func number(_ value: JSONValue?) -> LagoDecimal? {
        guard let text = value.flatMap(text), isNumeral(text) else { return nil }
        return LagoDecimal(bigDecimal: text)
    }

    /// A property as Postgres's `properties->>'key'` reads it: a string as it is, a number in plain digits (no
    /// exponent), `true`/`false`, an object or array as JSON; nil for JSON `null`.
    static func text(_ value: JSONValue) -> String? {
        switch value {
        case .null: nil
        case .string(let text): text
        case .integer(let integer): String(integer)
        case .bigInteger(let digits): digits
        case .number(let number): plainDigits(number)
        case .bool(let flag): flag ? "true" : "false"
        case .array, .object: value.jsonText
        }
    }

    /// Lago's numeral test, `^-?\d+(\.\d+)?$` with ASCII digits: no sign but `-`, no spaces, no exponent.
    static func isNumeral(_ text: String) -> Bool {
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

    /// A finite double in the plain digits Postgres's `numeric` prints for the numeral Rails wrote (`1e20` →
    /// `100000000000000000000`, `1.5e-7` → `0.00000015`, `2.5` → `2.5`).
    static func plainDigits(_ number: Double) -> String {
        guard number.isFinite else { return "NaN" }
        let shortest = "\(number)"
        guard let exponentIndex = shortest.firstIndex(where: { $0 == "e" || $0 == "E" }),
            let exponent = Int(shortest[shortest.index(after: exponentIndex)...])
        else { return shortest }
        let mantissa = shortest[..<exponentIndex]
        let negative = mantissa.hasPrefix("-")
        let parts = (negative ? mantissa.dropFirst() : mantissa).split(separator: ".", omittingEmptySubsequences: false)
        var digits = String(parts[0]) + (parts.count > 1 ? String(parts[1]) : "")
        var point = parts[0].count + exponent
        if point <= 0 {
            digits = String(repeating: "0", count: 1 - point) + digits
            point = 1
        } else if point > digits.count {
            digits += String(repeating: "0", count: point - digits.count)
        }
        var fraction = digits.dropFirst(point)
        while fraction.last == "0" { fraction = fraction.dropLast() }
        return (negative ? "-" : "") + digits.prefix(point) + (fraction.isEmpty ? "" : "." + fraction)
    }

    /// Microseconds truncated to the millisecond (Lago's `date_trunc('millisecond', …)`).
    private static func milliseconds(_ microseconds: Int64) -> Int64 {
        microseconds - ((microseconds % 1000) + 1000) % 1000
    }
}
