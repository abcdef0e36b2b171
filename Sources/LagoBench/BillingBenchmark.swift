import Foundation
import LagoAPI
import LagoBilling
import LagoSandbox
import Logging

/// Settings of ``BillingBenchmark/run(_:)``.
public struct BillingBenchmarkOptions: Sendable, Codable, Hashable {
    /// Events checked in the check's own timing.
    public var checkEvents = 1_000_000
    /// Billable metrics and subscriptions added to the sandbox's seed, so the catalogue is not trivially small.
    public var extraMetrics = 200
    public var extraSubscriptions = 2_000
    /// Events of each relay run.
    public var relayEvents = 100_000
    /// Relay runs of each kind, interleaved (without, with, without, with…): the medians are compared.
    public var relayRepetitions = 3

    /// The defaults.
    public init() {}
}

/// What ``BillingBenchmark/run(_:)`` measured.
public struct BillingBenchmarkResult: Sendable, Codable, Hashable {
    public var checkEvents: Int
    public var catalogueMetrics: Int
    public var catalogueSubscriptions: Int
    /// `BillingCheck.check` alone, per event (a mix of billable and unbillable events), nanoseconds.
    public var checkNanosecondsPerEvent: Double
    /// What the engine adds per accepted event: the event's billing view plus the catalogue service's check (its
    /// lock, the unknown-name bookkeeping), nanoseconds.
    public var engineCheckNanosecondsPerEvent: Double
    /// The relay's ingest rate without and with the check, each run (events/s).
    public var relayWithoutCheck: [Double]
    public var relayWithCheck: [Double]
    /// median(with) / median(without): the issue asks for ≥ 0.90.
    public var relayRatio: Double
    /// Events the check called billable in each checking relay run (all of them).
    public var relayBillable: [Int]
    /// Events lost or duplicated over every relay run (0 in a healthy run).
    public var lost: Int
    public var duplicated: Int
}

/// The billing check's cost: alone, as the engine runs it, and on the relay's ingest rate (with and without, the
/// same machine, one run). Build in release for meaningful figures.
public enum BillingBenchmark {
    /// Runs `body` with a catalogue service loaded from `sandbox` (`nil` when not `enabled`), kept fresh meanwhile.
    static func withChecker<T: Sendable>(
        _ sandbox: Sandbox, enabled: Bool, _ body: (BillingCatalogueService?) async throws -> T
    ) async throws -> T {
        guard enabled else { return try await body(nil) }
        let configuration = LagoClientConfiguration(
            baseURL: try LagoBaseURL(sandbox.baseURL.absoluteString), apiKey: sandbox.apiKey)
        let logger = Logger(label: "lago.bench.billing") { _ in SwiftLogNoOpLogHandler() }
        return try await withLagoClient(configuration: configuration, logger: logger) { client in
            let service = BillingCatalogueService(client: client, refreshInterval: .seconds(3600))
            let refresher = Task { await service.run() }
            defer { refresher.cancel() }
            guard await service.firstLoad(timeout: .seconds(60)) else {
                throw BenchChildProcessError(description: "the sandbox's catalogue did not load within 60 s")
            }
            return try await body(service)
        }
    }

    /// Runs the benchmark.
    /// - Throws: when the sandbox or a relay run fails.
    public static func run(
        _ options: BillingBenchmarkOptions = BillingBenchmarkOptions()
    ) async throws
        -> BillingBenchmarkResult
    {
        let (check, engineCheck, metrics, subscriptions) = try await Sandbox.withRunning(SandboxOptions()) { sandbox in
            for index in 0..<options.extraMetrics {
                try sandbox.addBillableMetric(code: "bench_metric_\(index)")
            }
            for index in 0..<options.extraSubscriptions {
                try sandbox.addSubscription(
                    SandboxSubscription(externalID: "bench_sub_\(index)", externalCustomerID: "bench_cus_\(index)"))
            }
            return try await withChecker(sandbox, enabled: true) { service in
                let service = service!
                let catalogue = service.catalogue!
                // One in eight unbillable, for several reasons; the events are built before the clock starts.
                let inputs = (0..<1_000).map { index -> EventInput in
                    var event = EngineBenchmark.event(index, prefix: "check")
                    // Within the subscriptions' life (they started in 2024): timestamped now.
                    event.timestamp = Date().timeIntervalSince1970
                    switch index % 8 {
                    case 1: event.code = "no_such_metric"
                    case 2: event.externalSubscriptionID = "sub_nobody"
                    case 3: event.properties["value"] = "abc"
                    default: event.externalSubscriptionID = "bench_sub_\(index % max(1, options.extraSubscriptions))"
                    }
                    return event
                }
                let acceptedAt = Date()
                let events = inputs.map { BillingEvent($0, acceptedAt: acceptedAt) }
                var billable = 0
                let start = ContinuousClock.now
                for round in 0..<(options.checkEvents / events.count) {
                    for event in events where BillingCheck.check(event, against: catalogue).status == .billable {
                        billable &+= round &+ 1
                    }
                }
                let checkSeconds = EngineBenchmark.seconds(since: start)
                let engineStart = ContinuousClock.now
                for _ in 0..<(options.checkEvents / inputs.count) {
                    for input in inputs
                    where service.check(BillingEvent(input, acceptedAt: acceptedAt)).status == .billable {
                        billable &+= 1
                    }
                }
                let engineSeconds = EngineBenchmark.seconds(since: engineStart)
                guard billable != 0 else {
                    throw BenchChildProcessError(description: "the billing check found no billable event to time")
                }
                let checked = Double((options.checkEvents / inputs.count) * inputs.count)
                return (
                    checkSeconds / checked * 1e9, engineSeconds / checked * 1e9, catalogue.metrics.count,
                    catalogue.subscriptionCount
                )
            }
        }
        var without: [Double] = []
        var with: [Double] = []
        var billable: [Int] = []
        var lost = 0
        var duplicated = 0
        for _ in 0..<max(1, options.relayRepetitions) {
            for checking in [false, true] {
                var relay = RelayBenchmarkOptions()
                relay.events = options.relayEvents
                relay.checkBilling = checking
                let result = try await RelayBenchmark.run(relay)
                if let count = result.billable { billable.append(count) }
                if checking {
                    with.append(result.ingestEventsPerSecond)
                } else {
                    without.append(result.ingestEventsPerSecond)
                }
                lost += result.lost
                duplicated += result.duplicated
            }
        }
        let withoutMedian = BenchStatistics.median(without)
        return BillingBenchmarkResult(
            checkEvents: options.checkEvents, catalogueMetrics: metrics, catalogueSubscriptions: subscriptions,
            checkNanosecondsPerEvent: check, engineCheckNanosecondsPerEvent: engineCheck, relayWithoutCheck: without,
            relayWithCheck: with,
            relayRatio: withoutMedian > 0 ? BenchStatistics.median(with) / withoutMedian : 0, relayBillable: billable,
            lost: lost, duplicated: duplicated)
    }
}
