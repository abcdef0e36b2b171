import Foundation
import LagoAPI
import LagoUsage

// Dispatch: moving in lists.
extension AppState {
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
        case .normal(.billing):
            moveBillingSelection(action)
        case .normal(.usage):
            let count = usageSubscription.flatMap { usagePane.latest[$0] }?.usage.chargesUsage.count ?? 0
            usagePane.selection = movedIndex(usagePane.selection, count: max(1, count), action: action, page: 10)
        case .normal(.sendTest):
            sendPane.selectedField = movedIndex(
                sendPane.selectedField, count: sendPane.fields.count, action: action, page: 5)
        default:
            break
        }
    }
}
