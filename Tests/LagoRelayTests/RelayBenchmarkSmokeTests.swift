import Foundation
import LagoBench
import Testing

@Suite struct RelayBenchmarkSmokeTests {
    /// The relay benchmark runs end to end on a small count and loses nothing; it checks correctness only, never
    /// timing. `LAGO_RELAY_BENCH=full` runs the default options (100k events) and prints the result; real figures
    /// come from a release build.
    @Test func theRelayBenchmarkRunsAndLosesNothing() async throws {
        let full = ProcessInfo.processInfo.environment["LAGO_RELAY_BENCH"] == "full"
        var options = RelayBenchmarkOptions()
        if !full {
            options.events = 2_050  // 20 full batches and a partial one
            options.clients = 3
        }
        let batches = (options.events + options.batchSize - 1) / options.batchSize
        let result = try await RelayBenchmark.run(options)
        if full {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(result), as: UTF8.self))
        }
        #expect(result.requests == batches)
        #expect(result.refusedRequests == 0, "\(result.firstRefusal ?? "")")
        #expect(result.batchLatency.samples == batches)
        #expect(result.delivered == options.events)
        #expect(result.lost == 0 && result.duplicated == 0)
        #expect(result.pendingAfterFlush == 0 && result.dead == 0)
        #expect(result.ingestSeconds > 0 && result.deliveredSeconds >= result.ingestSeconds)
    }

    /// The OTLP benchmark runs end to end on small counts: every span's two events reach the sandbox once.
    @Test func theOTLPBenchmarkRunsAndLosesNothing() async throws {
        var options = OTLPBenchmarkOptions()
        options.spans = 1_050
        options.clients = 3
        options.relayEvents = 1_000
        let result = try await OTLPBenchmark.run(options)
        #expect(result.requests == 11)
        #expect(result.refusedRequests == 0, "\(result.firstRefusal ?? "")")
        // Both runs' spans (the delivering one and the spool-only one), each span's two events once.
        #expect(result.delivered == 4_200 && result.lost == 0 && result.duplicated == 0)
        #expect(result.spoolOnlyIngestSpansPerSecond > 0 && result.spoolOnlyIngestCPUMicrosecondsPerSpan > 0)
        #expect(result.deliveredDuringSpoolOnlyIngest == 0, "the spool-only run's engine was paused")
        #expect(result.ingestSpansPerSecond > 0 && result.relayEventIngestPerSecond > 0)
        #expect(result.spansToRelayEventsRatio == result.ingestSpansPerSecond / result.relayEventIngestPerSecond)
        // Each stage is measured (CPU time: a stage that ran cost something); no speed is judged here.
        #expect(result.decodeMicrosecondsPerSpan > 0 && result.mapMicrosecondsPerSpan > 0)
        #expect(result.codeEventsMicrosecondsPerSpan > 0 && result.ingestCPUMicrosecondsPerSpan > 0)
    }
}
