import ConsoleUI
import Foundation
import LagoBench
import Testing

/// The render benchmark's sample state. How long a frame of it takes (200×60, 10k events) is measured by
/// `lago-console bench` in a release build, never in a timed test (one here compared two timings in a debug build
/// and failed under CI's load).
@Suite struct RenderBenchmarkTests {
    @Test func sampleStateHoldsTheRequestedEvents() {
        let state = ConsoleBenchmark.sampleState(width: 200, height: 60, events: 10_000, now: Date(timeIntervalSince1970: 1_767_268_800))
        #expect(state.history.count == 10_000)
        #expect(render(state).lines[2].contains("10,000"))
    }
}
