public import Foundation
public import LagoAPI
import Synchronization

/// One reading of a subscription's usage in Lago (`GET /customers/{id}/current_usage`): what Lago will bill for
/// the current period so far.
public struct UsageReading: Sendable, Hashable {
    /// The subscription read.
    public var externalSubscriptionID: String
    /// Its customer.
    public var externalCustomerID: String
    /// Lago's answer, decoded.
    public var usage: CustomerUsage
    /// Lago's `customer_usage` object as it came, every field kept.
    public var json: JSONValue
    /// When the answer arrived.
    public var readAt: Date

    /// Creates a reading.
    public init(
        externalSubscriptionID: String, externalCustomerID: String, usage: CustomerUsage, json: JSONValue,
        readAt: Date
    ) {
        self.externalSubscriptionID = externalSubscriptionID
        self.externalCustomerID = externalCustomerID
        self.usage = usage
        self.json = json
        self.readAt = readAt
    }

    /// The charge line billing `code`, if the plan charges it (the first one when it charges it more than once).
    public func charge(code: String) -> ChargeUsage? {
        usage.chargesUsage.first { $0.billableMetric.code == code }
    }
}

extension ChargeUsage {
    /// What tells this line from the others of the same answer: the charge's `lago_id`, else the metric code.
    public var lineKey: String { charge?.lagoID ?? "metric:" + billableMetric.code }

    /// ``units`` as a number (`nil` when Lago sent something that is not a decimal).
    public var unitsValue: Decimal? { Decimal(string: units, locale: Locale(identifier: "en_US_POSIX")) }
}

/// How one charge line moved between two readings.
public struct ChargeChange: Sendable, Hashable {
    /// The line now.
    public var line: ChargeUsage
    /// Units now minus units then (a line absent then counts from zero).
    public var units: Decimal
    /// Events counted now minus then.
    public var eventsCount: Int
    /// Amount now minus then, in the currency's smallest unit.
    public var amountCents: Int64
}

/// How a subscription's usage moved between two readings of the same billing period.
public struct UsageChange: Sendable, Hashable {
    /// When the earlier reading was taken.
    public var since: Date
    /// Total amount now minus then (`total_amount_cents`, taxes included).
    public var totalAmountCents: Int64
    /// Per charge line, in the order Lago lists them now.
    public var charges: [ChargeChange]
    /// Whether the billing period changed between the two readings: the change is then counted from the start of
    /// the new period (the old period is invoiced and no longer on the customer's current usage).
    public var periodChanged: Bool

    /// The change of one line (by ``ChargeUsage/lineKey``).
    public func charge(_ key: String) -> ChargeChange? {
        charges.first { $0.line.lineKey == key }
    }

    /// The change from `earlier` to `later`: line by line, by ``ChargeUsage/lineKey``. When the period changed,
    /// every figure counts from zero.
    public static func between(_ earlier: UsageReading, _ later: UsageReading) -> UsageChange {
        let periodChanged =
            earlier.usage.fromDatetime?.date != later.usage.fromDatetime?.date
            || earlier.externalSubscriptionID != later.externalSubscriptionID
        let before: [String: ChargeUsage] =
            periodChanged
            ? [:]
            : Dictionary(earlier.usage.chargesUsage.map { ($0.lineKey, $0) }, uniquingKeysWith: { first, _ in first })
        let charges = later.usage.chargesUsage.map { line in
            let then = before[line.lineKey]
            return ChargeChange(
                line: line,
                units: (line.unitsValue ?? 0) - (then?.unitsValue ?? 0),
                eventsCount: line.eventsCount - (then?.eventsCount ?? 0),
                amountCents: line.amountCents.subtractingReportingOverflow(then?.amountCents ?? 0).partialValue)
        }
        let total =
            later.usage.totalAmountCents.subtractingReportingOverflow(
                periodChanged ? 0 : earlier.usage.totalAmountCents
            )
            .partialValue
        return UsageChange(
            since: earlier.readAt, totalAmountCents: total, charges: charges, periodChanged: periodChanged)
    }
}

/// Reads subscriptions' current usage from Lago: finds each subscription's customer once
/// (`GET /subscriptions/{id}`), then asks `current_usage` for it.
///
/// Lago's errors come as ``LagoAPIError`` with Lago's own `code` (`no_active_subscription` with 405,
/// `customer_not_found` or `not_found` with 404).
public final class CustomerUsageReader: Sendable {
    private let client: LagoClient
    private let now: @Sendable () -> Date
    private let customers = Mutex<[String: String]>([:])

    /// Creates a reader over `client`; `now` stamps readings (inject a clock in tests).
    public init(client: LagoClient, now: @escaping @Sendable () -> Date = { Date() }) {
        self.client = client
        self.now = now
    }

    /// Reads the usage of `externalSubscriptionID` now.
    /// - Throws: ``LagoAPIError`` as Lago answered (the subscription unknown: 404 from `GET /subscriptions`).
    public func read(externalSubscriptionID: String) async throws -> UsageReading {
        let customerID: String
        if let known = customers.withLock({ $0[externalSubscriptionID] }) {
            customerID = known
        } else {
            let subscription = try await client.subscription(externalID: externalSubscriptionID)
            guard let found = subscription.externalCustomerID, !found.isEmpty else {
                throw LagoAPIError.invalidRequest(
                    "Lago's subscription \(externalSubscriptionID) names no customer, so it has no usage to read")
            }
            customerID = found
            customers.withLock { $0[externalSubscriptionID] = found }
        }
        do {
            let (usage, json) = try await client.currentUsageWithJSON(
                externalCustomerID: customerID, externalSubscriptionID: externalSubscriptionID)
            return UsageReading(
                externalSubscriptionID: externalSubscriptionID, externalCustomerID: customerID, usage: usage,
                json: json, readAt: now())
        } catch let error as LagoAPIError where error.status == 404 {
            // The customer may have been replaced (deleted, recreated): look it up again next time.
            _ = customers.withLock { $0.removeValue(forKey: externalSubscriptionID) }
            throw error
        }
    }
}

/// Lago's amounts and units as an operator reads them, exactly (no binary floating point on the way).
public enum UsageText {
    /// Currencies whose smallest unit is the unit itself (ISO 4217 exponent 0): Lago's `amount_cents` counts
    /// whole units of them.
    static let zeroDecimalCurrencies: Set<String> = [
        "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF",
        "XPF",
    ]
    /// Currencies with three decimals (ISO 4217 exponent 3).
    static let threeDecimalCurrencies: Set<String> = ["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"]

    /// `12.34 USD` from an amount in the currency's smallest unit (`1234`), `1,234 JPY`, `1.234 KWD`.
    public static func money(cents: Int64, currency: String) -> String {
        let code = currency.uppercased()
        let exponent = zeroDecimalCurrencies.contains(code) ? 0 : threeDecimalCurrencies.contains(code) ? 3 : 2
        let magnitude = cents.magnitude
        var text: String
        if exponent == 0 {
            text = grouped(String(magnitude))
        } else {
            var scale: UInt64 = 1
            for _ in 0..<exponent { scale *= 10 }
            let fraction = String(magnitude % scale)
            text =
                grouped(String(magnitude / scale)) + "." + String(repeating: "0", count: exponent - fraction.count)
                + fraction
        }
        if cents < 0 { text = "-" + text }
        return code.isEmpty ? text : text + " " + code
    }

    /// `+1.20 USD`, `-0.50 USD`, `0.00 USD`.
    public static func signedMoney(cents: Int64, currency: String) -> String {
        (cents > 0 ? "+" : "") + money(cents: cents, currency: currency)
    }

    /// `1,320`, `12.5`: a decimal with its integer digits grouped.
    public static func units(_ value: Decimal) -> String {
        let text = plain(value)
        let negative = text.hasPrefix("-")
        let body = negative ? String(text.dropFirst()) : text
        let parts = body.split(separator: ".", maxSplits: 1)
        var result = grouped(String(parts.first ?? "0"))
        if parts.count == 2 { result += "." + parts[1] }
        return negative ? "-" + result : result
    }

    /// `+120`, `-3`, `0`.
    public static func signedUnits(_ value: Decimal) -> String {
        (value > 0 ? "+" : "") + units(value)
    }

    /// `1320`, `-0.5`: the decimal's digits, no grouping, as JSON output carries Lago's decimal strings.
    public static func plain(_ value: Decimal) -> String {
        NSDecimalNumber(decimal: value).description(withLocale: Locale(identifier: "en_US_POSIX"))
    }

    /// `1,234,567` from `1234567`: a run of digits grouped by threes (the one grouping the console and the
    /// headless commands use).
    public static func grouped(_ digits: String) -> String {
        var result = ""
        for (index, character) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 { result.append(",") }
            result.append(character)
        }
        return result
    }
}
