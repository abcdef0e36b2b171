import Foundation
import GRDB
public import LagoAPI
import LagoBilling
public import LagoUsage
public import Logging
import Metrics
import Synchronization

/// What ``LagoEngine/flush(deadline:)`` achieved.
public struct FlushResult: Sendable, Hashable, Codable {
    /// Events delivered (or found already in Lago) during the flush.
    public var delivered: Int
    /// Events still undelivered when the flush returned.
    public var pending: Int
    /// Events dead-lettered during the flush.
    public var dead: Int
}

/// An event whose JSON object is already written, to be sent byte for byte (see
/// ``LagoEngine/enqueue(encoded:deduplicate:)``).
public struct EncodedEvent: Sendable, Hashable {
    /// The event as parsed from ``body``: what the lifecycle stream shows and what keys the dedup index.
    public var event: EventInput
    /// The JSON object Lago receives, exactly.
    public var body: [UInt8]
    /// The `external_customer_id` the client sent (Lago drops it), for the billing check.
    public var externalCustomerID: String?
    /// The relay found ``event``'s subscription from ``externalCustomerID`` (the client sent none): the verdict
    /// names it (``LagoBilling/BillingVerdict/resolvedSubscriptionID``), so the operator sees where it bills.
    public var subscriptionFromCustomer: Bool
    /// Where it came from and what coded it (kept in the spool beside it).
    public var origin: EventOrigin

    /// Creates an encoded event (by default a relay client's, coded by the client).
    public init(
        event: EventInput, body: [UInt8], externalCustomerID: String? = nil, subscriptionFromCustomer: Bool = false,
        origin: EventOrigin = EventOrigin(source: .relay)
    ) {
        self.origin = origin
        self.event = event
        self.body = body
        self.externalCustomerID = externalCustomerID
        self.subscriptionFromCustomer = subscriptionFromCustomer
    }
}

/// What ``LagoEngine/enqueueUsage(_:cost:)`` did.
public enum UsageEnqueueResult: Sendable, Hashable {
    /// Every record's events are spooled: their transaction ids, per record (empty for a record with no usage).
    case queued([[String]])
    /// Nothing was spooled: these records (indices) have an event spooled or delivered within the dedup window.
    case duplicates([Int])
}

/// What ``LagoEngine/enqueue(encoded:deduplicate:)`` did.
public enum EncodedEnqueueResult: Sendable, Hashable {
    /// Every event is spooled.
    case queued
    /// Nothing was spooled: the events at these indices (0-based, in request order) were spooled or delivered
    /// before, within the dedup window.
    case duplicates([Int])
}

/// The delivery engine: a durable spool of usage events and a concurrent, batching, retrying flusher to Lago.
///
/// - `enqueue` returns once the event is committed to the SQLite spool (it then survives a crash of the process;
///   see ``SpoolSynchronousMode`` for power loss). A transaction id is assigned when an event has none and never
///   changes afterwards.
/// - The flusher sends batches of up to ``EngineConfiguration/maxBatchSize`` events, up to
///   ``EngineConfiguration/maxInFlight`` requests at once, and settles every event as delivered, already in Lago,
///   retried (backoff with full jitter, honouring `Retry-After`) or dead-lettered with Lago's reason. Nothing is
///   dropped silently.
/// - ``stats()`` and ``lifecycleEvents(bufferSize:)`` tell what happens; nothing prints.
///
/// One engine per spool: the spool's lock file is held until ``shutdown(gracePeriod:)``.
public final class LagoEngine: Sendable {
    /// The configuration in force (normalised: batch size 1...100 and so on).
    public let configuration: EngineConfiguration
    /// What opening the spool found about the previous engine's stop: acknowledged events missing after a lost
    /// write-ahead log (also logged at error level when there are any).
    public let recoveryReport: SpoolRecoveryReport

    private let spool: Spool
    private let lock: SpoolLock
    private let client: LagoClient
    private let ownsClient: Bool
    private let clock: any EngineClock
    private let logger: Logger
    private let random: SplitMix64
    private let counters: Mutex<StatsCounters>
    /// The ids of ``flush(deadline:)`` calls, so that a cancelled one can be found.
    private let flushIDs = Atomic<Int>(0)
    private let mapping: Mutex<Mapping>
    private let control = Mutex(Control())
    /// Lago's webhook verdicts as last counted in the spool (`nil`: not counted since the last webhook), and the
    /// number of webhooks recorded, so a count that started before a newer webhook is never kept.
    private let lagoVerdicts = Mutex<(generation: Int, stats: LagoConfirmedStats?)>((0, nil))
    /// Replayed webhooks ignored since the engine started.
    private let lagoReplays = Atomic<Int>(0)
    private let broadcaster = LifecycleBroadcaster()
    private let metrics: EngineMetrics
    /// Rows and bytes committed since the loop last took them, and whether an `.appended` signal is on its way.
    /// The flusher loop's inbox: what happened since it last looked, coalesced (see ``LoopMailbox``).
    private let mailbox = Mutex(LoopMailbox())
    /// Wakes the loop: at most one wake-up waits (the mailbox holds what it is about).
    private let wakeUps: AsyncStream<Void>
    private let wakeUpContinuation: AsyncStream<Void>.Continuation

    private struct Mapping: Sendable {
        var metricCodes: [CanonicalField: String]
        var defaultSubscription: String?
    }

    private struct Control: Sendable {
        var loop: Task<Void, Never>?
        var stopped = false
    }

    /// What happened since the loop last looked. Bounded without dropping anything that matters: commits are
    /// summed, pause and resume keep the latest, repeated commands and ticks coalesce; claims (one at a time),
    /// completions (one per claimed batch) and flush callers (each one waits) are bounded by what causes them.
    private struct LoopMailbox: Sendable {
        /// Rows and bytes committed since the loop last took them.
        var appendedCount = 0
        var appendedBytes = 0
        var claims: [Result<[[SpoolRow]], ClaimFailure>] = []
        var completions: [(batchID: Int, rows: [SpoolRow], outcome: BatchOutcome, tallies: [Tally])] = []
        var tick = false
        /// The latest ``LagoEngine/pause()`` (`true`) or ``LagoEngine/resume()`` (`false`).
        var paused: Bool?
        var apiKeyChanged = false
        var retryNow = false
        var flushes: [(id: Int, deadline: ContinuousClock.Instant, waiter: FlushWaiter)] = []
        /// Flushes whose callers' tasks were cancelled: answered at once.
        var cancelledFlushes: [Int] = []
        var stop = false
        /// A wake-up is on its way: nothing more to signal until the loop takes the mailbox.
        var signaled = false
        /// The loop has ended: nothing is taken any more.
        var closed = false
    }

    private struct ClaimFailure: Error {
        var reason: String
    }

    private struct FlushWaiter: Sendable {
        var baselineDelivered: Int
        var baselineDead: Int
        var continuation: CheckedContinuation<FlushResult, Never>
    }

    /// Opens the spool and prepares an engine delivering through `client` (owned by the caller). Call ``start()``
    /// to begin delivery; events can be enqueued before.
    ///
    /// - Throws: ``EngineError`` `.spoolLocked` when another engine holds the spool, `.spoolUnreadable` naming the
    ///   file when it is not a readable spool (nothing is overwritten), `.spoolIO`.
    public convenience init(
        configuration: EngineConfiguration, client: LagoClient, clock: any EngineClock = SystemEngineClock(),
        random: SplitMix64 = SplitMix64(), logger: Logger = Logger(label: "lago-console.engine")
    ) throws {
        try self.init(
            configuration: configuration, client: client, ownsClient: false, clock: clock, random: random,
            logger: logger)
    }

    /// Opens the spool and prepares an engine with its own ``LagoClient`` (request timeout from the
    /// configuration), shut down with the engine.
    /// - Throws: like ``init(configuration:client:clock:random:logger:)``.
    public convenience init(
        configuration: EngineConfiguration, baseURL: LagoBaseURL, apiKey: String,
        clock: any EngineClock = SystemEngineClock(), random: SplitMix64 = SplitMix64(),
        logger: Logger = Logger(label: "lago-console.engine")
    ) throws {
        let client = LagoClient(
            configuration: LagoClientConfiguration(
                baseURL: baseURL, apiKey: apiKey, requestTimeout: configuration.requestTimeout,
                maxConnections: configuration.requestsInFlightAtMost),
            logger: logger)
        do {
            try self.init(
                configuration: configuration, client: client, ownsClient: true, clock: clock, random: random,
                logger: logger)
        } catch {
            Task { try? await client.shutdown() }
            throw error
        }
    }

    private init(
        configuration: EngineConfiguration, client: LagoClient, ownsClient: Bool, clock: any EngineClock,
        random: SplitMix64, logger: Logger
    ) throws {
        let configuration = configuration.normalized
        self.configuration = configuration
        let lock = try SpoolLock(spoolPath: configuration.spoolPath)
        do {
            self.spool = try Spool(
                path: configuration.spoolPath, synchronous: configuration.synchronousMode, lock: lock)
        } catch {
            lock.release(removingCreatedFile: true)
            throw error
        }
        self.recoveryReport = spool.recoveryReport
        self.lock = lock
        self.client = client
        self.ownsClient = ownsClient
        self.clock = clock
        self.random = random
        self.logger = logger
        var counters = StatsCounters()
        counters.queued = spool.openedQueueCount
        counters.dead = spool.openedDeadLetterCount
        counters.spooledVerdicts = spool.openedVerdicts
        counters.heldVerdicts = spool.openedHeld
        self.counters = Mutex(counters)
        self.mapping = Mutex(
            Mapping(metricCodes: configuration.metricCodes, defaultSubscription: configuration.defaultSubscription))
        let metrics = EngineMetrics(factory: configuration.metricsFactory ?? MetricsSystem.factory)
        self.metrics = metrics
        metrics.queued.record(counters.queued)
        metrics.deadLetters.record(counters.dead)
        metrics.held.record(counters.heldVerdicts.total)
        metrics.inFlight.record(0)
        (wakeUps, wakeUpContinuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        spool.setAppendHandler { [weak self] appended in
            guard let self else { return }
            let count = appended.rows
            let bytes = appended.bytes
            let (queued, held) = self.counters.withLock {
                $0.queued += count
                $0.spooledVerdicts.add(appended.verdicts)
                $0.heldVerdicts.add(appended.heldVerdicts)
                return ($0.queued, $0.heldVerdicts.total)
            }
            if appended.held > 0 { self.metrics.held.record(held) }
            guard count > 0 else { return }
            self.metrics.enqueued.increment(by: count)
            self.metrics.queued.record(queued)
            // One wake-up until the loop takes the counts: an engine not started yet (or a busy loop) does not
            // pile up one inbox entry per commit.
            self.post { mailbox in
                mailbox.appendedCount += count
                mailbox.appendedBytes += bytes
            }
        }
        Self.logRecovery(spool.recoveryReport, path: configuration.spoolPath, logger: logger)
        if spool.openedQueueCount > 0 {
            logger.info(
                "Resuming delivery from the spool",
                metadata: ["spool": "\(configuration.spoolPath)", "queued": "\(spool.openedQueueCount)"])
        }
    }

    private static func logRecovery(_ report: SpoolRecoveryReport, path: String, logger: Logger) {
        if report.missingEventsAtMost > 0 {
            let count =
                report.missingEvents == report.missingEventsAtMost
                ? "\(report.missingEvents)" : "\(report.missingEvents) to \(report.missingEventsAtMost)"
            let message =
                "\(count) acknowledged event(s) are missing from the spool \(path): they were committed, then lost "
                + "with the end of its write-ahead log (a power loss or a damaged -wal file) before the spool "
                + "recorded them delivered or dead-lettered (those in a request at the moment of the stop may have "
                + "reached Lago). Compare Lago's events with the producers' records for the time before the stop; "
                + "synchronous mode FULL makes every commit survive power loss"
            logger.error(
                "\(message)",
                metadata: [
                    "spool": "\(path)", "missing": "\(report.missingEvents)",
                    "missing_at_most": "\(report.missingEventsAtMost)",
                ])
        } else if report.uncleanStop {
            logger.info(
                "The previous engine stopped without closing the spool; no acknowledged event is missing",
                metadata: ["spool": "\(path)"])
        }
    }

    // MARK: Lifecycle

    /// Starts delivering. Calling it again does nothing.
    public func start() {
        control.withLock { control in
            guard control.loop == nil, !control.stopped else { return }
            let queued = spool.openedQueueCount
            control.loop = Task { await self.runLoop(initialQueued: queued) }
        }
    }

    /// Stops gracefully: nothing new is sent, requests in flight get `gracePeriod` to finish (then they are
    /// cancelled; their events stay spooled), the spool is closed and its lock released. Undelivered events stay in
    /// the spool and the next engine on it resumes them. Later calls to `enqueue` throw `.shutDown`.
    public func shutdown(gracePeriod: Duration = .seconds(10)) async {
        let loop: Task<Void, Never>? = control.withLock { control in
            if control.stopped { return nil }
            control.stopped = true
            return control.loop
        }
        if let loop {
            post { $0.stop = true }
            let clock = self.clock
            let deadline = clock.now() + gracePeriod
            let watchdog = Task {
                try? await clock.sleep(until: deadline)
                if !Task.isCancelled { loop.cancel() }
            }
            await loop.value
            watchdog.cancel()
        }
        wakeUpContinuation.finish()
        broadcaster.finish()
        await spool.close()
        lock.release()
        if ownsClient { try? await client.shutdown() }
        counters.withLock { $0.loop = LoopView() }
        logger.debug("Engine stopped", metadata: ["spool": "\(configuration.spoolPath)"])
    }

    // MARK: Enqueue

    /// Spools one event; returns its transaction id once the event is committed.
    ///
    /// An empty `transactionID` is replaced by a new UUID. An event without a `timestamp` gets the time it is
    /// accepted here (Unix seconds, microsecond precision), never the time of delivery: an event that waits out an
    /// outage still bills in its own period, and every retry carries the same timestamp (Lago's ClickHouse store
    /// deduplicates on transaction id *and* timestamp). It never changes afterwards.
    /// - Throws: ``EngineError`` `.spoolFull` (counted, nothing stored), `.invalidEvent`, `.spoolIO`, `.shutDown`.
    @discardableResult
    public func enqueue(_ event: EventInput) async throws -> String {
        try await enqueue([event])[0]
    }

    /// Spools events atomically (all or none); returns their transaction ids once committed.
    /// - Throws: like ``enqueue(_:)-(EventInput)``.
    @discardableResult
    public func enqueue(_ events: [EventInput]) async throws -> [String] {
        try await enqueue(events, codedBy: [])
    }

    /// Spools events lago-console made (source `console`) atomically, each with what gave it its code
    /// (`codings[i]` for `events[i]`; missing entries: the sender wrote the code); returns their transaction ids.
    /// - Throws: like ``enqueue(_:)-(EventInput)``.
    @discardableResult
    public func enqueue(_ events: [EventInput], codedBy codings: [EventOrigin.Coding]) async throws -> [String] {
        guard !events.isEmpty else { return [] }
        guard !control.withLock({ $0.stopped }) else {
            throw EngineError(.shutDown, "the engine is shut down; nothing was queued")
        }
        let enqueuedAt = clock.wallNow().timeIntervalSince1970
        // Microsecond precision (what Lago stores), exact in a Double for any date of this era.
        let acceptedAt = (enqueuedAt * 1_000_000).rounded() / 1_000_000
        var encoded: [EncodedEvent] = []
        encoded.reserveCapacity(events.count)
        do {
            for (index, var event) in events.enumerated() {
                if event.transactionID.isEmpty { event.transactionID = RandomUUID.lowercasedString() }
                if event.timestamp == nil { event.timestamp = acceptedAt }
                let origin = EventOrigin(source: .console, coding: index < codings.count ? codings[index] : .client)
                encoded.append(EncodedEvent(event: event, body: try EventJSON.encode(event), origin: origin))
            }
        } catch {
            counters.withLock { $0.refused.invalid += events.count }
            metrics.refusedInvalid.increment(by: events.count)
            throw error
        }
        _ = try await append(encoded, enqueuedAt: enqueuedAt, deduplicate: false)
        return encoded.map(\.event.transactionID)
    }

    /// Spools events whose JSON is already written (a relay passes its clients' bytes, which then reach Lago
    /// unchanged), atomically; returns once committed, or, with `deduplicate`, the indices of the events whose
    /// (subscription, transaction id) was spooled or delivered within ``EngineConfiguration/dedupWindow`` — then
    /// nothing of the request is spooled, as Lago refuses such a batch whole.
    ///
    /// Each body must be a complete Lago event object carrying its timestamp; `event` is its parsed view (the
    /// lifecycle stream shows it; its transaction id and subscription key the dedup index). A dead-lettered event
    /// leaves the index: it may be sent again.
    /// - Throws: like ``enqueue(_:)-(EventInput)``.
    public func enqueue(encoded events: [EncodedEvent], deduplicate: Bool) async throws -> EncodedEnqueueResult {
        guard !events.isEmpty else { return .queued }
        guard !control.withLock({ $0.stopped }) else {
            throw EngineError(.shutDown, "the engine is shut down; nothing was queued")
        }
        let duplicates = try await append(
            events, enqueuedAt: clock.wallNow().timeIntervalSince1970, deduplicate: deduplicate)
        return duplicates.isEmpty ? .queued : .duplicates(duplicates)
    }

    /// Reserves room, appends, publishes `queued`; returns the indices refused as duplicates (then nothing was
    /// appended).
    private func append(_ events: [EncodedEvent], enqueuedAt: Double, deduplicate: Bool) async throws -> [Int] {
        let verdicts = checkBilling(events, acceptedAt: enqueuedAt)
        let policy = configuration.unbillablePolicy
        if policy == .reject, let verdicts { try rejectUnbillable(events, verdicts) }
        let rows = events.indices.map { index in
            let encoded = events[index]
            let verdict = verdicts?[index]
            return NewSpoolRow(
                transactionID: encoded.event.transactionID, body: encoded.body, enqueuedAt: enqueuedAt,
                externalSubscriptionID: encoded.event.externalSubscriptionID, verdict: verdict,
                held: policy == .hold && verdict?.status == .unbillable, origin: encoded.origin)
        }
        // Held events take no room in the queue (they are not delivered); they are bounded by the operator.
        try reserve(rows.count)
        let result: Spool.AppendResult
        do {
            result = try await spool.append(rows, dedup: deduplicate ? dedupPolicy(now: enqueuedAt) : nil)
        } catch {
            let sentence = spoolWriteFailed(error)
            counters.withLock { counters in
                counters.reserved -= rows.count
                if let sentence {
                    counters.spoolError = sentence
                    counters.spoolErrorAt = clock.wallNow()
                }
            }
            throw error
        }
        counters.withLock { counters in
            counters.reserved -= rows.count
            if counters.spoolError != nil { (counters.spoolError, counters.spoolErrorAt) = (nil, nil) }
        }
        switch result {
        case .duplicates(let indices):
            return indices
        case .appended(let ids):
            var accepted = BillingCounts()
            for verdict in verdicts ?? [] { accepted.add(verdict) }
            if verdicts == nil { accepted.unchecked = rows.count }
            counters.withLock { $0.acceptedVerdicts.add(accepted) }
            metrics.recordChecked(accepted)
            if broadcaster.hasSubscribers {
                let now = clock.wallNow()
                broadcaster.publish(
                    zip(rows, zip(events, ids)).map { row, pair in
                        let (encoded, id) = pair
                        return EventLifecycleChange(
                            transactionID: encoded.event.transactionID, stage: row.held ? .held : .queued, date: now,
                            event: encoded.event, eventID: id, billing: row.verdict, origin: encoded.origin)
                    })
            }
            return []
        }
    }

    /// Each event's billing verdict, or `nil` when the engine has no check.
    private func checkBilling(_ events: [EncodedEvent], acceptedAt: Double) -> [BillingVerdict]? {
        guard let checker = configuration.billingChecker else { return nil }
        let acceptedAt = Date(timeIntervalSince1970: acceptedAt)
        return events.map { encoded in
            var verdict = checker.check(
                BillingEvent(encoded.event, externalCustomerID: encoded.externalCustomerID, acceptedAt: acceptedAt))
            if encoded.subscriptionFromCustomer {
                verdict.resolvedSubscriptionID = encoded.event.externalSubscriptionID
            }
            return verdict
        }
    }

    /// Policy `reject`: refuses the whole request when Lago would not bill one of its events.
    private func rejectUnbillable(_ events: [EncodedEvent], _ verdicts: [BillingVerdict]) throws {
        let refused = verdicts.indices.compactMap { index -> EngineError.UnbillableEvent? in
            guard verdicts[index].status == .unbillable else { return nil }
            return EngineError.UnbillableEvent(index: index, reasons: verdicts[index].reasons)
        }
        guard !refused.isEmpty else { return }
        counters.withLock { $0.refused.unbillable += events.count }
        metrics.refusedUnbillable.increment(by: events.count)
        let listed = refused.prefix(5).map { entry in
            "event \(entry.index) (\(events[entry.index].event.transactionID)): "
                + entry.reasons.map(\.rawValue).joined(separator: ", ")
        }
        let more = refused.count > 5 ? "; and \(refused.count - 5) more" : ""
        throw EngineError(
            .unbillable,
            "Lago would not bill \(refused.count) of \(events.count) event(s), so none was queued (billing.unbillable "
                + "= reject): \(listed.joined(separator: "; "))\(more)",
            unbillable: refused)
    }

    private func dedupPolicy(now: Double) -> Spool.Dedup {
        Spool.Dedup(
            now: now, since: now - configuration.dedupWindow / .seconds(1), maxEntries: configuration.dedupMaxEntries)
    }

    /// Turns a usage record into one event per non-zero field (see ``UsageRecord``) under the current mapping and
    /// default subscription, and spools them atomically; returns their transaction ids.
    /// - Throws: ``EngineError`` `.noSubscription` or `.invalidUsage` (counted in
    ///   ``EngineStats/refused``), or like ``enqueue(_:)-(EventInput)``.
    @discardableResult
    public func enqueue(_ usage: UsageRecord) async throws -> [String] {
        let mapping = self.mapping.withLock { $0 }
        let events: [(event: EventInput, coding: EventOrigin.Coding)]
        do {
            events = try usage.codedEvents(
                metricCodes: mapping.metricCodes, defaultSubscription: mapping.defaultSubscription)
        } catch let error as EngineError {
            counters.withLock {
                if error.kind == .noSubscription { $0.refused.noSubscription += 1 } else { $0.refused.invalid += 1 }
            }
            if error.kind == .noSubscription {
                metrics.refusedNoSubscription.increment()
            } else {
                metrics.refusedInvalid.increment()
            }
            throw error
        }
        return try await enqueue(events.map(\.event), codedBy: events.map(\.coding))
    }

    /// Turns usage records into events under the current mapping and default subscription (as
    /// ``enqueue(_:)-(UsageRecord)`` does), stamps those without a timestamp with the time they are accepted, and
    /// spools all of them atomically, deduplicated like the relay's events (a record sent again with the same `id`
    /// is refused, not billed twice). Returns each record's transaction ids, or the indices of the records with an
    /// event seen within the dedup window (then nothing was spooled).
    /// - Throws: ``EngineError`` `.noSubscription` or `.invalidUsage` naming the record, or like
    ///   ``enqueue(_:)-(EventInput)`` (`.unbillable` indices are those of the events, in record order).
    /// - Parameters:
    ///   - cost: whether each record with a cost also, or only, becomes a cost event (`usage.cost_events`).
    ///   - source: where the records came from (`usage`: `POST /v1/usage`; `otlp`: spans), kept with each event.
    public func enqueueUsage(
        _ records: [UsageRecord], cost: CostEvents = .off, source: EventOrigin.Source = .usage
    ) async throws -> UsageEnqueueResult {
        guard !records.isEmpty else { return .queued([]) }
        guard !control.withLock({ $0.stopped }) else {
            throw EngineError(.shutDown, "the engine is shut down; nothing was queued")
        }
        let mapping = self.mapping.withLock { $0 }
        let enqueuedAt = clock.wallNow().timeIntervalSince1970
        let acceptedAt = (enqueuedAt * 1_000_000).rounded() / 1_000_000
        var encoded: [EncodedEvent] = []
        var owners: [Int] = []
        var ids: [[String]] = []
        // Most records are two events (input and output): one allocation for the whole request.
        encoded.reserveCapacity(records.count * 2)
        owners.reserveCapacity(records.count * 2)
        ids.reserveCapacity(records.count)
        for (index, record) in records.enumerated() {
            var events: [(event: EventInput, coding: EventOrigin.Coding)]
            do {
                events = try record.codedEvents(
                    metricCodes: mapping.metricCodes, defaultSubscription: mapping.defaultSubscription, cost: cost)
                for position in events.indices {
                    if events[position].event.timestamp == nil { events[position].event.timestamp = acceptedAt }
                    encoded.append(
                        EncodedEvent(
                            event: events[position].event, body: try EventJSON.encode(events[position].event),
                            origin: EventOrigin(source: source, coding: events[position].coding)))
                }
            } catch let error as EngineError {
                counters.withLock {
                    if error.kind == .noSubscription { $0.refused.noSubscription += 1 } else { $0.refused.invalid += 1 }
                }
                throw EngineError(error.kind, "record \(index): \(error.message)", path: error.path)
            }
            owners += Array(repeating: index, count: events.count)
            ids.append(events.map(\.event.transactionID))
        }
        let duplicates: [Int]
        do {
            duplicates = try await append(encoded, enqueuedAt: enqueuedAt, deduplicate: true)
        } catch let error as EngineError where error.kind == .unbillable {
            // Policy `reject`, said of the records: each one's index with the reasons of its events.
            var reasons: [Int: Set<BillingReason>] = [:]
            for event in error.unbillable { reasons[owners[event.index], default: []].formUnion(event.reasons) }
            throw EngineError(
                .unbillable, error.message,
                unbillable: reasons.keys.sorted().map { .init(index: $0, reasons: reasons[$0]!.sorted()) })
        }
        guard duplicates.isEmpty else { return .duplicates(Array(Set(duplicates.map { owners[$0] })).sorted()) }
        return .queued(ids)
    }

    private func reserve(_ count: Int) throws {
        let limit = configuration.spoolLimit
        let accepted = counters.withLock { counters in
            guard counters.queued + counters.reserved + count <= limit else {
                counters.refused.spoolFull += count
                return false
            }
            counters.reserved += count
            return true
        }
        guard accepted else {
            metrics.refusedSpoolFull.increment(by: count)
            throw EngineError(
                .spoolFull,
                "the spool \(configuration.spoolPath) holds its limit of \(limit) undelivered events; "
                    + "\(count) event(s) refused, nothing was queued",
                path: configuration.spoolPath)
        }
    }

    // MARK: Control

    /// Replaces the metric code of each canonical field for usage records enqueued from now on.
    public func updateMapping(_ metricCodes: [CanonicalField: String]) {
        mapping.withLock { $0.metricCodes = metricCodes }
    }

    /// The subscription usage records and relayed events without one are billed to (`nil`: none).
    public var defaultSubscription: String? { mapping.withLock { $0.defaultSubscription } }

    /// Replaces the default subscription for usage records enqueued from now on.
    public func updateDefaultSubscription(_ externalSubscriptionID: String?) {
        mapping.withLock { $0.defaultSubscription = externalSubscriptionID }
    }

    /// Uses a new API key from now on and lifts an "auth failed" hold.
    public func updateAPIKey(_ key: String) {
        client.setAPIKey(key)
        post { $0.apiKeyChanged = true }
    }

    /// Delivers to `baseURL` with `apiKey` from the next request on. When either differs from what is in use, an
    /// "auth failed" or "wrong URL" hold is lifted: the next request tells whether the change fixed it (a 401 or
    /// a 404 holds again). The same root and key change nothing, and a hold stays.
    ///
    /// - Returns: whether anything changed.
    @discardableResult
    public func updateLago(baseURL: LagoBaseURL, apiKey: String) -> Bool {
        guard client.setBaseURL(baseURL, apiKey: apiKey) else { return false }
        post { $0.apiKeyChanged = true }
        return true
    }

    /// Stops sending (events are still accepted and spooled; requests in flight finish).
    public func pause() { post { $0.paused = true } }

    /// Resumes sending after ``pause()``.
    public func resume() { post { $0.paused = false } }

    /// Lifts an "auth failed" hold and sends every backing-off batch now (a server's `Retry-After` still holds).
    public func retryNow() { post { $0.retryNow = true } }

    /// Sends everything now (partial batches, backoffs cut short) and returns when the spool is empty, when
    /// `deadline` passes, or at once when the engine is paused, on an auth hold or not started.
    ///
    /// Cancelling the calling task answers at once with what was done so far (delivery goes on as usual): a
    /// console quitting with Ctrl-C does not wait for the deadline.
    public func flush(deadline: Duration = .seconds(30)) async -> FlushResult {
        let start = counters.withLock { ($0.delivered + $0.alreadyInLago, $0.deadSinceStart) }
        let running = control.withLock { $0.loop != nil && !$0.stopped }
        guard running else {
            return FlushResult(delivered: 0, pending: counters.withLock { $0.queued }, dead: 0)
        }
        let deadlineInstant = clock.now() + deadline
        let id = flushIDs.add(1, ordering: .relaxed).newValue
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let waiter = FlushWaiter(baselineDelivered: start.0, baselineDead: start.1, continuation: continuation)
                if !post({ $0.flushes.append((id, deadlineInstant, waiter)) }) {
                    continuation.resume(returning: self.flushResult(for: waiter))
                } else if Task.isCancelled {
                    // Cancelled before the flush was posted: the handler's cancellation may have reached the loop
                    // first, and found nothing to cancel.
                    _ = post { $0.cancelledFlushes.append(id) }
                }
            }
        } onCancel: {
            _ = post { $0.cancelledFlushes.append(id) }
        }
    }

    private func flushResult(for waiter: FlushWaiter) -> FlushResult {
        counters.withLock {
            FlushResult(
                delivered: $0.delivered + $0.alreadyInLago - waiter.baselineDelivered, pending: $0.queued,
                dead: $0.deadSinceStart - waiter.baselineDead)
        }
    }

    // MARK: Observation

    /// A stream of per-event lifecycle changes (queued → in flight → delivered | already in Lago | retry scheduled |
    /// dead). Each subscriber has its own buffer of `bufferSize` changes; when it is full the oldest change is
    /// dropped and counted in ``EngineStats/lifecycleChangesMissed``: a slow subscriber never slows the engine.
    /// The stream ends at shutdown.
    public func lifecycleEvents(bufferSize: Int? = nil) -> AsyncStream<EventLifecycleChange> {
        broadcaster.subscribe(bufferSize: bufferSize ?? configuration.lifecycleBufferSize)
    }

    /// Whether anyone listens to ``lifecycleEvents(bufferSize:)`` (changes are only built when someone does).
    public var hasLifecycleSubscribers: Bool { broadcaster.hasSubscribers }

    /// A snapshot of the engine.
    public func stats() async -> EngineStats {
        let now = clock.now()
        let wallNow = clock.wallNow()
        let stopped = control.withLock { $0.stopped }
        var oldest: Double?
        if !stopped { oldest = try? await spool.oldestEnqueuedAt() }
        let lago: LagoConfirmedStats?
        if stopped {
            lago = lagoVerdicts.withLock { $0.stats }
        } else {
            lago = await lagoConfirmedStats()
        }
        let lagoTarget = client.configuration
        // One critical section: the counts and the loop's batches move together (an event is never seen in two
        // places, or none).
        var stats = counters.withLock { counters in
            let loop = counters.loop
            let state: EngineState =
                if stopped {
                    .stopped
                } else if let hold = loop.hold {
                    hold.kind == .auth ? .authFailed : .wrongURL
                } else if loop.paused {
                    .paused
                } else if loop.backingOff {
                    .backingOff
                } else {
                    .running
                }
            let retrying = loop.retrying.reduce(0) { $0 + $1.eventCount }
            // `counters.queued` is every row of the spool; in-flight and backing-off rows are among them.
            let spooled = max(0, counters.queued)
            let inFlight = min(loop.inFlight, spooled)
            return EngineStats(
                state: state, queued: spooled - inFlight - min(retrying, spooled - inFlight), inFlight: inFlight,
                retrying: min(retrying, spooled - inFlight),
                delivered: counters.delivered, alreadyInLago: counters.alreadyInLago, dead: counters.dead,
                deadSinceStart: counters.deadSinceStart, refused: counters.refused, retryingBatches: loop.retrying,
                oldestQueuedAge: oldest.map { .seconds(clamping: wallNow.timeIntervalSince1970 - $0) },
                eventsPerSecond: DeliveryRates(
                    lastSecond: counters.rates.rate(overTenths: 10, at: now),
                    last10Seconds: counters.rates.rate(overTenths: 100, at: now),
                    lastMinute: counters.rates.rate(overTenths: 600, at: now)),
                requestLatencyP50: counters.latencies.percentile(0.5),
                requestLatencyP99: counters.latencies.percentile(0.99), requests: counters.requests,
                failedRequests: counters.failedRequests, holdReason: loop.hold?.reason, lastError: counters.lastError,
                lastErrorAt: counters.lastErrorAt, spoolError: counters.spoolError,
                spoolErrorAt: counters.spoolErrorAt, lastRecovery: loop.lastRecovery, notBefore: loop.notBefore,
                lifecycleChangesMissed: broadcaster.missedCount, billing: billing(counters, lago: lago),
                requestsInFlight: stopped ? 0 : loop.requestsInFlight,
                concurrencyLimit: loop.concurrencyLimit > 0 ? loop.concurrencyLimit : nil,
                adaptiveConcurrency: loop.concurrencyLimit > 0 ? loop.adaptiveConcurrency : nil,
                roundTripAverage: loop.roundTripAverage, rateLimitRemaining: loop.rateLimitRemaining,
                rateLimitLimit: loop.rateLimitLimit)
        }
        stats.lagoURL = lagoTarget.baseURL.apiRoot
        stats.maskedKey = ConfigMasking.mask(lagoTarget.apiKey)
        return stats
    }

    private func billing(_ counters: StatsCounters, lago: LagoConfirmedStats?) -> EngineBillingStats {
        var billing = EngineBillingStats()
        billing.lago = lago
        billing.checking = configuration.billingChecker != nil
        billing.policy = configuration.unbillablePolicy
        billing.accepted = counters.acceptedVerdicts
        billing.spooled = counters.spooledVerdicts
        billing.held = counters.heldVerdicts
        billing.catalogue = configuration.billingChecker?.catalogueStatus
        return billing
    }

    /// Test hook: caps the spool file at its current size plus `extraPages` pages (SQLite's `max_page_count`), or
    /// lifts the cap (`nil`), so that writes past it fail with SQLite's own "database or disk is full" — a real
    /// SQLITE_FULL on the spool's connection, without filling a disk.
    func limitSpoolGrowth(extraPages: Int?) async throws {
        try await spool.perform(readOnly: true) { db in
            let pages = try Int.fetchOne(db, sql: "PRAGMA page_count") ?? 0
            let limit = extraPages.map { pages + $0 } ?? 4_294_967_294
            _ = try Int.fetchOne(db, sql: "PRAGMA max_page_count = \(limit)")
        }
    }

    // MARK: Dead letters

    /// Dead letters, oldest first.
    /// - Throws: ``EngineError`` `.spoolIO`, `.shutDown`.
    public func deadLetters(limit: Int = 100, offset: Int = 0) async throws -> [DeadLetter] {
        try await spool.deadLetters(limit: limit, offset: offset)
    }

    /// The failed attempts of a queued event (``EventLifecycleChange/eventID``), oldest first: what Lago answered
    /// each time, kept in the spool across restarts; empty once the event is delivered or dead.
    /// - Throws: ``EngineError`` `.spoolIO`, `.shutDown`.
    public func attemptLog(eventID: Int64) async throws -> [AttemptRecord] {
        try await spool.attemptLog(eventID: eventID)
    }

    /// One dead letter: the payload as sent, Lago's reason and the number of attempts.
    public func deadLetter(id: Int64) async throws -> DeadLetter? {
        try await spool.deadLetter(id: id)
    }

    /// Puts a dead letter back in the queue, optionally with another code, subscription, properties or
    /// transaction id, after asking Lago what it holds under the transaction id (`GET /events/{id}`):
    ///
    /// - nothing (or Lago cannot be asked): queued again; it counts its attempts anew, so a `value_already_exist`
    ///   answer then is a dead letter again, never taken for "already in Lago";
    /// - this very event: nothing is sent, the dead letter is settled as already in Lago;
    /// - a different event: nothing changes and both are returned; replay with a new transaction id to bill it.
    ///
    /// Only the fields the edit changes are rewritten; every other byte of the event stays as it was.
    /// - Throws: ``EngineError`` `.deadLetterNotFound`, `.invalidEvent` (an edit the console would refuse),
    ///   `.spoolIO`, `.shutDown`.
    @discardableResult
    public func replayDeadLetter(id: Int64, edit: DeadLetterEdit? = nil) async throws -> ReplayResult {
        guard let letter = try await spool.deadLetter(id: id) else {
            throw EngineError(
                .deadLetterNotFound, "no dead letter has id \(id) in \(configuration.spoolPath)",
                path: configuration.spoolPath)
        }
        if let problem = edit?.problem { throw EngineError(.invalidEvent, "cannot replay with \(problem)") }
        let changes = edit?.changes(to: letter.event)
        let replayed = letter.event.map { changes?.applied(to: $0) ?? $0 }
        if changes?.transactionID == nil, let replayed {
            if let stored = await eventInLago(transactionID: letter.transactionID, unreachable: Self.replayNotAsked) {
                let differences = Self.differences(stored: stored, replayed: replayed)
                guard differences.isEmpty else {
                    return .differsInLago(
                        transactionID: letter.transactionID, inLago: stored, replayed: replayed,
                        differences: differences)
                }
                try await spool.discardDeadLetter(id: id, path: configuration.spoolPath)
                deadLetterLeft()
                counters.withLock { $0.alreadyInLago += 1 }
                metrics.alreadyInLago.increment()
                broadcaster.publish([letter.transactionID], stage: .alreadyInLago, date: clock.wallNow())
                return .alreadyInLago(transactionID: letter.transactionID)
            }
        }
        let verdict = replayed.flatMap { event in
            configuration.billingChecker?.check(BillingEvent(event, acceptedAt: letter.enqueuedAt))
        }
        let (transactionID, rowID) = try await spool.replayDeadLetter(
            id: id, edit: changes, verdict: verdict, path: configuration.spoolPath)
        deadLetterLeft()
        broadcaster.publish([
            EventLifecycleChange(
                transactionID: transactionID, stage: .queued, date: clock.wallNow(), event: replayed, eventID: rowID,
                billing: verdict)
        ])
        return .queued(transactionID: transactionID)
    }

    /// The event Lago holds under `transactionID`, or `nil` when it holds none or cannot be asked (logged with
    /// `unreachable`, what is done instead).
    private func eventInLago(transactionID: String, unreachable: Logger.Message) async -> LagoEvent? {
        do {
            return try await client.event(transactionID: transactionID)
        } catch let error as LagoAPIError where error.status == 404 {
            return nil
        } catch {
            logger.warning(unreachable, metadata: ["transaction_id": "\(transactionID)", "error": "\(error)"])
            return nil
        }
    }

    private static let replayNotAsked: Logger.Message =
        "Could not ask Lago for the event before replaying it; queued, Lago's answer decides"
    private static let duplicateNotAsked: Logger.Message =
        "Could not ask Lago what it holds under a duplicate transaction id; counted as already in Lago"

    /// Events Lago answered `value_already_exist` for after an earlier attempt of ours
    /// (``BatchOutcome/alreadyInLago``): that says only that Lago holds an event under the id. The earlier request
    /// may have stored this one, or failed before Lago stored anything (a 503, a timeout) while a different event
    /// had the id. Lago is asked what it holds (`GET /events/{id}`, 8 at a time): an event that differs is
    /// dead-lettered as the duplicate it is, with the differences; one held as here, or one Lago cannot be asked
    /// about (logged), stays already in Lago.
    private func confirmInLago(_ outcome: inout BatchOutcome, error: LagoAPIError) async {
        let rows = outcome.alreadyInLago
        let held: [Int64: LagoEvent] = await withTaskGroup(of: (Int64, LagoEvent?).self) { group in
            var held: [Int64: LagoEvent] = [:]
            var next = rows.startIndex
            func ask(_ row: SpoolRow) {
                group.addTask {
                    let event = await self.eventInLago(
                        transactionID: row.transactionID, unreachable: Self.duplicateNotAsked)
                    return (row.id, event)
                }
            }
            while next < rows.endIndex && next - rows.startIndex < 8 {
                ask(rows[next])
                next += 1
            }
            for await (id, event) in group {
                if let event { held[id] = event }
                if next < rows.endIndex {
                    ask(rows[next])
                    next += 1
                }
            }
            return held
        }
        outcome.alreadyInLago = []
        for row in rows {
            guard let inLago = held[row.id],
                let event = try? JSONDecoder().decode(EventInput.self, from: Data(row.body))
            else {
                outcome.alreadyInLago.append(row)
                continue
            }
            let differences = Self.differences(stored: inLago, replayed: event)
            guard !differences.isEmpty else {
                outcome.alreadyInLago.append(row)
                continue
            }
            var dead = BatchOutcome.deadReason(error, details: LagoAPIError.duplicateReason, kind: .rejected)
            dead.message += "; Lago holds a different event under this transaction id ("
                + differences.joined(separator: "; ") + ")"
            outcome.dead.append((row, dead))
        }
    }

    /// What differs between the event Lago holds and the one about to be replayed, in Lago's field names.
    static func differences(stored: LagoEvent, replayed: EventInput) -> [String] {
        var differences: [String] = []
        if stored.code != replayed.code { differences.append("code: Lago \(stored.code), here \(replayed.code)") }
        if stored.externalSubscriptionID != replayed.externalSubscriptionID {
            differences.append(
                "external_subscription_id: Lago \(stored.externalSubscriptionID ?? "none"), "
                    + "here \(replayed.externalSubscriptionID ?? "none")")
        }
        if let mine = replayed.timestamp, abs(stored.timestamp.date.timeIntervalSince1970 - mine) >= 0.001 {
            differences.append(
                "timestamp: Lago \(stored.timestamp), here \(LagoDateFormat.milliseconds(Date(timeIntervalSince1970: mine)))"
            )
        }
        for key in Set(stored.properties.keys).union(replayed.properties.keys).sorted() {
            let theirs = stored.properties[key]
            let mine = replayed.properties[key]
            guard let theirs, let mine, theirs.isNumericallyEqual(mine) else {
                if theirs == nil && mine == nil { continue }
                differences.append(
                    "properties.\(key): Lago \(theirs?.jsonText ?? "absent"), here \(mine?.jsonText ?? "absent")")
                continue
            }
        }
        let amounts = (
            stored.preciseTotalAmountCents.flatMap { Decimal(string: $0) },
            replayed.preciseTotalAmountCents.flatMap { Decimal(string: $0) }
        )
        if amounts.0 != amounts.1 {
            differences.append(
                "precise_total_amount_cents: Lago \(stored.preciseTotalAmountCents ?? "none"), "
                    + "here \(replayed.preciseTotalAmountCents ?? "none")")
        }
        return differences
    }

    /// Deletes a dead letter for good.
    /// - Throws: ``EngineError`` `.deadLetterNotFound`, `.spoolIO`, `.shutDown`.
    public func discardDeadLetter(id: Int64) async throws {
        try await spool.discardDeadLetter(id: id, path: configuration.spoolPath)
        deadLetterLeft()
    }

    // MARK: Lago's webhooks

    /// Records a verified Lago webhook about ingested events (`events.errors`, `event.error`): each named event is
    /// kept in the spool as "Lago: not billed (reason)" with the time, beside our own verdict for it. Idempotent by
    /// ``LagoWebhookReport/uniqueKey``: a replay changes nothing and returns ``LagoWebhookRecording/replayed``.
    /// - Throws: ``EngineError`` `.spoolIO`, `.shutDown`.
    public func recordLagoWebhook(_ report: LagoWebhookReport) async throws -> LagoWebhookRecording {
        let recording = try await spool.recordLagoWebhook(report)
        switch recording {
        case .replayed:
            lagoReplays.add(1, ordering: .relaxed)
            lagoVerdicts.withLock { $0.stats?.replaysIgnored += 1 }
        case .recorded(let events):
            metrics.lagoWebhooks.increment()
            metrics.lagoReportedEvents.increment(by: events)
            lagoVerdicts.withLock {
                $0.generation += 1
                $0.stats = nil
            }
            _ = await lagoConfirmedStats()
        }
        return recording
    }

    /// The Lago API root the engine delivers to now (it follows ``updateLago(baseURL:apiKey:)``).
    public var lagoBaseURL: LagoBaseURL { client.configuration.baseURL }

    /// The RSA public key Lago's `jwt` webhook signatures verify with (`GET /webhooks/public_key`, base64 text), from
    /// the Lago the engine delivers to now (its URL and key follow ``updateLago(baseURL:apiKey:)``).
    /// - Throws: ``LagoAPI/LagoAPIError``.
    public func lagoWebhookPublicKey() async throws -> String {
        try await client.webhookPublicKey()
    }

    /// Lago's verdicts, counted in the spool once and after each webhook.
    private func lagoConfirmedStats() async -> LagoConfirmedStats? {
        let (generation, cached) = lagoVerdicts.withLock { ($0.generation, $0.stats) }
        if let cached { return cached }
        guard var counted = try? await spool.lagoConfirmedStats() else { return nil }
        counted.replaysIgnored = lagoReplays.load(ordering: .relaxed)
        // Two webhooks recorded at once: the count that read the file before the second one is not kept.
        lagoVerdicts.withLock { if $0.generation == generation { $0.stats = counted } }
        return counted
    }

    // MARK: Held events

    /// Events held out of delivery as unbillable (policy `hold`), oldest first.
    /// - Throws: ``EngineError`` `.spoolIO`, `.shutDown`.
    public func heldEvents(limit: Int = 100, offset: Int = 0) async throws -> [HeldEvent] {
        try await spool.heldEvents(limit: limit, offset: offset)
    }

    /// One held event.
    public func heldEvent(id: Int64) async throws -> HeldEvent? {
        try await spool.heldEvent(id: id)
    }

    /// Puts a held event in the queue, its bytes unchanged, checked again against the catalogue of now (the
    /// operator fixed the code or the subscription in Lago, or decided to send it as it is); returns its
    /// transaction id and new verdict.
    /// - Throws: ``EngineError`` `.heldEventNotFound`, `.invalidEvent` (damaged on disk), `.spoolIO`, `.shutDown`.
    @discardableResult
    public func releaseHeld(id: Int64) async throws -> HeldRelease {
        guard let held = try await spool.heldEvent(id: id) else {
            throw EngineError(
                .heldEventNotFound, "no held event has id \(id) in \(configuration.spoolPath)",
                path: configuration.spoolPath)
        }
        let verdict =
            held.event.flatMap { event in
                configuration.billingChecker?.check(BillingEvent(event, acceptedAt: held.enqueuedAt))
            } ?? .unchecked
        let (released, rowID) = try await spool.releaseHeld(id: id, verdict: verdict, path: configuration.spoolPath)
        heldLeft(released.verdict)
        let now = clock.wallNow()
        broadcaster.publish([
            EventLifecycleChange(transactionID: released.transactionID, stage: .released, date: now, eventID: id),
            EventLifecycleChange(
                transactionID: released.transactionID, stage: .queued, date: now, event: released.event,
                eventID: rowID, billing: verdict),
        ])
        return HeldRelease(transactionID: released.transactionID, billing: verdict)
    }

    /// Deletes a held event for good; it never reaches Lago (its source may send it again).
    /// - Throws: ``EngineError`` `.heldEventNotFound`, `.spoolIO`, `.shutDown`.
    public func discardHeld(id: Int64) async throws {
        let discarded = try await spool.discardHeld(id: id, path: configuration.spoolPath)
        heldLeft(discarded.verdict)
        broadcaster.publish([
            EventLifecycleChange(
                transactionID: discarded.transactionID, stage: .discarded, date: clock.wallNow(), eventID: id)
        ])
    }

    /// One held event left the list: the counts and the gauge follow.
    private func heldLeft(_ verdict: BillingVerdict) {
        metrics.held.record(
            counters.withLock {
                $0.heldVerdicts.remove(verdict)
                return $0.heldVerdicts.total
            })
    }

    /// One dead letter left the store (replayed or discarded): the count and its gauge follow.
    private func deadLetterLeft() {
        metrics.deadLetters.record(
            counters.withLock {
                $0.dead -= 1
                return $0.dead
            })
    }

    // MARK: The flusher loop

    private func runLoop(initialQueued: Int) async {
        let settings = DeliveryStateMachine.Settings(
            maxBatchSize: configuration.maxBatchSize, maxBatchBytes: configuration.maxBatchBytes,
            maxInFlight: configuration.requestsInFlightAtMost, flushInterval: configuration.flushInterval,
            retry: RetryPolicy(base: configuration.retryBase, cap: configuration.maxRetryBackoff),
            probeInterval: configuration.probeInterval, holdProbeInterval: configuration.holdProbeInterval,
            maxEventAge: configuration.maxEventAge, adaptive: configuration.concurrency)
        var machine = DeliveryStateMachine(
            settings: settings, random: random, unclaimedCount: initialQueued, unclaimedBytes: 0, now: clock.now())
        // The driver: it feeds inputs to the machine and carries out every action; it decides nothing.
        var flushWaiters: [Int: FlushWaiter] = [:]
        var timer: (at: ContinuousClock.Instant, task: Task<Void, Never>)?
        await withDiscardingTaskGroup { group in
            post { $0.tick = true }
            loop: for await _ in wakeUps {
                let inputs = mailbox.withLock { mailbox in
                    defer {
                        let closed = mailbox.closed
                        mailbox = LoopMailbox()
                        mailbox.closed = closed
                    }
                    return mailbox
                }
                // After the inputs, not before: a timer's tick taken with them was posted at or after its instant,
                // so `now` is past it and the timer is seen done. Read before, a tick posted in between found its
                // timer not yet due, kept it as pending, and no new one was set for the same instant: the wake-up
                // was lost until some other input came (an experiment that paced sends 2 ms apart, each send waiting
                // for a timer, showed it: 16 in flight decayed to 3, woken by answers alone).
                let now = clock.now()
                machine.rowsAppended(count: inputs.appendedCount, bytes: inputs.appendedBytes, now: now)
                for claim in inputs.claims {
                    switch claim {
                    case .success(let batches):
                        machine.claimCompleted(batches: batches, now: now)
                    case .failure(let failure):
                        machine.claimFailed(now: now)
                        logger.warning("Reading the spool failed", metadata: ["reason": "\(failure.reason)"])
                    }
                }
                var tallies: [Tally] = []
                for (batchID, rows, outcome, settled) in inputs.completions {
                    machine.sendCompleted(batchID: batchID, rows: rows, outcome: outcome, now: now)
                    tallies += settled
                }
                if inputs.tick, let current = timer, current.at <= now { timer = nil }
                switch inputs.paused {
                case true?: machine.pause()
                case false?: machine.resume()
                case nil: break
                }
                if inputs.apiKeyChanged { machine.apiKeyChanged() }
                if inputs.retryNow { machine.retryNow() }
                for (id, deadline, waiter) in inputs.flushes {
                    flushWaiters[id] = waiter
                    machine.flushStarted(id: id, deadline: deadline)
                }
                for id in inputs.cancelledFlushes { machine.flushCancelled(id: id) }
                if inputs.stop { machine.stop() }
                // The settled events leave the counts as their batches leave the state, in one critical section,
                // before anything is decided (a flush then sees them gone).
                if !inputs.completions.isEmpty { publishSnapshot(machine, applying: tallies) }

                let decision = machine.decide(
                    now: now, wallNow: clock.wallNow(), spooled: counters.withLock { $0.queued })
                var exit = false
                for action in decision.actions {
                    switch action {
                    case .claim(let cursor, let maxCount, let maxBytes, let batches):
                        group.addTask { [spool] in
                            let claim: Result<[[SpoolRow]], ClaimFailure>
                            do {
                                claim = .success(
                                    try await spool.claim(
                                        after: cursor, maxCount: maxCount, maxBytes: maxBytes, batches: batches))
                            } catch {
                                claim = .failure(ClaimFailure(reason: "\(error)"))
                            }
                            self.post { $0.claims.append(claim) }
                        }
                    case .send(let batchID, let rows, let expired, let isolated, let probe):
                        group.addTask {
                            await self.deliver(
                                batchID: batchID, rows: rows, expired: expired, isolated: isolated, probe: probe)
                        }
                    case .announceRetry(let retry, let rows, let outcome):
                        announce(retry, rows: rows, outcome: outcome)
                    case .completeFlushes(let ids):
                        for id in ids {
                            guard let waiter = flushWaiters.removeValue(forKey: id) else { continue }
                            waiter.continuation.resume(returning: flushResult(for: waiter))
                        }
                    case .log(let transition):
                        log(transition)
                    case .exit:
                        exit = true
                    }
                }
                publishSnapshot(machine)
                if exit { break loop }

                if let wake = decision.wakeAt, timer == nil || wake < timer!.at {
                    timer?.task.cancel()
                    let clock = self.clock
                    timer = (
                        wake,
                        Task {
                            do {
                                try await clock.sleep(until: wake)
                                self.post { $0.tick = true }
                            } catch {}
                        }
                    )
                }
            }
            timer?.task.cancel()
            // The loop ends (or was cancelled: the grace period ran out): nobody waits for a flush that cannot end
            // otherwise, and a flush posted meanwhile is answered too; later ones are answered at once.
            // What settled meanwhile is counted all the same (later reports are counted as they come).
            let (late, unapplied) = mailbox.withLock { mailbox in
                mailbox.closed = true
                return (mailbox.flushes.map(\.waiter), mailbox.completions.flatMap(\.tallies))
            }
            if !unapplied.isEmpty {
                counters.withLock { counters in
                    for tally in unapplied { tally.apply(to: &counters) }
                }
            }
            for waiter in Array(flushWaiters.values) + late {
                waiter.continuation.resume(returning: flushResult(for: waiter))
            }
        }
    }

    /// Publishes a retry's lifecycle change for the events of its batch.
    private func announce(
        _ retry: DeliveryStateMachine.ScheduledRetry, rows: [SpoolRow], outcome: BatchOutcome
    ) {
        metrics.retries.increment()
        guard broadcaster.hasSubscribers else { return }
        let stage = EventLifecycleChange.Stage.retryScheduled(
            attempt: retry.attempt, at: clock.date(of: retry.at), reason: retry.reason)
        let date = clock.wallNow()
        broadcaster.publish(
            rows.map {
                EventLifecycleChange(
                    transactionID: $0.transactionID, stage: stage, date: date, eventID: $0.id,
                    httpStatus: outcome.httpStatus, answer: outcome.answer)
            })
    }

    /// Logs a state change of the flusher.
    private func log(_ transition: DeliveryStateMachine.Transition) {
        switch transition {
        case .backingOff(let reason):
            logger.warning("Lago is failing; batches back off", metadata: ["reason": "\(reason)"])
        case .recovered:
            logger.info("Lago answers again; waiting batches released")
        case .held(let hold):
            let interval = configuration.holdProbeInterval
            let message: Logger.Message =
                hold.kind == .auth
                ? "Lago refused the API key; sending is on hold, probing every \(interval)"
                : "No Lago events route at lago.api_url; sending is on hold, probing every \(interval)"
            logger.error(message, metadata: ["reason": "\(hold.reason)"])
        case .holdLifted:
            logger.info("Sending resumes: the hold is lifted")
        }
    }

    /// Publishes the loop's state for ``stats()``, with `tallies` applied to the counts in the same critical
    /// section.
    private func publishSnapshot(_ machine: DeliveryStateMachine, applying tallies: [Tally] = []) {
        let clock = self.clock
        let retrying = machine.waitingBatches.map { entry in
            RetryingBatch(
                eventCount: entry.batch.rows.count, attempt: entry.batch.failures + 1,
                nextRetry: clock.date(of: entry.until),
                reason: entry.batch.lastReason ?? "")
        }
        let recovery = machine.lastRecovery.map {
            RecoveryRecord(
                failingSince: clock.date(of: $0.failingSince), lastFailureAt: clock.date(of: $0.lastFailureAt),
                recoveredAt: clock.date(of: $0.recoveredAt))
        }
        let now = clock.now()
        let value = LoopView(
            inFlight: machine.inFlightEvents, retrying: retrying, paused: machine.paused, hold: machine.hold,
            backingOff: machine.isBackingOff, notBefore: machine.notBefore.map { clock.date(of: $0) },
            lastRecovery: recovery, requestsInFlight: machine.sendingCount, concurrencyLimit: machine.concurrencyLimit,
            adaptiveConcurrency: !machine.concurrency.settings.isFixed,
            roundTripAverage: machine.concurrency.averageRTT,
            rateLimitRemaining: machine.rateWindow.remaining(now: now),
            rateLimitLimit: machine.rateWindow.limit)
        let (queued, dead) = counters.withLock { counters in
            for tally in tallies { tally.apply(to: &counters) }
            counters.loop = value
            return (counters.queued, counters.dead)
        }
        metrics.inFlight.record(value.inFlight)
        metrics.requestsInFlight.record(value.requestsInFlight)
        metrics.concurrencyLimit.record(value.concurrencyLimit)
        if let rtt = value.roundTripAverage { metrics.roundTrip.record(rtt / .seconds(1)) }
        if let remaining = value.rateLimitRemaining { metrics.rateLimitRemaining.record(remaining) }
        if !tallies.isEmpty {
            metrics.queued.record(queued)
            metrics.deadLetters.record(dead)
        }
    }

    /// Sends one batch and settles its events in the spool, then reports to the loop. `tooOld` are the rows the
    /// state machine found expired (dead-lettered, never sent).
    private func deliver(
        batchID: Int, rows claimed: [SpoolRow], expired tooOld: [SpoolRow], isolated: Bool, probe: Bool
    ) async {
        var rows = claimed
        var tallies: [Tally] = []
        let wallNow = clock.wallNow()
        // A body that no longer matches its checksum was damaged on disk: never sent, dead-lettered loudly.
        if rows.contains(where: { !$0.isIntact }) {
            let damaged = rows.filter { !$0.isIntact }
            let reason = DeadLetterReason(
                kind: .spoolDamaged,
                message: "the spool's copy of this event is damaged (its checksum no longer matches); it was not sent")
            for row in damaged {
                logger.error(
                    "A spooled event is damaged on disk and was dead-lettered instead of sent",
                    metadata: ["transaction_id": "\(row.transactionID)", "spool": "\(configuration.spoolPath)"])
            }
            do {
                try await spool.settle(
                    SpoolSettlement(dead: damaged.map { ($0, reason) }, deadAt: wallNow.timeIntervalSince1970))
            } catch {
                report(batchID: batchID, rows: rows, outcome: spoolFailure(error), tallies: tallies)
                return
            }
            var outcome = BatchOutcome()
            outcome.dead = damaged.map { ($0, reason) }
            tallies.append(record(outcome, latency: nil, error: nil))
            rows.removeAll { !$0.isIntact }
            if rows.isEmpty {
                report(batchID: batchID, rows: [], outcome: BatchOutcome(), tallies: tallies)
                return
            }
        }
        // Too old to send, as the state machine found (a damaged one is dead-lettered as damaged above).
        let remaining = Set(rows.map(\.id))
        let expired = tooOld.filter { remaining.contains($0.id) }
        if !expired.isEmpty {
            do {
                try await spool.settle(
                    SpoolSettlement(dead: expired.map { ($0, .expired) }, deadAt: wallNow.timeIntervalSince1970))
            } catch {
                report(batchID: batchID, rows: rows, outcome: spoolFailure(error), tallies: tallies)
                return
            }
            var outcome = BatchOutcome()
            outcome.dead = expired.map { ($0, .expired) }
            tallies.append(record(outcome, latency: nil, error: nil))
            let expiredIDs = Set(expired.map(\.id))
            rows.removeAll { expiredIDs.contains($0.id) }
            if rows.isEmpty {
                report(batchID: batchID, rows: [], outcome: BatchOutcome(), tallies: tallies)
                return
            }
        }
        // The attempt is on disk before the request goes out, and only then: a `value_already_exist` answer to a
        // later attempt may be this request's doing (``confirmInLago(_:error:)`` asks Lago), never a batch's that
        // was read ahead and not sent.
        do {
            try await spool.markAttempted(rows.map(\.id))
        } catch {
            report(batchID: batchID, rows: rows, outcome: spoolFailure(error), tallies: tallies)
            return
        }
        for index in rows.indices { rows[index].attempts += 1 }
        if broadcaster.hasSubscribers {
            broadcaster.publish(
                rows.map {
                    EventLifecycleChange(
                        transactionID: $0.transactionID, stage: .inFlight(attempt: $0.attempts), date: wallNow,
                        eventID: $0.id, payload: String(decoding: $0.body, as: UTF8.self), origin: $0.origin)
                })
        }
        let bytes = rows.reduce(0) { $0 + $1.body.count }
        let body = EventJSON.batchBody(rows.lazy.map(\.body), totalBytes: bytes)
        let start = clock.now()
        var failure: (any Error)?
        var status: Int?
        var rateLimit: RateLimitHeaders?
        do {
            let answer = try await client.deliverBatchAnswer(encodedBody: body)
            status = answer.status
            rateLimit = answer.rateLimit
        } catch {
            failure = error
            status = (error as? LagoAPIError)?.status
        }
        let latency = clock.now() - start
        let exchange = BatchOutcome.Exchange(latency: latency, error: failure, rateLimit: rateLimit)
        var outcome = BatchOutcome.classify(rows: rows, error: failure, isolated: isolated)
        if !outcome.alreadyInLago.isEmpty, let apiError = failure as? LagoAPIError {
            await confirmInLago(&outcome, error: apiError)
        }
        outcome.httpStatus = status
        outcome.answer = failure == nil ? status.map { "HTTP \($0)" } : outcome.error
        let settledAt = clock.wallNow()
        // A failed request's answer is kept for the events that stay queued, so a restart still shows it.
        var failedAttempts: [AttemptRecord] = []
        if failure != nil, let answer = outcome.answer {
            let settled = Set(
                outcome.delivered.map(\.id) + outcome.alreadyInLago.map(\.id) + outcome.dead.map(\.row.id))
            failedAttempts = rows.filter { !settled.contains($0.id) }.map {
                AttemptRecord(eventID: $0.id, attempt: $0.attempts, at: settledAt, httpStatus: status, answer: answer)
            }
        }
        do {
            try await spool.settle(
                SpoolSettlement(
                    remove: outcome.delivered.map(\.id) + outcome.alreadyInLago.map(\.id), dead: outcome.dead,
                    deadAt: settledAt.timeIntervalSince1970, failedAttempts: failedAttempts))
            // A settlement that changed nothing (a batch to retry) proves nothing about room on the disk.
            if outcome.settledCount > 0 { recordSpoolWrite(failure: nil) }
        } catch {
            // Everything stays spooled and the batch is tried again; a duplicate answer then counts as already in
            // Lago (the rows carry an attempt).
            outcome = spoolFailure(error)
        }
        outcome.exchange = exchange
        tallies.append(record(outcome, latency: latency, error: failure))
        if let hold = outcome.hold, probe {
            logger.debug("Probe refused", metadata: ["reason": "\(hold.reason)"])
        }
        report(batchID: batchID, rows: rows, outcome: outcome, tallies: tallies)
    }

    /// The ``EngineStats/spoolError`` sentence for a failed write, or `nil` when the failure is not the spool's
    /// (the engine shut down meanwhile).
    private func spoolWriteFailed(_ error: any Error) -> String? {
        if let error = error as? EngineError, error.kind == .shutDown || error.kind == .spoolFull { return nil }
        return SpoolWriteFailure.sentence(error, path: configuration.spoolPath)
    }

    /// Keeps the last failed spool write for ``stats()`` (`nil`: a write succeeded, which clears it).
    private func recordSpoolWrite(failure error: (any Error)?) {
        let sentence = error.flatMap(spoolWriteFailed)
        if error != nil && sentence == nil { return }
        let now = clock.wallNow()
        counters.withLock { counters in
            if let sentence {
                counters.spoolError = sentence
                counters.spoolErrorAt = now
            } else if counters.spoolError != nil {
                (counters.spoolError, counters.spoolErrorAt) = (nil, nil)
            }
        }
    }

    private func spoolFailure(_ error: any Error) -> BatchOutcome {
        logger.error(
            "Writing the spool failed",
            metadata: ["cause": "\(SpoolWriteFailure.plainWords(error))", "spool": "\(configuration.spoolPath)"])
        recordSpoolWrite(failure: error)
        var outcome = BatchOutcome()
        outcome.retry = .init(suggestedDelay: nil, reason: "spool write failed: \(error)")
        outcome.error = "\(error)"
        return outcome
    }

    /// Puts something in the loop's mailbox and wakes the loop. Returns `false` (nothing changed) once the loop
    /// has ended.
    @discardableResult
    private func post(_ change: (inout LoopMailbox) -> Void) -> Bool {
        let (accepted, wake): (Bool, Bool) = mailbox.withLock { mailbox in
            guard !mailbox.closed else { return (false, false) }
            change(&mailbox)
            defer { mailbox.signaled = true }
            return (true, !mailbox.signaled)
        }
        if wake { wakeUpContinuation.yield() }
        return accepted
    }

    /// Hands a batch's result to the loop, with what its settlements add to the counts (applied at once when the
    /// loop has ended).
    private func report(batchID: Int, rows: [SpoolRow], outcome: BatchOutcome, tallies: [Tally]) {
        let posted = post { $0.completions.append((batchID, rows, outcome, tallies)) }
        if !posted, !tallies.isEmpty {
            counters.withLock { counters in
                for tally in tallies { tally.apply(to: &counters) }
            }
        }
    }

    /// What one settlement adds to the counts; the loop applies it in the same critical section as the state it
    /// leads to (the batch out of flight, a hold lifted), so ``stats()`` never sees one without the other.
    private struct Tally: Sendable {
        var delivered = 0
        var alreadyInLago = 0
        var dead = 0
        /// The verdicts of the events that left the spool.
        var verdicts = BillingCounts()
        var latency: Duration?
        var error: String?
        var failed = false
        var at: ContinuousClock.Instant
        var wallAt: Date

        func apply(to counters: inout StatsCounters) {
            counters.spooledVerdicts.remove(verdicts)
            counters.delivered += delivered
            counters.alreadyInLago += alreadyInLago
            counters.dead += dead
            counters.deadSinceStart += dead
            counters.queued -= delivered + alreadyInLago + dead
            if let latency {
                counters.requests += 1
                counters.latencies.record(latency)
            }
            if failed {
                counters.failedRequests += 1
                counters.lastError = error
                counters.lastErrorAt = wallAt
            }
            if delivered + alreadyInLago > 0 { counters.rates.record(delivered + alreadyInLago, at: at) }
        }
    }

    /// Counts an outcome in the metrics, logs it and publishes its lifecycle changes; returns what it adds to
    /// the counts of ``stats()``, for the loop to apply.
    private func record(_ outcome: BatchOutcome, latency: Duration?, error: (any Error)?) -> Tally {
        let now = clock.now()
        let wallNow = clock.wallNow()
        var verdicts = BillingCounts()
        for row in outcome.delivered { verdicts.add(row.verdict) }
        for row in outcome.alreadyInLago { verdicts.add(row.verdict) }
        for (row, _) in outcome.dead { verdicts.add(row.verdict) }
        let tally = Tally(
            delivered: outcome.delivered.count, alreadyInLago: outcome.alreadyInLago.count, dead: outcome.dead.count,
            verdicts: verdicts, latency: latency, error: outcome.error, failed: error != nil, at: now, wallAt: wallNow)
        if !outcome.delivered.isEmpty { metrics.delivered.increment(by: outcome.delivered.count) }
        if !outcome.alreadyInLago.isEmpty { metrics.alreadyInLago.increment(by: outcome.alreadyInLago.count) }
        if !outcome.dead.isEmpty { metrics.dead.increment(by: outcome.dead.count) }
        if let latency {
            metrics.requests.increment()
            metrics.requestDuration.record(duration: latency)
        }
        if error != nil { metrics.requestFailures.increment() }
        if !outcome.dead.isEmpty {
            logger.warning(
                "Events dead-lettered",
                metadata: ["count": "\(outcome.dead.count)", "reason": "\(outcome.dead[0].reason.message)"])
        }
        guard broadcaster.hasSubscribers else { return tally }
        var changes: [EventLifecycleChange] = []
        func change(_ row: SpoolRow, _ stage: EventLifecycleChange.Stage) -> EventLifecycleChange {
            EventLifecycleChange(
                transactionID: row.transactionID, stage: stage, date: wallNow, eventID: row.id,
                httpStatus: outcome.httpStatus, answer: outcome.answer)
        }
        changes += outcome.delivered.map { change($0, .delivered) }
        changes += outcome.alreadyInLago.map { change($0, .alreadyInLago) }
        changes += outcome.dead.map { change($0.row, .dead($0.reason)) }
        broadcaster.publish(changes)
        return tally
    }
}

/// Runs `body` with a started engine that is shut down when `body` returns or throws.
/// - Throws: what opening the engine throws, or what `body` throws.
public func withLagoEngine<Result: Sendable>(
    configuration: EngineConfiguration, client: LagoClient, clock: any EngineClock = SystemEngineClock(),
    random: SplitMix64 = SplitMix64(), logger: Logger = Logger(label: "lago-console.engine"),
    _ body: (LagoEngine) async throws -> Result
) async throws -> Result {
    let engine = try LagoEngine(
        configuration: configuration, client: client, clock: clock, random: random, logger: logger)
    engine.start()
    do {
        let result = try await body(engine)
        await engine.shutdown()
        return result
    } catch {
        await engine.shutdown()
        throw error
    }
}
