import Foundation
import LagoAPI
import LagoUsage

// Dispatch: quitting, flushing and answering confirmations.
extension AppState {
    mutating func requestQuit() -> [Effect] {
        let pending = stats.pending
        if readOnly || pending == 0 { return [.quit(flushFirst: false)] }
        overlay = .confirm(ConfirmDialog(kind: .quit(pending: pending)))
        return []
    }

    mutating func startFlush() -> [Effect] {
        guard !readOnly else {
            show("read-only: flushing is off (started with --readonly)", .error)
            return []
        }
        // One flush at a time, whether asked by `f` or by `:flush`.
        guard !flushInProgress else { return [] }
        flushInProgress = true
        show("flushing \(Format.grouped(stats.pending)) pending events…")
        return [.flush]
    }

    mutating func answerConfirmation(_ action: ConsoleAction) -> [Effect] {
        guard case .confirm(var dialog) = overlay else { return [] }
        // While the flush before quitting runs, only Ctrl-C (quit now) does something.
        if case .flushingBeforeQuit = dialog.kind { return [] }
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
        case .quit(let pending):
            guard let answer else { return [] }
            if answer { overlay = .confirm(ConfirmDialog(kind: .flushingBeforeQuit(pending: pending))) }
            return [.quit(flushFirst: answer)]
        case .flushingBeforeQuit:
            return []
        case .replay(let id, let transactionID, let edits):
            guard answer == true else { return [] }
            show("replaying \(transactionID)…")
            return [.replayDeadLetter(id: id, edits: edits)]
        case .discard(let id, let transactionID):
            guard answer == true else { return [] }
            show("discarding \(transactionID)…")
            return [.discardDeadLetter(id: id)]
        case .releaseHeld(let id, let transactionID):
            guard answer == true else { return [] }
            show("releasing \(transactionID)\u{2026}")
            return [.releaseHeld(id: id)]
        case .discardHeld(let id, let transactionID):
            guard answer == true else { return [] }
            show("discarding held \(transactionID)\u{2026}")
            return [.discardHeld(id: id)]
        }
    }
}
