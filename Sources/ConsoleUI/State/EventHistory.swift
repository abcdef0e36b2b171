public import Foundation
public import LagoAPI
public import LagoBilling
public import LagoUsage

/// One change in an event's life, shown in the detail view's attempt list.
public struct EventTimelineEntry: Sendable, Hashable {
    /// When the change happened.
    public var time: Date
    /// The state entered.
    public var state: DeliveryState
    /// The attempt number, when the change comes from a request.
    public var attempt: Int?
    /// Lago's HTTP status, if it answered.
    public var httpStatus: Int?
    /// Why the attempt failed, if it did.
    public var reason: String?

    /// Creates an entry.
    public init(time: Date, state: DeliveryState, attempt: Int? = nil, httpStatus: Int? = nil, reason: String? = nil) {
        self.time = time
        self.state = state
        self.attempt = attempt
        self.httpStatus = httpStatus
        self.reason = reason
    }
}

/// One row of the live events pane: the latest known state of one event.
public struct EventRecord: Sendable, Hashable {
    /// The position of the row in the history (increasing, never reused).
    public let sequence: Int
    /// The event's idempotency key.
    public var transactionID: String
    /// What tells this event from the others (``EventUpdate/key``).
    public let key: String
    /// The billable metric code.
    public var code: String
    /// The subscription billed.
    public var externalSubscriptionID: String?
    /// The event's properties.
    public var properties: [String: JSONValue]
    /// `key=value` pairs, numbers first, for the properties column.
    public var propertiesSummary: String
    public var state: DeliveryState
    /// When the console first saw the event.
    public var firstSeen: Date
    /// The event's timestamp, the usage time Lago bills it at (`nil` until known).
    public var timestamp: Date?
    /// When the state last changed.
    public var updatedAt: Date
    /// Whether Lago will bill it, and why not (`nil` until checked).
    public var billing: BillingVerdict?
    public var httpStatus: Int?
    public var reason: String?
    /// The JSON body last sent to Lago.
    public var payloadJSON: String?
    /// Lago's last response body, or the transport error.
    public var response: String?
    /// State changes, oldest first (at most ``EventHistory/maxTimelineEntries``).
    public var timeline: [EventTimelineEntry]
    /// Where it came from and what coded it (`nil` until known; events accepted before spool schema 5 have none).
    public var origin: EventOrigin?
    /// Lower-cased text the filter's free words match against.
    var searchText: String

    init(sequence: Int, update: EventUpdate) {
        self.sequence = sequence
        self.transactionID = update.transactionID
        self.key = update.key
        self.code = update.code
        self.externalSubscriptionID = update.externalSubscriptionID
        self.properties = update.properties
        self.propertiesSummary = Self.summary(of: update.properties)
        self.state = update.state
        self.firstSeen = update.time
        self.timestamp = update.timestamp
        self.updatedAt = update.time
        self.billing = update.billing
        self.httpStatus = update.httpStatus
        self.reason = update.reason
        self.payloadJSON = update.payloadJSON
        self.response = update.response
        self.origin = update.origin
        self.timeline = [
            EventTimelineEntry(
                time: update.time, state: update.state, attempt: update.attempt, httpStatus: update.httpStatus,
                reason: update.reason)
        ]
        self.searchText = ""
        self.searchText = makeSearchText()
    }

    mutating func merge(_ update: EventUpdate) {
        if !update.code.isEmpty { code = update.code }
        if let timestamp = update.timestamp { self.timestamp = timestamp }
        if update.externalSubscriptionID != nil { externalSubscriptionID = update.externalSubscriptionID }
        if !update.properties.isEmpty && update.properties != properties {
            properties = update.properties
            propertiesSummary = Self.summary(of: update.properties)
        }
        state = update.state
        updatedAt = update.time
        if let verdict = update.billing { billing = verdict }
        if let origin = update.origin { self.origin = origin }
        httpStatus = update.httpStatus ?? httpStatus
        // A dead or refused event keeps the last failure's reason; any other state clears a stale one.
        reason = update.reason ?? (update.state == .dead || update.state == .refused ? reason : nil)
        if let payload = update.payloadJSON { payloadJSON = payload }
        if let response = update.response { self.response = response }
        timeline.append(
            EventTimelineEntry(
                time: update.time, state: update.state, attempt: update.attempt, httpStatus: update.httpStatus,
                reason: update.reason))
        if timeline.count > EventHistory.maxTimelineEntries {
            timeline.removeFirst(timeline.count - EventHistory.maxTimelineEntries)
        }
        searchText = makeSearchText()
    }

    private func makeSearchText() -> String {
        // The billing verdict's words too: `/unbillable`, `/invalid_code` find the events Lago will not bill.
        let verdict = billing.map { [$0.status.rawValue] + $0.reasons.map(\.rawValue) } ?? []
        let source = origin.map { [$0.source.word] + ($0.coding.storageText.map { [$0] } ?? []) } ?? []
        return
            ([transactionID, code, externalSubscriptionID ?? "", state.label, propertiesSummary, reason ?? ""]
            + verdict + source).joined(separator: "\u{1F}").lowercased()
    }

    /// `key=value` pairs, numbers first (the aggregated value usually is one), then by key.
    static func summary(of properties: [String: JSONValue]) -> String {
        properties.keys.sorted { left, right in
            let leftNumber = properties[left]!.doubleValue != nil
            let rightNumber = properties[right]!.doubleValue != nil
            return leftNumber != rightNumber ? leftNumber : left < right
        }
        .map { key in "\(key)=\(properties[key]!.displayText)" }.joined(separator: " ")
    }
}

extension JSONValue {
    /// The value as shown in a table cell: strings without quotes, other values as JSON.
    var displayText: String {
        switch self {
        case .string(let text): text.replacingOccurrences(of: "\n", with: " ")
        case .integer(let value): String(value)
        case .bigInteger(let digits): digits
        case .number(let value): String(value)
        case .bool(let value): value ? "true" : "false"
        case .null: "null"
        case .array, .object: jsonText
        }
    }
}

/// A parsed `/` filter: every term must match (AND).
///
/// Terms: free words (matched case-insensitively against transaction id, code, subscription, state, properties
/// and reason), `state:dead`, `code:llm_`, `sub:acme`, `tx:abc`, `billing:issue` (Lago will not bill it; also
/// `billing:billable`, `billing:unchecked`), `reason:invalid_code` (one of its billing reasons), `source:otlp`
/// (`relay`, `usage`, `otlp`, `console`), `field:input` (the canonical field whose mapping coded it), and `!term`
/// to invert any of them.
public struct EventFilter: Sendable, Hashable {
    enum Field: Sendable, Hashable { case any, state, code, subscription, transaction, billing, reason, source, field }

    struct Term: Sendable, Hashable {
        var field: Field
        var needle: String
        var inverted: Bool
    }

    /// The text typed.
    public let text: String
    let terms: [Term]

    /// Parses a filter; `nil` when the text has no terms.
    public init?(_ text: String) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        var terms: [Term] = []
        for word in trimmed.split(separator: " ") {
            var word = Substring(word)
            var inverted = false
            if word.hasPrefix("!") && word.count > 1 {
                inverted = true
                word = word.dropFirst()
            }
            var field = Field.any
            if let colon = word.firstIndex(of: ":"), colon != word.startIndex {
                let prefix = word[..<colon].lowercased()
                let rest = word[word.index(after: colon)...]
                let known: [String: Field] = [
                    "state": .state, "s": .state, "code": .code, "c": .code, "sub": .subscription,
                    "subscription": .subscription, "tx": .transaction, "transaction": .transaction,
                    "billing": .billing, "bill": .billing, "reason": .reason, "source": .source, "src": .source,
                    "field": .field,
                ]
                if let match = known[prefix], !rest.isEmpty {
                    field = match
                    word = rest
                }
            }
            var needle = word.lowercased()
            if field == .state { needle = needle.replacingOccurrences(of: "-", with: "") }
            terms.append(Term(field: field, needle: needle, inverted: inverted))
        }
        guard !terms.isEmpty else { return nil }
        self.text = trimmed
        self.terms = terms
    }

    /// The state words `state:` takes (each state's label without spaces).
    static let stateWords: [String] = [
        DeliveryState.queued, .inFlight, .delivered, .alreadyInLago, .retrying(attempt: 1), .dead, .refused, .held,
        .discarded, .released,
    ].map { $0.label.lowercased().replacingOccurrences(of: " ", with: "").replacingOccurrences(of: "1", with: "") }

    /// What is wrong with the filter, for the prompt (`nil` when every term can match something): a `state:` or
    /// `billing:` value that is no state or verdict would silently match nothing.
    public var problem: String? {
        for term in terms {
            switch term.field {
            case .state where !Self.stateWords.contains(where: { $0.contains(term.needle) }):
                return "state:\(term.needle) is no state; give one of " + Self.stateWords.joined(separator: ", ")
            case .billing
            where !["issue", "issues", "unbillable", "not-billable", "ok", "billable"].contains(term.needle)
                && !"unchecked".hasPrefix(term.needle):
                return "billing:\(term.needle) is no verdict; give issue, billable or unchecked"
            case .source where !EventOrigin.Source.allCases.contains(where: { $0.word.hasPrefix(term.needle) }):
                return "source:\(term.needle) is no source; give one of "
                    + EventOrigin.Source.allCases.map(\.word).joined(separator: ", ")
            default: continue
            }
        }
        return nil
    }

    /// `billing:issue` (or `unbillable`) for the events Lago will not bill, `billing:billable` (or `ok`) for
    /// those it will, `billing:unchecked` for those not checked (yet).
    static func billingMatches(_ verdict: BillingVerdict?, _ needle: String) -> Bool {
        let status = verdict?.status ?? .unchecked
        switch needle {
        case "issue", "issues", "unbillable", "not-billable": return status == .unbillable
        case "ok", "billable": return status == .billable
        default: return status.rawValue.hasPrefix(needle)
        }
    }

    /// Whether a row matches every term.
    func matches(_ record: EventRecord) -> Bool {
        for term in terms {
            let hit: Bool
            switch term.field {
            case .any: hit = record.searchText.contains(term.needle)
            case .state:
                hit = record.state.label.lowercased().replacingOccurrences(of: " ", with: "").contains(term.needle)
            case .code: hit = record.code.lowercased().contains(term.needle)
            case .subscription: hit = (record.externalSubscriptionID ?? "").lowercased().contains(term.needle)
            case .transaction: hit = record.transactionID.lowercased().contains(term.needle)
            case .billing: hit = Self.billingMatches(record.billing, term.needle)
            case .reason:
                hit = record.billing?.reasons.contains { $0.rawValue.contains(term.needle) } ?? false
            case .source: hit = record.origin?.source.word.hasPrefix(term.needle) ?? false
            case .field: hit = record.origin?.coding.storageText?.contains(term.needle) ?? false
            }
            if hit == term.inverted { return false }
        }
        return true
    }
}

/// The bounded history of the live events pane, with an incrementally maintained filter index.
///
/// Rows have increasing sequence numbers; the oldest rows are dropped beyond `capacity` (counted in
/// ``droppedCount``). With a filter, ``matches`` holds the sequence numbers of matching rows, updated as rows
/// arrive, change and drop, so rendering a window never scans the history.
public struct EventHistory: Sendable {
    /// The most timeline entries kept per row.
    public static let maxTimelineEntries = 32

    /// The most rows kept.
    public let capacity: Int
    private var storage: [EventRecord] = []
    private var head = 0
    /// The sequence number of the oldest row kept.
    public private(set) var firstSequence = 0
    /// The sequence number the next new row gets.
    public private(set) var nextSequence = 0
    /// Rows dropped because the history was full.
    public private(set) var droppedCount = 0
    /// The row of each event key.
    private var sequenceByKey: [String: Int] = [:]
    /// The newest row of each transaction id.
    private var sequenceByTransaction: [String: Int] = [:]
    /// The active filter.
    public private(set) var filter: EventFilter?
    /// Sequence numbers of the rows matching ``filter``, ascending (empty without a filter).
    private(set) var matches: [Int] = []

    /// Creates an empty history keeping at most `capacity` rows.
    public init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    /// The number of rows kept.
    public var count: Int { nextSequence - firstSequence }

    /// Every row kept, oldest first.
    var records: ArraySlice<EventRecord> { storage[head...] }

    /// The row with a sequence number, if still kept.
    public func record(sequence: Int) -> EventRecord? {
        guard sequence >= firstSequence, sequence < nextSequence else { return nil }
        return storage[head + sequence - firstSequence]
    }

    /// Whether a row with this event key is kept.
    public func contains(key: String) -> Bool {
        sequenceByKey[key].map { $0 >= firstSequence } ?? false
    }

    /// The newest row of a transaction id, if kept.
    public func record(transactionID: String) -> EventRecord? {
        sequenceByTransaction[transactionID].flatMap { record(sequence: $0) }
    }

    /// Merges updates: a known event key updates its row, an unknown one appends a row (so events sharing a
    /// transaction id stay distinct rows). Drops the oldest rows beyond capacity afterwards.
    public mutating func apply(_ updates: [EventUpdate]) {
        for update in updates {
            if let sequence = sequenceByKey[update.key],
                sequence >= firstSequence
            {
                let index = head + sequence - firstSequence
                let wasMatching = filter.map { $0.matches(storage[index]) } ?? false
                storage[index].merge(update)
                if let filter {
                    let isMatching = filter.matches(storage[index])
                    if wasMatching != isMatching { toggleMatch(sequence, on: isMatching) }
                }
            } else {
                let record = EventRecord(sequence: nextSequence, update: update)
                storage.append(record)
                sequenceByKey[update.key] = nextSequence
                sequenceByTransaction[update.transactionID] = nextSequence
                if let filter, filter.matches(record) { matches.append(nextSequence) }
                nextSequence += 1
            }
        }
        trim()
    }

    /// Puts earlier attempts (read from the spool) before those the row of `key` shows; attempts it already has
    /// are skipped.
    public mutating func prependAttempts(_ entries: [EventTimelineEntry], key: String) {
        guard let sequence = sequenceByKey[key], sequence >= firstSequence else { return }
        let index = head + sequence - firstSequence
        let shown = Set(storage[index].timeline.compactMap { $0.state == .inFlight ? nil : $0.attempt })
        let earlier = entries.filter { entry in entry.attempt.map { !shown.contains($0) } ?? false }
        storage[index].timeline.insert(contentsOf: earlier, at: 0)
        if storage[index].timeline.count > EventHistory.maxTimelineEntries {
            storage[index].timeline.removeFirst(storage[index].timeline.count - EventHistory.maxTimelineEntries)
        }
    }

    /// Sets (or clears, with `nil`) the filter and rebuilds the index.
    public mutating func setFilter(_ newFilter: EventFilter?) {
        filter = newFilter
        matches = []
        guard let newFilter else { return }
        for index in head..<storage.count where newFilter.matches(storage[index]) {
            matches.append(storage[index].sequence)
        }
    }

    /// The number of visible rows with a sequence number below `bound` (all rows when `nil`).
    public func visibleCount(below bound: Int?) -> Int {
        let limit = min(bound ?? nextSequence, nextSequence)
        if filter == nil { return max(0, limit - firstSequence) }
        return lowerBound(of: limit, in: matches)
    }

    /// The sequence number of the `index`-th visible row, oldest first.
    public func visibleSequence(at index: Int) -> Int {
        filter == nil ? firstSequence + index : matches[index]
    }

    /// The index of the first visible row whose sequence number is at least `sequence`.
    public func visibleIndex(of sequence: Int) -> Int {
        if filter == nil { return max(0, sequence - firstSequence) }
        return lowerBound(of: sequence, in: matches)
    }

    private mutating func toggleMatch(_ sequence: Int, on: Bool) {
        let position = lowerBound(of: sequence, in: matches)
        if on {
            matches.insert(sequence, at: position)
        } else if position < matches.count && matches[position] == sequence {
            matches.remove(at: position)
        }
    }

    private mutating func trim() {
        let excess = count - capacity
        guard excess > 0 else { return }
        for index in head..<(head + excess) {
            let transactionID = storage[index].transactionID
            if sequenceByTransaction[transactionID] == storage[index].sequence {
                sequenceByTransaction[transactionID] = nil
            }
            let key = storage[index].key
            if sequenceByKey[key] == storage[index].sequence { sequenceByKey[key] = nil }
        }
        head += excess
        firstSequence += excess
        droppedCount += excess
        if filter != nil {
            let cut = lowerBound(of: firstSequence, in: matches)
            if cut > 0 { matches.removeFirst(cut) }
        }
        if head >= max(1024, capacity / 2) {
            storage.removeFirst(head)
            head = 0
        }
    }
}

/// The first index in a sorted array whose element is ≥ `value`.
func lowerBound(of value: Int, in sorted: [Int]) -> Int {
    var low = 0
    var high = sorted.count
    while low < high {
        let mid = (low + high) / 2
        if sorted[mid] < value { low = mid + 1 } else { high = mid }
    }
    return low
}
