import Foundation
import LagoAPI
import LagoUsage

// Dispatch: the send-test and replay forms.
extension AppState {
    mutating func commitSendField() {
        if let editing = sendPane.editing { sendPane.values[sendPane.selected] = editing.text }
        sendPane.editing = nil
    }

    /// Enter in a send-form field: keeps the text and goes on to edit the next field; on the last one, stops
    /// editing (ctrl-s sends the form).
    mutating func confirmSendField() {
        commitSendField()
        guard sendPane.selectedField + 1 < sendPane.fields.count else { return }
        sendPane.selectedField += 1
        sendPane.editing = TextField.selectingAll(sendPane.values[sendPane.selected] ?? "")
    }

    mutating func moveField(forward: Bool, mode: InputMode) {
        switch mode {
        case .sendFormEditing:
            commitSendField()
            let count = sendPane.fields.count
            sendPane.selectedField = (sendPane.selectedField + (forward ? 1 : count - 1)) % count
            sendPane.editing = TextField.selectingAll(sendPane.values[sendPane.selected] ?? "")
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
}
