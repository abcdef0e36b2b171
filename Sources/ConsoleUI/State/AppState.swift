public import Foundation
import LagoAPI
import LagoBilling
public import LagoUsage

/// The terminal's size in cells.
public struct TerminalSize: Sendable, Hashable {
    /// Columns.
    public var width: Int
    /// Rows.
    public var height: Int

    /// Creates a size.
    public init(width: Int, height: Int) {
        self.width = width
        self.height = height
    }

    /// The smallest size the console lays out panes in; below it a "terminal too small" screen is shown.
    public static let minimum = TerminalSize(width: 80, height: 24)
    /// The width from which the events pane gets a side column with the queue and failures.
    public static let wideWidth = 160
}

/// How the console starts: flags and the configuration known at launch.
public struct ConsoleOptions: Sendable {
    /// `--readonly`: every mutating action is removed from dispatch, help and footer; an RO badge is shown.
    public var readOnly: Bool
    /// `NO_COLOR`: monochrome, using bold and reverse video only.
    public var noColor: Bool
    /// ASCII only (no UTF-8 terminal): box drawing, sparklines and marks use ASCII.
    public var asciiOnly: Bool
    /// The most rows kept in the live events pane; older rows are counted as "scrolled out".
    public var historyCapacity: Int
    /// The time zone times are shown in.
    public var timeZone: TimeZone
    /// The key-binding table (the default table with the operator's overrides).
    public var keyBindings: [KeyBinding]
    /// Where events go, shown in the status line.
    public var connection: ConnectionInfo
    /// Metric code per canonical field, from the configuration.
    public var mappings: [CanonicalField: String]
    /// The default subscription, from the configuration.
    public var defaultSubscription: String?
    /// `usage.refresh_interval_seconds`: how often the customer's usage is read from Lago.
    public var usageRefreshInterval: TimeInterval
    /// `usage.count_timeout_seconds`: how long after delivery a test event may take to move its charge.
    public var usageCountTimeout: TimeInterval

    /// Creates options.
    public init(
        readOnly: Bool = false, noColor: Bool = false, asciiOnly: Bool = false, historyCapacity: Int = 10_000,
        timeZone: TimeZone = .current, keyBindings: [KeyBinding] = KeyBinding.defaultTable,
        connection: ConnectionInfo, mappings: [CanonicalField: String] = [:], defaultSubscription: String? = nil,
        usageRefreshInterval: TimeInterval = 5, usageCountTimeout: TimeInterval = 60
    ) {
        self.usageRefreshInterval = usageRefreshInterval
        self.usageCountTimeout = usageCountTimeout
        self.readOnly = readOnly
        self.noColor = noColor
        self.asciiOnly = asciiOnly
        self.historyCapacity = historyCapacity
        self.timeZone = timeZone
        self.keyBindings = keyBindings
        self.connection = connection
        self.mappings = mappings
        self.defaultSubscription = defaultSubscription
    }
}

/// A message shown for a few seconds in the footer.
struct TransientMessage: Sendable, Hashable {
    enum Kind: Sendable, Hashable { case info, success, error }
    var text: String
    var kind: Kind
    var expiresAt: Date
}

/// Whether the newest event is at the bottom (following) or at the top.
public enum EventOrder: Sendable, Hashable {
    /// Oldest first, newest at the bottom; the view follows new rows while at the bottom.
    case follow
    /// Newest first, at the top.
    case newestFirst
}

struct EventsPaneState: Sendable {
    var order = EventOrder.follow
    /// Whether the view sticks to the newest row (bottom in follow order, top in newest-first order).
    var autoscroll = true
    var selectedSequence: Int?
    var topSequence: Int?
    /// While paused: rows from this sequence on are not shown.
    var pausedAtSequence: Int?
    /// Filters applied before, newest last (for ↑/↓ in the filter prompt).
    var filterHistory: [String] = []
}

struct FilterPromptState: Sendable {
    var field: TextField
    var historyIndex: Int?
}

struct CommandLineState: Sendable {
    var field = TextField()
    var historyIndex: Int?
}

struct ConfirmDialog: Sendable {
    enum Kind: Sendable {
        case quit(pending: Int)
        /// The operator chose to flush before quitting: what is left, while the flush runs (Ctrl-C quits now).
        case flushingBeforeQuit(pending: Int)
        case replay(deadLetterID: String, transactionID: String, edits: DeadLetterEdits?)
        case discard(deadLetterID: String, transactionID: String)
        case releaseHeld(heldID: String, transactionID: String)
        case discardHeld(heldID: String, transactionID: String)
    }
    var kind: Kind
    /// The highlighted answer; starts on No (for quit: "quit without flushing").
    var yesHighlighted = false
}

struct PickerItem: Sendable, Hashable {
    var value: String
    var detail: String
}

/// What a picked item is for.
enum PickerPurpose: Sendable, Hashable {
    /// The metric code of a canonical field (saved to the config).
    case mapping(CanonicalField)
    /// The subscription the Usage pane shows.
    case usageSubscription
}

struct PickerState: Sendable {
    var purpose: PickerPurpose
    var items: [PickerItem]
    var query = TextField()
    var selection = 0

    init(purpose: PickerPurpose, items: [PickerItem]) {
        self.purpose = purpose
        self.items = items
    }

    init(field: CanonicalField, items: [PickerItem]) {
        self.init(purpose: .mapping(field), items: items)
    }

    var heading: String {
        switch purpose {
        case .mapping(let field): "Billable metric for \(field.rawValue)"
        case .usageSubscription: "Subscription whose usage to show"
        }
    }

    var filtered: [PickerItem] {
        let needle = query.text.lowercased()
        guard !needle.isEmpty else { return items }
        return items.filter { $0.value.lowercased().contains(needle) || $0.detail.lowercased().contains(needle) }
    }
}

struct ReplayForm: Sendable {
    var deadLetterID: String
    var transactionID: String
    var fields: [TextField]
    var focused = 0
    var errors: [Int: String] = [:]
    static let labels = ["transaction", "code", "subscription", "properties"]
}

enum LoadState<Value: Sendable>: Sendable {
    case notLoaded
    case loading
    case loaded(Value, at: Date)
    case failed(String)
}

struct MappingEdit: Sendable {
    var field: CanonicalField
    var text: TextField
    var error: String?
    /// A code the operator was warned is no billable metric in Lago; Enter again on the same code saves it.
    var warnedCode: String? = nil
}

struct MappingsPaneState: Sendable {
    var selection = 0
    var edit: MappingEdit?
    var metrics = LoadState<[BillableMetric]>.notLoaded
    var saving: CanonicalField?
    /// The events each field's mapping coded over the last minute.
    var activity = MappingActivity()
    /// When each field's code last changed while the console ran (saved here, or changed in the config file).
    var changedAt: [CanonicalField: Date] = [:]

    var knownCodes: Set<String>? {
        if case .loaded(let metrics, _) = metrics { return Set(metrics.map(\.code)) }
        return nil
    }
}

struct SubscriptionPaneState: Sendable {
    var list = LoadState<[Subscription]>.notLoaded
    var selection = 0
    var query = ""
    var search: TextField?
    var input: TextField?
    var inputError: String?
    var saving: String?
}

/// The order of the Billing pane's issue groups.
enum IssueOrder: Sendable, Hashable {
    /// The group seen last first.
    case recent
    /// The group with the most events first.
    case frequent
}

/// What the Billing pane's selection points at.
enum BillingItemKey: Sendable, Hashable {
    case group(BillingIssueGroup.Key)
    case held(id: String)
}

struct BillingPaneState: Sendable {
    var order = IssueOrder.recent
    var selected: BillingItemKey?
    /// The issue groups of the events seen, recomputed after each event while the pane has the focus (it is drawn
    /// only then), so a frame and a key do not scan the history again.
    var groups: [BillingIssueGroup] = []
    /// Lago's catalogue the console checks events against (`nil` until the wiring reports one).
    var metrics: [String: BillableMetric] = [:]
    var catalogue: BillingCatalogueStatus?
    /// The last release and its new verdict.
    var lastRelease: HeldRelease?
}

/// A field of the send-test form.
enum SendField: Sendable, Hashable {
    case usage(CanonicalField)
    case dimensions
    case usageSubscription
    case rawCode
    case rawSubscription
    case rawProperties
    case rawTimestamp

    var label: String {
        switch self {
        case .usage(let field): field.rawValue
        case .dimensions: "dimensions"
        case .usageSubscription, .rawSubscription: "subscription"
        case .rawCode: "code"
        case .rawProperties: "properties"
        case .rawTimestamp: "timestamp"
        }
    }
}

enum VerifyState: Sendable, Hashable {
    case verifying
    case verified(LagoEvent)
    case failed(String)
}

struct SendTestState: Sendable {
    enum Mode: Sendable, Hashable { case usage, raw }
    var mode = Mode.usage
    var values: [SendField: String] = [.rawProperties: "{}"]
    var selectedField = 0
    var editing: TextField?
    var errors: [SendField: String] = [:]
    var sending = false
    var sendError: String?
    var lastSent: [String] = []
    var verifications: [String: VerifyState] = [:]

    var fields: [SendField] {
        switch mode {
        case .usage: CanonicalField.allCases.map { .usage($0) } + [.dimensions, .usageSubscription]
        case .raw: [.rawCode, .rawSubscription, .rawProperties, .rawTimestamp]
        }
    }

    var selected: SendField { fields[min(selectedField, fields.count - 1)] }
}

/// The whole state of the console: a value driven by ``handle(_:)`` and drawn by ``render(_:)``.
///
/// Pure: no I/O, no clock (time comes from ``ConsoleEvent/tick(now:)``), no randomness. Drive it from one task.
public struct AppState: Sendable {
    /// The terminal size.
    public internal(set) var size: TerminalSize
    /// The time of the last tick.
    public internal(set) var now: Date
    /// Whether mutating actions are hidden.
    public let readOnly: Bool
    /// Whether colours are off.
    public let noColor: Bool
    /// Whether only ASCII is drawn.
    public let asciiOnly: Bool
    /// The time zone times are shown in.
    public let timeZone: TimeZone
    /// How often the customer's usage is read from Lago (``ConsoleOptions/usageRefreshInterval``).
    public let usageRefreshInterval: TimeInterval
    /// How long a delivered test event may take to move its charge (``ConsoleOptions/usageCountTimeout``).
    public let usageCountTimeout: TimeInterval
    /// The key bindings in force (mutating ones removed in read-only mode).
    public let keyBindings: [KeyBinding]
    /// The mutating bindings `--readonly` removed from ``keyBindings``: pressing one of their keys says why
    /// nothing happens (they are listed nowhere).
    let readOnlyDisabledBindings: [KeyBinding]
    /// The focused pane.
    public internal(set) var focusedPane: Pane = .events
    /// Connection details for the status line.
    public internal(set) var connection: ConnectionInfo
    /// The last queue snapshot.
    public internal(set) var stats = QueueStats()
    /// Metric code per canonical field.
    public internal(set) var mappings: [CanonicalField: String]
    /// The default subscription.
    public internal(set) var defaultSubscription: String?
    /// The live events history.
    public internal(set) var history: EventHistory

    var overlay: Overlay?
    var message: TransientMessage?
    var flushInProgress = false
    var events = EventsPaneState()
    var selectedDeadLetterID: String?
    var mappingsPane = MappingsPaneState()
    var subscriptionPane = SubscriptionPaneState()
    var sendPane = SendTestState()
    var billingPane = BillingPaneState()
    var usagePane = UsagePaneState()
    var commandHistory: [String] = []
    /// The number of the last request handed to the wiring.
    var lastRequestID = 0
    /// Requests whose result has not come back yet (quit has none).
    var requests: [RequestID: Effect] = [:]
    /// Whether the operator interrupted the console (Ctrl-C) rather than quitting it.
    public internal(set) var interrupted = false
    /// Lifecycle changes that never reached the console, shown as "missed N" in the Events pane.
    public internal(set) var missedLifecycleChanges = 0

    /// Creates the state at launch.
    public init(size: TerminalSize, now: Date, options: ConsoleOptions) {
        self.size = size
        self.now = now
        self.readOnly = options.readOnly
        self.noColor = options.noColor
        self.asciiOnly = options.asciiOnly
        self.timeZone = options.timeZone
        self.usageRefreshInterval = options.usageRefreshInterval
        self.usageCountTimeout = options.usageCountTimeout
        if options.readOnly {
            // Read-only: no mutating binding, and none that only works inside a form read-only mode never opens.
            let unreachable: Set<KeyContext> = [.sendForm, .replayForm, .picker]
            self.keyBindings = options.keyBindings.filter { !$0.isMutating && !$0.contexts.isSubset(of: unreachable) }
            self.readOnlyDisabledBindings = options.keyBindings.filter(\.isMutating)
        } else {
            self.keyBindings = options.keyBindings
            self.readOnlyDisabledBindings = []
        }
        self.connection = options.connection
        self.mappings = options.mappings
        self.defaultSubscription = options.defaultSubscription
        self.history = EventHistory(capacity: options.historyCapacity)
    }

    /// Whether the events view is paused.
    public var isPaused: Bool { events.pausedAtSequence != nil }

    /// Whether the terminal is below the minimum size.
    public var isTooSmall: Bool {
        size.width < TerminalSize.minimum.width || size.height < TerminalSize.minimum.height
    }

    /// The metric code of a canonical field (the configured one, else Lago's default).
    func code(for field: CanonicalField) -> String {
        mappings[field] ?? field.defaultMetricCode
    }
}

/// What covers the panes and has the keyboard.
enum Overlay: Sendable {
    case help(scroll: Int)
    case detail(sequence: Int, scroll: Int)
    case confirm(ConfirmDialog)
    case commandLine(CommandLineState)
    case filterPrompt(FilterPromptState)
    case picker(PickerState)
    case replayForm(ReplayForm)
}

/// Who has the keyboard, derived from the state.
enum InputMode: Sendable, Hashable {
    case tooSmall, help, detail, confirm, commandLine, filterPrompt, picker, replayForm
    case mappingEdit, subscriptionInput, subscriptionSearch, sendFormEditing
    case normal(Pane)

    /// The contexts whose bindings apply, most specific first.
    var contexts: [KeyContext] {
        switch self {
        case .tooSmall: [.tooSmall, .always]
        case .help: [.help, .list, .always]
        case .detail: [.detail, .list, .always]
        case .confirm: [.confirm, .always]
        case .commandLine: [.commandLine, .textInput, .always]
        case .filterPrompt: [.filterPrompt, .textInput, .always]
        case .picker: [.picker, .textInput, .always]
        case .replayForm: [.replayForm, .textInput, .always]
        case .mappingEdit, .subscriptionInput, .subscriptionSearch: [.textInput, .always]
        case .sendFormEditing: [.sendForm, .textInput, .always]
        case .normal(let pane):
            pane.hasList ? [.pane(pane), .list, .global, .always] : [.pane(pane), .global, .always]
        }
    }

    var isTextInput: Bool { contexts.contains(.textInput) }
}
