/// An error of the delivery engine.
///
/// A struct over a private kind, compared through the static ``Kind`` constants (the async-http-client
/// `HTTPClientError` pattern), so kinds can be added without breaking callers.
public struct EngineError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The kind of failure.
    public struct Kind: Sendable, Hashable, CustomStringConvertible {
        enum Base: String, Sendable, Hashable {
            case spoolFull, spoolLocked, spoolUnreadable, spoolIO, noSubscription, invalidEvent, invalidUsage
            case shutDown, deadLetterNotFound
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

    /// Recreates an error reported by an engine in another process.
    public init(kind: Kind, message: String, path: String? = nil) {
        self.init(kind, message, path: path)
    }

    init(_ kind: Kind, _ message: String, path: String? = nil) {
        self.kind = kind
        self.message = message
        self.path = path
    }

    public var description: String { message }
}
