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
        if mode.isTextInput { editActiveField(key, mode: mode) }
        return []
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
        case .copyDetail:
            if case .detail(let sequence, _) = overlay { return history.record(sequence: sequence) != nil }
            return false
        case .moveUp, .moveDown, .pageUp, .pageDown, .halfPageUp, .halfPageDown, .jumpTop, .jumpBottom:
            if case .normal(.events) = mode { return visibleEventCount > 0 }
            return true
        default: return true
        }
    }

    mutating func perform(_ action: ConsoleAction, key: Key, mode: InputMode) -> [Effect] {
        switch action {
        case .forceQuit:
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
                mappingsPane.edit = MappingEdit(field: field, text: TextField(code(for: field)), error: nil)
            }
        case .typeMapping:
            let field = CanonicalField.allCases[mappingsPane.selection]
            mappingsPane.edit = MappingEdit(field: field, text: TextField(code(for: field)), error: nil)
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
            subscriptionPane.input = TextField(defaultSubscription ?? "")
            subscriptionPane.inputError = nil
        case .editField:
            sendPane.editing = TextField(sendPane.values[sendPane.selected] ?? "")
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
        }
        return []
    }

    // MARK: - Quit and flush

    mutating func requestQuit() -> [Effect] {
        let pending = stats.pending
        if readOnly || pending == 0 { return [.quit(flushFirst: false)] }
        overlay = .confirm(ConfirmDialog(kind: .quit(pending: pending)))
        return []
    }

    mutating func startFlush() -> [Effect] {
        guard !readOnly else {
            show("read-only: flush is disabled", .error)
            return []
        }
        flushInProgress = true
        show("flushing \(Format.grouped(stats.pending)) pending events…")
        return [.flush]
    }

    mutating func answerConfirmation(_ action: ConsoleAction) -> [Effect] {
        guard case .confirm(var dialog) = overlay else { return [] }
        var answer: Bool?
        switch action {
        case .confirmYes: answer = true
        case .confirmNo: answer = false
        case .confirmActivate: answer = dialog.yesHighlighted
        case .confirmSwitch:
            dialog.yesHighlighted.toggle()
            overlay = .confirm(dialog)
            return []
        default: answer = nil
        }
        overlay = nil
        switch dialog.kind {
        case .quit:
            guard let answer else { return [] }
            return [.quit(flushFirst: answer)]
        case .replay(let id, let transactionID, let edits):
            guard answer == true else { return [] }
            show("replaying \(transactionID)…")
            return [.replayDeadLetter(id: id, edits: edits)]
        case .discard(let id, let transactionID):
            guard answer == true else { return [] }
            show("discarding \(transactionID)…")
            return [.discardDeadLetter(id: id)]
        }
    }

    // MARK: - Navigation

    mutating func move(_ action: ConsoleAction, mode: InputMode) {
        switch mode {
        case .help:
            if case .help(let scroll) = overlay {
                let page = max(1, size.height - 8)
                overlay = .help(scroll: movedIndex(scroll, count: helpLineCount(), action: action, page: page))
            }
        case .detail:
            if case .detail(let sequence, let scroll) = overlay {
                let count = history.record(sequence: sequence).map { detailLines(for: $0).count } ?? 1
                let page = max(1, size.height - 8)
                overlay = .detail(
                    sequence: sequence, scroll: movedIndex(scroll, count: count, action: action, page: page))
            }
        case .picker:
            if case .picker(var picker) = overlay {
                picker.selection = movedIndex(picker.selection, count: picker.filtered.count, action: action, page: 10)
                overlay = .picker(picker)
            }
        case .normal(.events):
            moveEventSelection { window, rows in
                movedIndex(window.selected ?? 0, count: window.count, action: action, page: rows)
            }
        case .normal(.failures):
            let letters = stats.deadLetters
            let index = letters.firstIndex { $0.id == selectedDeadLetterID } ?? 0
            let page = layout.listRows(for: .failures, focused: focusedPane)
            let moved = movedIndex(index, count: letters.count, action: action, page: page)
            selectedDeadLetterID = letters.isEmpty ? nil : letters[moved].id
        case .normal(.mappings):
            mappingsPane.selection = movedIndex(
                mappingsPane.selection, count: CanonicalField.allCases.count, action: action, page: 10)
        case .normal(.subscription):
            let page = layout.listRows(for: .subscription, focused: focusedPane)
            subscriptionPane.selection = movedIndex(
                subscriptionPane.selection, count: filteredSubscriptions.count, action: action, page: page)
        case .normal(.sendTest):
            sendPane.selectedField = movedIndex(
                sendPane.selectedField, count: sendPane.fields.count, action: action, page: 5)
        default:
            break
        }
    }

    // MARK: - Text fields

    mutating func editActiveField(_ key: Key, mode: InputMode) {
        switch mode {
        case .commandLine:
            if case .commandLine(var state) = overlay, state.field.apply(key) {
                state.historyIndex = nil
                overlay = .commandLine(state)
            }
        case .filterPrompt:
            if case .filterPrompt(var state) = overlay, state.field.apply(key) {
                overlay = .filterPrompt(state)
                pinEventsView()
                history.setFilter(EventFilter(state.field.text))
            }
        case .picker:
            if case .picker(var picker) = overlay, picker.query.apply(key) {
                picker.selection = 0
                overlay = .picker(picker)
            }
        case .replayForm:
            if case .replayForm(var form) = overlay, form.fields[form.focused].apply(key) {
                form.errors[form.focused] = nil
                overlay = .replayForm(form)
            }
        case .mappingEdit:
            if var edit = mappingsPane.edit, edit.text.apply(key) {
                edit.error = nil
                mappingsPane.edit = edit
            }
        case .subscriptionInput:
            if var input = subscriptionPane.input, input.apply(key) {
                subscriptionPane.input = input
                subscriptionPane.inputError = nil
            }
        case .subscriptionSearch:
            if var search = subscriptionPane.search, search.apply(key) {
                subscriptionPane.search = search
                subscriptionPane.query = search.text
                subscriptionPane.selection = 0
            }
        case .sendFormEditing:
            if var editing = sendPane.editing, editing.apply(key) {
                sendPane.editing = editing
                sendPane.errors[sendPane.selected] = nil
            }
        default:
            break
        }
    }

    mutating func closeCurrent(_ mode: InputMode) {
        switch mode {
        case .filterPrompt:
            pinEventsView()
            history.setFilter(nil)
            overlay = nil
        case .mappingEdit:
            mappingsPane.edit = nil
        case .subscriptionInput:
            subscriptionPane.input = nil
            subscriptionPane.inputError = nil
        case .subscriptionSearch:
            subscriptionPane.search = nil
            subscriptionPane.query = ""
            subscriptionPane.selection = 0
        case .sendFormEditing:
            commitSendField()
        default:
            overlay = nil
        }
    }

    mutating func submit(_ mode: InputMode) -> [Effect] {
        switch mode {
        case .commandLine:
            guard case .commandLine(let state) = overlay else { return [] }
            overlay = nil
            return runCommand(state.field.text)
        case .filterPrompt:
            guard case .filterPrompt(let state) = overlay else { return [] }
            overlay = nil
            pinEventsView()
            history.setFilter(EventFilter(state.field.text))
            if let text = history.filter?.text {
                events.filterHistory.removeAll { $0 == text }
                events.filterHistory.append(text)
                if events.filterHistory.count > 50 { events.filterHistory.removeFirst() }
            }
        case .picker:
            guard case .picker(let picker) = overlay else { return [] }
            let items = picker.filtered
            guard picker.selection < items.count else { return [] }
            overlay = nil
            mappingsPane.saving = picker.field
            return [.saveMapping(field: picker.field, code: items[picker.selection].value)]
        case .replayForm:
            return submitReplayForm()
        case .mappingEdit:
            guard var edit = mappingsPane.edit else { return [] }
            let code = edit.text.text.trimmingCharacters(in: .whitespaces)
            if let problem = ConsoleValidation.metricCodeProblem(code) {
                edit.error = problem
                mappingsPane.edit = edit
                return []
            }
            mappingsPane.edit = nil
            mappingsPane.saving = edit.field
            return [.saveMapping(field: edit.field, code: code)]
        case .subscriptionInput:
            guard let input = subscriptionPane.input else { return [] }
            let id = input.text.trimmingCharacters(in: .whitespaces)
            if id.isEmpty || id.contains(" ") {
                subscriptionPane.inputError = id.isEmpty ? "a subscription id is required" : "no spaces in an id"
                return []
            }
            subscriptionPane.input = nil
            subscriptionPane.saving = id
            return [.saveDefaultSubscription(id)]
        case .subscriptionSearch:
            subscriptionPane.search = nil
        default:
            break
        }
        return []
    }

    mutating func recallHistory(older: Bool, mode: InputMode) {
        switch overlay {
        case .commandLine(var state):
            guard let (index, text) = stepHistory(commandHistory, state.historyIndex, older: older) else { return }
            state.historyIndex = index
            state.field.set(text)
            overlay = .commandLine(state)
        case .filterPrompt(var state):
            guard let (index, text) = stepHistory(events.filterHistory, state.historyIndex, older: older) else {
                return
            }
            state.historyIndex = index
            state.field.set(text)
            overlay = .filterPrompt(state)
            pinEventsView()
            history.setFilter(EventFilter(text))
        default:
            break
        }
    }

    private func stepHistory(_ entries: [String], _ index: Int?, older: Bool) -> (Int?, String)? {
        guard !entries.isEmpty else { return nil }
        if older {
            let next = max(0, (index ?? entries.count) - 1)
            return (next, entries[next])
        }
        guard let index else { return nil }
        return index + 1 < entries.count ? (index + 1, entries[index + 1]) : (nil, "")
    }

    // MARK: - Forms

    mutating func commitSendField() {
        if let editing = sendPane.editing { sendPane.values[sendPane.selected] = editing.text }
        sendPane.editing = nil
    }

    mutating func moveField(forward: Bool, mode: InputMode) {
        switch mode {
        case .sendFormEditing:
            commitSendField()
            let count = sendPane.fields.count
            sendPane.selectedField = (sendPane.selectedField + (forward ? 1 : count - 1)) % count
            sendPane.editing = TextField(sendPane.values[sendPane.selected] ?? "")
        case .replayForm:
            if case .replayForm(var form) = overlay {
                let count = form.fields.count
                form.focused = (form.focused + (forward ? 1 : count - 1)) % count
                overlay = .replayForm(form)
            }
        default:
            break
        }
    }

    mutating func submitReplayForm() -> [Effect] {
        guard case .replayForm(var form) = overlay else { return [] }
        form.errors = [:]
        let transactionID = form.fields[0].text.trimmingCharacters(in: .whitespaces)
        if let problem = EventRules.identifierProblem(transactionID) { form.errors[0] = problem }
        let code = form.fields[1].text.trimmingCharacters(in: .whitespaces)
        if let problem = ConsoleValidation.metricCodeProblem(code) { form.errors[1] = problem }
        let subscription = form.fields[2].text.trimmingCharacters(in: .whitespaces)
        if !subscription.isEmpty, let problem = EventRules.identifierProblem(subscription) { form.errors[2] = problem }
        var properties: [String: JSONValue] = [:]
        switch ConsoleValidation.parseProperties(form.fields[3].text) {
        case .success(let parsed): properties = parsed
        case .failure(let error): form.errors[3] = error.message
        }
        if let first = form.errors.keys.min() {
            form.focused = first
            overlay = .replayForm(form)
            return []
        }
        overlay = nil
        show("replaying \(form.transactionID) with edits…")
        let edits = DeadLetterEdits(
            code: code, externalSubscriptionID: subscription.isEmpty ? nil : subscription, properties: properties,
            transactionID: transactionID == form.transactionID ? nil : transactionID)
        return [.replayDeadLetter(id: form.deadLetterID, edits: edits)]
    }

    /// Validates the send-test form and sends it.
    mutating func sendTestEvent() -> [Effect] {
        commitSendField()
        sendPane.errors = [:]
        let values = sendPane.values
        func text(_ field: SendField) -> String { (values[field] ?? "").trimmingCharacters(in: .whitespaces) }
        var effect: Effect?
        switch sendPane.mode {
        case .usage:
            var counts: [CanonicalField: Int64] = [:]
            for field in CanonicalField.allCases {
                switch ConsoleValidation.parseCount(text(.usage(field))) {
                case .success(let value): if let value, value > 0 { counts[field] = value }
                case .failure(let error): sendPane.errors[.usage(field)] = error.message
                }
            }
            if counts.isEmpty && sendPane.errors.isEmpty {
                sendPane.errors[.usage(.input)] = "enter at least one count above 0"
            }
            var dimensions: [String: String] = [:]
            switch ConsoleValidation.parseDimensions(text(.dimensions)) {
            case .success(let parsed): dimensions = parsed
            case .failure(let error): sendPane.errors[.dimensions] = error.message
            }
            let subscription = text(.usageSubscription).isEmpty ? defaultSubscription : text(.usageSubscription)
            if subscription == nil {
                sendPane.errors[.usageSubscription] = "type one, or set a default in pane 5"
            }
            effect = .sendUsage(
                UsageDraft(values: counts, dimensions: dimensions, externalSubscriptionID: subscription))
        case .raw:
            let code = text(.rawCode)
            if let problem = ConsoleValidation.metricCodeProblem(code) { sendPane.errors[.rawCode] = problem }
            var properties: [String: JSONValue] = [:]
            switch ConsoleValidation.parseProperties(text(.rawProperties)) {
            case .success(let parsed): properties = parsed
            case .failure(let error): sendPane.errors[.rawProperties] = error.message
            }
            var timestamp: Double?
            switch ConsoleValidation.parseTimestamp(text(.rawTimestamp)) {
            case .success(let parsed): timestamp = parsed
            case .failure(let error): sendPane.errors[.rawTimestamp] = error.message
            }
            let subscription = text(.rawSubscription).isEmpty ? defaultSubscription : text(.rawSubscription)
            if subscription == nil {
                sendPane.errors[.rawSubscription] = "type one, or set a default in pane 5"
            }
            effect = .sendEvent(
                EventDraft(
                    code: code, externalSubscriptionID: subscription, properties: properties, timestamp: timestamp))
        }
        if !sendPane.errors.isEmpty {
            if let first = sendPane.fields.firstIndex(where: { sendPane.errors[$0] != nil }) {
                sendPane.selectedField = first
            }
            show("fix the highlighted field\(sendPane.errors.count == 1 ? "" : "s") before sending", .error)
            return []
        }
        sendPane.sending = true
        sendPane.sendError = nil
        return effect.map { [$0] } ?? []
    }

    // MARK: - Command line

    /// The commands the `:` line knows, for completion and help.
    static let commands: [(name: String, help: String, mutating: Bool)] = [
        ("flush", "deliver pending events now", true),
        ("send", "send pane, or :send CODE [SUB] [k=v …]", true),
        ("sub", "subscription pane, or :sub ID to set the default", true),
        ("filter", ":filter TEXT filters the events", false),
        ("check", "check metric codes against Lago", false),
        ("events", "events pane", false), ("queue", "queue pane", false), ("failures", "failures pane", false),
        ("mappings", "mappings pane", false), ("test", "send test pane", false),
        ("help", "help", false), ("q", "quit (asks to flush)", false), ("q!", "quit without flushing", false),
    ]

    mutating func runCommand(_ line: String) -> [Effect] {
        let words = line.split(separator: " ").map(String.init)
        guard let verb = words.first?.lowercased() else { return [] }
        commandHistory.removeAll { $0 == line }
        commandHistory.append(line)
        if commandHistory.count > 50 { commandHistory.removeFirst() }
        let arguments = Array(words.dropFirst())
        // In read-only mode `:send` and `:sub` without arguments only focus their pane.
        let mutates = verb == "flush" || (["send", "sub", "subscription"].contains(verb) && !arguments.isEmpty)
        if readOnly && mutates {
            show("read-only: :\(verb) is disabled", .error)
            return []
        }
        switch verb {
        case "q", "quit": return requestQuit()
        case "q!", "quit!": return [.quit(flushFirst: false)]
        case "help", "h", "?": overlay = .help(scroll: 0)
        case "flush": return startFlush()
        case "events": focusedPane = .events
        case "queue": focusedPane = .queue
        case "failures": focusedPane = .failures
        case "mappings": focusedPane = .mappings
        case "test": focusedPane = .sendTest
        case "check":
            focusedPane = .mappings
            mappingsPane.metrics = .loading
            return [.checkMappings]
        case "filter":
            focusedPane = .events
            pinEventsView()
            history.setFilter(EventFilter(arguments.joined(separator: " ")))
        case "sub", "subscription":
            guard let id = arguments.first else {
                focusedPane = .subscription
                return []
            }
            subscriptionPane.saving = id
            return [.saveDefaultSubscription(id)]
        case "send":
            guard let code = arguments.first else {
                focusedPane = .sendTest
                return []
            }
            return sendFromCommandLine(code: code, arguments: Array(arguments.dropFirst()))
        default:
            show("unknown command :\(verb) — try :help", .error)
        }
        return []
    }

    private mutating func sendFromCommandLine(code: String, arguments: [String]) -> [Effect] {
        if let problem = ConsoleValidation.metricCodeProblem(code) {
            show(":send \(code): \(problem)", .error)
            return []
        }
        var subscription: String?
        var properties: [String: JSONValue] = [:]
        for argument in arguments {
            if let equals = argument.firstIndex(of: "="), equals != argument.startIndex {
                let key = String(argument[..<equals])
                let raw = String(argument[argument.index(after: equals)...])
                if let integer = Int64(raw) {
                    properties[key] = .integer(integer)
                } else if let number = Double(raw) {
                    properties[key] = .number(number)
                } else if raw == "true" || raw == "false" {
                    properties[key] = .bool(raw == "true")
                } else {
                    properties[key] = .string(raw)
                }
            } else if subscription == nil {
                subscription = argument
            } else {
                show(":send: unexpected '\(argument)' (use k=v for properties)", .error)
                return []
            }
        }
        guard let subscription = subscription ?? defaultSubscription else {
            show(":send: no subscription — give one or set a default", .error)
            return []
        }
        sendPane.sending = true
        return [.sendEvent(EventDraft(code: code, externalSubscriptionID: subscription, properties: properties))]
    }

    mutating func completeCommand() {
        guard case .commandLine(var state) = overlay else { return }
        let typed = state.field.text
        guard !typed.contains(" ") else { return }
        let candidates = Self.commands
            .filter { $0.name.hasPrefix(typed.lowercased()) && !(readOnly && $0.name == "flush") }
            .map(\.name)
        if candidates.count == 1 {
            state.field.set(candidates[0] + " ")
            overlay = .commandLine(state)
        } else if candidates.count > 1 {
            show(candidates.map { ":" + $0 }.joined(separator: "  "))
        }
    }
}
