public import Foundation
import LagoAPI
public import LagoBilling

/// What the engine is doing, in one word.
public enum EngineState: String, Sendable, Hashable, Codable {
    /// Delivering.
    case running
    /// Paused by the operator; events are still accepted and spooled.
    case paused
    /// Lago refused the API key (401/403): nothing is sent but a probe every
    /// ``EngineConfiguration/holdProbeInterval``, until Lago takes one, the key changes or ``LagoEngine/retryNow()``.
    case authFailed
    /// The URL answers 404 for Lago's events route (a wrong `lago.api_url` or proxy route): held like
    /// ``authFailed``, with its own reason.
    case wrongURL
    /// Requests fail with "try later": batches back off while a probe checks for recovery.
    case backingOff
    /// Shut down.
    case stopped
}

/// A batch waiting to be tried again.
public struct RetryingBatch: Sendable, Hashable, Codable {
    /// Events in the batch.
    public var eventCount: Int
    /// The number of the next try (2 = first retry).
    public var attempt: Int
    /// When it is tried next (a probe or a recovery may send it earlier; a server's `Retry-After` never).
    public var nextRetry: Date
    /// Why the last try failed.
    public var reason: String
}

/// Delivered events per second over recent windows.
public struct DeliveryRates: Sendable, Hashable, Codable {
    /// Over the last second.
    public var lastSecond: Double
    /// Over the last 10 seconds.
    public var last10Seconds: Double
    /// Over the last 60 seconds.
    public var lastMinute: Double
}

/// The last time a failing Lago came back.
public struct RecoveryRecord: Sendable, Hashable, Codable {
    /// When the first request failed with "try later".
    public var failingSince: Date
    /// When the last failing request finished.
    public var lastFailureAt: Date
    /// When the first request succeeded again (every waiting batch was released at that moment).
    public var recoveredAt: Date
}

/// Counts of refused `enqueue` calls, by reason (events for spool-full and invalid events, records for
/// no-subscription).
public struct RefusalCounts: Sendable, Hashable, Codable {
    /// Refused because the spool held ``EngineConfiguration/spoolLimit`` events.
    public var spoolFull = 0
    /// Usage records refused because neither they nor the configuration named a subscription.
    public var noSubscription = 0
    /// Events or usage records that could not be encoded (empty code, non-finite number, bad dimension).
    public var invalid = 0
    /// Events refused under policy `reject` because Lago would not bill them.
    public var unbillable = 0

    /// All refusals.
    public var total: Int { spoolFull + noSubscription + invalid + unbillable }
}

/// What the billing check found in the events the engine accepted, and where they are.
public struct EngineBillingStats: Sendable, Hashable, Codable {
    /// A check runs on every accepted event (without one, every event is `unchecked`).
    public var checking = false
    /// What happens to unbillable events.
    public var policy = UnbillablePolicy.forward
    /// Events accepted since the engine started, by verdict (held ones included, refused ones not).
    public var accepted = BillingCounts()
    /// Events in the spool now (queued, in flight or retrying), by the verdict they were accepted with.
    public var spooled = BillingCounts()
    /// Events in the held list now, by verdict.
    public var held = BillingCounts()
    /// The catalogue the check reads: its age and last error (`nil` without a check).
    public var catalogue: BillingCatalogueStatus?
    /// What Lago itself reported afterwards (its `events.errors` and `event.error` webhooks), beside our
    /// prediction (`nil`: the spool could not be read, or an engine of an earlier release).
    public var lago: LagoConfirmedStats?

    /// No events.
    public init() {}
}

/// A snapshot of the engine for the console.
public struct EngineStats: Sendable, Hashable, Codable {
    /// What the engine is doing.
    public var state: EngineState
    /// Undelivered events waiting for a request: in the spool, neither in flight nor in a batch backing off.
    public var queued: Int
    /// Events carried by requests in flight.
    public var inFlight: Int
    /// Events in batches backing off before their next try (``retryingBatches``).
    public var retrying: Int
    /// Every undelivered event in the spool, each counted once: ``queued`` + ``inFlight`` + ``retrying``.
    public var pending: Int { queued + inFlight + retrying }
    /// Events stored by Lago since this engine started.
    public var delivered: Int
    /// Events Lago already had (an earlier unanswered try had stored them) since this engine started.
    public var alreadyInLago: Int
    /// Dead letters in the spool.
    public var dead: Int
    /// Events dead-lettered since this engine started.
    public var deadSinceStart: Int
    /// Refused enqueues since this engine started.
    public var refused: RefusalCounts
    /// Batches backing off.
    public var retryingBatches: [RetryingBatch]
    /// Age of the oldest undelivered event.
    public var oldestQueuedAge: Duration?
    /// Delivery rates (delivered and already-in-Lago events).
    public var eventsPerSecond: DeliveryRates
    /// Median request latency over the last requests.
    public var requestLatencyP50: Duration?
    /// 99th percentile request latency over the last requests.
    public var requestLatencyP99: Duration?
    /// Requests sent since start.
    public var requests: Int
    /// Requests that failed (any error) since start.
    public var failedRequests: Int
    /// Why sending is on hold (``EngineState/authFailed``, ``EngineState/wrongURL``), in Lago's words.
    public var holdReason: String?
    /// The last error, in Lago's words.
    public var lastError: String?
    /// When the last error happened.
    public var lastErrorAt: Date?
    /// The last spool write that failed, in plain words with the file (`spool write failed: disk full
    /// (/path/spool.sqlite)`); `nil` again once events are stored or settled (delivered, dead-lettered) after it. A
    /// relay answers 503 while writes fail.
    public var spoolError: String?
    /// When that write failed.
    public var spoolErrorAt: Date?
    /// The last recovery from a failing Lago.
    public var lastRecovery: RecoveryRecord?
    /// The server asked for no request before this time.
    public var notBefore: Date?
    /// Lifecycle changes that slow subscribers missed (their buffer was full).
    public var lifecycleChangesMissed: Int
    /// Billing verdicts of the events accepted, spooled and held.
    public var billing = EngineBillingStats()
    /// Requests in flight now (batches, not events).
    public var requestsInFlight: Int? = nil
    /// Requests allowed in flight now: the adaptive limit (`engine.max_in_flight = "auto"`) or the fixed number.
    public var concurrencyLimit: Int? = nil
    /// Whether the limit adapts (`auto`).
    public var adaptiveConcurrency: Bool? = nil
    /// The moving average of the round trip of the requests Lago took, once one was.
    public var roundTripAverage: Duration? = nil
    /// Requests left in Lago's rate-limit window (`X-RateLimit-Remaining`, less the requests sent since), when Lago
    /// sends the header.
    public var rateLimitRemaining: Int? = nil
    /// Lago's requests per window (`X-RateLimit-Limit`), when it sends the header.
    public var rateLimitLimit: Int? = nil
    /// The API root the engine delivers to now (it follows a changed `lago.api_url`).
    public var lagoURL: String? = nil
    /// The API key it delivers with, masked (`••••1234`; it follows a changed `lago.api_key`).
    public var maskedKey: String? = nil
}

/// Counters shared by the engine's tasks.
struct StatsCounters: Sendable {
    var queued = 0  // rows in the spool (including in flight)
    var reserved = 0  // enqueues accepted but not yet committed
    var delivered = 0
    var alreadyInLago = 0
    var dead = 0
    var deadSinceStart = 0
    var refused = RefusalCounts()
    /// Events accepted since start, spooled now, held now, by verdict (``EngineBillingStats``).
    var acceptedVerdicts = BillingCounts()
    var spooledVerdicts = BillingCounts()
    var heldVerdicts = BillingCounts()
    var requests = 0
    var failedRequests = 0
    var lastError: String?
    var lastErrorAt: Date?
    /// The last failed spool write (``EngineStats/spoolError``), until a write succeeds.
    var spoolError: String?
    var spoolErrorAt: Date?
    var latencies = LatencyWindow()
    var rates = RateMeter()
    /// What the flusher loop last published, under the same lock as the counts (the loop applies settlements as it
    /// publishes): ``LagoEngine/stats()`` reads one snapshot, where every spooled event is in exactly one place
    /// (queued, in flight or retrying) and the state matches the counts.
    var loop = LoopView()
}

/// The flusher loop's state as ``LagoEngine/stats()`` shows it.
struct LoopView: Sendable {
    /// Events in requests now.
    var inFlight = 0
    var retrying: [RetryingBatch] = []
    var paused = false
    var hold: BatchOutcome.Hold?
    var backingOff = false
    var notBefore: Date?
    var lastRecovery: RecoveryRecord?
    var requestsInFlight = 0
    var concurrencyLimit = 0
    var adaptiveConcurrency = false
    var roundTripAverage: Duration?
    var rateLimitRemaining: Int?
    var rateLimitLimit: Int?
}

/// The last 2,048 request latencies.
struct LatencyWindow: Sendable {
    private var samples: [Int64] = []
    private var next = 0
    private let capacity = 2048

    mutating func record(_ duration: Duration) {
        let nanoseconds = Int64((duration / .nanoseconds(1)).rounded())
        if samples.count < capacity {
            samples.append(nanoseconds)
        } else {
            samples[next] = nanoseconds
            next = (next + 1) % capacity
        }
    }

    func percentile(_ fraction: Double) -> Duration? {
        Percentile.nearestRank(samples.sorted(), fraction).map { .nanoseconds($0) }
    }
}

/// Events per 100 ms bucket over the last minute.
struct RateMeter: Sendable {
    private var buckets = [Int](repeating: 0, count: 600)
    private var lastBucket: Int64 = 0
    private let origin = ContinuousClock.now

    private func bucket(_ instant: ContinuousClock.Instant) -> Int64 {
        let elapsed = instant - origin
        return Int64((elapsed / .milliseconds(100)).rounded(.down))
    }

    private mutating func advance(to bucket: Int64) {
        guard bucket > lastBucket else { return }
        if bucket - lastBucket >= Int64(buckets.count) {
            for index in buckets.indices { buckets[index] = 0 }
        } else {
            var step = lastBucket + 1
            while step <= bucket {
                buckets[Int(step % Int64(buckets.count))] = 0
                step += 1
            }
        }
        lastBucket = bucket
    }

    mutating func record(_ count: Int, at instant: ContinuousClock.Instant) {
        let bucket = self.bucket(instant)
        advance(to: bucket)
        buckets[Int(max(bucket, lastBucket) % Int64(buckets.count))] += count
    }

    /// Events per second over the last `tenths` buckets (the current, partial bucket included).
    mutating func rate(overTenths tenths: Int, at instant: ContinuousClock.Instant) -> Double {
        let bucket = self.bucket(instant)
        advance(to: bucket)
        var total = 0
        for offset in 0..<min(tenths, buckets.count) {
            let step = bucket - Int64(offset)
            if step < 0 { break }
            total += buckets[Int(step % Int64(buckets.count))]
        }
        return Double(total) / (Double(tenths) / 10)
    }
}
