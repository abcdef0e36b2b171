import Foundation
import LagoBench
import Testing

@Suite struct BenchmarkSmokeTests {
    /// The benchmark runs end to end on small counts (the real figures come from a release build:
    /// `LAGO_ENGINE_BENCH=full swift test -c release --filter BenchmarkSmokeTests` or `lago-console bench`).
    @Test func theBenchmarkRunsAndLosesNothing() async throws {
        var options = EngineBenchmarkOptions()
        let mode = ProcessInfo.processInfo.environment["LAGO_ENGINE_BENCH"]
        let full = mode == "throughput"
        if mode == "throughput" {  // for profiling the healthy run alone
            options.parts = ["healthy"]
        } else {
            options.enqueueLatencySamples = 300
            options.throughputEvents = 2_000
            options.healthyRepetitions = 2
            options.latencyEvents = 400
            options.addedLatencyMilliseconds = 20
            options.latencyMaxInFlight = [4]
            options.resumeEvents = 1_000
            options.rssEvents = 0
        }
        let result = try await EngineBenchmark.run(options)
        if full {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(result), as: UTF8.self))
        }
        let healthy = try #require(result.healthy)
        #expect(healthy.lost == 0 && healthy.duplicated == 0)
        #expect(result.healthyRunsEventsPerSecond?.count == options.healthyRepetitions)
        #expect(result.healthyRunsEventsPerSecond?.contains(healthy.eventsPerSecond) == true)
        if full { return }
        let single = try #require(result.healthySingleEventProducers)
        #expect(single.lost == 0 && single.duplicated == 0)
        #expect(try #require(result.withLatency).allSatisfy { $0.lost == 0 && $0.duplicated == 0 })
        #expect(result.enqueueLatency?.samples == options.enqueueLatencySamples)
        let resume = try #require(result.resume)
        #expect(resume.drainSeconds >= resume.firstDeliverySeconds)
    }
}

#if canImport(XCTest)
import XCTest

/// The full benchmark under XCTest, which (unlike Swift Testing) does not capture a backtrace for every thrown
/// error; JSON decoding throws internally, so figures measured under Swift Testing are pessimistic. Runs only with
/// `LAGO_ENGINE_BENCH=full` (release: `swift build -c release --build-tests -Xswiftc -enable-testing`, then
/// `.build/release/lago-consolePackageTests.xctest --testing-library xctest LagoEngineTests.EngineBenchmarkRun`).
final class EngineBenchmarkRun: XCTestCase {
    func testFullBenchmark() async throws {
        guard ProcessInfo.processInfo.environment["LAGO_ENGINE_BENCH"] == "full" else { return }
        let result = try await EngineBenchmark.run(EngineBenchmarkOptions())
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        print(String(decoding: try encoder.encode(result), as: UTF8.self))
        XCTAssertEqual(result.healthy?.lost, 0)
    }
}
#endif
