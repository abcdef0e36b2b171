import Foundation
import LagoAPI
import LagoUsage
import Testing

@testable import ConsoleUI

/// The reducer, driven with events and checked through state, effects and rendered text — no I/O.
@Suite struct NavigationTests {
    @Test func tabAndNumberKeysMoveBetweenPanes() {
        var state = Fixture.empty()
        #expect(state.focusedPane == .events)
        state.press(.tab)
        #expect(state.focusedPane == .queue)
        state.press(.backTab, .backTab)
        #expect(state.focusedPane == .usage)
        state.press(.tab)
        #expect(state.focusedPane == .events)
        for pane in Pane.allCases {
            state.press(.char(Character(String(pane.rawValue))))
            #expect(state.focusedPane == pane)
        }
    }

    @Test func layoutAdaptsToSize() {
        #expect(ScreenLayout(size: TerminalSize(width: 79, height: 40)).kind == .tooSmall)
        #expect(ScreenLayout(size: TerminalSize(width: 120, height: 23)).kind == .tooSmall)
        #expect(ScreenLayout(size: TerminalSize(width: 80, height: 24)).kind == .narrow)
        #expect(ScreenLayout(size: TerminalSize(width: 159, height: 50)).kind == .narrow)
        let wide = ScreenLayout(size: TerminalSize(width: 160, height: 48))
        #expect(wide.kind == .wide)
        #expect(wide.queue != nil && wide.failures != nil)
        #expect(wide.main.width + wide.queue!.width == 160)
    }

    @Test func resizeToTooSmallAndBack() {
        var state = Fixture.busy()
        state.apply(.resize(width: 70, height: 20))
        #expect(render(state).plainText.contains("terminal too small (need 80×24, have 70×20)"))
        // Pane keys do nothing on the too-small screen…
        state.press(.char("3"))
        #expect(state.focusedPane == .events)
        state.apply(.resize(width: 100, height: 30))
        #expect(render(state).plainText.contains("1 Events"))
    }

    @Test func qStillWorksWhenTooSmall() {
        var state = Fixture.empty(width: 40, height: 10)
        #expect(state.press(.char("q")) == [.quit(flushFirst: false)])
        var busy = Fixture.busy(width: 70, height: 10)
        #expect(busy.press(.char("q")).isEmpty)
        #expect(render(busy).plainText.contains("flush 37 pending events before quitting? [y/N/c]"))
        #expect(busy.press(.char("y")) == [.quit(flushFirst: true)])
    }

    @Test func eventsSelectionFollowsNewestUntilTheOperatorMoves() {
        var state = Fixture.busy()
        let rows = state.layout.eventRows(focused: .events)
        #expect(state.eventsWindow(rows: rows).selected == 39)
        state.press(.char("k"), .char("k"))
        #expect(state.eventsWindow(rows: rows).selected == 37)
        let selected = state.selectedEventSequence
        // New events do not move the selection while not following.
        state.apply(.eventLifecycle([EventUpdate(event: Fixture.event(100), state: .queued, time: Fixture.start)]))
        #expect(state.selectedEventSequence == selected)
        // G (or End) follows again.
        state.press(.char("G"))
        state.apply(.eventLifecycle([EventUpdate(event: Fixture.event(101), state: .queued, time: Fixture.start)]))
        #expect(state.selectedEventSequence == state.history.nextSequence - 1)
    }

    @Test func pagingAndHalfPaging() {
        var state = Fixture.busy()
        let rows = state.layout.eventRows(focused: .events)
        state.press(.char("g"))
        #expect(state.eventsWindow(rows: rows).selected == 0)
        state.press(.pageDown)
        #expect(state.eventsWindow(rows: rows).selected == rows)
        state.press(.ctrl("u"))
        #expect(state.eventsWindow(rows: rows).selected == rows - rows / 2)
        state.press(.ctrl("d"), .ctrl("d"))
        #expect(state.eventsWindow(rows: rows).selected == rows - rows / 2 + 2 * (rows / 2))
        state.press(.end)
        #expect(state.eventsWindow(rows: rows).selected == 39)
        state.press(.home, .up)
        #expect(state.eventsWindow(rows: rows).selected == 0)
    }

    @Test func newestFirstPutsNewEventsOnTop() {
        var state = Fixture.busy()
        state.press(.char("s"))
        let text = render(state).lines
        #expect(text[2].contains("newest first"))
        #expect(text[4].contains("11:59:58"))
        #expect(state.eventsWindow(rows: 10).selected == 0)
        state.press(.char("j"))
        state.apply(.eventLifecycle([EventUpdate(event: Fixture.event(100), state: .queued, time: Fixture.start)]))
        // Selection stays on the same event, now one row lower.
        #expect(state.eventsWindow(rows: 10).selected == 2)
    }

    @Test func ctrlCQuitsFromAnywhere() {
        var state = Fixture.busy()
        state.press(.char("?"))
        #expect(state.press(.ctrl("c")) == [.quit(flushFirst: false)])
        var editing = Fixture.busy()
        editing.press(.char(":"))
        #expect(editing.press(.ctrl("c")) == [.quit(flushFirst: false)])
    }

    @Test func escClosesOverlays() {
        var state = Fixture.busy()
        state.press(.char("?"))
        #expect(state.overlay != nil)
        state.press(.escape)
        #expect(state.overlay == nil)
        state.press(.enter)
        #expect(render(state).plainText.contains("Attempts"))
        state.press(.escape)
        #expect(state.overlay == nil)
    }
}

@Suite struct FilterAndPauseTests {
    @Test func filterNarrowsLiveAndShowsInTitle() {
        var state = Fixture.busy()
        state.press(.char("/"))
        state.type("state:dead")
        #expect(state.visibleEventCount == 3)
        state.press(.enter)
        #expect(state.overlay == nil)
        #expect(render(state).lines[2].contains("[filter: state:dead]"))
        // `/` again recalls the active filter.
        state.press(.char("/"))
        guard case .filterPrompt(let prompt) = state.overlay else {
            Issue.record("no filter prompt")
            return
        }
        #expect(prompt.field.text == "state:dead")
        // Esc in the prompt clears the filter.
        state.press(.escape)
        #expect(state.history.filter == nil)
        #expect(state.visibleEventCount == 40)
    }

    @Test func filterTerms() {
        var state = Fixture.busy()
        func count(_ filter: String) -> Int {
            state.history.setFilter(EventFilter(filter))
            return state.visibleEventCount
        }
        #expect(count("sub_acme") == 10)
        #expect(count("sub:acme code:output") == 4)
        #expect(count("!delivered") == 40 - count("state:delivered"))
        #expect(count("state:retry") == 3)
        #expect(count("state:inflight") == 1)
        #expect(count("state:in-flight") == 1)
        #expect(count("state:lago") == 3)
        #expect(count("gemini") == 13)
        #expect(count("REQ_5A3F00") == 1)
        #expect(count("   ") == 40)
    }

    @Test func escInThePaneClearsTheFilter() {
        var state = Fixture.busy()
        state.press(.char("/"))
        state.type("dead")
        state.press(.enter, .escape)
        #expect(state.history.filter == nil)
    }

    @Test func filterHistoryWithArrows() {
        var state = Fixture.busy()
        state.press(.char("/"))
        state.type("dead")
        state.press(.enter, .char("/"), .ctrl("u"))
        state.type("gemini")
        state.press(.enter, .char("/"), .up, .up)
        #expect(state.history.filter?.text == "dead")
        state.press(.down)
        #expect(state.history.filter?.text == "gemini")
    }

    /// k9s#517: filtering must work when the view is not following.
    @Test func filterWhilePausedShowsOnlyFrozenMatchesAndCountsNewOnes() {
        var state = Fixture.busy()
        state.press(.char("p"))
        #expect(state.isPaused)
        let late = (0..<10).map { index in
            EventUpdate(event: Fixture.event(200 + index), state: index < 4 ? .dead : .delivered, time: Fixture.start)
        }
        state.apply(.eventLifecycle(late))
        // Ingestion continues while the view is frozen.
        #expect(state.history.count == 50)
        #expect(state.visibleEventCount == 40)
        #expect(state.newWhilePaused == 10)
        #expect(render(state).lines[2].contains("PAUSED · 10 new"))
        state.press(.char("/"))
        state.type("state:dead")
        state.press(.enter)
        #expect(state.visibleEventCount == 3)
        #expect(state.newWhilePaused == 4)
        let screen = render(state).plainText
        #expect(screen.contains("PAUSED · 4 new"))
        #expect(screen.contains("[filter: state:dead]"))
        // Navigation works within the frozen, filtered list.
        state.press(.char("k"))
        #expect(state.eventsWindow(rows: 10).selected == 1)
        state.press(.char("p"))
        #expect(!state.isPaused)
        #expect(state.visibleEventCount == 7)
    }

    @Test func pauseFreezesTheRowsOnScreen() {
        var state = Fixture.busy()
        let before = render(state).lines[4...21]
        state.press(.char(" "))
        state.apply(
            .eventLifecycle(
                (0..<5).map {
                    EventUpdate(event: Fixture.event(300 + $0), state: .queued, time: Fixture.start)
                }))
        #expect(render(state).lines[4...21] == before)
        #expect(render(state).lines[0].contains("PAUSED"))
    }

    @Test func boundedHistoryCountsWhatScrolledOut() {
        var state = Fixture.empty(capacity: 100)
        state.press(.char("/"))
        state.type("gemini")
        state.press(.enter)
        state.apply(
            .eventLifecycle(
                (0..<250).map {
                    EventUpdate(event: Fixture.event($0), state: .delivered, time: Fixture.start)
                }))
        #expect(state.history.count == 100)
        #expect(state.history.droppedCount == 150)
        #expect(state.history.record(transactionID: Fixture.event(0).transactionID) == nil)
        #expect(state.history.record(transactionID: Fixture.event(249).transactionID) != nil)
        // The filter index was trimmed with the history.
        #expect(state.visibleEventCount == (150..<250).filter { $0 % 3 == 2 }.count)
        #expect(render(state).lines[2].contains("150 scrolled out"))
        // An update for a dropped event starts a new row.
        state.apply(.eventLifecycle([EventUpdate(event: Fixture.event(2), state: .dead, time: Fixture.start)]))
        #expect(state.history.count == 100)
        #expect(state.history.droppedCount == 151)
    }

    @Test func updatesMergeByTransactionAndKeepATimeline() {
        var history = EventHistory(capacity: 10)
        let event = Fixture.event(1)
        history.apply([
            EventUpdate(event: event, state: .queued, time: Fixture.start),
            EventUpdate(
                event: event, state: .retrying(attempt: 2), time: Fixture.start, attempt: 1, httpStatus: 503,
                reason: "503"),
            EventUpdate(event: event, state: .delivered, time: Fixture.start, attempt: 2, httpStatus: 200),
        ])
        #expect(history.count == 1)
        let record = history.record(transactionID: event.transactionID)!
        #expect(record.state == .delivered)
        #expect(record.timeline.map(\.state) == [.queued, .retrying(attempt: 2), .delivered])
        #expect(record.reason == nil)
    }

    @Test func filterIndexFollowsStateChanges() {
        var history = EventHistory(capacity: 10)
        history.setFilter(EventFilter("state:dead"))
        let event = Fixture.event(1)
        history.apply([EventUpdate(event: event, state: .queued, time: Fixture.start)])
        #expect(history.visibleCount(below: nil) == 0)
        history.apply([EventUpdate(event: event, state: .dead, time: Fixture.start)])
        #expect(history.visibleCount(below: nil) == 1)
        history.apply([EventUpdate(event: event, state: .delivered, time: Fixture.start)])
        #expect(history.visibleCount(below: nil) == 0)
    }
}

@Suite struct QuitAndConfirmTests {
    @Test func quitWithNothingPendingQuitsAtOnce() {
        var state = Fixture.empty()
        #expect(state.press(.char("q")) == [.quit(flushFirst: false)])
    }

    @Test func theFlushBeforeQuittingShowsWhatIsLeftAndCtrlCQuitsAtOnce() {
        var state = Fixture.busy()
        state.press(.char("q"))
        #expect(state.press(.char("y")) == [.quit(flushFirst: true)])
        #expect(render(state).plainText.contains("flushing before quitting: 37 events left to deliver…"))
        #expect(render(state).plainText.contains("ctrl-c quit now (the events left stay spooled)"))
        // The other keys wait for the flush; its progress is shown.
        #expect(state.press(.char("y"), .char("n"), .char("c"), .escape, .char("q")).isEmpty)
        state.apply(.quitFlushProgress(pending: 5))
        #expect(render(state).plainText.contains("flushing before quitting: 5 events left to deliver…"))
        #expect(state.press(.ctrl("c")) == [.quit(flushFirst: false)])
        var finished = Fixture.busy()
        finished.press(.char("q"), .char("y"))
        #expect(
            finished.handle(.quitFlushFinished(FlushSummary(delivered: 37, pending: 0, dead: 0, duration: .zero)))
                .map(\.effect) == [.quit(flushFirst: false)])
    }

    @Test func quitAsksToFlushAndDefaultsToNo() {
        var state = Fixture.busy()
        #expect(state.press(.char("q")).isEmpty)
        #expect(render(state).plainText.contains("flush 37 pending events before quitting? [y/N/c]"))
        #expect(state.press(.enter) == [.quit(flushFirst: false)])
        var yes = Fixture.busy()
        yes.press(.char("q"))
        #expect(yes.press(.char("y")) == [.quit(flushFirst: true)])
        var no = Fixture.busy()
        no.press(.char("q"))
        #expect(no.press(.char("N")) == [.quit(flushFirst: false)])
        var cancel = Fixture.busy()
        cancel.press(.char("q"))
        #expect(cancel.press(.char("c")).isEmpty)
        #expect(cancel.overlay == nil)
        cancel.press(.char("q"))
        #expect(cancel.press(.escape).isEmpty)
        #expect(cancel.overlay == nil)
    }

    @Test func replayAndDiscardConfirmDefaultToNo() {
        var state = Fixture.busy()
        state.press(.char("3"))
        #expect(state.press(.char("r")).isEmpty)
        #expect(state.press(.enter).isEmpty)
        #expect(state.overlay == nil)
        state.press(.char("r"))
        #expect(state.press(.char("y")) == [.replayDeadLetter(id: "dl_0003", edits: nil)])
        state.press(.char("j"), .char("x"))
        #expect(render(state).plainText.contains("Discard dead letter"))
        #expect(state.press(.enter).isEmpty)
        state.press(.char("x"), .tab)
        #expect(state.press(.enter) == [.discardDeadLetter(id: "dl_0002")])
    }

    @Test func noDestructiveActionOnAVimMotionKeyOrWithoutConfirmation() {
        let motions: Set<Key> = [
            .char("h"), .char("j"), .char("k"), .char("l"), .char("w"), .char("b"), .char("g"), .char("G"),
            .char("0"), .char("$"), .ctrl("d"), .ctrl("u"), .ctrl("f"), .ctrl("b"), .up, .down, .left, .right,
        ]
        let destructive = KeyBinding.defaultTable.filter(\.isDestructive)
        #expect(!destructive.isEmpty)
        for binding in destructive {
            #expect(binding.keys.allSatisfy { !motions.contains($0) }, "\(binding.action) is on a motion key")
        }
        var state = Fixture.busy()
        state.press(.char("3"))
        #expect(state.press(.char("x")).isEmpty)
        guard case .confirm(let dialog) = state.overlay else {
            Issue.record("discard did not ask")
            return
        }
        #expect(!dialog.yesHighlighted)
    }

    @Test func editAndReplayIsValidated() {
        var state = Fixture.busy()
        state.press(.char("3"), .char("e"))
        state.press(.tab, .ctrl("u"))
        state.type("bad code")
        state.press(.tab, .tab, .ctrl("u"))
        state.type("[1]")
        #expect(state.press(.enter).isEmpty)
        guard case .replayForm(let form) = state.overlay else {
            Issue.record("form closed")
            return
        }
        #expect(form.errors[1] != nil)
        #expect(form.errors[3] == "properties must be a JSON object {…}")
        #expect(form.focused == 1)
        state.press(.ctrl("u"))
        state.type("llm_output_tokens")
        state.press(.tab, .tab, .ctrl("u"))
        state.type(#"{"tokens": 5}"#)
        #expect(
            state.press(.enter) == [
                .replayDeadLetter(
                    id: "dl_0003",
                    edits: DeadLetterEdits(
                        code: "llm_output_tokens", externalSubscriptionID: "sub_globex_team",
                        properties: ["tokens": 5]))
            ])
    }

    @Test func editAndReplayUnderANewTransactionID() {
        var state = Fixture.busy()
        state.press(.char("3"), .char("e"))
        state.press(.ctrl("u"))
        #expect(state.press(.enter).isEmpty, "a transaction id is required")
        state.type("retry-2")
        guard case .replayDeadLetter(_, let edits?) = state.press(.enter).first else {
            Issue.record("no replay")
            return
        }
        #expect(edits.transactionID == "retry-2")
    }

    @Test func retryNowOnlyWhenBlocked() {
        var state = Fixture.busy()
        state.press(.char("2"))
        #expect(state.press(.char("R")).isEmpty)
        var stats = Fixture.stats
        stats.engineState = .backingOff(until: Fixture.start.addingTimeInterval(30), reason: "503")
        state.apply(.stats(stats))
        #expect(render(state).lines[23].contains("R retry now"))
        #expect(state.press(.char("R")) == [.retryNow])
    }
}

@Suite struct ReadOnlyTests {
    @Test func mutatingActionsAreGoneFromDispatchHelpAndFooter() {
        var state = Fixture.busy(readOnly: true)
        #expect(state.keyBindings.allSatisfy { !$0.isMutating })
        #expect(render(state).lines[0].contains(" RO "))
        // Dispatch: nothing mutating happens.
        #expect(state.press(.char("f")).isEmpty)
        state.press(.char("3"))
        #expect(state.press(.char("r"), .char("e"), .char("x"), .char("R")).isEmpty)
        #expect(state.overlay == nil)
        state.press(.char("4"))
        #expect(state.press(.enter, .char("e")).isEmpty)
        #expect(state.mappingsPane.edit == nil)
        state.press(.char("6"))
        #expect(state.press(.enter, .ctrl("s"), .char("m")).isEmpty)
        #expect(state.sendPane.editing == nil)
        // Help: no mutating binding is listed.
        let mutatingHelp = Set(KeyBinding.defaultTable.filter(\.isMutating).map(\.help))
        #expect(state.helpLines().allSatisfy { !mutatingHelp.contains($0.text) })
        // Footer: no mutating hint in any pane.
        let mutatingHints = Set(KeyBinding.defaultTable.filter(\.isMutating).compactMap(\.hint))
        for pane in Pane.allCases {
            state.press(.char(Character(String(pane.rawValue))))
            #expect(state.footerHints().allSatisfy { !mutatingHints.contains($0) }, "\(pane)")
        }
        // Commands too.
        state.press(.char(":"))
        state.type("flush")
        #expect(state.press(.enter).isEmpty)
        #expect(state.message?.text == "read-only: :flush is off (started with --readonly)")
    }

    @Test func quitDoesNotOfferToFlush() {
        var state = Fixture.busy(readOnly: true)
        #expect(state.press(.char("q")) == [.quit(flushFirst: false)])
    }

    @Test func aDisabledKeySaysWhyOnce() {
        var state = Fixture.busy(readOnly: true)
        #expect(state.press(.char("f")).isEmpty)
        #expect(state.message?.text == "read-only: flushing is off (started with --readonly)")
        #expect(state.message?.kind == .error)
        #expect(render(state).lines[23].contains("read-only: flushing is off"))
        // A disabled key of a pane names what it would have done.
        state.press(.char("3"))
        #expect(state.press(.char("r")).isEmpty)
        #expect(state.message?.text.hasPrefix("read-only: ") == true)
        #expect(state.message?.text.hasSuffix(" is off (started with --readonly)") == true)
        // A key bound to nothing says nothing.
        state.message = nil
        #expect(state.press(.char("Z")).isEmpty)
        #expect(state.message == nil)
    }

    @Test func completionOffersNoDisabledCommand() {
        /// What Tab makes of `:fl` on the command line (`nil`: no command line open).
        func completed(readOnly: Bool) -> String? {
            var state = Fixture.busy(readOnly: readOnly)
            state.press(.char(":"))
            state.type("fl")
            state.press(.tab)
            guard case .commandLine(let line) = state.overlay else { return nil }
            return line.field.text
        }
        #expect(completed(readOnly: true) == "fl")
        #expect(completed(readOnly: false) == "flush ")
    }
}

@Suite struct MappingTests {
    @Test func editValidatesCodeCharacters() {
        var state = Fixture.busy()
        state.press(.char("4"), .enter, .ctrl("u"))
        #expect(state.press(.enter).isEmpty)
        #expect(state.mappingsPane.edit?.error == "a code is required")
        state.type("llm input")
        #expect(state.press(.enter).isEmpty)
        #expect(state.mappingsPane.edit?.error == "' ' is not allowed: use letters, digits, _ . -")
        state.press(.ctrl("u"))
        state.type("llm.input-tokens_v2")
        #expect(state.press(.enter) == [.saveMapping(field: .input, code: "llm.input-tokens_v2")])
        #expect(state.mappingsPane.edit == nil)
        state.apply(.mappingSaved(field: .input, code: "llm.input-tokens_v2"))
        #expect(state.code(for: .input) == "llm.input-tokens_v2")
    }

    @Test func escCancelsTheEdit() {
        var state = Fixture.busy()
        state.press(.char("4"), .enter)
        state.type("xyz")
        #expect(state.press(.escape).isEmpty)
        #expect(state.mappingsPane.edit == nil)
        #expect(state.code(for: .input) == "llm_input_tokens")
    }

    @Test func checkMarksUnknownCodesAndOffersLagosCodes() {
        var state = Fixture.busy()
        state.press(.char("4"))
        #expect(state.press(.char("c")) == [.checkMappings])
        state.apply(.mappingsChecked(.success(Fixture.metrics)))
        let screen = render(state).plainText
        #expect(screen.contains("✗ not in Lago"))
        // cache_write_5m (row 5) has an unknown code: Enter opens the picker.
        state.press(.char("j"), .char("j"), .char("j"), .char("j"), .enter)
        guard case .picker = state.overlay else {
            Issue.record("no picker")
            return
        }
        state.type("5m")
        #expect(state.press(.enter) == [.saveMapping(field: .cacheWrite5m, code: "llm_cache_write_5m_tokens")])
    }

    @Test func savingACodeThatIsNoBillableMetricWarnsFirst() {
        var state = Fixture.busy()
        state.press(.char("4"))
        // Editing before Lago's metrics were read reads them, so that the warning below can be given.
        #expect(state.press(.enter) == [.checkMappings])
        state.press(.escape)
        state.apply(.mappingsChecked(.success(Fixture.metrics)))
        state.press(.enter, .ctrl("u"))
        state.type("llm_input_tokenz")
        #expect(state.press(.enter).isEmpty, "warned, not saved")
        #expect(
            render(state).plainText.contains(
                "✗ input: no such metric in Lago: never billed (invalid_code); Enter saves"))
        #expect(state.press(.enter) == [.saveMapping(field: .input, code: "llm_input_tokenz")], "Enter again saves")
        // A code Lago knows saves at once.
        state.apply(.mappingSaved(field: .input, code: "llm_input_tokenz"))
        state.press(.enter)
        if case .picker = state.overlay { state.press(.escape) }
        state.press(.char("j"), .enter, .ctrl("u"))
        state.type("llm_input_tokens")
        #expect(state.press(.enter) == [.saveMapping(field: .output, code: "llm_input_tokens")])
    }

    @Test func checkFailureIsShown() {
        var state = Fixture.busy()
        state.press(.char("4"), .char("c"))
        state.apply(.mappingsChecked(.failure(OperationError("401 Unauthorized"))))
        #expect(render(state).plainText.contains("could not list billable metrics: 401 Unauthorized"))
    }
}

@Suite struct CommandLineTests {
    @Test func commandsAreEntriesOfTheKeyTable() {
        let names = KeyBinding.defaultTable.compactMap(\.commands.first)
        #expect(
            names == [
                "flush", "send", "sub", "filter", "check", "events", "queue", "failures", "mappings", "test",
                "billing", "usage", "help", "q", "q!",
            ])
        var state = Fixture.busy()
        let help = state.helpLines()
        for binding in KeyBinding.defaultTable where !binding.commands.isEmpty {
            #expect(help.contains { $0.keys == ":" + binding.commands[0] && $0.text == binding.help })
        }
        state.press(.char(":"))
        state.type("quit!")
        #expect(state.press(.enter) == [.quit(flushFirst: false)])
        state.press(.char(":"))
        state.type("failures")
        state.press(.enter)
        #expect(state.focusedPane == .failures)
    }

    @Test func commands() {
        var state = Fixture.busy()
        func run(_ line: String) -> [Effect] {
            state.press(.char(":"))
            state.type(line)
            return state.press(.enter)
        }
        #expect(run("flush") == [.flush])
        #expect(run("sub sub_globex_team") == [.saveDefaultSubscription("sub_globex_team")])
        #expect(run("q").isEmpty)
        #expect(state.press(.char("c")).isEmpty)
        #expect(run("q!") == [.quit(flushFirst: false)])
        #expect(run("help").isEmpty)
        guard case .help = state.overlay else {
            Issue.record("no help")
            return
        }
        state.press(.escape)
        #expect(
            run("send llm_input_tokens sub_x tokens=12 model=gpt-4o cached=false ratio=0.5") == [
                .sendEvent(
                    EventDraft(
                        code: "llm_input_tokens", externalSubscriptionID: "sub_x",
                        properties: ["tokens": 12, "model": "gpt-4o", "cached": false, "ratio": 0.5]))
            ])
        #expect(run("send") == [])
        #expect(state.focusedPane == .sendTest)
        #expect(run("bogus").isEmpty)
        #expect(state.message?.text == "unknown command :bogus — try :help")
        #expect(run("filter state:dead").isEmpty)
        #expect(state.visibleEventCount == 3)
    }

    @Test func historyAndCompletion() {
        var state = Fixture.busy()
        state.press(.char(":"))
        state.type("sub a")
        state.press(.enter, .char(":"))
        state.type("sub b")
        state.press(.enter, .char(":"), .up)
        guard case .commandLine(let line) = state.overlay else {
            Issue.record("no command line")
            return
        }
        #expect(line.field.text == "sub b")
        state.press(.up, .up)
        guard case .commandLine(let older) = state.overlay else { return }
        #expect(older.field.text == "sub a")
        state.press(.down, .down)
        guard case .commandLine(let cleared) = state.overlay else { return }
        #expect(cleared.field.text == "")
        state.type("fl")
        state.press(.tab)
        guard case .commandLine(let completed) = state.overlay else { return }
        #expect(completed.field.text == "flush ")
    }
}

@Suite struct LinkWordTests {
    @Test(arguments: [
        ("POST /events/batch: HTTP 429 Too Many Requests: retry after 1.0 seconds", "rate-limited"),
        ("POST /events/batch: HTTP 503 Service Unavailable", "HTTP 503"),
        (
            "POST /events/batch: connection refused by http://127.0.0.1:1: nothing listens there; is Lago running, "
                + "and is lago.api_url right?", "refused"
        ),
        ("POST /events/batch: no answer from https://api.getlago.com in time (timeout; …)", "timeout"),
        ("POST /events/batch: https://api.getlago.com closed the connection before answering", "reset"),
        ("POST /events/batch: cannot find the host lago.example (DNS); check lago.api_url", "DNS"),
        ("something else", "unreachable"),
    ])
    func theStatusLineSaysWhatTheLinkIs(reason: String, word: String) {
        #expect(Format.linkWord(reason) == word)
        var state = Fixture.busy(width: 120, height: 40)
        var connection = Fixture.connection
        connection.link = .unreachable(reason)
        state.apply(.connection(connection))
        #expect(render(state).lines[0].contains("✗ \(word)"), "\(render(state).lines[0])")
    }
}

@Suite struct FilterProblemTests {
    @Test func anUnknownStateIsAnErrorAndThePromptStaysOpen() {
        var state = Fixture.busy()
        state.press(.char("/"))
        state.type("state:deliverd")
        #expect(state.press(.enter).isEmpty)
        guard case .filterPrompt(let prompt) = state.overlay else {
            Issue.record("the prompt closed")
            return
        }
        #expect(prompt.field.text == "state:deliverd")
        #expect(
            state.message?.text.hasPrefix("state:deliverd is no state; give one of queued, inflight, delivered") == true
        )
        // Corrected, it applies; a prefix of a state is fine.
        state.press(.ctrl("u"))
        state.type("state:deliv")
        state.press(.enter)
        #expect(state.history.filter?.text == "state:deliv")
        // The command line checks the same.
        state.press(.char(":"))
        state.type("filter billing:nope")
        state.press(.enter)
        #expect(state.message?.text == "billing:nope is no verdict; give issue, billable or unchecked")
        #expect(state.history.filter?.text == "state:deliv")
    }
}

@Suite struct SendTestTests {
    @Test func usageIsValidatedThenSent() {
        var state = Fixture.busy()
        state.press(.char("6"))
        #expect(state.press(.ctrl("s")).isEmpty)
        #expect(state.sendPane.errors[.usage(.input)] == "enter at least one count above 0")
        state.press(.enter)
        state.type("12x")
        #expect(state.press(.ctrl("s")).isEmpty)
        #expect(state.sendPane.errors[.usage(.input)] == "a whole number ≥ 0")
        // Editing a filled field selects its text: typing replaces it (no "12x12"), an arrow edits it instead.
        state.press(.enter)
        state.type("13")
        #expect(state.sendPane.editing?.text == "13")
        state.press(.left, .backspace)
        state.type("2")
        #expect(state.sendPane.editing?.text == "23")
        state.press(.end, .ctrl("u"))
        state.type("12")
        // Enter keeps the field and goes on to edit the next one; it never sends.
        #expect(state.press(.enter).isEmpty)
        #expect(state.sendPane.selected == .usage(.output) && state.sendPane.editing != nil)
        state.type("7")
        // Jump to dimensions (field 10) and type them.
        state.press(.tab, .tab, .tab, .tab, .tab, .tab, .tab, .tab, .tab)
        state.type("model=gpt-4o, region = eu")
        #expect(
            state.press(.ctrl("s")) == [
                .sendUsage(
                    UsageDraft(
                        values: [.input: 12, .output: 7], dimensions: ["model": "gpt-4o", "region": "eu"],
                        externalSubscriptionID: "sub_acme_pro"))
            ])
        #expect(state.sendPane.sending)
        state.apply(.sendAccepted(transactionIDs: ["t1", "t2"]))
        #expect(state.press(.char("v")) == [.verify(transactionID: "t1"), .verify(transactionID: "t2")])
        state.apply(.verifyFinished(transactionID: "t2", result: .failure(OperationError("404 event not found"))))
        #expect(render(state).plainText.contains("✗ t2  404 event not found"))
    }

    @Test func enterOnTheLastFieldStopsEditingAndATypedSubscriptionReplacesTheDefault() {
        var state = Fixture.busy()
        state.press(.char("5"), .char("i"))
        // The default subscription is selected in the field: typing replaces it (was `sub_acme_prosub_nope`).
        state.type("sub_nope")
        guard case .subscriptionInput = state.inputMode else {
            Issue.record("expected the subscription input")
            return
        }
        #expect(state.subscriptionPane.input?.text == "sub_nope")
        state.press(.escape, .char("6"), .char("G"), .enter)
        #expect(state.sendPane.selected == .usageSubscription)
        #expect(state.press(.enter).isEmpty)
        #expect(state.sendPane.editing == nil)
    }

    @Test func rawEventIsSent() {
        var state = Fixture.busy()
        state.press(.char("6"), .char("m"), .enter)
        state.type("llm_tool_calls")
        state.press(.tab)
        state.type("sub_other")
        state.press(.tab, .ctrl("u"))
        state.type(#"{"calls": 3}"#)
        state.press(.tab)
        state.type("2026-01-01T11:00:00Z")
        #expect(
            state.press(.ctrl("s")) == [
                .sendEvent(
                    EventDraft(
                        code: "llm_tool_calls", externalSubscriptionID: "sub_other", properties: ["calls": 3],
                        timestamp: 1_767_265_200))
            ])
    }

    @Test func sentEventsAreHighlightedAndFollowed() {
        var state = Fixture.busy()
        state.apply(.sendAccepted(transactionIDs: [Fixture.event(39).transactionID]))
        #expect(render(state).lines[21].contains("▶"))
        state.press(.char("6"))
        #expect(render(state).plainText.contains("queued"))
        state.apply(
            .eventLifecycle([
                EventUpdate(
                    event: Fixture.event(39), state: .delivered, time: Fixture.start, attempt: 1, httpStatus: 200)
            ]))
        #expect(render(state).plainText.contains("✔ delivered"))
    }
}

@Suite struct OtherPaneTests {
    @Test func detailCopiesPlainText() {
        var state = Fixture.busy()
        state.press(.enter)
        let effects = state.press(.char("y"))
        guard case .copy(let text) = effects.first else {
            Issue.record("no copy effect")
            return
        }
        #expect(text.hasPrefix("Transaction   req_"))
        #expect(text.contains("Attempts"))
        #expect(!text.contains("│") && !text.contains("┌"))
    }

    @Test func flushReportsItsResult() {
        var state = Fixture.busy()
        #expect(state.press(.char("f")) == [.flush])
        #expect(state.press(.char("f")).isEmpty)  // one flush at a time
        state.apply(.flushFinished(FlushSummary(delivered: 37, pending: 0, dead: 1, duration: .milliseconds(1200))))
        #expect(state.message?.text == "flushed: delivered 37 · pending 0 · dead 1 in 1.2 s")
        #expect(render(state).lines[23].contains("flushed: delivered 37 · pending 0 · dead 1 in 1.2 s"))
        state.apply(.tick(now: Fixture.start.addingTimeInterval(11)))
        #expect(state.message == nil)
    }

    @Test func aFailureClearsOnlyTheSpinnerOfItsOwnRequest() throws {
        var state = Fixture.busy()
        #expect(state.press(.char("f")) == [.flush])
        state.press(.char("4"))
        #expect(state.press(.char("c")) == [.checkMappings])
        let check = try #require(state.requestID(for: .checkMappings))
        let flush = try #require(state.requestID(for: .flush))
        #expect(check != flush)
        state.apply(
            .operationFailed(
                check, OperationError("GET /billable_metrics: HTTP 500", status: 500, code: "internal_error")))
        #expect(state.message?.text == "GET /billable_metrics: HTTP 500")
        #expect(state.knownMetrics == nil)
        // The flush still runs: neither `f` nor `:flush` starts a second one.
        #expect(state.flushInProgress)
        #expect(state.press(.char("f")).isEmpty)
        state.press(.char(":"))
        state.type("flush")
        #expect(state.press(.enter).isEmpty)
        // Its own failure ends it; then a flush can start again.
        state.apply(.operationFailed(flush, OperationError("spool closed")))
        #expect(!state.flushInProgress)
        #expect(state.press(.char("f")) == [.flush])
    }

    @Test func requestIDsAreUniqueAndResultsForgetTheirRequest() {
        var state = Fixture.busy()
        let first = state.handle(.key(.char("f")))
        state.apply(.flushFinished(FlushSummary(delivered: 1, pending: 0, dead: 0, duration: .zero)))
        let second = state.handle(.key(.char("f")))
        #expect(first.count == 1 && second.count == 1)
        #expect(first[0].id < second[0].id)
        #expect(state.requests.count == 1)
        state.apply(.operationSucceeded(second[0].id, "done"))
        #expect(state.requests.isEmpty)
    }

    @Test func missedLifecycleChangesAddUp() {
        var state = Fixture.busy()
        state.apply(.lifecycleMissed(3))
        state.apply(.lifecycleMissed(4))
        #expect(state.missedLifecycleChanges == 7)
        #expect(render(state).plainText.contains("missed 7"))
    }

    @Test func subscriptionsLoadSearchAndPick() throws {
        var state = Fixture.busy()
        state.press(.char("5"))
        #expect(state.press(.enter).isEmpty)  // nothing loaded yet
        #expect(state.press(.char("l")) == [.loadSubscriptions])
        state.apply(.subscriptionsLoaded(.success(Fixture.lagoSubscriptions)))
        #expect(state.subscriptionPane.selection == 0)  // the current default
        state.press(.char("/"))
        state.type("umbrella")
        state.press(.enter)
        #expect(state.filteredSubscriptions.map(\.externalID) == ["sub_umbrella_ent"])
        #expect(state.press(.enter) == [.saveDefaultSubscription("sub_umbrella_ent")])
        state.apply(.subscriptionSaved("sub_umbrella_ent"))
        #expect(state.defaultSubscription == "sub_umbrella_ent")
        state.press(.char("i"), .ctrl("u"))
        #expect(state.press(.enter).isEmpty)
        #expect(state.subscriptionPane.inputError == "a subscription id is required")
        state.type("sub_new")
        #expect(state.press(.enter) == [.saveDefaultSubscription("sub_new")])
        let request = try #require(state.requestID(for: .saveDefaultSubscription("sub_new")))
        state.apply(.operationFailed(request, OperationError("subscription sub_new not found in Lago")))
        #expect(state.subscriptionPane.saving == nil)
        #expect(render(state).plainText.contains("subscription sub_new not found in Lago"))
    }

    @Test func footerShowsAtMostSixPossibleHints() {
        var state = Fixture.empty()
        state.press(.char("3"))
        // No dead letters: replay/edit/discard are impossible, so hidden.
        #expect(!state.footerHints().contains("replay"))
        state.apply(.stats(Fixture.stats))
        #expect(state.footerHints().contains("replay"))
        for pane in Pane.allCases {
            state.press(.char(Character(String(pane.rawValue))))
            #expect(state.footerHints().count <= 6)
        }
    }

    @Test func helpIsGeneratedFromTheTable() {
        let state = Fixture.busy()
        let lines = state.helpLines()
        for binding in state.keyBindings {
            #expect(lines.contains { $0.kind == .entry && $0.text.hasPrefix(binding.help) }, "\(binding.help)")
            #expect(displayWidth(of: binding.help) <= 56, "help text too long: \(binding.help)")
        }
    }

    @Test func randomKeysNeverTrap() {
        var generator = SplitMix64(seed: 42)
        let keys: [Key] = [
            .char("j"), .char("k"), .char("g"), .char("G"), .char("/"), .char("p"), .char("s"), .char("x"), .char("y"),
            .char("n"), .char("r"), .char("e"), .char("c"), .char("l"), .char("i"), .char("m"), .char("v"),
            .char("1"), .char("2"), .char("3"), .char("4"), .char("5"), .char("6"), .char("7"), .char("d"),
            .char(":"), .char("?"),
            .char("a"), .char("漢"), .enter, .escape, .tab, .backTab, .backspace, .delete, .up, .down, .left, .right,
            .pageUp, .pageDown, .home, .end, .ctrl("d"), .ctrl("u"), .ctrl("s"), .ctrl("w"), .function(5),
        ]
        for size in [
            TerminalSize(width: 80, height: 24), TerminalSize(width: 160, height: 48),
            TerminalSize(width: 200, height: 60), TerminalSize(width: 30, height: 8),
        ] {
            var state = Fixture.billing(width: size.width, height: size.height)
            for step in 0..<600 {
                let key = keys[Int(generator.next() % UInt64(keys.count))]
                if key == .char("q") { continue }
                _ = state.handle(.key(key))
                if step % 50 == 0 {
                    state.apply(
                        .eventLifecycle(
                            Fixture.updates(count: 5).map { update in
                                var update = update
                                update.transactionID += "_\(step)"
                                return update
                            }))
                    state.apply(.mappingsChecked(.success(Fixture.metrics)))
                    state.apply(.subscriptionsLoaded(.success(Fixture.lagoSubscriptions)))
                }
                let grid = render(state)
                #expect(grid.width == size.width && grid.height == size.height)
            }
        }
    }

    @Test func monochromeUsesNoColors() {
        var options = Fixture.options()
        options.noColor = true
        var state = AppState(size: TerminalSize(width: 160, height: 48), now: Fixture.start, options: options)
        state.apply(.eventLifecycle(Fixture.updates(count: 40)))
        state.apply(.stats(Fixture.stats))
        for key: Key in [.char("?"), .escape, .char("3"), .char("x")] {
            state.press(key)
            #expect(render(state).cells.allSatisfy { $0.style.fg == nil && $0.style.bg == nil })
        }
    }
}

extension AppState {
    /// The footer's hint labels, as the renderer shows them.
    func footerHints() -> [String] {
        Renderer(state: self).footerBindings().prefix(6).compactMap(\.hint)
    }
}
