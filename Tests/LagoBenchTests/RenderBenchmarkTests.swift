import ConsoleUI
import Foundation
import LagoBench
import Testing

@Suite struct RenderBenchmarkTests {
    /// A frame at 200×60 with 10,000 events renders only the visible window. The 2 ms budget is for release
    /// builds; this debug-build check only catches accidental O(history) work per frame.
    @Test func renderCostDoesNotGrowWithHistory() {
        let small = ConsoleBenchmark.renderFrame(width: 200, height: 60, events: 100, frames: 20)
        let large = ConsoleBenchmark.renderFrame(width: 200, height: 60, events: 10_000, frames: 20)
        #expect(large < small * 3 + 2, "10k events: \(large) ms/frame vs 100 events: \(small) ms/frame")
        #expect(large < 100, "\(large) ms per frame")
    }

    @Test func sampleStateHoldsTheRequestedEvents() {
        let state = ConsoleBenchmark.sampleState(width: 200, height: 60, events: 10_000, now: Date(timeIntervalSince1970: 1_767_268_800))
        #expect(state.history.count == 10_000)
        #expect(render(state).lines[2].contains("10,000"))
    }
}
