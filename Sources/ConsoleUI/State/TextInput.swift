import Foundation
import LagoAPI
import LagoUsage

// Dispatch: text fields (the command line, the filter prompt, forms), submitting and history.
extension AppState {
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
            if let problem = EventFilter(state.field.text)?.problem {
                // The prompt stays open with the text, to be corrected.
                show(problem, .error)
                return []
            }
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
            switch picker.purpose {
            case .mapping(let field):
                mappingsPane.saving = field
                return [.saveMapping(field: field, code: items[picker.selection].value)]
            case .usageSubscription:
                usagePane.picked = items[picker.selection].value
                usagePane.selection = 0
                return dueUsageReads()
            }
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
            // Lago accepts events with any code and never bills an unknown one (invalid_code): say so before saving.
            if let known = mappingsPane.knownCodes, !known.contains(code), edit.warnedCode != code {
                edit.error = "no such metric in Lago: never billed (invalid_code); Enter saves"
                edit.warnedCode = code
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
}
