import Foundation
import LagoAPI
import LagoUsage

// Dispatch: the `:` command line, whose commands are entries of the key table (``KeyBinding/commands``).
extension AppState {
    /// Runs a line of the `:` command line: the binding whose ``KeyBinding/commands`` name its first word.
    mutating func runCommand(_ line: String) -> [Effect] {
        let words = line.split(separator: " ").map(String.init)
        guard let verb = words.first?.lowercased() else { return [] }
        commandHistory.removeAll { $0 == line }
        commandHistory.append(line)
        if commandHistory.count > 50 { commandHistory.removeFirst() }
        let arguments = Array(words.dropFirst())
        // Read-only mode has no mutating binding; `:send` and `:sub` without arguments only focus their pane.
        let table = readOnly ? KeyBinding.defaultTable : keyBindings
        let binding = table.first { $0.commands.contains(verb) }
        let mutates =
            binding?.isMutating == true
            || ([.sendCommand, .subscriptionCommand].contains(binding?.action) && !arguments.isEmpty)
        if readOnly && mutates {
            show("read-only: :\(verb) is off (started with --readonly)", .error)
            return []
        }
        guard let binding else {
            show("unknown command :\(verb) — try :help", .error)
            return []
        }
        switch binding.action {
        case .quit: return requestQuit()
        case .forceQuit: return [.quit(flushFirst: false)]
        case .showHelp: overlay = .help(scroll: 0)
        case .flush: return startFlush()
        case .showPane(let pane): focusedPane = pane
        case .checkMappings:
            focusedPane = .mappings
            mappingsPane.metrics = .loading
            return [.checkMappings]
        case .filterCommand:
            let filter = EventFilter(arguments.joined(separator: " "))
            if let problem = filter?.problem {
                show(problem, .error)
                return []
            }
            focusedPane = .events
            pinEventsView()
            history.setFilter(filter)
        case .subscriptionCommand:
            guard let id = arguments.first else {
                focusedPane = .subscription
                return []
            }
            subscriptionPane.saving = id
            return [.saveDefaultSubscription(id)]
        case .sendCommand:
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
        let candidates = keyBindings.compactMap(\.commands.first).filter { $0.hasPrefix(typed.lowercased()) }
        if candidates.count == 1 {
            state.field.set(candidates[0] + " ")
            overlay = .commandLine(state)
        } else if candidates.count > 1 {
            show(candidates.map { ":" + $0 }.joined(separator: "  "))
        }
    }
}
