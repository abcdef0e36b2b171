import Foundation
import Testing

/// `lago-console bench --parts console` end to end on the debug binary: a short, light run that must produce a
/// complete, sane report. Timing is never asserted here; the figures come from a release build.
@Suite("console benchmark smoke (tmux)")
struct ConsoleBenchmarkSmokeTests {
    struct Report: Decodable {
        struct Console: Decodable {
            struct KeyLatency: Decodable {
                var p50Ms: Double
                var p95Ms: Double
                var p99Ms: Double
                var maxMs: Double
                var samples: Int
            }
            var keysSent: Int
            var keysUnanswered: Int
            var keyLatency: KeyLatency
            var pollOverheadMs: Double
            var idleCPUPercent: Double
            var loadCPUPercent: Double
            var redrawsPerSecond: Double
            var rendersPerSecond: Double
            var eventsAccepted: Int
            var eventsPerSecondAchieved: Double
            var refusedRequests: Int
            var firstRefusal: String?
        }
        var console: Console?
    }

    @Test func shortRunAnswersKeysAndCountsFrames() async throws {
        let run = try await runLagoConsole([
            "bench", "--parts", "console", "--console-idle-seconds", "1", "--console-warm-up-seconds",
            "1",
            "--console-load-seconds", "3", "--console-events-per-second", "500", "--console-keys", "4",
        ])
        #expect(run.status == 0, "\(run.output)")
        guard let start = run.output.firstIndex(of: "{") else {
            Issue.record("no JSON in the output:\n\(run.output)")
            return
        }
        let report = try JSONDecoder().decode(Report.self, from: Data(run.output[start...].utf8))
        let console = try #require(report.console, "no console part in:\n\(run.output)")
        #expect(console.keysSent == 4)
        #expect(console.keysUnanswered == 0)
        #expect(console.keyLatency.samples == 4)
        #expect(console.keyLatency.p50Ms > 0 && console.keyLatency.p50Ms <= console.keyLatency.maxMs)
        #expect(console.pollOverheadMs > 0)
        #expect(console.redrawsPerSecond > 0, "the console drew no frame under load")
        #expect(console.rendersPerSecond > 0)
        #expect(console.idleCPUPercent >= 0 && console.loadCPUPercent > 0)
        #expect(console.eventsAccepted > 0 && console.eventsPerSecondAchieved > 0)
        #expect(console.refusedRequests == 0, "\(console.firstRefusal ?? "")")
    }
}
