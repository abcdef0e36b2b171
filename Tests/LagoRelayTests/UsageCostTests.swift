import LagoUsage
import Testing

@Suite("Cost amounts read exactly into nanos")
struct UsageCostTests {
    @Test func decimalsBecomeExactNanos() throws {
        for (amount, nanos) in [
            ("0.0123", 12_300_000), ("12", 12_000_000_000), ("1.5e-5", 15_000), ("0", 0), ("0.000000001", 1),
            ("0.10000000000", 100_000_000), ("+3.", 3_000_000_000), ("0.1", 100_000_000),
            ("9223372036.854775807", Int64.max),
        ] as [(String, Int64)] {
            #expect(try UsageCost.parse(amount: amount, currency: "USD").get().nanos == nanos, "\(amount)")
        }
        // 0.1 + 0.2 in binary floating point is 0.30000000000000004; as text it is exact.
        #expect(try UsageCost.parse(amount: "0.3", currency: "USD").get().nanos == 300_000_000)
    }

    @Test func whatIsNoCostIsRefusedSayingWhy() {
        for (amount, currency, reason) in [
            ("-1", "USD", "must not be negative"), ("0.0000000001", "USD", "finer than a billionth"),
            ("abc", "USD", "must be a decimal number"), (".", "USD", "must be a decimal number"),
            ("1e999", "USD", "must be a decimal number"), ("9223372037", "USD", "too large"),
            ("1", "usd", "ISO 4217"),
        ] {
            guard case .failure(let error) = UsageCost.parse(amount: amount, currency: currency) else {
                Issue.record("\(amount) was accepted")
                continue
            }
            #expect(error.description.contains(reason), "\(amount): \(error)")
        }
    }
}
