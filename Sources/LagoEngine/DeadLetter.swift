public import Foundation
public import LagoAPI
public import LagoBilling
public import LagoUsage

/// Why an event was taken out of delivery, in Lago's own words where Lago gave a reason.
public struct DeadLetterReason: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The class of reason.
    public struct Kind: RawRepresentable, Sendable, Hashable, Codable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }

        /// Lago refused this event (a 422 entry for its index, e.g. `{"timestamp":["invalid_format"]}`).
        public static let rejected = Kind(rawValue: "rejected")
        /// Lago refused the request and the event alone still fails (400, other 4xx).
        public static let requestRefused = Kind(rawValue: "request_refused")
        /// The event waited longer than ``EngineConfiguration/maxEventAge``.
        public static let expired = Kind(rawValue: "expired")
        /// Sent alone, the event is still larger than the server (or a proxy in front of it) accepts: HTTP 413.
        public static let tooLarge = Kind(rawValue: "too_large")
        /// The spool's copy of the event no longer matches the checksum stored with it (damaged on disk); it was
        /// never sent.
        public static let spoolDamaged = Kind(rawValue: "spool_damaged")

        public var description: String { rawValue }
    }

    /// The class of reason.
    public var kind: Kind
    /// The HTTP status Lago answered, if any.
    public var status: Int?
    /// Lago's `code` (e.g. `validation_errors`).
    public var code: String?
    /// Lago's `error` (e.g. `Unprocessable Entity`).
    public var error: String?
    /// The `error_details` entry for this event (for a batch: the value under its index), or the whole
    /// `error_details` when the request as a whole was refused.
    public var details: JSONValue?
    /// One line for the operator.
    public var message: String

    /// Creates a reason.
    public init(
        kind: Kind, status: Int? = nil, code: String? = nil, error: String? = nil, details: JSONValue? = nil,
        message: String
    ) {
        self.kind = kind
        self.status = status
        self.code = code
        self.error = error
        self.details = details
        self.message = message
    }

    /// The reason for an expired event.
    public static let expired = DeadLetterReason(kind: .expired, message: "expired")

    public var description: String { message }
}

/// An event taken out of delivery, kept for the operator to inspect, replay or discard.
public struct DeadLetter: Sendable, Hashable, Identifiable, Codable {
    /// The dead letter's id in the spool.
    public var id: Int64
    /// The event's transaction id (kept on replay).
    public var transactionID: String
    /// The event as it was sent (`nil` only if the stored JSON could not be decoded; see ``payload``).
    public var event: EventInput?
    /// The exact JSON object that was sent.
    public var payload: String
    /// Why the event is here.
    public var reason: DeadLetterReason
    /// How many requests carried the event.
    public var attempts: Int
    /// When the event was enqueued.
    public var enqueuedAt: Date
    /// When it was dead-lettered.
    public var deadAt: Date
    /// Where the event came from and what coded it (`nil` for events accepted before spool schema version 5).
    public var origin: EventOrigin?

    /// Creates a dead letter value.
    public init(
        id: Int64, transactionID: String, event: EventInput?, payload: String, reason: DeadLetterReason,
        attempts: Int, enqueuedAt: Date, deadAt: Date, origin: EventOrigin? = nil
    ) {
        self.origin = origin
        self.id = id
        self.transactionID = transactionID
        self.event = event
        self.payload = payload
        self.reason = reason
        self.attempts = attempts
        self.enqueuedAt = enqueuedAt
        self.deadAt = deadAt
    }
}

/// Changes applied to a dead letter when it is replayed. Fields equal to the event's own are left as they are
/// (byte for byte); only what differs is rewritten.
public struct DeadLetterEdit: Sendable, Hashable, Codable {
    /// A new billable metric code.
    public var code: String?
    /// A new subscription.
    public var externalSubscriptionID: String?
    /// New properties (replace the old ones entirely).
    public var properties: [String: JSONValue]?
    /// A new transaction id: the event is then a new one for Lago (replay under it when Lago holds a different
    /// event under the old id). `nil` keeps the id, so Lago deduplicates a copy it already has.
    public var transactionID: String?

    /// Creates an edit; `nil` fields keep the event's value.
    public init(
        code: String? = nil, externalSubscriptionID: String? = nil, properties: [String: JSONValue]? = nil,
        transactionID: String? = nil
    ) {
        self.code = code
        self.externalSubscriptionID = externalSubscriptionID
        self.properties = properties
        self.transactionID = transactionID
    }

    /// Only the fields that change `event`; `nil` when none does.
    func changes(to event: EventInput?) -> DeadLetterEdit? {
        var edit = self
        if let event {
            if edit.code == event.code { edit.code = nil }
            if edit.externalSubscriptionID == event.externalSubscriptionID { edit.externalSubscriptionID = nil }
            if let properties = edit.properties,
                JSONValue.object(properties).isNumericallyEqual(.object(event.properties))
            {
                edit.properties = nil
            }
            if edit.transactionID == event.transactionID { edit.transactionID = nil }
        }
        let empty =
            edit.code == nil && edit.externalSubscriptionID == nil && edit.properties == nil
            && edit.transactionID == nil
        return empty ? nil : edit
    }

    /// `event` with the edit applied.
    func applied(to event: EventInput) -> EventInput {
        var event = event
        if let code { event.code = code }
        if let externalSubscriptionID { event.externalSubscriptionID = externalSubscriptionID }
        if let properties { event.properties = properties }
        if let transactionID { event.transactionID = transactionID }
        return event
    }

    /// Why the edit cannot be applied (a code or id the console would refuse), or `nil`.
    var problem: String? {
        if let code, let problem = EventRules.metricCodeProblem(code) { return "code \(code): \(problem)" }
        if let id = externalSubscriptionID, let problem = EventRules.identifierProblem(id) {
            return "external_subscription_id \(id): \(problem)"
        }
        if let id = transactionID, let problem = EventRules.identifierProblem(id) {
            return "transaction_id \(id): \(problem)"
        }
        return nil
    }
}

/// What replaying a dead letter did (``LagoEngine/replayDeadLetter(id:edit:)``).
public enum ReplayResult: Sendable, Hashable, Codable {
    /// Back in the queue (Lago holds no event under its transaction id, or could not be asked: then Lago's answer
    /// decides as for any event).
    case queued(transactionID: String)
    /// Lago already holds this very event (same code, subscription, timestamp, properties and amount): nothing is
    /// sent; the dead letter is settled as already in Lago.
    case alreadyInLago(transactionID: String)
    /// Lago holds a different event under this transaction id: nothing changed. Both are here, with what differs;
    /// replay with ``DeadLetterEdit/transactionID`` set to bill this one as a new event.
    case differsInLago(transactionID: String, inLago: LagoEvent, replayed: EventInput, differences: [String])

    /// The transaction id concerned.
    public var transactionID: String {
        switch self {
        case .queued(let id), .alreadyInLago(let id), .differsInLago(let id, _, _, _): id
        }
    }
}

extension JSONValue {
    /// Equal as JSON values, numbers compared by value (`5` and `5.0` are equal; Lago may store either).
    func isNumericallyEqual(_ other: JSONValue) -> Bool {
        switch (self, other) {
        case (.object(let left), .object(let right)):
            left.count == right.count
                && left.allSatisfy { key, value in right[key].map { value.isNumericallyEqual($0) } ?? false }
        case (.array(let left), .array(let right)):
            left.count == right.count && zip(left, right).allSatisfy { $0.isNumericallyEqual($1) }
        case (.bigInteger, _), (_, .bigInteger):
            self == other  // every digit counts
        default:
            if let left = doubleValue, let right = other.doubleValue { left == right } else { self == other }
        }
    }
}

/// What releasing a held event did: it is queued, with the verdict of its second check.
public struct HeldRelease: Sendable, Hashable, Codable {
    // Lago's snake_case names in --json and on the control API.
    enum CodingKeys: String, CodingKey {
        case billing
        case transactionID = "transaction_id"
    }

    /// Its transaction id.
    public var transactionID: String
    /// Whether Lago will bill it now.
    public var billing: BillingVerdict

    /// Creates one.
    public init(transactionID: String, billing: BillingVerdict) {
        self.transactionID = transactionID
        self.billing = billing
    }
}

/// An event kept out of delivery because Lago would not bill it (policy `hold`): the operator fixes the code or
/// the subscription in Lago, then releases it (checked again, then queued with its bytes unchanged) or discards it.
public struct HeldEvent: Sendable, Hashable, Identifiable, Codable {
    /// Its id in the held list.
    public var id: Int64
    /// The event's transaction id.
    public var transactionID: String
    /// The event, parsed (`nil` if its bytes are not a readable event).
    public var event: EventInput?
    /// The exact JSON object that will be sent.
    public var body: [UInt8]
    /// The verdict that held it.
    public var verdict: BillingVerdict
    /// When it was accepted.
    public var enqueuedAt: Date
    /// Where the event came from and what coded it (`nil` for events accepted before spool schema version 5).
    public var origin: EventOrigin?

    /// The JSON object as text.
    public var payload: String { String(decoding: body, as: UTF8.self) }

    /// Creates a held event (the spool reads them; remote engines rebuild them).
    public init(
        id: Int64, transactionID: String, event: EventInput?, body: [UInt8], verdict: BillingVerdict, enqueuedAt: Date,
        origin: EventOrigin? = nil
    ) {
        self.origin = origin
        self.id = id
        self.transactionID = transactionID
        self.event = event
        self.body = body
        self.verdict = verdict
        self.enqueuedAt = enqueuedAt
    }
}
