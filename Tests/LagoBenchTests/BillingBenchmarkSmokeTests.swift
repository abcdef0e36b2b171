import LagoBench
import Testing

/// The billing benchmark runs end to end on a small scale and loses nothing (its figures come from release builds).
@Suite struct BillingBenchmarkSmokeTests {
    @Test func theBillingBenchmarkRunsAndLosesNothing() async throws {
        var options = BillingBenchmarkOptions()
        options.checkEvents = 2_000
        options.extraMetrics = 5
        options.extraSubscriptions = 20
        options.relayEvents = 500
        options.relayRepetitions = 1
        let result = try await BillingBenchmark.run(options)
        #expect(result.catalogueMetrics >= 5 && result.catalogueSubscriptions >= 20)
        #expect(result.checkNanosecondsPerEvent > 0 && result.engineCheckNanosecondsPerEvent > 0)
        #expect(result.relayWithoutCheck.count == 1 && result.relayWithCheck.count == 1)
        #expect(result.relayRatio > 0)
        #expect(result.lost == 0 && result.duplicated == 0)
        #expect(result.relayBillable == [500], "the relay's events are billable: the check's cost is measured on them")
    }
}
