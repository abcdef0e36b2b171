public import Foundation
public import LagoAPI
public import LagoEngine
import LagoUsage

/// What `lago-console tail` prints of an engine's lifecycle stream: one line (or one NDJSON object) per change of
/// an event, filtered by code, subscription and stage, like `stripe logs tail`.
///
/// Later changes of an event (in flight, delivered, dead…) do not carry its code and subscription; the tail learns
/// them from the event's `queued` change or the JSON its first request carried, and forgets them once the event is
/// settled.
public struct LifecycleTail: Sendable {
    /// The stage names `--state` takes, as printed.
    public static let stageNames = [
        "queued", "in_flight", "delivered", "already_in_lago", "retry_scheduled", "dead", "held", "released",
        "discarded",
    ]

    /// Only events with this code.
    public var code: String?
    /// Only events billed to this subscription.
    public var subscription: String?
    /// Only these stages (``stageNames``); empty: every stage.
    public var stages: Set<String>

    private typealias Identity = (code: String, subscription: String?, origin: EventOrigin?)
    private var known: [Int64: Identity] = [:]
    private var knownByTransaction: [String: Identity] = [:]

    /// A tail with filters.
    /// - Throws: ``InvalidStage`` naming a stage not in ``stageNames``.
    public init(code: String? = nil, subscription: String? = nil, stages: [String] = []) throws {
        self.code = code
        self.subscription = subscription
        let names = stages.flatMap { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
            .filter { !$0.isEmpty }
        for name in names where !Self.stageNames.contains(name) {
            throw InvalidStage(name: name)
        }
        self.stages = Set(names)
    }

    /// A `--state` value that is no stage.
    public struct InvalidStage: Error, CustomStringConvertible {
        /// The value given.
        public let name: String
        /// What to give instead.
        public var description: String {
            "--state \(name): no such stage; give one or more of " + LifecycleTail.stageNames.joined(separator: ", ")
        }
    }

    /// One printed change (`--json`: Lago's snake_case names, ISO-8601 UTC times, the properties as an object).
    public struct Line: Encodable, Sendable {
        /// When the change happened.
        public var time: Date
        /// The stage reached (``LifecycleTail/stageNames``).
        public var stage: String
        /// The event's transaction id.
        public var transactionID: String
        /// The event's row in the spool.
        public var eventID: Int64?
        /// Its metric code, when known.
        public var code: String?
        /// The subscription it bills, when known.
        public var externalSubscriptionID: String?
        /// The request's attempt number (in flight, retry scheduled).
        public var attempt: Int?
        /// When the next try goes (retry scheduled).
        public var retryAt: Date?
        /// Why: the retry's reason, the dead letter's reason.
        public var reason: String?
        /// Lago's HTTP status.
        public var httpStatus: Int?
        /// The properties, on `queued`.
        public var properties: [String: JSONValue]?
        /// Whether Lago will bill it: `billable`, `unbillable`, `unchecked` (on `queued` and `held`).
        public var billing: String?
        /// Why Lago will not bill it.
        public var billingReasons: [String]?
        /// Changes the stream dropped just before this one (a full buffer), when any.
        public var missedBefore: Int?
        /// How the event came in: `relay`, `usage`, `otlp`, `console` (when known).
        public var source: String?
        /// The canonical field whose mapping coded it (`cost` for a cost event; absent when the client coded it).
        public var mappedField: String?

        enum CodingKeys: String, CodingKey {
            case time, stage, code, attempt, reason, properties, billing
            case transactionID = "transaction_id"
            case eventID = "event_id"
            case externalSubscriptionID = "external_subscription_id"
            case retryAt = "retry_at"
            case httpStatus = "http_status"
            case billingReasons = "billing_reasons"
            case missedBefore = "missed_before"
            case source
            case mappedField = "mapped_field"
        }

        /// The line for a person: time, stage, code, subscription, transaction id, then what else is known.
        public func text(timeZone: TimeZone = TimeZone(identifier: "UTC")!) -> String {
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = timeZone
            let parts = calendar.dateComponents([.hour, .minute, .second, .nanosecond], from: time)
            func two(_ value: Int?) -> String { String(format: "%02d", value ?? 0) }
            let millis = String(format: "%03d", (parts.nanosecond ?? 0) / 1_000_000)
            var text =
                "\(two(parts.hour)):\(two(parts.minute)):\(two(parts.second)).\(millis)  "
                + stage.padding(toLength: 15, withPad: " ", startingAt: 0) + "  "
                + (code ?? "?").padding(toLength: 24, withPad: " ", startingAt: 0) + "  "
                + (externalSubscriptionID ?? "—").padding(toLength: 18, withPad: " ", startingAt: 0) + "  "
                + transactionID
            if let attempt { text += "  attempt \(attempt)" }
            if let httpStatus { text += "  HTTP \(httpStatus)" }
            if let billing, billing != "billable" {
                text +=
                    "  \(billing)" + (billingReasons.map { $0.isEmpty ? "" : ": " + $0.joined(separator: ", ") } ?? "")
            }
            if let source { text += "  from \(source)" + (mappedField.map { " (\($0))" } ?? "") }
            if let reason { text += "  \(reason)" }
            if let missedBefore { text = "(missed \(missedBefore) changes: the stream fell behind)\n" + text }
            return text
        }
    }

    /// The line for `change`, or `nil` when the filters leave it out.
    public mutating func line(for change: EventLifecycleChange) -> Line? {
        var identity: Identity?
        if let event = change.event {
            identity = (event.code, event.externalSubscriptionID, change.origin)
        } else if let payload = change.payload, let sent = Self.identity(ofPayload: payload) {
            identity = (sent.code, sent.subscription, change.origin)
        } else if let id = change.eventID {
            identity = known[id]
        } else {
            identity = knownByTransaction[change.transactionID]
        }
        let stage: String
        var line = Line(time: change.date, stage: "", transactionID: change.transactionID, eventID: change.eventID)
        switch change.stage {
        case .queued: stage = "queued"
        case .inFlight(let attempt):
            stage = "in_flight"
            line.attempt = attempt
        case .delivered: stage = "delivered"
        case .alreadyInLago: stage = "already_in_lago"
        case .retryScheduled(let attempt, let at, let reason):
            stage = "retry_scheduled"
            line.attempt = attempt
            line.retryAt = at
            line.reason = reason
        case .dead(let reason):
            stage = "dead"
            line.reason = reason.description
        case .held: stage = "held"
        case .released: stage = "released"
        case .discarded: stage = "discarded"
        }
        line.stage = stage
        line.code = identity?.code
        line.externalSubscriptionID = identity?.subscription
        if let origin = identity?.origin {
            line.source = origin.source.rawValue
            line.mappedField = origin.coding.storageText
        }
        line.httpStatus = change.httpStatus
        line.missedBefore = change.missedBefore
        if case .queued = change.stage { line.properties = change.event?.properties }
        if let verdict = change.billing {
            line.billing = verdict.status.rawValue
            line.billingReasons = verdict.reasons.map(\.rawValue)
        }
        // Remember the event until it is settled; forget it after.
        switch change.stage {
        case .delivered, .alreadyInLago, .dead, .discarded:
            if let id = change.eventID { known[id] = nil }
            knownByTransaction[change.transactionID] = nil
        default:
            if let identity {
                // Held events may stay for long: the memory stays bounded whatever the stream holds.
                if known.count > 200_000 { known.removeAll() }
                if knownByTransaction.count > 200_000 { knownByTransaction.removeAll() }
                if let id = change.eventID { known[id] = identity }
                knownByTransaction[change.transactionID] = identity
            }
        }
        if !stages.isEmpty && !stages.contains(stage) { return nil }
        if let code, line.code != code { return nil }
        if let subscription, line.externalSubscriptionID != subscription { return nil }
        return line
    }

    private static func identity(ofPayload payload: String) -> (code: String, subscription: String?)? {
        guard let value = try? JSONDecoder().decode(JSONValue.self, from: Data(payload.utf8)),
            let code = value["code"]?.stringValue
        else { return nil }
        return (code, value["external_subscription_id"]?.stringValue)
    }
}
