/// The panes of the console, in tab order; the raw value is the number key that jumps to the pane.
public enum Pane: Int, CaseIterable, Sendable, Hashable {
    /// Live events.
    case events = 1
    /// Queue counts, rates, latency, health.
    case queue
    /// Retrying batches and dead letters.
    case failures
    /// Canonical fields → metric codes.
    case mappings
    /// The default subscription.
    case subscription
    /// The send-test-event form.
    case sendTest
    /// Events Lago will not bill, grouped, with their fix; the held list.
    case billing
    /// The customer's current usage in Lago: what it will bill this period, charge by charge.
    case usage

    /// The pane's title.
    public var title: String {
        switch self {
        case .events: "Events"
        case .queue: "Queue"
        case .failures: "Failures"
        case .mappings: "Mappings"
        case .subscription: "Subscription"
        case .sendTest: "Send test"
        case .billing: "Billing"
        case .usage: "Usage"
        }
    }

    /// Whether the pane has a list that j/k/g/G move in.
    var hasList: Bool { self != .queue }
}

/// Where a key binding applies. Dispatch tries the contexts of the current mode from the most specific to
/// ``always``.
public enum KeyContext: Sendable, Hashable {
    /// Every screen, overlays and the "terminal too small" screen included.
    case always
    /// The "terminal too small" screen.
    case tooSmall
    /// Any pane when no overlay or text field has the keyboard.
    case global
    /// Panes and overlays with a list or scrollable text.
    case list
    /// One pane when no overlay or text field has the keyboard.
    case pane(Pane)
    /// The help overlay.
    case help
    /// The event detail overlay.
    case detail
    /// A yes/no confirmation dialog.
    case confirm
    /// The `:` command line.
    case commandLine
    /// The `/` filter prompt of the events pane.
    case filterPrompt
    /// A searchable list to pick from (Lago's metric codes).
    case picker
    /// The edit-and-replay form of a dead letter.
    case replayForm
    /// The send-test form while a field is being edited.
    case sendForm
    /// Any text field.
    case textInput
}

/// A group of bindings in the help overlay.
public enum HelpSection: Int, CaseIterable, Sendable, Hashable {
    /// The sections, in the order the help lists them after the focused pane's.
    case global, navigation, events, queue, failures, mappings, subscription, sendTest, billing, usage, detail
    case dialogs
    case input
    /// The `:` commands (bindings with ``KeyBinding/commands`` and no key), listed last.
    case commands

    /// The heading shown in the help overlay.
    public var title: String {
        switch self {
        case .global: "Global"
        case .navigation: "Navigation"
        case .events: "Events"
        case .queue: "Queue"
        case .failures: "Failures & retries"
        case .mappings: "Metric mappings"
        case .subscription: "Subscription"
        case .sendTest: "Send test event"
        case .billing: "Billing"
        case .usage: "Usage"
        case .detail: "Event detail"
        case .dialogs: "Dialogs"
        case .input: "Text fields & command line"
        case .commands: "Commands (:)"
        }
    }
}

/// What a key does. The reducer interprets an action in the current mode (``submit`` saves a mapping in the
/// mappings pane and runs a command on the command line).
public enum ConsoleAction: Sendable, Hashable {
    /// Global actions.
    case forceQuit, quit, showHelp, openCommandLine, nextPane, previousPane, focusPane, flush
    /// List and scroll movement.
    case moveUp, moveDown, pageUp, pageDown, halfPageUp, halfPageDown, jumpTop, jumpBottom
    /// Events pane.
    case openDetail, editFilter, clearFilter, togglePause, toggleOrder
    /// Overlays.
    case copyDetail, close
    /// Failures pane.
    case replayDeadLetter, editAndReplay, discardDeadLetter, retryNow
    /// Mappings pane.
    case editMapping, typeMapping, checkMappings
    /// Subscription pane.
    case loadSubscriptions, searchList, clearSearch, pickSubscription, typeSubscription
    /// Send-test pane and forms.
    case editField, toggleSendMode, sendTest, verifySent, nextField, previousField, confirmField
    /// Billing pane: remap the field behind an unknown code, set the default subscription, release or discard a
    /// held event, read Lago's catalogue again, order the issues.
    case remapCode, setDefaultSubscription, releaseHeld, discardHeld, refreshCatalogue, toggleIssueOrder
    /// Usage pane: read the usage again now, pick the subscription shown, go back to the default one.
    case refreshUsage, pickUsageSubscription, showDefaultUsage
    /// Text fields and the command line.
    case submit, historyPrevious, historyNext, complete, editText
    /// Confirmation dialogs.
    case confirmYes, confirmNo, confirmCancel, confirmActivate, confirmSwitch
    /// Commands: focus a pane (`:events`), filter the events (`:filter TEXT`), set the default subscription
    /// (`:sub ID`), send an event (`:send CODE [SUB] [k=v …]`).
    case showPane(Pane)
    case filterCommand, subscriptionCommand, sendCommand
}

/// One entry of the key-binding table, which drives dispatch, the help overlay and the footer hints
/// (k9s `KeyActions`, Bubble Tea `key.Binding`).
public struct KeyBinding: Sendable, Hashable {
    /// The keys that trigger the action.
    public var keys: [Key]
    /// What the keys do.
    public var action: ConsoleAction
    /// The description in the help overlay.
    public var help: String
    /// The short label in the footer, or `nil` to keep the binding out of the footer.
    public var hint: String?
    /// How the keys are written in help and footer when not simply the keys' labels joined by `/` (`1-6`).
    public var keyLabel: String?
    /// How the keys are written in the footer when shorter than in help (`j/k` for "move").
    public var footerKeys: String?
    /// Where the binding applies.
    public var contexts: Set<KeyContext>
    /// The help section that lists the binding.
    public var section: HelpSection
    /// Whether the action changes something (in Lago, the queue or the config); `--readonly` removes these.
    public var isMutating: Bool
    /// Whether the action destroys something; such actions always ask for confirmation (default No).
    public var isDestructive: Bool
    /// The names that run the action from the command line (`:flush`), the first one listed in help and
    /// completed by Tab, the others aliases (`:quit` for `:q`).
    public var commands: [String]

    /// Creates a binding.
    public init(
        _ keys: [Key], _ action: ConsoleAction, _ help: String, hint: String? = nil, keyLabel: String? = nil,
        footerKeys: String? = nil, contexts: Set<KeyContext>, section: HelpSection, isMutating: Bool = false,
        isDestructive: Bool = false, commands: [String] = []
    ) {
        self.commands = commands
        self.keys = keys
        self.action = action
        self.help = help
        self.hint = hint
        self.keyLabel = keyLabel
        self.footerKeys = footerKeys
        self.contexts = contexts
        self.section = section
        self.isMutating = isMutating
        self.isDestructive = isDestructive
    }

    /// How the keys are written (`j/↓`, `1-6`).
    public func label(ascii: Bool) -> String {
        keyLabel ?? keys.map { $0.label(ascii: ascii) }.joined(separator: "/")
    }

    /// How the keys are written in the footer.
    public func footerLabel(ascii: Bool) -> String {
        footerKeys ?? label(ascii: ascii)
    }

    /// A command of the `:` line, listed under ``HelpSection/commands``.
    static func command(
        _ names: [String], _ action: ConsoleAction, _ help: String, isMutating: Bool = false
    ) -> KeyBinding {
        KeyBinding(
            [], action, help, contexts: [.commandLine], section: .commands, isMutating: isMutating, commands: names)
    }

    /// The console's default bindings.
    public static let defaultTable: [KeyBinding] = {
        let panes: [Pane] = Pane.allCases
        let digits: [Key] = panes.map { .char(Character(String($0.rawValue))) }
        let editKeys: [Key] = [.left, .right, .home, .end, .backspace, .delete]
        return [
            // Always.
            KeyBinding(
                [.ctrl("c")], .forceQuit, "quit now (pending events stay queued)", contexts: [.always],
                section: .global),
            // Global.
            KeyBinding(
                [.char("q")], .quit, "quit (asks to flush pending events)", contexts: [.global, .tooSmall],
                section: .global),
            KeyBinding([.char("?")], .showHelp, "this help", contexts: [.global], section: .global),
            KeyBinding(
                [.char(":")], .openCommandLine, "command line (:flush :send :sub :q :help)", hint: "command",
                contexts: [.global], section: .global),
            KeyBinding([.tab], .nextPane, "next pane", contexts: [.global], section: .global),
            KeyBinding([.backTab], .previousPane, "previous pane", contexts: [.global], section: .global),
            KeyBinding(
                digits, .focusPane, "jump to pane 1-\(panes.count)", keyLabel: "1-\(panes.count)", contexts: [.global],
                section: .global),
            KeyBinding(
                [.char("f")], .flush, "flush pending events now", hint: "flush", contexts: [.global],
                section: .global, isMutating: true),
            // Navigation.
            KeyBinding(
                [.char("j"), .down], .moveDown, "down", hint: "move", footerKeys: "j/k",
                contexts: [.list], section: .navigation),
            KeyBinding([.char("k"), .up], .moveUp, "up", contexts: [.list], section: .navigation),
            KeyBinding([.char("g"), .home], .jumpTop, "first", contexts: [.list], section: .navigation),
            KeyBinding(
                [.char("G"), .end], .jumpBottom, "last (resumes following)", contexts: [.list],
                section: .navigation),
            KeyBinding([.pageUp], .pageUp, "page up", contexts: [.list, .picker], section: .navigation),
            KeyBinding([.pageDown], .pageDown, "page down", contexts: [.list, .picker], section: .navigation),
            KeyBinding([.ctrl("u")], .halfPageUp, "half page up", contexts: [.list], section: .navigation),
            KeyBinding([.ctrl("d")], .halfPageDown, "half page down", contexts: [.list], section: .navigation),
            // Events.
            KeyBinding(
                [.enter], .openDetail, "detail: JSON sent, Lago's answer, attempts", hint: "detail",
                contexts: [.pane(.events)], section: .events),
            KeyBinding(
                [.char("/")], .editFilter, "filter (text state: code: sub: billing:issue reason: !x)",
                hint: "filter", contexts: [.pane(.events)], section: .events),
            KeyBinding(
                [.escape], .clearFilter, "clear the filter", hint: "clear filter",
                contexts: [.pane(.events)], section: .events),
            KeyBinding(
                [.char("p"), .char(" ")], .togglePause, "pause / resume the view (ingest continues)",
                hint: "pause", footerKeys: "p", contexts: [.pane(.events)], section: .events),
            KeyBinding(
                [.char("s")], .toggleOrder, "follow (newest at bottom) / newest first", hint: "order",
                contexts: [.pane(.events)], section: .events),
            // Queue and failures.
            KeyBinding(
                [.char("R")], .retryNow, "retry now (auth failed or backing off)", hint: "retry now",
                contexts: [.pane(.queue), .pane(.failures)], section: .queue, isMutating: true),
            KeyBinding(
                [.char("r")], .replayDeadLetter, "replay the dead letter (confirm)", hint: "replay",
                contexts: [.pane(.failures)], section: .failures, isMutating: true),
            KeyBinding(
                [.char("e")], .editAndReplay, "edit code, subscription, properties and replay",
                hint: "edit & replay", contexts: [.pane(.failures)], section: .failures, isMutating: true),
            KeyBinding(
                [.char("x")], .discardDeadLetter, "discard the dead letter (confirm)", hint: "discard",
                contexts: [.pane(.failures)], section: .failures, isMutating: true, isDestructive: true),
            // Mappings.
            KeyBinding(
                [.enter], .editMapping, "edit the code (pick from Lago's when unknown)", hint: "edit",
                contexts: [.pane(.mappings)], section: .mappings, isMutating: true),
            KeyBinding(
                [.char("e")], .typeMapping, "type a code", contexts: [.pane(.mappings)], section: .mappings,
                isMutating: true),
            KeyBinding(
                [.char("c")], .checkMappings, "check the codes against Lago's metrics",
                hint: "check", contexts: [.pane(.mappings)], section: .mappings),
            // Subscription.
            KeyBinding(
                [.char("l")], .loadSubscriptions, "load Lago's active subscriptions", hint: "load",
                contexts: [.pane(.subscription)], section: .subscription),
            KeyBinding(
                [.enter], .pickSubscription, "use the selected subscription as default", hint: "use",
                contexts: [.pane(.subscription)], section: .subscription, isMutating: true),
            KeyBinding(
                [.char("/")], .searchList, "search the list", hint: "search",
                contexts: [.pane(.subscription)], section: .subscription),
            KeyBinding(
                [.escape], .clearSearch, "clear the search", contexts: [.pane(.subscription)],
                section: .subscription),
            KeyBinding(
                [.char("i")], .typeSubscription, "type a subscription id", hint: "type id",
                contexts: [.pane(.subscription)], section: .subscription, isMutating: true),
            // Send test event.
            KeyBinding(
                [.enter, .char("i")], .editField, "edit the selected field", hint: "edit", footerKeys: "Enter",
                contexts: [.pane(.sendTest)], section: .sendTest, isMutating: true),
            KeyBinding(
                [.char("m")], .toggleSendMode, "canonical usage / raw event", hint: "mode",
                contexts: [.pane(.sendTest)], section: .sendTest, isMutating: true),
            KeyBinding(
                [.ctrl("s")], .sendTest, "send", hint: "send", contexts: [.pane(.sendTest), .sendForm],
                section: .sendTest, isMutating: true),
            KeyBinding(
                [.char("v")], .verifySent, "verify the last sent events in Lago", hint: "verify",
                contexts: [.pane(.sendTest)], section: .sendTest),
            KeyBinding(
                [.enter], .confirmField, "keep the field and edit the next (ctrl-s sends)", hint: "next",
                footerKeys: "Enter", contexts: [.sendForm], section: .sendTest),
            KeyBinding(
                [.escape], .close, "stop editing (keeps the text)", hint: "done", contexts: [.sendForm],
                section: .sendTest),
            KeyBinding(
                [.tab, .down], .nextField, "next field", hint: "next field", footerKeys: "Tab",
                contexts: [.sendForm, .replayForm], section: .sendTest),
            KeyBinding(
                [.backTab, .up], .previousField, "previous field",
                contexts: [.sendForm, .replayForm], section: .sendTest),
            // Billing.
            KeyBinding(
                [.char("m")], .remapCode, "remap the field sending an unknown code (picker)",
                hint: "remap", contexts: [.pane(.billing)], section: .billing, isMutating: true),
            KeyBinding(
                [.char("d")], .setDefaultSubscription, "set the default subscription (Subscription pane)",
                hint: "default sub", contexts: [.pane(.billing)], section: .billing, isMutating: true),
            KeyBinding(
                [.char("r")], .releaseHeld, "release the held event: checked again, queued (confirm)",
                hint: "release", contexts: [.pane(.billing)], section: .billing, isMutating: true),
            KeyBinding(
                [.char("x")], .discardHeld, "discard the held event (confirm)", hint: "discard",
                contexts: [.pane(.billing)], section: .billing, isMutating: true, isDestructive: true),
            KeyBinding(
                [.char("c")], .refreshCatalogue, "read Lago's metrics and subscriptions again", hint: "refresh",
                contexts: [.pane(.billing)], section: .billing),
            KeyBinding(
                [.char("s")], .toggleIssueOrder, "most recent first / most frequent first", hint: "order",
                contexts: [.pane(.billing)], section: .billing),
            // Usage.
            KeyBinding(
                [.char("r")], .refreshUsage, "read the usage from Lago again now", hint: "refresh",
                contexts: [.pane(.usage)], section: .usage),
            KeyBinding(
                [.char("s")], .pickUsageSubscription, "show another subscription's usage (search)",
                hint: "subscription", contexts: [.pane(.usage)], section: .usage),
            KeyBinding(
                [.char("d")], .showDefaultUsage, "back to the default subscription", hint: "default",
                contexts: [.pane(.usage)], section: .usage),
            // Detail.
            KeyBinding(
                [.char("y")], .copyDetail, "copy as plain text", hint: "copy", contexts: [.detail],
                section: .detail),
            KeyBinding(
                [.escape, .char("q")], .close, "close", hint: "close", contexts: [.detail, .help],
                section: .detail),
            KeyBinding([.char("?")], .close, "close help", contexts: [.help], section: .detail),
            // Dialogs.
            KeyBinding([.char("y")], .confirmYes, "yes", hint: "yes", contexts: [.confirm], section: .dialogs),
            KeyBinding(
                [.char("n"), .char("N")], .confirmNo, "no", hint: "no", footerKeys: "n",
                contexts: [.confirm], section: .dialogs),
            KeyBinding(
                [.char("c"), .escape], .confirmCancel, "cancel", hint: "cancel", contexts: [.confirm],
                section: .dialogs),
            KeyBinding(
                [.enter], .confirmActivate, "choose the highlighted answer (default No)", hint: "choose",
                contexts: [.confirm], section: .dialogs),
            KeyBinding(
                [.tab, .backTab, .left, .right], .confirmSwitch, "switch answer", keyLabel: "Tab/←/→",
                contexts: [.confirm], section: .dialogs),
            KeyBinding(
                [.enter, .ctrl("s")], .submit, "replay with these edits", hint: "replay", footerKeys: "Enter",
                contexts: [.replayForm], section: .dialogs, isMutating: true),
            KeyBinding([.up, .ctrl("p")], .moveUp, "previous item", contexts: [.picker], section: .dialogs),
            KeyBinding([.down, .ctrl("n")], .moveDown, "next item", contexts: [.picker], section: .dialogs),
            KeyBinding(
                [.enter], .submit, "pick the highlighted item", hint: "pick", contexts: [.picker],
                section: .dialogs),
            // Text fields.
            KeyBinding(
                [.up], .historyPrevious, "previous entry in history",
                contexts: [.commandLine, .filterPrompt], section: .input),
            KeyBinding(
                [.down], .historyNext, "next entry in history", contexts: [.commandLine, .filterPrompt],
                section: .input),
            KeyBinding([.tab], .complete, "complete the command", contexts: [.commandLine], section: .input),
            KeyBinding(
                [.enter], .submit, "apply / save / run", hint: "apply", contexts: [.textInput],
                section: .input),
            KeyBinding(
                [.escape], .close, "cancel (in the filter: clear it)", hint: "cancel", contexts: [.textInput],
                section: .input),
            KeyBinding(
                editKeys + [.ctrl("u"), .ctrl("w")], .editText, "move, delete; ctrl-u/ctrl-w delete",
                keyLabel: "←/→/Bksp", contexts: [.textInput], section: .input),
            // Commands (the `:` line). `:send ID` and `:sub ID` change something only with an argument.
            command(["flush"], .flush, "deliver pending events now", isMutating: true),
            command(["send"], .sendCommand, "send pane, or :send CODE [SUB] [k=v …]"),
            command(["sub", "subscription"], .subscriptionCommand, "subscription pane, or :sub ID to set the default"),
            command(["filter"], .filterCommand, ":filter TEXT filters the events"),
            command(["check"], .checkMappings, "check metric codes against Lago"),
            command(["events"], .showPane(.events), "events pane"),
            command(["queue"], .showPane(.queue), "queue pane"),
            command(["failures"], .showPane(.failures), "failures pane"),
            command(["mappings"], .showPane(.mappings), "mappings pane"),
            command(["test"], .showPane(.sendTest), "send test pane"),
            command(["billing", "held"], .showPane(.billing), "billing pane: issues and the held list"),
            command(["usage"], .showPane(.usage), "usage pane: the customer's current usage in Lago"),
            command(["help", "h", "?"], .showHelp, "help"),
            command(["q", "quit"], .quit, "quit (asks to flush)"),
            command(["q!", "quit!"], .forceQuit, "quit without flushing"),
        ]
    }()
}
