import Foundation
import LagoAPI
import Testing

@testable import ConsoleUI

/// The Queue pane's "Requests" line (issue #14): requests in flight against the limit, auto or fixed, the round
/// trip's moving average and Lago's rate-limit window when Lago sends it.
@Suite struct QueuePaceGoldenTests {
    @Test(arguments: GoldenScreenTests.sizes) func queuePaneWithDeliveryPace(size: TerminalSize) {
        var state = Fixture.busy(width: size.width, height: size.height)
        var stats = Fixture.stats
        stats.delivery.requestsInFlight = 7
        stats.delivery.limit = 23
        stats.delivery.adaptive = true
        stats.delivery.roundTrip = .milliseconds(104)
        stats.delivery.rateLimitRemaining = 312
        stats.delivery.rateLimitLimit = 500
        state.apply(.stats(stats))
        state.press(.char("2"))
        expectGolden(render(state), GoldenScreenTests.name("queue_pace", size))
    }

    @Test func fixedLimitWithoutRateLimitHeaders() {
        var state = Fixture.busy(width: 80, height: 24)
        var stats = Fixture.stats
        stats.delivery.requestsInFlight = 4
        stats.delivery.limit = 4
        stats.delivery.roundTrip = .milliseconds(3)
        state.apply(.stats(stats))
        state.press(.char("2"))
        let text = render(state).lines.joined(separator: "\n")
        #expect(text.contains("4 / 4 in flight (fixed)"))
        #expect(!text.contains("Lago window"))
    }
}
