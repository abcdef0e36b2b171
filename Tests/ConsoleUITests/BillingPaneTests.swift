import Foundation
import LagoAPI
import LagoBilling
import LagoUsage
import Testing

@testable import ConsoleUI

/// The Billing pane (issue #13, point 5): issue groups from the events seen, their fix, the held list.
@Suite struct BillingPaneTests {
    /// Selects the row whose key is `key` by moving down from the top.
    func select(_ key: BillingItemKey, in state: inout AppState) {
        state.press(.char("g"))
        for _ in 0..<state.billingItems.count where state.selectedBillingItem?.key != key { state.press(.char("j")) }
        #expect(state.selectedBillingItem?.key == key)
    }

    func group(_ reason: BillingReason, _ code: String, _ subscription: String?) -> BillingItemKey {
        .group(BillingIssueGroup.Key(reason: reason, code: code, subscription: subscription))
    }

    @Test func sevenJumpsToTheBillingPaneAndItsHelpComesFirst() {
        var state = Fixture.billing()
        state.press(.char("7"))
        #expect(state.focusedPane == .billing)
        #expect(render(state).lines[1].contains("7 Bill"))
        state.press(.char("?"))
        let lines = state.helpLines()
        #expect(lines.first?.text == "Billing")
        #expect(lines.contains { $0.keys == "1-8" && $0.text == "jump to pane 1-8" })
        #expect(lines.contains { $0.keys == "x" && $0.text == "discard the held event (confirm) !" })
        #expect(lines.contains { $0.keys == ":billing" })
        state.press(.escape, .char(":"))
        state.type("events")
        state.press(.enter, .char(":"))
        state.type("held")
        state.press(.enter)
        #expect(state.focusedPane == .billing)
    }

    @Test func issuesAreGroupedByReasonCodeAndSubscriptionAndCountEachEventOnce() throws {
        let state = Fixture.billing()
        let groups = state.history.billingIssueGroups(order: .recent)
        #expect(groups.count == 8)
        let cacheWrite = try #require(groups.first { $0.code == "llm_cache_write_5m" })
        // Four events, plus one held then released (two rows, one transaction id): five events.
        #expect(cacheWrite.count == 5)
        #expect(cacheWrite.reason == .invalidCode && cacheWrite.subscription == "sub_acme_pro")
        #expect(cacheWrite.firstSeen == Fixture.start.addingTimeInterval(-200))
        #expect(cacheWrite.lastSeen == Fixture.start.addingTimeInterval(-80))
        #expect(cacheWrite.exampleTransactionID == "req_cw5m_3")
        // An event with two reasons is in two groups.
        let nope = groups.filter { $0.code == "nope_code" }
        #expect(nope.map(\.reason) == [.subscriptionNotFound, .invalidCode])
        #expect(nope.allSatisfy { $0.count == 2 && $0.subscription == "sub_zzz" })
        // Most recent first, then most frequent first.
        #expect(groups.first?.reason == .invalidFilterValues)
        #expect(zip(groups, groups.dropFirst()).allSatisfy { $0.lastSeen >= $1.lastSeen })
        let frequent = state.history.billingIssueGroups(order: .frequent)
        #expect(frequent.first?.code == "llm_cache_write_5m")
        #expect(zip(frequent, frequent.dropFirst()).allSatisfy { $0.count >= $1.count })
        // Billable and unchecked events are in no group; the rows are followed as they change.
        var later = state
        later.apply(
            .eventLifecycle([
                EventUpdate(
                    transactionID: "req_model_gpt5", code: "llm_output_tokens", externalSubscriptionID: "sub_acme_pro",
                    state: .delivered, time: Fixture.start, billing: .billable())
            ]))
        #expect(!later.history.billingIssueGroups(order: .recent).contains { $0.reason == .invalidFilterValues })
    }

    @Test func aNewEventJoinsItsGroupWhileThePaneIsOpen() throws {
        var state = Fixture.billing()
        state.press(.char("7"))
        let key = group(.invalidCode, "llm_cache_write_5m", "sub_acme_pro")
        select(key, in: &state)
        state.apply(
            .eventLifecycle([
                Fixture.unbillable(
                    "req_cw5m_new", code: "llm_cache_write_5m", subscription: "sub_acme_pro", reasons: [.invalidCode],
                    secondsAgo: 1)
            ]))
        guard case .group(let first)? = state.billingItems.first else {
            Issue.record("no group first")
            return
        }
        #expect(first.key == key.groupKey && first.count == 6, "the most recent group now")
        #expect(state.selectedBillingItem?.key == key)
        #expect(render(state).plainText.contains("6 events · first 11:56:40 · last 11:59:59 UTC · e.g. req_cw5m_new"))
    }

    @Test func sOrdersByFrequencyAndTheSelectionStaysOnItsGroup() {
        var state = Fixture.billing()
        state.press(.char("7"))
        let key = group(.missingAggregationProperty, "llm_input_tokens", "sub_globex_team")
        select(key, in: &state)
        state.press(.char("s"))
        #expect(state.billingPane.order == .frequent)
        #expect(state.selectedBillingItem?.key == key)
        #expect(render(state).plainText.contains("most frequent first"))
        // Past the groups: the held list.
        state.press(.char("G"))
        #expect(state.selectedBillingItem?.key == .held(id: "4"))
    }

    @Test func mRemapsTheFieldWhoseMappingSentTheUnknownCodeThroughSaveMapping() throws {
        var state = Fixture.billing()
        state.press(.char("7"))
        select(group(.invalidCode, "llm_cache_write_5m", "sub_acme_pro"), in: &state)
        #expect(
            render(state).plainText.contains("Fix: m remaps cache_write_5m (now llm_cache_write_5m) to a code Lago has")
        )
        #expect(state.press(.char("m")).isEmpty)
        guard case .picker(let picker) = state.overlay else {
            Issue.record("no picker")
            return
        }
        #expect(picker.purpose == .mapping(.cacheWrite5m))
        #expect(picker.items.map(\.value) == Fixture.catalogueMetrics.map(\.code).sorted())
        state.type("write_5m")
        #expect(
            state.press(.enter) == [.saveMapping(field: .cacheWrite5m, code: "llm_cache_write_5m_tokens")])
        #expect(state.mappingsPane.saving == .cacheWrite5m)
        state.apply(.mappingSaved(field: .cacheWrite5m, code: "llm_cache_write_5m_tokens"))
        #expect(state.code(for: .cacheWrite5m) == "llm_cache_write_5m_tokens")
        // A code no mapping sends (a raw event's) cannot be remapped: the fix says what can be done.
        select(group(.invalidCode, "nope_code", "sub_zzz"), in: &state)
        #expect(state.press(.char("m")).isEmpty)
        #expect(state.overlay == nil)
        #expect(render(state).plainText.contains("Fix: create metric nope_code in Lago"))
    }

    @Test func dSetsTheDefaultSubscriptionThroughTheSubscriptionPane() {
        var state = Fixture.billing()
        state.press(.char("7"))
        select(group(.subscriptionNotFound, "nope_code", "sub_zzz"), in: &state)
        #expect(render(state).plainText.contains("Fix: d sets the default subscription (now sub_acme_pro)"))
        #expect(state.press(.char("d")) == [.loadSubscriptions])
        #expect(state.focusedPane == .subscription)
        state.apply(.subscriptionsLoaded(.success(Fixture.lagoSubscriptions)))
        state.press(.char("j"))
        #expect(state.press(.enter) == [.saveDefaultSubscription("sub_globex_team")])
        state.apply(.subscriptionSaved("sub_globex_team"))
        // Loaded already: d only jumps. Not on a reason the subscription does not fix.
        state.press(.char("7"))
        #expect(state.press(.char("d")).isEmpty && state.focusedPane == .subscription)
        state.press(.char("7"))
        select(group(.invalidCode, "nope_code", "sub_zzz"), in: &state)
        state.press(.char("d"))
        #expect(state.focusedPane == .billing)
    }

    @Test func aMissingPropertyOrFilterValueShowsWhatTheMetricExpects() {
        var state = Fixture.billing(width: 160, height: 48)
        state.press(.char("7"))
        select(group(.missingAggregationProperty, "llm_input_tokens", "sub_globex_team"), in: &state)
        var screen = render(state).plainText
        #expect(screen.contains(#"Expected: property "tokens", a number (-?digits[.digits]) · sum_agg"#))
        #expect(screen.contains(BillingReason.missingAggregationProperty.explanation.prefix(60)))
        select(group(.invalidFilterValues, "llm_output_tokens", "sub_acme_pro"), in: &state)
        screen = render(state).plainText
        #expect(screen.contains(#"Filter "model": claude-sonnet-4, gpt-4o"#))
        #expect(screen.contains("e.g. req_model_gpt5"))
    }

    @Test func releaseAndDiscardAskFirstAndDefaultToNo() {
        var state = Fixture.billing()
        state.press(.char("7"))
        #expect(state.press(.char("r"), .char("x")).isEmpty, "a group is selected: nothing to release")
        #expect(state.overlay == nil)
        select(.held(id: "3"), in: &state)
        #expect(state.press(.char("r")).isEmpty)
        #expect(render(state).plainText.contains("Release held event req_held_cache_0003?"))
        #expect(state.press(.enter).isEmpty, "Enter answers No")
        #expect(state.overlay == nil)
        state.press(.char("r"))
        #expect(state.press(.char("y")) == [.releaseHeld(id: "3")])
        let request = state.requests.first { $0.value == .releaseHeld(id: "3") }!.key
        state.apply(
            .heldReleased(
                request,
                HeldRelease(id: "3", transactionID: "req_held_cache_0003", billing: .unbillable([.invalidCode]))))
        #expect(state.requests[request] == nil)
        // Its held row is done (released, not held any more); the event goes on in a row of its own.
        #expect(state.history.records.first { $0.key == "held#3" }?.state == .released)
        #expect(state.history.records.first { $0.key == "held#3" }?.reason == nil)
        #expect(state.message?.text == "released req_held_cache_0003: queued, still not billable: invalid_code")
        var stats = state.stats
        stats.heldEvents.removeFirst()
        stats.billing.held = 1
        state.apply(.stats(stats))
        #expect(render(state).plainText.contains("last release: req_held_cache_0003 queued, ⚠ still not billable"))
        select(.held(id: "4"), in: &state)
        state.press(.char("x"))
        #expect(render(state).plainText.contains("Discard held event req_held_nobody_0004 for good?"))
        #expect(state.press(.char("n")).isEmpty)
        state.press(.char("x"), .tab)
        #expect(state.press(.enter) == [.discardHeld(id: "4")])
    }

    @Test func cRefreshesTheCatalogueAndThePaneShowsItsAgeAndLastError() {
        var state = Fixture.billing()
        state.press(.char("7"))
        #expect(render(state).plainText.contains("10 metrics · 4 subscriptions · read 42s ago"))
        #expect(state.press(.char("c")) == [.refreshCatalogue])
        state.apply(
            .catalogueChanged(
                metrics: Fixture.catalogueMetrics,
                status: BillingCatalogueStatus(
                    loadedAt: Fixture.start.addingTimeInterval(-42), metrics: 10, subscriptions: 4,
                    lastError: "HTTP 503", lastErrorAt: Fixture.start.addingTimeInterval(-2))))
        #expect(render(state).plainText.contains("✗ last read failed 2s ago: HTTP 503"))
        var fresh = Fixture.busy()
        fresh.press(.char("7"))
        #expect(render(fresh).plainText.contains("not read yet: events are unchecked"))
    }

    @Test func readOnlyHidesAndRefusesRemapDefaultReleaseAndDiscard() {
        var state = Fixture.billing(readOnly: true)
        state.press(.char("7"))
        select(group(.invalidCode, "llm_cache_write_5m", "sub_acme_pro"), in: &state)
        #expect(state.press(.char("m"), .char("d")).isEmpty)
        #expect(state.overlay == nil && state.focusedPane == .billing)
        select(.held(id: "3"), in: &state)
        #expect(state.press(.char("r"), .char("x")).isEmpty)
        #expect(state.overlay == nil)
        let hints = state.footerHints()
        #expect(!hints.contains("release") && !hints.contains("discard") && !hints.contains("remap"))
        #expect(!render(state).plainText.contains("r releases it"))
        #expect(state.press(.char("c")) == [.refreshCatalogue], "reading Lago changes nothing")
    }

    @Test func theEventsFilterHasBillingIssueAndReasonTerms() {
        var state = Fixture.billing()
        func count(_ filter: String) -> Int {
            state.history.setFilter(EventFilter(filter))
            return state.visibleEventCount
        }
        // 40 busy events (3 unbillable, 2 unchecked) and 10 rows of unbillable events.
        #expect(count("billing:issue") == 13)
        #expect(count("billing:unbillable") == 13)
        #expect(count("billing:billable") == 35)
        #expect(count("billing:unchecked") == 2)
        #expect(count("!billing:issue") == 37)
        #expect(count("reason:invalid_code") == 8)
        #expect(count("reason:subscription_not_found") == 5)
        #expect(count("reason:invalid_code reason:subscription_not_found") == 2)
        #expect(count("reason:filter") == 1)
        #expect(count("billing:issue code:nope") == 2)
    }
}

extension BillingItemKey {
    var groupKey: BillingIssueGroup.Key? {
        if case .group(let key) = self { return key }
        return nil
    }
}

extension BillingPaneTests {
    /// Issue #15 point 2: Lago's own verdicts (its webhooks) beside ours, and a disagreement marked as such.
    @Test func lagosWebhookVerdictsShowBesideOursAndADisagreementIsMarked() throws {
        var state = Fixture.billing(width: 120, height: 40)
        state.press(.char("7"))
        #expect(!render(state).plainText.contains("Lago said"), "no line before Lago's first webhook")
        var stats = state.stats
        var lago = LagoVerdictSummary()
        lago.webhooks = 2
        lago.lastWebhookAt = Fixture.start
        lago.notBilled = 3
        lago.byReason = ["invalid_code": 3]
        lago.agreed = 2
        lago.predictedBillable = 1
        lago.reported["req_cw5m_0"] = .init(
            reasons: ["invalid_code"], reportedAt: Fixture.start, predictedBillable: false)
        stats.billing.lago = lago
        state.apply(.stats(stats))
        let text = render(state).plainText
        #expect(
            text.contains(
                "Lago said  not billed 3 (invalid_code 3) · agrees 2 · ⚠ disagrees 1 (we predicted billable 1)"))
        let record = try #require(state.history.records.first { $0.transactionID == "req_cw5m_0" })
        let detail = state.detailLines(for: record)
        #expect(
            detail.contains { $0.hasPrefix("Lago said     not billed (invalid_code) at ") && !$0.contains("disagree") })
        let other = try #require(state.history.records.first { $0.transactionID == "req_cw5m_1" })
        #expect(!state.detailLines(for: other).contains { $0.hasPrefix("Lago said") }, "only events Lago named")
    }
}
