public import Foundation
public import LagoAPI

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

    /// Creates a dead letter value.
    public init(
        id: Int64, transactionID: String, event: EventInput?, payload: String, reason: DeadLetterReason,
        attempts: Int, enqueuedAt: Date, deadAt: Date
    ) {
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

/// Changes applied to a dead letter when it is replayed; the transaction id never changes.
public struct DeadLetterEdit: Sendable, Hashable, Codable {
    /// A new billable metric code.
    public var code: String?
    /// A new subscription.
    public var externalSubscriptionID: String?
    /// New properties (replace the old ones entirely).
    public var properties: [String: JSONValue]?

    /// Creates an edit; `nil` fields keep the event's value.
    public init(code: String? = nil, externalSubscriptionID: String? = nil, properties: [String: JSONValue]? = nil) {
        self.code = code
        self.externalSubscriptionID = externalSubscriptionID
        self.properties = properties
    }
}
