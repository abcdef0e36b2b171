import Foundation
import LagoAPI
import Testing

@testable import LagoBilling

@Suite struct UsageChangeTests {
    static func line(_ code: String, units: String, events: Int, cents: Int64, charge: String? = nil) -> ChargeUsage {
        ChargeUsage(
            units: units, eventsCount: events, amountCents: cents, amountCurrency: "EUR",
            billableMetric: MetricReference(lagoID: nil, name: code, code: code, aggregationType: .sumAgg),
            charge: charge.map { ChargeReference(lagoID: $0, chargeModel: "standard") })
    }

    static func reading(
        _ lines: [ChargeUsage], from: String = "2026-12-01T00:00:00Z", at seconds: Double
    ) -> UsageReading {
        let total = lines.reduce(Int64(0)) { $0 + $1.amountCents }
        return UsageReading(
            externalSubscriptionID: "sub_1", externalCustomerID: "cus_1",
            usage: CustomerUsage(
                fromDatetime: LagoDate(from), toDatetime: LagoDate("2026-12-31T23:59:59Z"), issuingDate: nil,
                currency: "EUR", amountCents: total, totalAmountCents: total, taxesAmountCents: 0, chargesUsage: lines),
            json: .null, readAt: Date(timeIntervalSince1970: seconds))
    }

    @Test func linesMoveByChargeExactlyInDecimal() {
        let before = Self.reading(
            [
                Self.line("tokens", units: "0.1", events: 1, cents: 10, charge: "ch_a"),
                Self.line("tokens", units: "5", events: 1, cents: 5, charge: "ch_b"),
            ], at: 0)
        let after = Self.reading(
            [
                Self.line("tokens", units: "0.3", events: 3, cents: 30, charge: "ch_a"),
                Self.line("tokens", units: "5", events: 1, cents: 5, charge: "ch_b"),
                Self.line("calls", units: "2.0", events: 2, cents: 4),
            ], at: 10)
        let change = UsageChange.between(before, after)
        #expect(!change.periodChanged)
        #expect(change.totalAmountCents == 24)
        // 0.3 − 0.1 is exactly 0.2 (no binary floating point on the way).
        #expect(change.charge("ch_a")?.units == Decimal(string: "0.2"))
        #expect(change.charge("ch_a")?.eventsCount == 2)
        #expect(change.charge("ch_b")?.units == 0)
        // A line absent before counts from zero.
        #expect(change.charge("metric:calls")?.units == 2)
        #expect(change.since == Date(timeIntervalSince1970: 0))
    }

    @Test func aNewPeriodCountsFromZero() {
        let before = Self.reading([Self.line("tokens", units: "900", events: 9, cents: 900)], at: 0)
        let after = Self.reading(
            [Self.line("tokens", units: "40", events: 1, cents: 40)], from: "2027-01-01T00:00:00Z", at: 10)
        let change = UsageChange.between(before, after)
        #expect(change.periodChanged)
        #expect(change.charge("metric:tokens")?.units == 40)
        #expect(change.totalAmountCents == 40)
    }

    @Test func moneyIsWrittenInTheCurrencysOwnUnits() {
        #expect(UsageText.money(cents: 123_456, currency: "usd") == "1,234.56 USD")
        #expect(UsageText.money(cents: 5, currency: "EUR") == "0.05 EUR")
        #expect(UsageText.money(cents: -250, currency: "EUR") == "-2.50 EUR")
        #expect(UsageText.money(cents: 1_500, currency: "JPY") == "1,500 JPY")
        #expect(UsageText.money(cents: 1_234, currency: "KWD") == "1.234 KWD")
        #expect(UsageText.money(cents: Int64.min, currency: "USD") == "-92,233,720,368,547,758.08 USD")
        #expect(UsageText.signedMoney(cents: 120, currency: "USD") == "+1.20 USD")
        #expect(UsageText.signedMoney(cents: 0, currency: "USD") == "0.00 USD")
        #expect(UsageText.units(Decimal(string: "1234567.25")!) == "1,234,567.25")
        #expect(UsageText.signedUnits(Decimal(string: "-3")!) == "-3")
        #expect(UsageText.plain(Decimal(string: "1320.0")!) == "1320")
    }
}
