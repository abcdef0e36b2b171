public import Foundation
public import LagoBilling
public import LagoUsage
public import Metrics

/// How hard the spool pushes a commit to disk before `enqueue` returns.
public enum SpoolSynchronousMode: String, Sendable, Hashable, CaseIterable {
    /// `PRAGMA synchronous = NORMAL` in WAL mode: a committed event survives a crash of the process (the commit is
    /// in the operating system's page cache) but may be lost if the machine loses power before the next WAL
    /// checkpoint. Fast: no `fsync` per commit. The default.
    case normal
    /// `PRAGMA synchronous = FULL`: every commit is `fsync`ed, so an acknowledged event also survives power loss.
    /// Each group commit then costs one disk flush (hundreds of microseconds to milliseconds).
    case full
}

/// Settings of a ``LagoEngine``; the console maps its config store onto this, any Swift program can fill it in.
public struct EngineConfiguration: Sendable {
    /// The SQLite file holding undelivered events and dead letters; `<spoolPath>.lock` is its lock file.
    public var spoolPath: String
    /// How long an event may wait for a batch to fill before a partial batch is sent.
    public var flushInterval: Duration
    /// Events per request, at most 100 (Lago's limit).
    public var maxBatchSize: Int
    /// Bytes of event JSON per request; an event larger than this goes alone.
    public var maxBatchBytes: Int
    /// Requests in flight at once: `.auto` (the default) adapts the limit to Lago's answers between
    /// ``minInFlight`` and ``maxInFlightLimit``; a number fixes it.
    public var maxInFlight: InFlightLimit
    /// The floor of the adaptive limit.
    public var minInFlight: Int = DeliveryDefaults.minInFlight
    /// The ceiling of the adaptive limit; the engine's own HTTP client keeps at most this many connections.
    public var maxInFlightLimit: Int = DeliveryDefaults.maxInFlightLimit
    /// Undelivered events the spool may hold; further `enqueue` calls are refused with
    /// ``EngineError/spoolFull`` (never a silent drop).
    public var spoolLimit: Int
    /// The deadline of one request (used when the engine creates its own ``LagoClient``).
    public var requestTimeout: Duration
    /// The first retry of a batch waits a random time in `0...retryBase` (full jitter); each further one doubles.
    public var retryBase: Duration
    /// The longest backoff between two tries of a batch (the server's `Retry-After` may ask for longer).
    public var maxRetryBackoff: Duration
    /// While batches back off, one is sent early as a probe at most this often, so delivery resumes soon after
    /// Lago recovers (never earlier than the server asked).
    public var probeInterval: Duration
    /// While sending is on hold (Lago refused the key, or the URL leads to no Lago), one batch is sent this often
    /// as a probe; when Lago takes it, delivery resumes by itself.
    public var holdProbeInterval: Duration = .seconds(30)
    /// Events older than this (since enqueue) are dead-lettered with reason `expired` instead of sent; `nil`: never.
    public var maxEventAge: Duration?
    /// Durability of an acknowledged `enqueue`.
    public var synchronousMode: SpoolSynchronousMode
    /// The subscription of usage records that name none.
    public var defaultSubscription: String?
    /// The billable metric code of each canonical usage field; a missing field uses
    /// ``LagoUsage/CanonicalField/defaultMetricCode``.
    public var metricCodes: [CanonicalField: String]
    /// Lifecycle changes buffered per subscriber of ``LagoEngine/lifecycleEvents(bufferSize:)`` by default.
    public var lifecycleBufferSize: Int
    /// How long the (subscription, transaction id) of an event enqueued with deduplication (the relay's) is
    /// remembered: a second event with the same pair within it is refused as Lago's Postgres store refuses it.
    public var dedupWindow: Duration = .seconds(7 * 24 * 3600)
    /// The most pairs the dedup index keeps; past it the oldest are forgotten first (about 100 bytes of spool
    /// each). A duplicate older than what the index holds reaches Lago, which refuses it itself.
    public var dedupMaxEntries: Int = 1_000_000
    /// Where the engine reports its metrics (see ``EngineMetrics``); `nil` uses the process-wide
    /// `MetricsSystem.factory` (a no-op until the program bootstraps one).
    public var metricsFactory: (any MetricsFactory)? = nil
    /// Checks each event as it is accepted: whether Lago will bill it (`nil`: no check, every event `unchecked`).
    public var billingChecker: (any BillingChecker)? = nil
    /// What happens to an event the check calls unbillable (config `billing.unbillable`).
    public var unbillablePolicy: UnbillablePolicy = .forward

    /// Creates a configuration with the product's defaults.
    public init(
        spoolPath: String,
        flushInterval: Duration = DeliveryDefaults.flushInterval,
        maxBatchSize: Int = DeliveryDefaults.maxBatchSize,
        maxBatchBytes: Int = DeliveryDefaults.maxBatchBytes,
        maxInFlight: InFlightLimit = DeliveryDefaults.maxInFlight,
        spoolLimit: Int = DeliveryDefaults.spoolLimit,
        requestTimeout: Duration = DeliveryDefaults.requestTimeout,
        retryBase: Duration = .seconds(1),
        maxRetryBackoff: Duration = DeliveryDefaults.maxRetryBackoff,
        probeInterval: Duration = .milliseconds(1500),
        maxEventAge: Duration? = nil,
        synchronousMode: SpoolSynchronousMode = .normal,
        defaultSubscription: String? = nil,
        metricCodes: [CanonicalField: String] = [:],
        lifecycleBufferSize: Int = 10_000
    ) {
        self.spoolPath = spoolPath
        self.flushInterval = flushInterval
        self.maxBatchSize = maxBatchSize
        self.maxBatchBytes = maxBatchBytes
        self.maxInFlight = maxInFlight
        self.spoolLimit = spoolLimit
        self.requestTimeout = requestTimeout
        self.retryBase = retryBase
        self.maxRetryBackoff = maxRetryBackoff
        self.probeInterval = probeInterval
        self.maxEventAge = maxEventAge
        self.synchronousMode = synchronousMode
        self.defaultSubscription = defaultSubscription
        self.metricCodes = metricCodes
        self.lifecycleBufferSize = lifecycleBufferSize
    }

    /// The configuration with out-of-range values brought into range (batch size 1...100, at least one request in
    /// flight, non-negative durations).
    var normalized: EngineConfiguration {
        var copy = self
        copy.maxBatchSize = min(max(1, maxBatchSize), 100)
        copy.maxBatchBytes = max(1, maxBatchBytes)
        if case .fixed(let count) = maxInFlight { copy.maxInFlight = .fixed(max(1, count)) }
        copy.minInFlight = max(1, minInFlight)
        copy.maxInFlightLimit = max(copy.minInFlight, maxInFlightLimit)
        copy.spoolLimit = max(1, spoolLimit)
        copy.lifecycleBufferSize = max(1, lifecycleBufferSize)
        copy.dedupMaxEntries = max(1, dedupMaxEntries)
        if dedupWindow < .zero { copy.dedupWindow = .zero }
        if retryBase < .zero { copy.retryBase = .zero }
        if maxRetryBackoff < retryBase { copy.maxRetryBackoff = copy.retryBase }
        if probeInterval < .milliseconds(1) { copy.probeInterval = .milliseconds(1) }
        if holdProbeInterval < .milliseconds(1) { copy.holdProbeInterval = .milliseconds(1) }
        if flushInterval < .zero { copy.flushInterval = .zero }
        return copy
    }

    /// The most requests in flight at once: the fixed number, or the adaptive limit's ceiling.
    public var requestsInFlightAtMost: Int {
        switch maxInFlight {
        case .fixed(let count): max(1, count)
        case .auto: max(max(1, minInFlight), maxInFlightLimit)
        }
    }

    /// The concurrency limit's settings.
    var concurrency: ConcurrencyController.Settings {
        switch maxInFlight {
        case .fixed(let count): .fixed(count)
        case .auto:
            .adaptive(floor: minInFlight, ceiling: maxInFlightLimit, initial: DeliveryDefaults.initialInFlight)
        }
    }

    /// The metric code for a field under this configuration.
    public func metricCode(for field: CanonicalField) -> String {
        metricCodes[field] ?? field.defaultMetricCode
    }
}

/// The time source of the engine: monotonic instants for scheduling, wall-clock dates for what operators read.
public protocol EngineClock: Sendable {
    /// The current monotonic instant.
    func now() -> ContinuousClock.Instant
    /// The current wall-clock time.
    func wallNow() -> Date
    /// Suspends until `deadline`.
    /// - Throws: `CancellationError` when the task is cancelled.
    func sleep(until deadline: ContinuousClock.Instant) async throws
}

/// The real clocks.
public struct SystemEngineClock: EngineClock {
    /// Creates the system clock.
    public init() {}
    public func now() -> ContinuousClock.Instant { ContinuousClock.now }
    public func wallNow() -> Date { Date() }
    public func sleep(until deadline: ContinuousClock.Instant) async throws {
        try await ContinuousClock().sleep(until: deadline, tolerance: .milliseconds(1))
    }
}

extension EngineClock {
    /// The wall-clock date of a monotonic instant.
    func date(of instant: ContinuousClock.Instant) -> Date {
        let offset = instant - now()
        return wallNow().addingTimeInterval(offset / .seconds(1))
    }
}

extension Duration {
    /// A duration from seconds, for computed values: zero when not positive (or not a number), at most 10⁹ s.
    static func seconds(clamping value: Double) -> Duration {
        guard value.isFinite, value > 0 else { return .zero }
        return .seconds(min(value, 1e9))
    }
}
