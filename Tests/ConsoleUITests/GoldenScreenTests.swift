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

    /// On a terminal without UTF-8 every cut is marked with the theme's `~`, labels and columns included: no `…`
    /// reaches it, on any pane.
    @Test func asciiCutsUseTheAsciiEllipsis() {
        var options = Fixture.options()
        options.asciiOnly = true
        var state = AppState(size: TerminalSize(width: 80, height: 24), now: Fixture.start, options: options)
        state.apply(.eventLifecycle(Fixture.updates(count: 40)))
        state.apply(.stats(Fixture.stats))
        var cuts = 0
        for pane in ["1", "2", "3", "4", "5", "6", "7", "8"] {
            state.press(.char(Character(pane)))
            let text = render(state).plainText
            #expect(!text.contains("…"), "pane \(pane):\n\(text)")
            cuts += text.filter { $0 == "~" }.count
        }
        #expect(cuts > 0, "something was cut at 80 columns")
        // The views' labels and right-aligned columns are cut the same way.
        let renderer = Renderer(state: state)
        #expect(renderer.padded("Default subscription", toWidth: 10) == "Default~  ")
        #expect(renderer.rightAligned("12,345,678", toWidth: 6) == "12,34~")
        #expect(Renderer(state: Fixture.busy()).padded("Default subscription", toWidth: 10) == "Default…  ")
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

/// The console's edges (issue #17): long texts at 80×24, 120×40 and 200×60 are wrapped or end with an ellipsis at
/// a word boundary, never cut mid-word; read-only hides what it disables; a filter that matches nothing says so.
@Suite struct EdgeScreenTests {
    static let sizes = [
        TerminalSize(width: 80, height: 24), TerminalSize(width: 120, height: 40),
        TerminalSize(width: 200, height: 60),
    ]

    static func name(_ base: String, _ size: TerminalSize) -> String { "edge_\(base)_\(size.width)x\(size.height)" }

    /// Lago's own words, long, with a word longer than any line, CJK (double width) and an emoji.
    static let lagoWords =
        "validation_errors: external_subscription_id: the subscription sub_umbrella_enterprise_annual_2026 was not "
        + "found in the organisation Umbrella Corporation (Europe) — check the customer's subscriptions in Lago "
        + "サブスクリプションが見つかりません 🚫 "
        + "https://api.getlago.com/api/v1/subscriptions/sub_umbrella_enterprise_annual_2026_with_a_very_long_suffix"

    /// A state with a dead letter whose reason is ``lagoWords``.
    static func longReason(_ size: TerminalSize, readOnly: Bool = false) -> AppState {
        var state = Fixture.busy(width: size.width, height: size.height, readOnly: readOnly)
        var stats = Fixture.stats
        // The dead letter selected first (the newest) gets Lago's long words.
        stats.deadLetters[0].reason = lagoWords
        state.apply(.stats(stats))
        return state
    }

    /// Every row token that is a strict prefix of a word of `sources` ends with the ellipsis (no bare cut).
    static func expectNoWordCut(
        _ grid: Grid, _ sources: [String], sourceLocation: SourceLocation = #_sourceLocation
    ) {
        var words = Set(sources.flatMap { $0.split(whereSeparator: \.isWhitespace).map(String.init) })
        // A word's own parts are whole words too (`detail` of `detail:`, `ctrl-u` of `ctrl-u/ctrl-w`), and so are
        // the fixture's values shown elsewhere on the screen.
        for word in words {
            words.insert(word.trimmingCharacters(in: .punctuationCharacters))
            words.insert(String(String(word.reversed().drop(while: \.isPunctuation)).reversed()))
            words.formUnion(word.split(separator: "/").map(String.init))
        }
        let shownElsewhere = Set(
            Fixture.subscriptions + [Fixture.connection.url, "Sub", "Send", "Maps", "Fail", "Bill"])
        let separators = CharacterSet(charactersIn: " │┃║|─━═┌┐└┘╭╮╰╯")
        for (row, line) in grid.lines.enumerated() {
            for token in line.components(separatedBy: separators) where token.count >= 3 && !token.hasSuffix("…") {
                guard !words.contains(token), !shownElsewhere.contains(token) else { continue }
                if let word = words.first(where: { $0.hasPrefix(token) && $0 != token }) {
                    Issue.record(
                        "row \(row + 1): '\(token)' is '\(word)' cut without a mark:\n\(line)",
                        sourceLocation: sourceLocation)
                }
            }
        }
    }

    @Test(arguments: sizes) func help(size: TerminalSize) {
        var state = Fixture.busy(width: size.width, height: size.height)
        state.press(.char("?"))
        let grid = render(state)
        Self.expectNoWordCut(grid, KeyBinding.defaultTable.map(\.help))
        expectGolden(grid, Self.name("help", size))
    }

    @Test(arguments: sizes) func readOnlyHelp(size: TerminalSize) {
        var state = Fixture.busy(width: size.width, height: size.height, readOnly: true)
        state.press(.char("?"))
        let grid = render(state)
        Self.expectNoWordCut(grid, KeyBinding.defaultTable.map(\.help))
        let text = grid.plainText
        let mutatingHelp = Set(KeyBinding.defaultTable.filter(\.isMutating).map(\.help))
        #expect(state.helpLines().allSatisfy { !mutatingHelp.contains($0.text) })
        #expect(!text.contains("flush pending events now"))
        #expect(!text.contains(":flush"))
        #expect(text.contains("read-only mode"))
        expectGolden(grid, Self.name("help_readonly", size))
    }

    @Test(arguments: sizes) func longReasonDialog(size: TerminalSize) {
        var state = Self.longReason(size)
        state.press(.char("3"), .char("x"))
        let grid = render(state)
        Self.expectNoWordCut(grid, [Self.lagoWords])
        #expect(grid.plainText.contains("Lago said:"))
        expectGolden(grid, Self.name("dialog_long_reason", size))
    }

    @Test(arguments: sizes) func failuresPaneLongReason(size: TerminalSize) {
        var state = Self.longReason(size)
        state.press(.char("3"))
        let grid = render(state)
        Self.expectNoWordCut(grid, [Self.lagoWords])
        expectGolden(grid, Self.name("failures_long_reason", size))
    }

    @Test(arguments: sizes) func statusLineLongLagoError(size: TerminalSize) {
        var state = Fixture.busy(width: size.width, height: size.height)
        state.apply(.sendFailed("422 " + Self.lagoWords))
        let grid = render(state)
        Self.expectNoWordCut(grid, [Self.lagoWords])
        let footer = grid.lines[size.height - 1]
        #expect(footer.contains("send failed: 422 validation_errors:"))
        #expect(footer.contains("…"))
        expectGolden(grid, Self.name("status_long_error", size))
    }

    /// A relay that could not listen: a badge on the status line at every width it fits, the address and the
    /// cause wrapped under the Queue pane's `Relay` label.
    @Test(arguments: sizes) func relayNotListening(size: TerminalSize) {
        var state = Fixture.busy(width: size.width, height: size.height)
        var connection = state.connection
        connection.relayProblem =
            "the relay cannot listen on 127.0.0.1:8787: the address is in use (another process listens there); set "
            + "relay.listen (or serve's --listen) to a free address, or stop what listens there"
        state.apply(.connection(connection))
        state.press(.char("2"))
        let grid = render(state)
        #expect(grid.lines[0].contains("✗ relay not listening"))
        #expect(grid.plainText.contains("Relay     ✗ not listening: the relay cannot listen on"))
        expectGolden(grid, Self.name("relay_not_listening", size))
    }

    /// The engine an attached console watches went away: the status line says so, and that it is reattaching.
    @Test(arguments: sizes) func attachedHolderGone(size: TerminalSize) {
        var state = Fixture.busy(width: size.width, height: size.height)
        var connection = state.connection
        connection.attachedTo = EngineHolder("console", pid: 4242)
        connection.link = .holderGone(holder: "console")
        state.apply(.connection(connection))
        state.press(.char("2"))
        let grid = render(state)
        #expect(grid.lines[0].contains("✗ console gone — reattaching"))
        #expect(grid.plainText.contains("Lago      ✗ console not answering, reattaching"))
        expectGolden(grid, Self.name("holder_gone", size))
    }

    @Test(arguments: sizes) func emptyFilter(size: TerminalSize) {
        var state = Fixture.busy(width: size.width, height: size.height)
        state.press(.char("/"))
        state.type("no-such-model-anywhere-in-the-history")
        state.press(.enter)
        let grid = render(state)
        #expect(grid.plainText.contains("No events match"))
        expectGolden(grid, Self.name("empty_filter", size))
    }

    @Test(arguments: sizes) func emptySubscriptionSearch(size: TerminalSize) {
        var state = Fixture.busy(width: size.width, height: size.height)
        state.press(.char("5"))
        state.apply(.subscriptionsLoaded(.success(Fixture.lagoSubscriptions)))
        state.press(.char("/"))
        state.type("zzz")
        let grid = render(state)
        #expect(grid.plainText.contains("nothing matches the search"))
    }

    @Test(arguments: sizes) func detailLongValues(size: TerminalSize) {
        var state = Fixture.busy(width: size.width, height: size.height)
        var event = Fixture.event(41)
        event.properties["prompt_name"] = .string(Self.lagoWords)
        let time = Fixture.start.addingTimeInterval(-1)
        state.apply(
            .eventLifecycle([
                EventUpdate(event: event, state: .queued, time: time),
                EventUpdate(
                    event: event, state: .dead, time: time.addingTimeInterval(0.4), attempt: 1, httpStatus: 422,
                    reason: Self.lagoWords, payloadJSON: Fixture.payload(event),
                    response: #"{"status":422,"error":"Unprocessable Entity","code":"validation_errors"}"#),
            ]))
        state.press(.char("G"), .enter)
        let grid = render(state)
        Self.expectNoWordCut(grid, [Self.lagoWords])
        expectGolden(grid, Self.name("detail_long_values", size))
    }
}
