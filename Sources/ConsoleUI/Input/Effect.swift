public import LagoAPI
public import LagoUsage

/// Which request an effect's result answers: the reducer numbers every effect it asks for, so a failure clears the
/// spinner of its own request and no other.
public struct RequestID: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The number, counting from 1 in one console session.
    public let rawValue: Int

    /// Creates an id.
    public init(_ rawValue: Int) {
        self.rawValue = rawValue
    }

    /// Orders ids by their number (older requests first).
    public static func < (lhs: RequestID, rhs: RequestID) -> Bool { lhs.rawValue < rhs.rawValue }

    /// `#n`.
    public var description: String { "#\(rawValue)" }
}

/// An effect with the id its results carry (``ConsoleEvent/operationFailed(_:_:)``,
/// ``ConsoleEvent/operationSucceeded(_:_:)``).
public struct EffectRequest: Sendable, Hashable {
    /// The request's id.
    public let id: RequestID
    /// What to do.
    public let effect: Effect

    /// Creates a request.
    public init(id: RequestID, effect: Effect) {
        self.id = id
        self.effect = effect
    }
}

/// Work the reducer asks the wiring layer to do; results come back as ``ConsoleEvent``s.
///
/// Effects are returned in the order they must run, each in an ``EffectRequest``. None of them blocks the reducer:
/// the wiring starts each one and feeds its outcome back (``ConsoleEvent/flushFinished(_:)``,
/// ``ConsoleEvent/operationFailed(_:_:)`` with the request's id…).
public enum Effect: Sendable, Hashable {
    /// Deliver every pending event now; answer with ``ConsoleEvent/flushFinished(_:)``.
    case flush
    /// Send canonical usage (one event per non-zero field, codes from the mappings); answer with
    /// ``ConsoleEvent/sendAccepted(transactionIDs:)`` or ``ConsoleEvent/sendFailed(_:)``.
    case sendUsage(UsageDraft)
    /// Send one raw event; answer with ``ConsoleEvent/sendAccepted(transactionIDs:)`` or
    /// ``ConsoleEvent/sendFailed(_:)``.
    case sendEvent(EventDraft)
    /// Write a metric code for a canonical field to the config; answer with
    /// ``ConsoleEvent/mappingSaved(field:code:)`` or ``ConsoleEvent/operationFailed(_:_:)``.
    case saveMapping(field: CanonicalField, code: String)
    /// Check that the subscription exists in Lago and write it as the default; answer with
    /// ``ConsoleEvent/subscriptionSaved(_:)`` or ``ConsoleEvent/operationFailed(_:_:)``.
    case saveDefaultSubscription(String)
    /// Read the event back from Lago (`GET /events/{transaction_id}`); answer with
    /// ``ConsoleEvent/verifyFinished(transactionID:result:)``.
    case verify(transactionID: String)
    /// List Lago's billable metrics; answer with ``ConsoleEvent/mappingsChecked(_:)``.
    case checkMappings
    /// List Lago's active subscriptions; answer with ``ConsoleEvent/subscriptionsLoaded(_:)``.
    case loadSubscriptions
    /// Queue a dead letter again, with the operator's edits if any; answer with
    /// ``ConsoleEvent/operationSucceeded(_:_:)`` or ``ConsoleEvent/operationFailed(_:_:)``.
    case replayDeadLetter(id: String, edits: DeadLetterEdits?)
    /// Delete a dead letter for good (the operator confirmed); answer like a replay.
    case discardDeadLetter(id: String)
    /// Queue a held event (the engine checks it again); answer with ``ConsoleEvent/heldReleased(_:_:)`` or
    /// ``ConsoleEvent/operationFailed(_:_:)``.
    case releaseHeld(id: String)
    /// Delete a held event for good (the operator confirmed); answer like a discarded dead letter.
    case discardHeld(id: String)
    /// Read Lago's billable metrics and subscriptions again now; the new catalogue comes as
    /// ``ConsoleEvent/catalogueChanged(metrics:status:)``.
    case refreshCatalogue
    /// Read the subscription's current usage from Lago (its customer's `current_usage`); answer with
    /// ``ConsoleEvent/usageRead(subscriptionID:result:)``.
    case readUsage(subscriptionID: String)
    /// End the engine's backoff and retry now (after fixing the key or when Lago is back).
    case retryNow
    /// Put text on the clipboard (OSC 52 or a pasteboard tool); plain text, no box characters.
    case copy(String)
    /// Leave the console, flushing pending events first when `flushFirst` is true: the wiring then flushes while
    /// the console goes on (answering with ``ConsoleEvent/quitFlushProgress(pending:)`` and, at the end,
    /// ``ConsoleEvent/quitFlushFinished(_:)``, after which the reducer asks to quit without flushing; Ctrl-C
    /// quits at once). With `false` the wiring leaves at once. The wiring restores the terminal in every case;
    /// pending events stay in the engine's durable queue when not flushed.
    case quit(flushFirst: Bool)
}

/// Canonical usage typed in the send-test pane.
public struct UsageDraft: Sendable, Hashable {
    /// Token (or call) counts per canonical field; only fields the operator filled in, all non-negative.
    public var values: [CanonicalField: Int64]
    /// Extra properties (`k=v` dimensions such as `model=gpt-4o`).
    public var dimensions: [String: String]
    /// The subscription to bill: the one typed, else the default subscription.
    public var externalSubscriptionID: String?

    /// Creates a usage draft.
    public init(values: [CanonicalField: Int64], dimensions: [String: String], externalSubscriptionID: String?) {
        self.values = values
        self.dimensions = dimensions
        self.externalSubscriptionID = externalSubscriptionID
    }
}

/// A raw event typed in the send-test pane or on the command line.
public struct EventDraft: Sendable, Hashable {
    /// The transaction id, or `nil` to let the wiring generate a unique one.
    public var transactionID: String?
    /// The billable metric code.
    public var code: String
    /// The subscription to bill.
    public var externalSubscriptionID: String?
    /// The properties.
    public var properties: [String: JSONValue]
    /// Unix seconds, or `nil` for "now".
    public var timestamp: Double?

    /// Creates an event draft.
    public init(
        transactionID: String? = nil, code: String, externalSubscriptionID: String?,
        properties: [String: JSONValue] = [:], timestamp: Double? = nil
    ) {
        self.transactionID = transactionID
        self.code = code
        self.externalSubscriptionID = externalSubscriptionID
        self.properties = properties
        self.timestamp = timestamp
    }
}

/// The operator's corrections to a dead letter before it is replayed (same transaction id).
public struct DeadLetterEdits: Sendable, Hashable {
    /// The billable metric code.
    public var code: String
    /// The subscription to bill.
    public var externalSubscriptionID: String?
    /// The properties.
    public var properties: [String: JSONValue]
    /// A new transaction id (`nil`: keep it, so Lago deduplicates a copy it already holds).
    public var transactionID: String?

    /// Creates edits.
    public init(
        code: String, externalSubscriptionID: String?, properties: [String: JSONValue], transactionID: String? = nil
    ) {
        self.code = code
        self.externalSubscriptionID = externalSubscriptionID
        self.properties = properties
        self.transactionID = transactionID
    }
}
