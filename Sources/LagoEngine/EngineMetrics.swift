import LagoBilling
public import Metrics

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

    init(factory: any MetricsFactory) {
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
