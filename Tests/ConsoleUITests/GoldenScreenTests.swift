import Foundation
import LagoAPI
import LagoUsage
import Testing

@testable import ConsoleUI

/// Every pane at 80×24 and 160×48 from pure state, compared with `Golden/*.txt`.
@Suite struct GoldenScreenTests {
    static let sizes = [TerminalSize(width: 80, height: 24), TerminalSize(width: 160, height: 48)]

    static func name(_ base: String, _ size: TerminalSize) -> String { "\(base)_\(size.width)x\(size.height)" }

    @Test(arguments: sizes) func eventsPane(size: TerminalSize) {
        let state = Fixture.busy(width: size.width, height: size.height)
        expectGolden(render(state), Self.name("events", size))
    }

    @Test(arguments: sizes) func emptyEventsPane(size: TerminalSize) {
        var state = Fixture.empty(width: size.width, height: size.height)
        state.apply(.stats(QueueStats(latencyP50: nil)))
        expectGolden(render(state), Self.name("events_empty", size))
    }

    @Test(arguments: sizes) func eventsFilteredAndPaused(size: TerminalSize) {
        var state = Fixture.busy(width: size.width, height: size.height)
        state.press(.char("p"), .char("/"))
        state.type("state:dead")
        state.press(.enter)
        state.apply(
            .eventLifecycle(
                Fixture.updates(count: 60).suffix(30).map { update in
                    var update = update
                    update.transactionID += "_late"
                    return update
                }))
        expectGolden(render(state), Self.name("events_filter_paused", size))
    }

    @Test(arguments: sizes) func queuePane(size: TerminalSize) {
        var state = Fixture.busy(width: size.width, height: size.height)
        state.press(.char("2"))
        expectGolden(render(state), Self.name("queue", size))
    }

    @Test(arguments: sizes) func failuresPane(size: TerminalSize) {
        var state = Fixture.busy(width: size.width, height: size.height)
        state.press(.char("3"), .char("j"))
        expectGolden(render(state), Self.name("failures", size))
    }

    @Test(arguments: sizes) func mappingsPane(size: TerminalSize) {
        var state = Fixture.busy(width: size.width, height: size.height)
        state.press(.char("4"))
        state.apply(.mappingsChecked(.success(Fixture.metrics)))
        state.press(.char("j"), .char("j"))
        expectGolden(render(state), Self.name("mappings", size))
    }

    @Test(arguments: sizes) func subscriptionPane(size: TerminalSize) {
        var state = Fixture.busy(width: size.width, height: size.height)
        state.press(.char("5"))
        state.apply(.subscriptionsLoaded(.success(Fixture.lagoSubscriptions)))
        state.press(.char("j"))
        expectGolden(render(state), Self.name("subscription", size))
    }

    @Test(arguments: sizes) func sendTestPane(size: TerminalSize) {
        var state = Fixture.busy(width: size.width, height: size.height)
        state.press(.char("6"), .enter)
        state.type("1200")
        state.press(.tab)
        state.type("350")
        state.press(.tab, .tab, .tab, .tab, .tab, .tab, .tab, .tab, .tab)
        state.type("model=claude-sonnet-4, region=eu")
        let effects = state.press(.ctrl("s"))
        #expect(effects.count == 1)
        state.apply(.sendAccepted(transactionIDs: ["test_9f8e7d6c_input", "test_9f8e7d6c_output"]))
        state.apply(
            .eventLifecycle([
                EventUpdate(
                    transactionID: "test_9f8e7d6c_input", code: "llm_input_tokens",
                    externalSubscriptionID: "sub_acme_pro", properties: ["tokens": 1200], state: .delivered,
                    time: Fixture.start, attempt: 1, httpStatus: 200),
                EventUpdate(
                    transactionID: "test_9f8e7d6c_output", code: "llm_output_tokens",
                    externalSubscriptionID: "sub_acme_pro", properties: ["tokens": 350], state: .inFlight,
                    time: Fixture.start, attempt: 1),
            ]))
        state.press(.char("v"))
        state.apply(
            .verifyFinished(
                transactionID: "test_9f8e7d6c_input",
                result: .success(
                    LagoEvent(
                        lagoID: "evt_1", transactionID: "test_9f8e7d6c_input", code: "llm_input_tokens",
                        timestamp: LagoDate("2026-01-01T12:00:00.000Z")!, properties: ["tokens": 1200],
                        externalSubscriptionID: "sub_acme_pro", createdAt: LagoDate("2026-01-01T12:00:01Z")))))
        expectGolden(render(state), Self.name("send_test", size))
    }

    @Test(arguments: sizes) func sendRawEventWithErrors(size: TerminalSize) {
        var state = Fixture.busy(width: size.width, height: size.height)
        state.press(.char("6"), .char("m"), .enter)
        state.type("llm input")
        state.press(.tab, .tab)
        state.press(.ctrl("u"))
        state.type("{\"tokens\": 12")
        state.press(.ctrl("s"))
        expectGolden(render(state), Self.name("send_raw_errors", size))
    }

    @Test(arguments: sizes) func helpOverlay(size: TerminalSize) {
        var state = Fixture.busy(width: size.width, height: size.height)
        state.press(.char("?"))
        expectGolden(render(state), Self.name("help", size))
    }

    @Test func helpOverlayReadOnly() {
        var state = Fixture.busy(width: 160, height: 48, readOnly: true)
        state.press(.char("?"))
        expectGolden(render(state), "help_readonly_160x48")
    }

    @Test(arguments: sizes) func detailOverlay(size: TerminalSize) {
        var state = Fixture.busy(width: size.width, height: size.height)
        // Select the dead event (index 29, the 11th row from the bottom).
        state.press(
            .char("k"), .char("k"), .char("k"), .char("k"), .char("k"), .char("k"), .char("k"),
            .char("k"), .char("k"), .char("k"), .enter)
        expectGolden(render(state), Self.name("detail", size))
    }

    @Test func quitConfirmation() {
        var state = Fixture.busy()
        state.press(.char("q"))
        expectGolden(render(state), "confirm_quit_80x24")
    }

    @Test func discardConfirmation() {
        var state = Fixture.busy(width: 160, height: 48)
        state.press(.char("3"), .char("x"))
        expectGolden(render(state), "confirm_discard_160x48")
    }

    @Test func metricPicker() {
        var state = Fixture.busy()
        state.press(.char("4"))
        state.apply(.mappingsChecked(.success(Fixture.metrics)))
        state.press(.char("j"), .char("j"), .char("j"), .char("j"), .enter)
        state.type("cache")
        expectGolden(render(state), "picker_80x24")
    }

    @Test func editAndReplayForm() {
        var state = Fixture.busy()
        state.press(.char("3"), .char("e"))
        expectGolden(render(state), "replay_form_80x24")
    }

    @Test func readOnlyEvents() {
        var state = Fixture.busy(readOnly: true)
        state.apply(.connection(Fixture.sandboxConnection))
        expectGolden(render(state), "events_readonly_sandbox_80x24")
    }

    @Test func authFailedQueue() {
        var state = Fixture.busy()
        var stats = Fixture.stats
        stats.engineState = .authFailed(reason: "401 Unauthorized: invalid API key")
        state.apply(.stats(stats))
        state.apply(
            .connection(
                ConnectionInfo(
                    url: "https://api.getlago.com", isSandbox: false, maskedKey: "••••9f3c",
                    auth: .failed("401 invalid API key"), link: .connected)))
        state.press(.char("3"))
        expectGolden(render(state), "failures_auth_failed_80x24")
    }

    /// A spool write failed (issue #11): the status line says so, the queue pane gives the cause and the file.
    @Test(arguments: sizes) func queuePaneWithAFailedSpoolWrite(size: TerminalSize) {
        var state = Fixture.busy(width: size.width, height: size.height)
        var stats = Fixture.stats
        stats.spoolError = "spool write failed: disk full (/var/lib/lago-console/spool.sqlite)"
        stats.spoolErrorAt = Fixture.start.addingTimeInterval(-12)
        state.apply(.stats(stats))
        state.press(.char("2"))
        expectGolden(render(state), Self.name("queue_spool_error", size))
    }

    /// The engine checks every event (issue #13): the queue pane counts the spooled events by verdict, the held
    /// ones and the catalogue's age.
    @Test(arguments: sizes) func queuePaneWithBillingVerdicts(size: TerminalSize) {
        var state = Fixture.busy(width: size.width, height: size.height)
        var stats = Fixture.stats
        stats.billing.checking = true
        stats.billing.policy = "hold"
        stats.billing.spooled.billable = 1_204
        stats.billing.spooled.unchecked = 3
        stats.billing.spooled.unbillable = 9
        stats.billing.spooled.byReason = ["invalid_code": 7, "subscription_not_found": 2]
        stats.billing.held = 2
        stats.billing.catalogueLoadedAt = Fixture.start.addingTimeInterval(-42)
        state.apply(.stats(stats))
        state.press(.char("2"))
        expectGolden(render(state), Self.name("queue_billing", size))
    }

    /// The Billing pane (issue #13, point 5): issue groups with the selected one's fix (remap the field whose
    /// mapping sends a code that is no metric), the held list under policy `hold`, the catalogue's age.
    @Test(arguments: sizes) func billingPane(size: TerminalSize) {
        var state = Fixture.billing(width: size.width, height: size.height)
        state.press(.char("7"))
        let key = BillingItemKey.group(
            BillingIssueGroup.Key(reason: .invalidCode, code: "llm_cache_write_5m", subscription: "sub_acme_pro"))
        while state.selectedBillingItem?.key != key { state.press(.char("j")) }
        expectGolden(render(state), Self.name("billing", size))
    }

    /// A held event selected: its reasons with their fix, release and discard.
    @Test func billingPaneHeldEvent() {
        var state = Fixture.billing()
        state.press(.char("7"), .char("G"), .char("k"))
        expectGolden(render(state), "billing_held_80x24")
    }

    @Test func tooSmall() {
        let state = Fixture.busy(width: 60, height: 20)
        expectGolden(render(state), "too_small_60x20")
    }

    @Test func tooSmallWithQuitQuestion() {
        var state = Fixture.busy(width: 70, height: 30)
        state.press(.char("q"))
        expectGolden(render(state), "too_small_quit_70x30")
    }

    @Test func commandLine() {
        var state = Fixture.busy()
        state.press(.char(":"))
        state.type("sub sub_glob")
        expectGolden(render(state), "command_line_80x24")
    }

    @Test func asciiMonochrome() {
        var options = Fixture.options()
        options.asciiOnly = true
        options.noColor = true
        var state = AppState(size: TerminalSize(width: 80, height: 24), now: Fixture.start, options: options)
        state.apply(.eventLifecycle(Fixture.updates(count: 40)))
        state.apply(.stats(Fixture.stats))
        state.press(.char("2"))
        expectGolden(render(state), "queue_ascii_80x24", monochrome: true)
    }

    /// A change of highlight alone, with the same text, fails the comparison with the recorded golden file.
    @Test func aStyleOnlyChangeFailsTheGoldenComparison() throws {
        let grid = render(Fixture.busy())
        let expected = try #require(GoldenFile.recorded("events_80x24"))
        #expect(GoldenFile.mismatch(expected: expected, actual: GoldenFile.text(grid, theme: .color)) == nil)

        let selected = try #require(grid.cells.firstIndex { $0.style.reverse && $0.symbol != " " })
        var restyled = grid
        restyled.setStyle(Rect(x: 0, y: selected / grid.width, width: grid.width, height: 1), style: .plain)
        #expect(restyled.plainText == grid.plainText)
        let mismatch = try #require(
            GoldenFile.mismatch(expected: expected, actual: GoldenFile.text(restyled, theme: .color)))
        #expect(mismatch.contains("styles row \(selected / grid.width + 1)"))
        #expect(!mismatch.contains("text row"))
    }
}

/// Issue #16's console: each event's source and the mapping that coded it, the Mappings pane's counts per field.
@Suite struct EventSourceScreenTests {
    /// A wide terminal: the Events pane's SOURCE column (`otlp input`, `relay`…).
    @Test func eventsPaneShowsEachEventsSource() {
        let state = Fixture.busy(width: 200, height: 60)
        expectGolden(render(state), "events_sources_200x60")
        let screen = render(state).plainText
        #expect(screen.contains("SOURCE"))
        #expect(screen.contains("otlp output") && screen.contains("usage output") && screen.contains("relay"))
    }

    /// The detail view says where the event came from and which mapping gave it its code.
    @Test func detailNamesTheSourceAndTheMapping() {
        var state = Fixture.busy(width: 120, height: 40)
        state.press(.char("/"))
        state.type("source:otlp field:cache_read")
        state.press(.enter, .enter)
        let screen = render(state).plainText
        #expect(
            screen.contains(
                "Source        OTLP span (POST /v1/traces); mapping cache_read → llm_cached_input_tokens"),
            "\(screen)")
    }

    /// `source:` takes only the four sources.
    @Test func anUnknownSourceIsAnError() {
        #expect(
            EventFilter("source:kafka")?.problem == "source:kafka is no source; give one of relay, usage, otlp, console"
        )
        #expect(EventFilter("source:ot")?.problem == nil)
    }

    /// Per field, the events its mapping coded in the last minute; a field whose code Lago lacks while usage
    /// arrives is called out; counts leave the window after a minute.
    @Test func mappingsPaneCountsTheLastMinuteAndWarnsOfUnbilledUsage() {
        var state = Fixture.busy(width: 120, height: 40)
        state.press(.char("4"))
        state.apply(.mappingsChecked(.success(Fixture.metrics)))
        // 3 records' cache_write_5m events in the last minute, under a code Lago has no metric for.
        state.apply(
            .eventLifecycle(
                (0..<3).map { index in
                    var update = EventUpdate(
                        transactionID: "rec_\(index):cache_write_5m", code: "llm_cache_write_5m",
                        externalSubscriptionID: "sub_acme_pro", state: .queued,
                        time: Fixture.start.addingTimeInterval(-Double(index)))
                    update.origin = EventOrigin(source: .otlp, coding: .field(.cacheWrite5m))
                    return update
                }))
        expectGolden(render(state), "mappings_activity_120x40")
        let screen = render(state).plainText
        // 40 fixture events over the last minute; the relay's (every 4th) are coded by their client, not counted.
        let inputRow = screen.split(separator: "\n").first { $0.contains("input            llm_input_tokens") } ?? ""
        let counted = (0..<40).filter { $0 % 4 != 0 && [0, 3].contains($0 % 7) }.count
        #expect(inputRow.contains("  \(counted)  "), "\(inputRow)")
        #expect(
            screen.contains("cache_write_5m coded 3 events in the last minute as llm_cache_write_5m, which is not a"),
            "\(screen)")
        // A minute later, nothing is left in the window.
        state.apply(.tick(now: Fixture.start.addingTimeInterval(61)))
        let later = render(state).plainText
        #expect(!later.contains("coded 3 events"))
    }

    /// A mapping change: the time it applies from, and the events of the last minute still under the old code.
    @Test func aMappingChangeIsShownWithItsTime() {
        var state = Fixture.busy(width: 120, height: 40)
        state.press(.char("4"))
        state.apply(.tick(now: Fixture.start.addingTimeInterval(5)))
        var mappings = state.mappings
        mappings[.input] = "llm_prompt_tokens"
        state.apply(.config(mappings: mappings, defaultSubscription: "sub_acme_pro"))
        let screen = render(state).plainText
        #expect(
            screen.contains("input → llm_prompt_tokens since 12:00:05: records accepted from then on are coded with"),
            "\(screen)")
        #expect(screen.contains("in the last minute)."))
    }
}
