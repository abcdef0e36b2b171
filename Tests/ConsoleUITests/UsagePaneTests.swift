import Foundation
import LagoAPI
import LagoBilling
import LagoUsage
import Testing

@testable import ConsoleUI

/// Readings of `sub_acme_pro`'s usage as Lago would answer them.
enum UsageFixture {
    static func line(
        _ code: String, name: String, aggregation: AggregationType = .sumAgg, units: String, events: Int,
        cents: Int64
    ) -> ChargeUsage {
        ChargeUsage(
            units: units, eventsCount: events, amountCents: cents, amountCurrency: "USD",
            billableMetric: MetricReference(lagoID: "bm_\(code)", name: name, code: code, aggregationType: aggregation),
            charge: ChargeReference(lagoID: "ch_\(code)", chargeModel: "standard"))
    }

    static func reading(
        input: (units: String, events: Int, cents: Int64) = ("1200.0", 3, 120),
        output: (units: String, events: Int, cents: Int64) = ("350.0", 3, 105),
        tools: (units: String, events: Int, cents: Int64) = ("4.0", 4, 40),
        at date: Date, subscription: String = "sub_acme_pro"
    ) -> UsageReading {
        let lines = [
            line(
                "llm_input_tokens", name: "Input tokens", units: input.units, events: input.events, cents: input.cents),
            line(
                "llm_output_tokens", name: "Output tokens", units: output.units, events: output.events,
                cents: output.cents),
            line(
                "llm_tool_calls", name: "Tool calls", aggregation: .countAgg, units: tools.units, events: tools.events,
                cents: tools.cents),
        ]
        let total = lines.reduce(Int64(0)) { $0 + $1.amountCents }
        let usage = CustomerUsage(
            fromDatetime: LagoDate("2026-01-01T00:00:00Z"), toDatetime: LagoDate("2026-01-31T23:59:59Z"),
            issuingDate: "2026-02-01", currency: "USD", amountCents: total, totalAmountCents: total,
            taxesAmountCents: 0, chargesUsage: lines)
        return UsageReading(
            externalSubscriptionID: subscription, externalCustomerID: "acme_corp", usage: usage,
            json: .object(["currency": .string("USD")]), readAt: date)
    }
}

@Suite struct UsagePaneTests {
    /// A console with Lago's catalogue read (the sum metrics' property is `tokens`).
    static func state(width: Int = 80, height: Int = 24) -> AppState {
        var state = Fixture.busy(width: width, height: height)
        state.apply(
            .catalogueChanged(
                metrics: Fixture.catalogueMetrics,
                status: BillingCatalogueStatus(loadedAt: Fixture.start, metrics: 10, subscriptions: 4)))
        return state
    }

    @Test func theShownSubscriptionIsReadOnTheClockAndNotWhileARead() throws {
        var state = Self.state()
        let first = state.handle(.tick(now: Fixture.start)).map(\.effect)
        #expect(first == [.readUsage(subscriptionID: "sub_acme_pro")])
        // Not again while the read is in flight, nor before the interval after it was asked.
        #expect(state.handle(.tick(now: Fixture.start.addingTimeInterval(6))).isEmpty)
        state.apply(
            .usageRead(
                subscriptionID: "sub_acme_pro",
                result: .success(UsageFixture.reading(at: Fixture.start.addingTimeInterval(6)))))
        #expect(
            state.handle(.tick(now: Fixture.start.addingTimeInterval(6.5))).map(\.effect)
                == [.readUsage(subscriptionID: "sub_acme_pro")])
        state.apply(
            .usageRead(
                subscriptionID: "sub_acme_pro",
                result: .success(UsageFixture.reading(at: Fixture.start.addingTimeInterval(7)))))
        #expect(state.handle(.tick(now: Fixture.start.addingTimeInterval(10))).isEmpty)
        #expect(
            state.handle(.tick(now: Fixture.start.addingTimeInterval(11.5))).map(\.effect)
                == [.readUsage(subscriptionID: "sub_acme_pro")])
    }

    @Test func refreshOnDemandAtMostOnceASecond() {
        var state = Self.state()
        state.press(.char("8"))
        #expect(state.focusedPane == .usage)
        #expect(state.handle(.tick(now: Fixture.start)).map(\.effect) == [.readUsage(subscriptionID: "sub_acme_pro")])
        // In flight: r does nothing.
        #expect(state.press(.char("r")).isEmpty)
        state.apply(
            .usageRead(subscriptionID: "sub_acme_pro", result: .success(UsageFixture.reading(at: Fixture.start))))
        #expect(state.press(.char("r")).isEmpty)  // asked less than a second ago
        state.apply(.tick(now: Fixture.start.addingTimeInterval(1.2)))
        #expect(state.press(.char("r")) == [.readUsage(subscriptionID: "sub_acme_pro")])
    }

    @Test func lagoErrorsAreShownInLagosWords() {
        var state = Self.state()
        state.press(.char("8"))
        state.apply(.tick(now: Fixture.start))
        state.apply(
            .usageRead(
                subscriptionID: "sub_acme_pro",
                result: .failure(
                    OperationError(
                        "GET /customers/acme_corp/current_usage: HTTP 405 Method Not Allowed (no_active_subscription)",
                        status: 405, code: "no_active_subscription"))))
        let text = render(state).plainText
        #expect(text.contains("Lago answered 405 no_active_subscription"))
        #expect(text.contains("not active in Lago"))
    }

    /// Sends a usage test of 120 input tokens to the default subscription; returns its transaction id.
    static func sendInputTest(_ state: inout AppState) -> String {
        state.press(.char("6"), .enter)
        state.type("120")
        state.press(.ctrl("s"))
        let id = "test_abc_input"
        state.apply(.sendAccepted(transactionIDs: [id]))
        return id
    }

    static func update(
        _ id: String, _ deliveryState: DeliveryState, properties: [String: JSONValue] = ["tokens": 120],
        billing: BillingVerdict? = nil
    ) -> EventUpdate {
        EventUpdate(
            transactionID: id, code: "llm_input_tokens", externalSubscriptionID: "sub_acme_pro", properties: properties,
            state: deliveryState, time: Fixture.start, billing: billing)
    }

    @Test func aTestEventIsCountedWhenItsChargeMovesByItsValue() throws {
        var state = Self.state(width: 160, height: 48)
        state.apply(.tick(now: Fixture.start))
        state.apply(
            .usageRead(subscriptionID: "sub_acme_pro", result: .success(UsageFixture.reading(at: Fixture.start))))
        let id = Self.sendInputTest(&state)
        #expect(state.usageCount(of: id) == .awaitingDelivery)
        state.apply(.eventLifecycle([Self.update(id, .queued), Self.update(id, .delivered)]))
        guard case .waiting = state.usageCount(of: id) else {
            Issue.record("expected waiting, got \(String(describing: state.usageCount(of: id)))")
            return
        }
        // Another event of the same charge that moved it by less than the test's value is not the test.
        state.apply(.tick(now: Fixture.start.addingTimeInterval(5)))
        state.apply(
            .usageRead(
                subscriptionID: "sub_acme_pro",
                result: .success(
                    UsageFixture.reading(input: ("1250.0", 4, 125), at: Fixture.start.addingTimeInterval(5)))))
        guard case .waiting = state.usageCount(of: id) else {
            Issue.record("a move by 50 counted a test of 120")
            return
        }
        state.apply(.tick(now: Fixture.start.addingTimeInterval(10)))
        state.apply(
            .usageRead(
                subscriptionID: "sub_acme_pro",
                result: .success(
                    UsageFixture.reading(input: ("1370.0", 5, 137), at: Fixture.start.addingTimeInterval(10)))))
        guard case .counted(let change, _) = state.usageCount(of: id) else {
            Issue.record("expected counted, got \(String(describing: state.usageCount(of: id)))")
            return
        }
        #expect(change.units == 170)
        #expect(change.eventsCount == 2)
        #expect(change.line.billableMetric.code == "llm_input_tokens")
        state.press(.char("1"))
        let events = render(state).plainText
        #expect(events.contains("12:00:00 ✔ counted    llm_input_tokens"))
    }

    @Test func aTestEventNotCountedInTimeSaysTheBillingChecksReason() {
        var state = Self.state()
        state.apply(.tick(now: Fixture.start))
        state.apply(
            .usageRead(subscriptionID: "sub_acme_pro", result: .success(UsageFixture.reading(at: Fixture.start))))
        let id = Self.sendInputTest(&state)
        let verdict = BillingVerdict.unbillable([.missingAggregationProperty])
        state.apply(.eventLifecycle([Self.update(id, .delivered, properties: ["tokens": "many"], billing: verdict)]))
        state.apply(.tick(now: Fixture.start.addingTimeInterval(30)))
        guard case .waiting = state.usageCount(of: id) else {
            Issue.record("expected waiting")
            return
        }
        state.apply(.tick(now: Fixture.start.addingTimeInterval(60)))
        guard case .notCounted(let reason, _) = state.usageCount(of: id) else {
            Issue.record("expected not counted, got \(String(describing: state.usageCount(of: id)))")
            return
        }
        #expect(reason == "not counted after 60 s: missing_aggregation_property")
    }

    @Test func aReadingTakenBeforeTheSendIsTheBaselineEvenWhenNoneWasThere() {
        var state = Self.state()
        // No reading yet: the send asks for one, and that reading (before delivery) is the baseline.
        let id = Self.sendInputTest(&state)
        #expect(state.usagePane.inFlight.contains("sub_acme_pro"))
        state.apply(
            .usageRead(subscriptionID: "sub_acme_pro", result: .success(UsageFixture.reading(at: Fixture.start))))
        state.apply(.eventLifecycle([Self.update(id, .delivered)]))
        state.apply(.tick(now: Fixture.start.addingTimeInterval(6)))
        state.apply(
            .usageRead(
                subscriptionID: "sub_acme_pro",
                result: .success(
                    UsageFixture.reading(input: ("1320.0", 4, 132), at: Fixture.start.addingTimeInterval(6)))))
        guard case .counted(let change, _) = state.usageCount(of: id) else {
            Issue.record("expected counted, got \(String(describing: state.usageCount(of: id)))")
            return
        }
        #expect(change.units == 120)
    }

    @Test func pickingAnotherSubscriptionLoadsLagosListFirst() {
        var state = Self.state()
        state.press(.char("8"))
        #expect(state.press(.char("s")) == [.loadSubscriptions])
        state.apply(.subscriptionsLoaded(.success(Fixture.lagoSubscriptions)))
        state.type("globex")
        state.apply(.tick(now: Fixture.start))
        let effects = state.press(.enter)
        #expect(state.usageSubscription == "sub_globex_team")
        #expect(effects.contains(.readUsage(subscriptionID: "sub_globex_team")))
        state.press(.char("d"))
        #expect(state.usageSubscription == "sub_acme_pro")
    }

    static func usageScreen(width: Int, height: Int) -> AppState {
        var state = Self.state(width: width, height: height)
        state.press(.char("8"))
        state.apply(.tick(now: Fixture.start))
        state.apply(
            .usageRead(subscriptionID: "sub_acme_pro", result: .success(UsageFixture.reading(at: Fixture.start))))
        let id = Self.sendInputTest(&state)
        state.apply(.eventLifecycle([Self.update(id, .delivered)]))
        state.apply(.tick(now: Fixture.start.addingTimeInterval(5)))
        state.apply(
            .usageRead(
                subscriptionID: "sub_acme_pro",
                result: .success(
                    UsageFixture.reading(
                        input: ("1320.0", 4, 132), tools: ("5.0", 5, 50), at: Fixture.start.addingTimeInterval(5)))))
        state.press(.char("8"))
        return state
    }

    @Test(arguments: GoldenScreenTests.sizes) func usagePane(size: TerminalSize) {
        let state = Self.usageScreen(width: size.width, height: size.height)
        expectGolden(render(state), GoldenScreenTests.name("usage", size))
    }

    @Test func usagePaneWithLagosRefusal() {
        var state = Self.state()
        state.press(.char("8"))
        state.apply(.tick(now: Fixture.start))
        state.apply(
            .usageRead(
                subscriptionID: "sub_acme_pro",
                result: .failure(
                    OperationError("HTTP 404 (customer_not_found)", status: 404, code: "customer_not_found"))))
        expectGolden(render(state), "usage_error_80x24")
    }
}
