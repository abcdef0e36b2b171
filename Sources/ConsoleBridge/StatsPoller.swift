public import ConsoleUI
public import Foundation
import LagoAPI
public import LagoBilling
public import LagoControl
public import LagoEngine

/// Turns the engine's `stats()` snapshots into console events: queue figures, the events/s sparkline and what the
/// status line says of the connection and the key. Pure: the wiring polls, this decides what to post.
///
/// The wiring calls ``polled(_:deadLetters:servePID:now:)`` about four times a second (every
/// ``pollInterval``) and ``unavailable()`` when the engine does not answer (only an attached console: the serve
/// it watches stopped answering; retry after ``unavailableRetryInterval``). Once a second (every fourth poll,
/// ``readsDeadLetters``) the rate is sampled, a clock tick is posted and dead letters and held events are read. Only
/// changes are posted, so an idle console does not redraw for nothing.
public struct StatsPoller: Sendable {
    /// How often the wiring reads the engine's stats.
    public static let pollInterval = Duration.milliseconds(250)
    /// How long the wiring waits before asking an engine that did not answer again.
    public static let unavailableRetryInterval = Duration.seconds(1)
    /// Samples the sparkline keeps (one a second).
    public static let rateSamples = 60

    private let connection: ConnectionInfo
    private var poll = 0
    private var rates: [Double] = []
    private var deadLetters: [ConsoleUI.DeadLetter] = []
    private var heldEvents: [ConsoleUI.HeldEvent] = []
    private var lastCatalogue: BillingCatalogueStatus?
    private var lastStats: QueueStats?
    private var lastConnection: ConnectionInfo?

    /// Starts with the connection the console was opened with (URL, sandbox, masked key, attached serve).
    public init(connection: ConnectionInfo) {
        self.connection = connection
    }

    /// Whether the next poll should also read the dead letters and the held events (once a second).
    public var readsDeadLetters: Bool { poll % 4 == 0 }

    /// The events for one snapshot. `deadLetters` is what the wiring read when ``readsDeadLetters`` asked for
    /// them (`nil`: not read, or the read failed; the last ones read are kept); `heldEvents` likewise.
    /// `attachedTo` is the process whose engine an attached console watches now (`serve pid 4242`, `console pid
    /// 4243`: a restarted one, found again through its discovery file, has another pid).
    public mutating func polled(
        _ stats: EngineStats, deadLetters letters: [EngineDeadLetter]?, heldEvents held: [EngineHeldEvent]? = nil,
        attachedTo: EngineHolder?, now: Date
    ) -> [ConsoleEvent] {
        var events: [ConsoleEvent] = []
        if poll % 4 == 0 {
            rates.append(stats.eventsPerSecond.lastSecond)
            if rates.count > Self.rateSamples { rates.removeFirst(rates.count - Self.rateSamples) }
            events.append(.tick(now: now))
        }
        if let letters { deadLetters = letters.map(Self.deadLetter) }
        if let held { heldEvents = held.map(Self.heldEvent) }
        poll += 1
        var queue = Self.queueStats(stats, rates: rates, deadLetters: deadLetters, now: now)
        queue.heldEvents = heldEvents
        if queue != lastStats {
            events.append(.stats(queue))
            lastStats = queue
        }
        var info = connection
        if let attachedTo, info.attachedTo != nil { info.attachedTo = attachedTo }
        // The Lago the engine delivers with now: a key or URL changed in the config file applies live.
        if let url = stats.lagoURL { info.url = url }
        if let key = stats.maskedKey { info.maskedKey = key }
        // The key is known good or bad from the first answer of Lago: delivery's, or the catalogue's first read
        // (metrics and subscriptions, at start), so a wrong key shows before any event is sent.
        switch stats.state {
        case .authFailed: info.auth = .failed(stats.lastError ?? "authentication failed")
        default:
            if stats.requests > stats.failedRequests || stats.delivered > 0 {
                info.auth = .ok
            } else if let catalogue = lastCatalogue, catalogue.lastErrorStatus == 401 {
                info.auth = .failed(catalogue.lastError ?? "Lago answered 401 Unauthorized")
            } else if lastCatalogue?.loadedAt != nil && lastCatalogue?.lastError == nil {
                info.auth = .ok
            } else {
                info.auth = .unknown
            }
        }
        if stats.state == .backingOff, let error = stats.lastError {
            info.link = .unreachable(error)
        } else if stats.requests > 0 {
            info.link = .connected
        }
        events += post(info)
        return events
    }

    /// The event for the console's catalogue (its metrics for the Billing pane's fixes, its age and last error),
    /// when it changed since the last call.
    public mutating func catalogue(_ catalogue: BillingCatalogue?, status: BillingCatalogueStatus) -> [ConsoleEvent] {
        guard status != lastCatalogue else { return [] }
        lastCatalogue = status
        let metrics = (catalogue?.metrics.values).map { Array($0).sorted { $0.code < $1.code } } ?? []
        return [.catalogueChanged(metrics: metrics, status: status)]
    }

    /// The events when the engine did not answer (only an attached console's can: the process serving it stopped):
    /// the status line says that process is gone and the console reattaching (once).
    public mutating func unavailable() -> [ConsoleEvent] {
        var info = lastConnection ?? connection
        info.link = .holderGone(holder: info.attachedTo?.holder ?? "serve")
        return post(info)
    }

    private mutating func post(_ info: ConnectionInfo) -> [ConsoleEvent] {
        guard info != lastConnection else { return [] }
        lastConnection = info
        return [.connection(info)]
    }

    /// The queue pane's figures from an engine snapshot; ages and the next retry are measured from `now`.
    public static func queueStats(
        _ stats: EngineStats, rates: [Double], deadLetters: [ConsoleUI.DeadLetter], now: Date
    ) -> QueueStats {
        let engineState: ConsoleUI.EngineState =
            switch stats.state {
            case .running: .running
            case .paused: .paused
            case .authFailed: .authFailed(reason: stats.holdReason ?? stats.lastError ?? "authentication failed")
            case .wrongURL: .wrongURL(reason: stats.holdReason ?? stats.lastError ?? "HTTP 404")
            case .backingOff:
                .backingOff(
                    until: stats.retryingBatches.map(\.nextRetry).min() ?? now, reason: stats.lastError ?? "retrying")
            case .stopped: .stopped
            }
        let retrying = stats.retryingBatches.enumerated().map { index, batch in
            ConsoleUI.RetryingBatch(
                id: "\(index + 1)", eventCount: batch.eventCount, reason: batch.reason, httpStatus: nil,
                attempt: batch.attempt, nextRetryAt: batch.nextRetry)
        }
        var queue = QueueStats(
            queued: stats.queued, inFlight: stats.inFlight, retrying: stats.retrying, delivered: stats.delivered,
            alreadyInLago: stats.alreadyInLago, dead: stats.dead, refused: stats.refused.total,
            oldestPendingAt: stats.oldestQueuedAge.map { now.addingTimeInterval(-($0 / .seconds(1))) },
            eventsPerSecond: rates, latencyP50: stats.requestLatencyP50, latencyP99: stats.requestLatencyP99,
            engineState: engineState, retryingBatches: retrying, deadLetters: deadLetters,
            spoolError: stats.spoolError, spoolErrorAt: stats.spoolErrorAt)
        queue.billing.checking = stats.billing.checking
        queue.billing.policy = stats.billing.policy.rawValue
        queue.billing.spooled = stats.billing.spooled
        queue.billing.held = stats.billing.held.total
        queue.billing.catalogueLoadedAt = stats.billing.catalogue?.loadedAt
        queue.billing.catalogueError = stats.billing.catalogue?.lastError
        queue.billing.lago = stats.billing.lago.flatMap(Self.lagoSummary)
        queue.delivery.requestsInFlight = stats.requestsInFlight ?? 0
        queue.delivery.limit = stats.concurrencyLimit
        queue.delivery.adaptive = stats.adaptiveConcurrency ?? false
        queue.delivery.roundTrip = stats.roundTripAverage
        queue.delivery.rateLimitRemaining = stats.rateLimitRemaining
        queue.delivery.rateLimitLimit = stats.rateLimitLimit
        return queue
    }

    /// The Billing pane's held event for one of the engine's.
    public static func heldEvent(_ held: EngineHeldEvent) -> ConsoleUI.HeldEvent {
        ConsoleUI.HeldEvent(
            id: String(held.id), transactionID: held.transactionID, code: held.event?.code ?? "?",
            externalSubscriptionID: held.event?.externalSubscriptionID, reasons: held.verdict.reasons,
            acceptedAt: held.enqueuedAt)
    }

    /// The failures pane's dead letter for one of the engine's.
    public static func deadLetter(_ letter: EngineDeadLetter) -> ConsoleUI.DeadLetter {
        ConsoleUI.DeadLetter(
            id: String(letter.id),
            event: letter.event
                ?? EventInput(transactionID: letter.transactionID, externalSubscriptionID: nil, code: "?"),
            reason: letter.reason.message, httpStatus: letter.reason.status, attempts: letter.attempts,
            failedAt: letter.deadAt)
    }
}

extension StatsPoller {
    /// The console's view of Lago's webhook verdicts; `nil` before the first webhook.
    static func lagoSummary(_ lago: LagoConfirmedStats) -> LagoVerdictSummary? {
        guard lago.webhooks > 0 else { return nil }
        var summary = LagoVerdictSummary()
        summary.webhooks = lago.webhooks
        summary.lastWebhookAt = lago.lastWebhookAt
        summary.notBilled = lago.notBilled
        summary.byReason = lago.byReason
        summary.agreed =
            (lago.byAgreement[LagoAgreement.agreed.rawValue] ?? 0)
            + (lago.byAgreement[LagoAgreement.reasonDiffers.rawValue] ?? 0)
        summary.predictedBillable = lago.byAgreement[LagoAgreement.predictedBillable.rawValue] ?? 0
        summary.predictedUnbillableNotReported = lago.predictedUnbillableNotReported
        summary.notFromThisSpool = lago.byAgreement[LagoAgreement.notFromThisSpool.rawValue] ?? 0
        for event in lago.recent.reversed() {
            var reported =
                summary.reported[event.transactionID]
                ?? LagoVerdictSummary.ReportedEvent(
                    reasons: [], reportedAt: event.reportedAt, predictedBillable: event.agreement == .predictedBillable)
            if !reported.reasons.contains(event.reason) { reported.reasons.append(event.reason) }
            reported.reportedAt = max(reported.reportedAt, event.reportedAt)
            summary.reported[event.transactionID] = reported
        }
        return summary
    }
}

extension EngineHolder {
    /// The process a discovery file (or a control API answer) names: `serve pid 4242`, `console pid 4243`.
    public init(_ endpoint: ControlEndpoint) {
        self.init(endpoint.holderName, pid: endpoint.pid)
    }
}
