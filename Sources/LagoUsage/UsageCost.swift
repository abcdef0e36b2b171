/// What one usage measurement cost, in billionths of the currency's unit (as @ai-billing/lago's `cost_nanos`).
public struct UsageCost: Sendable, Hashable, Codable {
    /// The cost in nanos of `currency` (1 USD = 1,000,000,000), never negative.
    public var nanos: Int64
    /// The ISO 4217 code (`USD`).
    public var currency: String

    /// Creates a cost.
    public init(nanos: Int64, currency: String) {
        self.nanos = nanos
        self.currency = currency
    }

    /// Reads a decimal amount exactly (`"0.0123"`, `"12"`, `"1.5e-5"`): no binary floating point on the way.
    /// - Returns: the cost, or why not: a negative amount, one finer than a nano, one too large, or not a number.
    public static func parse(amount text: String, currency: String) -> Result<UsageCost, UsageCostError> {
        guard currency.count == 3, currency.allSatisfy({ $0.isASCII && $0.isUppercase }) else {
            return .failure(UsageCostError("currency must be an ISO 4217 code such as USD, not '\(currency)'"))
        }
        var rest = Substring(text)
        if rest.hasPrefix("+") { rest = rest.dropFirst() }
        if rest.hasPrefix("-") {
            return .failure(UsageCostError("must not be negative (\(text))"))
        }
        var exponent = 0
        if let e = rest.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            guard let value = Int(rest[rest.index(after: e)...]), abs(value) < 400 else {
                return .failure(UsageCostError("must be a decimal number, not '\(text)'"))
            }
            exponent = value
            rest = rest[..<e]
        }
        let parts = rest.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        let whole = parts[0]
        let fraction = parts.count > 1 ? parts[1] : ""
        guard !(whole.isEmpty && fraction.isEmpty), (whole + fraction).allSatisfy({ $0.isASCII && $0.isNumber }) else {
            return .failure(UsageCostError("must be a decimal number, not '\(text)'"))
        }
        // digits × 10^(exponent − fraction digits) units; in nanos: × 10^9 more.
        var digits = Array((whole + fraction).drop { $0 == "0" })
        var power = exponent - fraction.count + 9
        while power < 0, digits.last == "0" {
            digits.removeLast()
            power += 1
        }
        guard power >= 0 || digits.isEmpty else {
            return .failure(
                UsageCostError("is finer than a billionth of the currency (\(text)): round it to 9 decimals"))
        }
        var nanos: Int64 = 0
        for digit in digits + Array(repeating: "0", count: digits.isEmpty ? 0 : power) {
            let (times, overflow1) = nanos.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times.addingReportingOverflow(Int64(digit.wholeNumberValue!))
            guard !overflow1, !overflow2 else { return .failure(UsageCostError("is too large (\(text))")) }
            nanos = sum
        }
        return .success(UsageCost(nanos: nanos, currency: currency))
    }
}

/// Why an amount is not a cost.
public struct UsageCostError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What is wrong and what to send instead.
    public var description: String

    init(_ description: String) {
        self.description = description
    }
}

/// Whether usage records also, or only, become one cost event (config `usage.cost_events`).
public enum CostEventMode: String, Sendable, Hashable, CaseIterable {
    /// Token events only (the default).
    case off
    /// A cost event beside the token events.
    case also
    /// The cost event instead of the token events; a record without a cost is refused.
    case only
}

/// How records become cost events: the mode and the metric code (`usage.cost_code`, `llm_usage`).
public struct CostEvents: Sendable, Hashable {
    /// Off, also or only.
    public var mode: CostEventMode
    /// The code of the cost events.
    public var code: String

    /// No cost events.
    public static let off = CostEvents(mode: .off)

    /// Creates the setting.
    public init(mode: CostEventMode, code: String = "llm_usage") {
        self.mode = mode
        self.code = code
    }
}
