/// The delivery engine's defaults, in one place: `EngineConfiguration` (LagoEngine) and the config file's `[engine]`
/// section (LagoConfig) both take them from here, so an empty config file configures the engine exactly as the
/// engine's own defaults do.
public enum DeliveryDefaults {
    /// `engine.flush_interval`: how long a partial batch waits.
    public static let flushInterval = Duration.seconds(1)
    /// `engine.max_batch_size`: events per request (Lago takes at most 100).
    public static let maxBatchSize = 100
    /// `engine.max_batch_bytes`: the largest request body (1 MiB).
    public static let maxBatchBytes = 1 << 20
    /// `engine.max_in_flight`: requests at once; `auto` lets the engine find Lago's limit by itself.
    public static let maxInFlight = InFlightLimit.auto
    /// `engine.min_in_flight`: the floor of the adaptive limit.
    public static let minInFlight = 1
    /// `engine.max_in_flight_limit`: the ceiling of the adaptive limit (and the HTTP connection pool's size).
    public static let maxInFlightLimit = 64
    /// Where the adaptive limit starts: the fixed default of earlier versions.
    public static let initialInFlight = 4
    /// `engine.spool_limit`: events the spool holds before it refuses more.
    public static let spoolLimit = 10_000_000
    /// `engine.request_timeout`: how long one request may take.
    public static let requestTimeout = Duration.seconds(10)
    /// `engine.max_retry_backoff`: the longest wait between two attempts.
    public static let maxRetryBackoff = Duration.seconds(30)
}

/// How many batch requests the engine keeps in flight: `engine.max_in_flight`.
public enum InFlightLimit: Sendable, Hashable, ExpressibleByIntegerLiteral, CustomStringConvertible {
    /// Adaptive: the engine raises the limit while Lago answers as fast as before and lowers it on back-pressure,
    /// between `engine.min_in_flight` and `engine.max_in_flight_limit`.
    case auto
    /// Exactly this many (at least 1).
    case fixed(Int)

    /// A fixed limit written as a number.
    public init(integerLiteral value: Int) { self = .fixed(value) }

    /// `auto` or the number, as the config file spells it.
    public var description: String {
        switch self {
        case .auto: "auto"
        case .fixed(let count): "\(count)"
        }
    }

    /// The fixed number, or `nil` for `auto`.
    public var fixedCount: Int? {
        if case .fixed(let count) = self { return count }
        return nil
    }
}
