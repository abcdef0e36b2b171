public import LagoBilling

/// An error of the delivery engine.
///
/// A struct over a private kind, compared through the static ``Kind`` constants (the async-http-client
/// `HTTPClientError` pattern), so kinds can be added without breaking callers.
public struct EngineError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The kind of failure.
    public struct Kind: Sendable, Hashable, CustomStringConvertible {
        enum Base: String, Sendable, Hashable {
            case spoolFull, spoolLocked, spoolUnreadable, spoolIO, noSubscription, invalidEvent, invalidUsage
            case shutDown, deadLetterNotFound, heldEventNotFound, unbillable
        }
        let base: Base

        /// The spool holds ``EngineConfiguration/spoolLimit`` events; the event was refused, nothing was stored.
        public static let spoolFull = Kind(base: .spoolFull)
        /// Another process holds the spool's lock file.
        public static let spoolLocked = Kind(base: .spoolLocked)
        /// The spool file is not a readable spool (corrupt, not SQLite, another program's database). Nothing was
        /// overwritten.
        public static let spoolUnreadable = Kind(base: .spoolUnreadable)
        /// Reading or writing the spool failed (disk full, I/O error).
        public static let spoolIO = Kind(base: .spoolIO)
        /// A usage record names no subscription and no default subscription is configured.
        public static let noSubscription = Kind(base: .noSubscription)
        /// The event cannot be sent to Lago as it is (empty code, non-finite number).
        public static let invalidEvent = Kind(base: .invalidEvent)
        /// The usage record cannot be turned into events (non-finite value, non-scalar dimension).
        public static let invalidUsage = Kind(base: .invalidUsage)
        /// The engine was shut down.
        public static let shutDown = Kind(base: .shutDown)
        /// No dead letter has that id.
        public static let deadLetterNotFound = Kind(base: .deadLetterNotFound)
        /// No held event has that id.
        public static let heldEventNotFound = Kind(base: .heldEventNotFound)
        /// Policy `reject`: Lago would not bill these events (``EngineError/unbillable``); nothing was stored.
        public static let unbillable = Kind(base: .unbillable)

        public var description: String { base.rawValue }

        /// The kind whose ``description`` is `name` (to carry errors across a process boundary), if any.
        public init?(name: String) {
            guard let base = Base(rawValue: name) else { return nil }
            self.base = base
        }

        init(base: Base) { self.base = base }
    }

    /// The kind of failure.
    public let kind: Kind
    /// What happened, for the operator (names the file where one is involved).
    public let message: String
    /// The spool file concerned, if any.
    public let path: String?
    /// For ``Kind/unbillable``: each refused event's index in the request and its reasons, in index order.
    public let unbillable: [UnbillableEvent]

    /// An event refused under policy `reject`.
    public struct UnbillableEvent: Sendable, Hashable, Codable {
        /// Its index in the request (0-based).
        public var index: Int
        /// Why Lago would not bill it.
        public var reasons: [BillingReason]

        /// Creates one.
        public init(index: Int, reasons: [BillingReason]) {
            self.index = index
            self.reasons = reasons
        }
    }

    /// Recreates an error reported by an engine in another process.
    public init(kind: Kind, message: String, path: String? = nil, unbillable: [UnbillableEvent] = []) {
        self.init(kind, message, path: path, unbillable: unbillable)
    }

    init(_ kind: Kind, _ message: String, path: String? = nil, unbillable: [UnbillableEvent] = []) {
        self.kind = kind
        self.message = message
        self.path = path
        self.unbillable = unbillable
    }

    public var description: String { message }
}
