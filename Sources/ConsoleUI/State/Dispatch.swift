import Foundation
import LagoAPI
import LagoUsage

extension AppState {
    /// Who has the keyboard now.
    var inputMode: InputMode {
        if case .confirm = overlay { return .confirm }
        if isTooSmall { return .tooSmall }
        switch overlay {
        case .help: return .help
        case .detail: return .detail
        case .confirm: return .confirm
        case .commandLine: return .commandLine
        case .filterPrompt: return .filterPrompt
        case .picker: return .picker
        case .replayForm: return .replayForm
        case nil: break
        }
        switch focusedPane {
        case .mappings where mappingsPane.edit != nil: return .mappingEdit
        case .subscription where subscriptionPane.input != nil: return .subscriptionInput
        case .subscription where subscriptionPane.search != nil: return .subscriptionSearch
        case .sendTest where sendPane.editing != nil: return .sendFormEditing
        default: return .normal(focusedPane)
        }
    }

    /// The bindings a key press would reach now, most specific context first: available, and with at least one
    /// key not taken by a more specific binding (what dispatch would actually run).
    func activeBindings() -> [KeyBinding] {
        let mode = inputMode
        var claimed = Set<Key>()
        var result: [KeyBinding] = []
        for context in mode.contexts {
            for binding in keyBindings where binding.contexts.contains(context) && isAvailable(binding.action, mode) {
                let free = binding.keys.filter { !claimed.contains($0) }
                guard !free.isEmpty else { continue }
                claimed.formUnion(free)
                result.append(binding)
            }
        }
        return result
    }

    /// Finds the binding for a key in the current mode and performs it; in text fields unbound keys edit.
    mutating func handleKey(_ key: Key) -> [Effect] {
        let mode = inputMode
        for context in mode.contexts {
            for binding in keyBindings where binding.contexts.contains(context) && binding.keys.contains(key) {
                if isAvailable(binding.action, mode) {
                    return perform(binding.action, key: key, mode: mode)
                }
            }
        }
        if mode.isTextInput {
            editActiveField(key, mode: mode)
        } else if let disabled = readOnlyDisabled(key, mode) {
            show("read-only: \(disabled) is off (started with --readonly)", .error)
        }
        return []
    }

    /// What a key would have done if `--readonly` had not removed its binding (the binding's help, lowercased
    /// first letter), or `nil` when the key has no mutating binding here.
    func readOnlyDisabled(_ key: Key, _ mode: InputMode) -> String? {
        for context in mode.contexts {
            for binding in readOnlyDisabledBindings
            where binding.contexts.contains(context) && binding.keys.contains(key) {
                if binding.action == .flush { return "flushing" }
                return binding.help.prefix(1).lowercased() + binding.help.dropFirst()
            }
        }
        return nil
    }

    /// Whether an action can do something now (unavailable actions are skipped by dispatch and hidden from
    /// the footer).
    func isAvailable(_ action: ConsoleAction, _ mode: InputMode) -> Bool {
        switch action {
        case .clearFilter: return history.filter != nil
        case .openDetail: return visibleEventCount > 0
        case .replayDeadLetter, .editAndReplay, .discardDeadLetter: return selectedDeadLetter != nil
        case .retryNow:
            switch stats.engineState {
            case .authFailed, .wrongURL, .backingOff: return true
            default: if case .failed = connection.auth { return true } else { return false }
            }
        case .pickSubscription: return subscriptionPane.saving == nil && !filteredSubscriptions.isEmpty
        case .clearSearch: return !subscriptionPane.query.isEmpty
        case .verifySent: return !sendPane.lastSent.isEmpty
        case .flush: return !flushInProgress
        case .sendTest: return !sendPane.sending
        case .editMapping, .typeMapping: return mappingsPane.saving == nil
        case .remapCode: return remappableField != nil
        case .setDefaultSubscription: return selectedIssueIsSubscription && subscriptionPane.saving == nil
        case .releaseHeld, .discardHeld: return selectedHeldEvent != nil
        case .showDefaultUsage: return usagePane.picked != nil
        case .copyDetail:
            if case .detail(let sequence, _) = overlay { return history.record(sequence: sequence) != nil }
            return false
        case .moveUp, .moveDown, .pageUp, .pageDown, .halfPageUp, .halfPageDown, .jumpTop, .jumpBottom:
            if case .normal(.events) = mode { return visibleEventCount > 0 }
            return true
        default: return true
        }
    }

    /// Editing a mapping before Lago's billable metrics were read: read them now, so that saving a code that is no
    /// metric can be warned about.
    mutating func loadMetricsForTheWarning() -> [Effect] {
        guard case .notLoaded = mappingsPane.metrics else { return [] }
        mappingsPane.metrics = .loading
        return [.checkMappings]
    }

    mutating func perform(_ action: ConsoleAction, key: Key, mode: InputMode) -> [Effect] {
        switch action {
        case .forceQuit:
            // Ctrl-C interrupts (the process exits 130, as a shell expects); `:q!` is an ordinary quit.
            if key == .ctrl("c") { interrupted = true }
            return [.quit(flushFirst: false)]
        case .quit:
            return requestQuit()
        case .showHelp:
            overlay = .help(scroll: 0)
        case .openCommandLine:
            overlay = .commandLine(CommandLineState())
        case .nextPane:
            focusedPane = Pane(rawValue: focusedPane.rawValue % Pane.allCases.count + 1)!
        case .previousPane:
            focusedPane = Pane(rawValue: (focusedPane.rawValue + Pane.allCases.count - 2) % Pane.allCases.count + 1)!
        case .focusPane:
            if case .char(let character) = key, let number = character.wholeNumberValue,
                let pane = Pane(rawValue: number)
            {
                focusedPane = pane
            }
        case .flush:
            return startFlush()
        case .moveUp, .moveDown, .pageUp, .pageDown, .halfPageUp, .halfPageDown, .jumpTop, .jumpBottom:
            move(action, mode: mode)
        case .openDetail:
            if let sequence = selectedEventSequence { overlay = .detail(sequence: sequence, scroll: 0) }
        case .editFilter:
            overlay = .filterPrompt(FilterPromptState(field: TextField(history.filter?.text ?? ""), historyIndex: nil))
        case .clearFilter:
            pinEventsView()
            history.setFilter(nil)
        case .togglePause:
            if isPaused {
                events.pausedAtSequence = nil
            } else {
                pinEventsView()
                events.pausedAtSequence = history.nextSequence
            }
        case .toggleOrder:
            pinEventsView()
            events.order = events.order == .follow ? .newestFirst : .follow
        case .copyDetail:
            if case .detail(let sequence, _) = overlay, let record = history.record(sequence: sequence) {
                let lines = detailLines(for: record)
                show("copied event detail (\(lines.count) lines)", .success)
                return [.copy(lines.joined(separator: "\n"))]
            }
        case .close:
            closeCurrent(mode)
        case .replayDeadLetter:
            if let letter = selectedDeadLetter {
                overlay = .confirm(
                    ConfirmDialog(
                        kind: .replay(deadLetterID: letter.id, transactionID: letter.event.transactionID, edits: nil)))
            }
        case .editAndReplay:
            if let letter = selectedDeadLetter {
                let fields = [
                    TextField(letter.event.transactionID), TextField(letter.event.code),
                    TextField(letter.event.externalSubscriptionID ?? ""),
                    TextField(JSONValue.object(letter.event.properties).jsonText),
                ]
                overlay = .replayForm(
                    ReplayForm(deadLetterID: letter.id, transactionID: letter.event.transactionID, fields: fields))
            }
        case .discardDeadLetter:
            if let letter = selectedDeadLetter {
                overlay = .confirm(
                    ConfirmDialog(kind: .discard(deadLetterID: letter.id, transactionID: letter.event.transactionID)))
            }
        case .retryNow:
            show("retrying now…")
            return [.retryNow]
        case .editMapping:
            let field = CanonicalField.allCases[mappingsPane.selection]
            if let metrics = knownMetrics, !metrics.contains(where: { $0.code == code(for: field) }) {
                let items = metrics.map { PickerItem(value: $0.code, detail: "\($0.name) · \($0.aggregationType)") }
                overlay = .picker(PickerState(field: field, items: items))
            } else {
                mappingsPane.edit = MappingEdit(
                    field: field, text: TextField.selectingAll(code(for: field)), error: nil)
                return loadMetricsForTheWarning()
            }
        case .typeMapping:
            let field = CanonicalField.allCases[mappingsPane.selection]
            mappingsPane.edit = MappingEdit(field: field, text: TextField.selectingAll(code(for: field)), error: nil)
            return loadMetricsForTheWarning()
        case .checkMappings:
            mappingsPane.metrics = .loading
            return [.checkMappings]
        case .loadSubscriptions:
            subscriptionPane.list = .loading
            return [.loadSubscriptions]
        case .searchList:
            subscriptionPane.search = TextField(subscriptionPane.query)
        case .clearSearch:
            subscriptionPane.query = ""
            subscriptionPane.selection = 0
        case .pickSubscription:
            let list = filteredSubscriptions
            guard subscriptionPane.selection < list.count else { return [] }
            let id = list[subscriptionPane.selection].externalID
            subscriptionPane.saving = id
            return [.saveDefaultSubscription(id)]
        case .typeSubscription:
            subscriptionPane.input = TextField.selectingAll(defaultSubscription ?? "")
            subscriptionPane.inputError = nil
        case .editField:
            sendPane.editing = TextField.selectingAll(sendPane.values[sendPane.selected] ?? "")
        case .confirmField:
            confirmSendField()
        case .toggleSendMode:
            sendPane.mode = sendPane.mode == .usage ? .raw : .usage
            sendPane.selectedField = 0
            sendPane.errors = [:]
        case .sendTest:
            return sendTestEvent()
        case .verifySent:
            for transactionID in sendPane.lastSent { sendPane.verifications[transactionID] = .verifying }
            return sendPane.lastSent.map { .verify(transactionID: $0) }
        case .nextField, .previousField:
            moveField(forward: action == .nextField, mode: mode)
        case .submit:
            return submit(mode)
        case .historyPrevious, .historyNext:
            recallHistory(older: action == .historyPrevious, mode: mode)
        case .complete:
            completeCommand()
        case .editText:
            editActiveField(key, mode: mode)
        case .confirmYes, .confirmNo, .confirmCancel, .confirmActivate, .confirmSwitch:
            return answerConfirmation(action)
        case .remapCode, .setDefaultSubscription, .releaseHeld, .discardHeld, .refreshCatalogue, .toggleIssueOrder:
            return performBilling(action)
        case .refreshUsage:
            return readUsageNow()
        case .pickUsageSubscription:
            if case .loaded = subscriptionPane.list {
                openUsageSubscriptionPicker()
            } else {
                usagePane.pickWhenLoaded = true
                subscriptionPane.list = .loading
                return [.loadSubscriptions]
            }
        case .showDefaultUsage:
            usagePane.picked = nil
            usagePane.selection = 0
            return dueUsageReads()
        case .showPane, .filterCommand, .subscriptionCommand, .sendCommand:
            break  // Commands only (no key): ``runCommand(_:)`` runs them.
        }
        return []
    }
}
