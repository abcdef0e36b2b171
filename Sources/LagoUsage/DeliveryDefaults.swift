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
    /// `engine.max_in_flight`: requests at once.
    public static let maxInFlight = 4
    /// `engine.spool_limit`: events the spool holds before it refuses more.
    public static let spoolLimit = 10_000_000
    /// `engine.request_timeout`: how long one request may take.
    public static let requestTimeout = Duration.seconds(10)
    /// `engine.max_retry_backoff`: the longest wait between two attempts.
    public static let maxRetryBackoff = Duration.seconds(30)
}
