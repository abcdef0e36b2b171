import LagoBilling
import Metrics
import Synchronization

/// The engine's metrics, reported through swift-metrics (so any backend works; `lago-console serve` exposes them
/// in Prometheus' format on its control port).
///
/// | Name | Kind | Meaning |
/// |---|---|---|
/// | `lago_engine_events_enqueued_total` | counter | events committed to the spool |
/// | `lago_engine_events_refused_total{reason}` | counter | events refused by `enqueue` (`spool_full`, `no_subscription`, `invalid`) |
/// | `lago_engine_events_delivered_total` | counter | events Lago stored |
/// | `lago_engine_events_already_in_lago_total` | counter | events Lago already had from an unanswered try |
/// | `lago_engine_events_dead_total` | counter | events dead-lettered |
/// | `lago_engine_requests_total` | counter | batch requests sent |
/// | `lago_engine_request_failures_total` | counter | batch requests that failed (any error) |
/// | `lago_engine_retries_total` | counter | batches scheduled for another try |
/// | `lago_engine_queued_events` | gauge | undelivered events in the spool (in flight included) |
/// | `lago_engine_in_flight_events` | gauge | events carried by requests in flight |
/// | `lago_engine_dead_letters` | gauge | dead letters in the spool |
/// | `lago_engine_request_duration_seconds` | timer (histogram) | batch request latency |
/// | `lago_engine_events_checked_total{verdict}` | counter | events accepted, by billing verdict (`billable`, `unchecked`, `unbillable`) |
/// | `lago_engine_events_unbillable_total{reason}` | counter | unbillable events accepted, by reason (`invalid_code`, …) |
/// | `lago_engine_held_events` | gauge | events in the held list (policy `hold`) |
/// | `lago_engine_concurrency_limit` | gauge | batch requests allowed in flight now (adaptive or fixed) |
/// | `lago_engine_requests_in_flight` | gauge | batch requests in flight now |
/// | `lago_engine_rtt_seconds` | gauge | moving average of the round trip of the requests Lago took |
/// | `lago_engine_ratelimit_remaining` | gauge | requests left in Lago's rate-limit window (when Lago sends it) |
/// | `lago_engine_lago_webhooks_total` | counter | Lago webhooks recorded (`events.errors`, `event.error`; replays not) |
/// | `lago_engine_lago_not_billed_total` | counter | events Lago's webhooks reported not billed |
public struct EngineMetrics: Sendable {
    /// Metric names, for backends and dashboards.
    public enum Name {
        public static let enqueued = "lago_engine_events_enqueued_total"
        public static let refused = "lago_engine_events_refused_total"
        public static let delivered = "lago_engine_events_delivered_total"
        public static let alreadyInLago = "lago_engine_events_already_in_lago_total"
        public static let dead = "lago_engine_events_dead_total"
        public static let requests = "lago_engine_requests_total"
        public static let requestFailures = "lago_engine_request_failures_total"
        public static let retries = "lago_engine_retries_total"
        public static let queued = "lago_engine_queued_events"
        public static let inFlight = "lago_engine_in_flight_events"
        public static let deadLetters = "lago_engine_dead_letters"
        public static let requestDuration = "lago_engine_request_duration_seconds"
        public static let checked = "lago_engine_events_checked_total"
        public static let unbillable = "lago_engine_events_unbillable_total"
        public static let held = "lago_engine_held_events"
        public static let concurrencyLimit = "lago_engine_concurrency_limit"
        public static let requestsInFlight = "lago_engine_requests_in_flight"
        public static let roundTrip = "lago_engine_rtt_seconds"
        public static let rateLimitRemaining = "lago_engine_ratelimit_remaining"
        public static let lagoWebhooks = "lago_engine_lago_webhooks_total"
        public static let lagoNotBilled = "lago_engine_lago_not_billed_total"
    }

    let enqueued: Counter
    let refusedSpoolFull: Counter
    let refusedNoSubscription: Counter
    let refusedInvalid: Counter
    let refusedUnbillable: Counter
    let checked: [BillingVerdict.Status: Counter]
    let unbillableByReason: [BillingReason: Counter]
    let held: Gauge
    let delivered: Counter
    let alreadyInLago: Counter
    let dead: Counter
    let requests: Counter
    let requestFailures: Counter
    let retries: Counter
    let queued: Gauge
    let inFlight: Gauge
    let deadLetters: Gauge
    let requestDuration: Timer
    let concurrencyLimit: Gauge
    let requestsInFlight: Gauge
    /// Created at the first round trip / the first rate-limit header: a gauge that exists reads 0 before, and no
    /// round trip of 0 s or exhausted window must be reported that nobody measured.
    let roundTrip: LazyGauge
    let rateLimitRemaining: LazyGauge
    let lagoWebhooks: Counter
    let lagoReportedEvents: Counter

    init(factory: any MetricsFactory) {
        lagoWebhooks = Counter(label: Name.lagoWebhooks, factory: factory)
        lagoReportedEvents = Counter(label: Name.lagoNotBilled, factory: factory)
        enqueued = Counter(label: Name.enqueued, factory: factory)
        refusedSpoolFull = Counter(label: Name.refused, dimensions: [("reason", "spool_full")], factory: factory)
        refusedNoSubscription = Counter(
            label: Name.refused, dimensions: [("reason", "no_subscription")], factory: factory)
        refusedInvalid = Counter(label: Name.refused, dimensions: [("reason", "invalid")], factory: factory)
        refusedUnbillable = Counter(label: Name.refused, dimensions: [("reason", "unbillable")], factory: factory)
        checked = Dictionary(
            uniqueKeysWithValues: [BillingVerdict.Status.billable, .unchecked, .unbillable].map { status in
                (status, Counter(label: Name.checked, dimensions: [("verdict", status.rawValue)], factory: factory))
            })
        unbillableByReason = Dictionary(
            uniqueKeysWithValues: BillingReason.allCases.map { reason in
                (reason, Counter(label: Name.unbillable, dimensions: [("reason", reason.rawValue)], factory: factory))
            })
        held = Gauge(label: Name.held, factory: factory)
        delivered = Counter(label: Name.delivered, factory: factory)
        alreadyInLago = Counter(label: Name.alreadyInLago, factory: factory)
        dead = Counter(label: Name.dead, factory: factory)
        requests = Counter(label: Name.requests, factory: factory)
        requestFailures = Counter(label: Name.requestFailures, factory: factory)
        retries = Counter(label: Name.retries, factory: factory)
        queued = Gauge(label: Name.queued, factory: factory)
        inFlight = Gauge(label: Name.inFlight, factory: factory)
        deadLetters = Gauge(label: Name.deadLetters, factory: factory)
        requestDuration = Timer(label: Name.requestDuration, factory: factory)
        concurrencyLimit = Gauge(label: Name.concurrencyLimit, factory: factory)
        requestsInFlight = Gauge(label: Name.requestsInFlight, factory: factory)
        roundTrip = LazyGauge(label: Name.roundTrip, factory: factory)
        rateLimitRemaining = LazyGauge(label: Name.rateLimitRemaining, factory: factory)
    }

    /// Counts accepted events by verdict and reason.
    func recordChecked(_ counts: BillingCounts) {
        if counts.billable > 0 { checked[.billable]?.increment(by: counts.billable) }
        if counts.unchecked > 0 { checked[.unchecked]?.increment(by: counts.unchecked) }
        if counts.unbillable > 0 { checked[.unbillable]?.increment(by: counts.unbillable) }
        for (name, count) in counts.byReason {
            if let reason = BillingReason(rawValue: name) { unbillableByReason[reason]?.increment(by: count) }
        }
    }
}

/// A gauge registered with its backend on its first value, not before.
final class LazyGauge: Sendable {
    private let label: String
    // The factory is kept until the first value creates the gauge, once, under the lock.
    private let state: Mutex<(factory: any MetricsFactory, gauge: Gauge?)>

    init(label: String, factory: any MetricsFactory) {
        self.label = label
        self.state = Mutex((factory, nil))
    }

    func record<Value: BinaryInteger>(_ value: Value) { gauge().record(value) }
    func record(_ value: Double) { gauge().record(value) }

    private func gauge() -> Gauge {
        state.withLock { state in
            if let gauge = state.gauge { return gauge }
            let gauge = Gauge(label: label, factory: state.factory)
            state.gauge = gauge
            return gauge
        }
    }
}
