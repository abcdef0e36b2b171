import Foundation
import LagoBench
import Testing

@Suite struct AdaptiveBenchmarkSmokeTests {
    /// Issue #14's benchmark end to end on small counts: every run delivers every event once, the 429s of the burst
    /// are all answered, and the ratios come from the runs (the real figures: `lago-console bench --parts adaptive`
    /// from a release build).
    @Test func theAdaptiveBenchmarkRunsAndLosesNothing() async throws {
        var options = AdaptiveBenchmarkOptions()
        options.limitedEvents = 2_000
        options.addedLatencyMilliseconds = 20
        options.requestsPerSecond = 200
        options.fixedMaxInFlight = [4, 16]
        options.requestBoundEvents = 400
        options.burstEvents = 1_000
        options.burst429 = 5
        options.healthyEvents = 2_000
        options.healthyRepetitions = 1
        let result = try await AdaptiveBenchmark.run(options)
        let runs =
            result.limited + result.requestBound + result.jitteredRequestBound + [result.burst] + result.healthyAuto
            + result.healthyFixed4
        #expect(runs.allSatisfy { $0.lost == 0 && $0.duplicated == 0 })
        // Each run's timeline follows the sandbox's own counts: they only grow, and never past the run's events.
        for run in runs {
            #expect(!run.timeline.isEmpty)
            #expect(zip(run.timeline, run.timeline.dropFirst()).allSatisfy { $0.sandboxEvents <= $1.sandboxEvents })
            #expect(run.timeline.allSatisfy { $0.sandboxEvents <= run.events && $0.sandboxRequests >= 0 })
        }
        #expect(result.limited.map(\.maxInFlight) == ["auto", "4", "16"])
        #expect(result.requestBound.map(\.maxInFlight) == ["auto", "4", "16"])
        // Batches of 10: 400 events are at least 40 requests (where batches of 100 would be 4).
        #expect(result.requestBound.allSatisfy { $0.requests >= 40 })
        #expect(
            result.requestBoundAutoVsFixed4 == result.requestBound[0].eventsPerSecond
                / result.requestBound[1].eventsPerSecond)
        #expect(result.jitteredRequestBound.map(\.maxInFlight) == ["auto", "64"])
        #expect(
            result.jitteredAutoVsFixed64 == result.jitteredRequestBound[0].eventsPerSecond
                / result.jitteredRequestBound[1].eventsPerSecond)
        #expect(result.burst.rateLimited == 5)
        let best = result.limited.dropFirst().map(\.eventsPerSecond).max()!
        #expect(result.autoVsBestFixed == result.limited[0].eventsPerSecond / best)
        #expect(
            result.healthyAutoVsFixed4 == result.healthyAuto[0].eventsPerSecond
                / result.healthyFixed4[0].eventsPerSecond)
    }
}
