import LagoAPI

/// The flusher's decisions: which batch to send when, when to read more events from the spool, how long each
/// waiting batch backs off, when to probe a failing endpoint. A value type driven from one task, with no I/O (the
/// async-http-client `HTTP1ConnectionStateMachine` pattern): inputs are `mutating` calls, outputs are
/// ``Decision``s the driver carries out.
struct DeliveryStateMachine: Sendable {
    typealias Instant = ContinuousClock.Instant

    struct Settings: Sendable, Hashable {
        var maxBatchSize: Int
        var maxBatchBytes: Int
        var maxInFlight: Int
        var flushInterval: Duration
        var retry: RetryPolicy
        var probeInterval: Duration
        /// While sending is on hold (401/403, a wrong URL), one batch is sent this often to find out whether the
        /// cause went away (a key restored in Lago, a proxy route fixed).
        var holdProbeInterval: Duration = .seconds(30)

        /// Claimed batches (sending, ready or waiting) at most.
        var maxActiveBatches: Int { maxInFlight * 4 + 1 }
    }

    enum Phase: Sendable, Hashable {
        /// To send as soon as a slot is free.
        case ready
        /// A request carries it.
        case sending(probe: Bool)
        /// Backing off until the instant.
        case waiting(until: Instant)
    }

    struct Batch: Sendable {
        var id: Int
        var rows: [SpoolRow]
        var phase: Phase
        /// Consecutive "try later" failures.
        var failures: Int = 0
        /// A single event split out of a refused batch.
        var isolated: Bool = false
        var lastReason: String?
        /// The ``DeliveryStateMachine/targetGeneration`` its last request went out with.
        var sentToTarget = 0
    }

    enum Health: Sendable, Hashable {
        case healthy
        case failing(since: Instant)
    }

    /// Something the driver must do now.
    enum Action: Sendable {
        /// Send this batch (its phase is now `sending`).
        case send(batchID: Int, rows: [SpoolRow], isolated: Bool, probe: Bool)
        /// Read up to `maxCount` events (or `maxBytes`) with ids above `cursor`, then call ``claimCompleted(_:now:)``.
        case claim(after: Int64, maxCount: Int, maxBytes: Int)
    }

    struct Decision: Sendable {
        var actions: [Action] = []
        /// Call ``decide(now:)`` again at this instant at the latest.
        var wakeAt: Instant?
    }

    /// A retry scheduled by ``sendCompleted(batchID:outcome:now:)``.
    struct ScheduledRetry: Sendable, Hashable {
        var attempt: Int
        var at: Instant
        var reason: String
        var eventCount: Int
    }

    /// A recovery from a failing endpoint.
    struct Recovery: Sendable, Hashable {
        var failingSince: Instant
        var lastFailureAt: Instant
        var recoveredAt: Instant
    }

    let settings: Settings
    private var random: SplitMix64
    private(set) var batches: [Batch] = []
    private var nextBatchID = 1
    private(set) var cursor: Int64 = 0
    private(set) var unclaimedCount: Int
    private(set) var unclaimedBytes: Int
    private var unclaimedSince: Instant?
    private(set) var claiming = false
    private var claimRetryAt: Instant?
    private(set) var paused = false
    private(set) var hold: BatchOutcome.Hold?
    /// When the next hold probe goes.
    private var holdProbeAt: Instant?
    /// The batch carrying the hold probe, while it is in flight.
    private var holdProbeBatchID: Int?
    /// Counts ``apiKeyChanged()`` calls: a 401 or 404 answered to a request sent before the last change says
    /// nothing about the new key or URL.
    private var targetGeneration = 0
    private(set) var stopping = false
    private(set) var health: Health = .healthy
    /// The server asked for no request before this instant (`Retry-After`, `X-RateLimit-Reset`).
    private(set) var notBefore: Instant?
    private var lastSendAt: Instant?
    private var lastFailureAt: Instant?
    private(set) var lastRecovery: Recovery?
    /// A `flush` is waiting: send partial batches now, keep backoffs short.
    private(set) var flushing = false

    init(settings: Settings, random: SplitMix64, unclaimedCount: Int, unclaimedBytes: Int, now: Instant) {
        self.settings = settings
        self.random = random
        self.unclaimedCount = unclaimedCount
        self.unclaimedBytes = unclaimedBytes
        // Events found in the spool at start are overdue.
        self.unclaimedSince = unclaimedCount > 0 ? now - settings.flushInterval : nil
    }

    // MARK: Queries

    var sendingCount: Int { batches.count { if case .sending = $0.phase { true } else { false } } }
    var inFlightEvents: Int {
        batches.reduce(0) { count, batch in
            if case .sending = batch.phase { count + batch.rows.count } else { count }
        }
    }
    /// True when nothing is claimed or being claimed.
    var isIdle: Bool { batches.isEmpty && !claiming }
    /// Waiting batches with their next try.
    var waitingBatches: [(batch: Batch, until: Instant)] {
        batches.compactMap { batch in
            if case .waiting(let until) = batch.phase { (batch, until) } else { nil }
        }
    }
    var isBackingOff: Bool {
        if case .failing = health { return true }
        return false
    }

    // MARK: Inputs

    /// Events were committed to the spool.
    mutating func rowsAppended(count: Int, bytes: Int, now: Instant) {
        guard count > 0 else { return }
        if unclaimedCount <= 0 { unclaimedSince = now }
        unclaimedCount += count
        unclaimedBytes += bytes
    }

    /// A claim read finished; `rows` become a ready batch.
    mutating func claimCompleted(_ rows: [SpoolRow], now: Instant) {
        claiming = false
        guard let last = rows.last else {
            unclaimedCount = 0
            unclaimedBytes = 0
            unclaimedSince = nil
            return
        }
        cursor = max(cursor, last.id)
        unclaimedCount = max(0, unclaimedCount - rows.count)
        unclaimedBytes = max(0, unclaimedBytes - rows.reduce(0) { $0 + $1.body.count })
        if unclaimedCount == 0 { unclaimedSince = nil }
        batches.append(Batch(id: nextBatchID, rows: rows, phase: .ready))
        nextBatchID += 1
    }

    /// A claim read failed; it is tried again a second later.
    mutating func claimFailed(now: Instant) {
        claiming = false
        claimRetryAt = now + .seconds(1)
    }

    /// A request finished (or, with no request, expired events were taken out). Returns the retry it schedules.
    @discardableResult
    ///
    /// - Parameter rows: the batch as it went out (attempts counted; expired events removed).
    mutating func sendCompleted(batchID: Int, rows: [SpoolRow], outcome: BatchOutcome, now: Instant) -> ScheduledRetry? {
        let wasHoldProbe = batchID == holdProbeBatchID
        if wasHoldProbe { holdProbeBatchID = nil }
        guard let index = batches.firstIndex(where: { $0.id == batchID }) else { return nil }
        var batch = batches.remove(at: index)
        batch.rows = rows
        if rows.isEmpty { return nil }
        if outcome.serverAnswered {
            recover(now: now)
        }
        if let hold = outcome.hold {
            guard batch.sentToTarget == targetGeneration else {
                // Refused with the key (or at the URL) used before the change: send it again with the new one.
                batch.phase = .ready
                batches.insert(batch, at: index)
                return nil
            }
            self.hold = hold
            holdProbeAt = now + settings.holdProbeInterval
            batch.phase = .ready
            batches.insert(batch, at: index)
            return nil
        }
        if wasHoldProbe, hold != nil {
            if outcome.serverAnswered {
                // Lago took the probe: the key (or the URL) works again.
                liftHold()
            } else {
                holdProbeAt = now + settings.holdProbeInterval
            }
        }
        if let retry = outcome.retry {
            batch.failures += 1
            batch.lastReason = retry.reason
            lastFailureAt = now
            if case .healthy = health { health = .failing(since: now) }
            var delay = settings.retry.delay(failures: batch.failures, suggested: retry.suggestedDelay, using: &random)
            if flushing, retry.suggestedDelay == nil { delay = min(delay, settings.probeInterval) }
            if let suggested = retry.suggestedDelay {
                notBefore = max(notBefore ?? now, now + suggested)
            }
            let until = now + delay
            batch.phase = .waiting(until: until)
            batches.insert(batch, at: index)
            return ScheduledRetry(
                attempt: batch.failures + 1, at: until, reason: retry.reason, eventCount: batch.rows.count)
        }
        if !outcome.split.isEmpty {
            var singles: [Batch] = []
            for row in outcome.split {
                singles.append(Batch(id: nextBatchID, rows: [row], phase: .ready, isolated: true))
                nextBatchID += 1
            }
            batches.insert(contentsOf: singles, at: index)
            return nil
        }
        if !outcome.halves.isEmpty {
            var parts: [Batch] = []
            for rows in outcome.halves where !rows.isEmpty {
                parts.append(Batch(id: nextBatchID, rows: rows, phase: .ready, isolated: batch.isolated))
                nextBatchID += 1
            }
            batches.insert(contentsOf: parts, at: index)
            return nil
        }
        if !outcome.resend.isEmpty {
            batch.rows = outcome.resend
            batch.phase = .ready
            batch.failures = 0
            batches.insert(batch, at: index)
        }
        return nil
    }

    /// Lago answered: if it was failing, it has recovered and every waiting batch goes now.
    private mutating func recover(now: Instant) {
        guard case .failing(let since) = health else { return }
        health = .healthy
        lastRecovery = Recovery(failingSince: since, lastFailureAt: lastFailureAt ?? since, recoveredAt: now)
        releaseWaiting()
    }

    private mutating func releaseWaiting() {
        for index in batches.indices {
            if case .waiting = batches[index].phase { batches[index].phase = .ready }
        }
    }

    /// Stops sending and claiming (requests in flight finish).
    mutating func pause() { paused = true }

    /// Undoes ``pause()``.
    mutating func resume() { paused = false }

    /// A new API key (or URL): a hold is lifted, and a hold answered to a request sent before does not come back.
    mutating func apiKeyChanged() {
        targetGeneration += 1
        liftHold()
    }

    /// The operator asks to try now: lifts a hold and cuts every backoff short (the server's own `Retry-After`
    /// still holds).
    mutating func retryNow() {
        liftHold()
        releaseWaiting()
    }

    private mutating func liftHold() {
        hold = nil
        holdProbeAt = nil
    }

    /// A `flush` starts or ends. Starting cuts current backoffs short.
    mutating func setFlushing(_ flushing: Bool) {
        if flushing && !self.flushing { releaseWaiting() }
        self.flushing = flushing
    }

    /// Graceful shutdown: nothing new is sent or claimed.
    mutating func stop() { stopping = true }

    // MARK: Decision

    /// What to do now, and when to ask again.
    mutating func decide(now: Instant) -> Decision {
        var decision = Decision()
        guard !stopping, !paused else { return decision }
        if hold != nil { return decideOnHold(now: now) }
        if let notBefore, notBefore > now {
            decision.wakeAt = notBefore
            return decision
        }
        notBefore = nil
        var free = settings.maxInFlight - sendingCount
        var wake: Instant?
        func wakeAt(_ instant: Instant) {
            wake = min(wake ?? instant, instant)
        }

        // Ready batches first, in claim order, then waiting batches whose time has come, earliest first.
        var candidates: [Int] = batches.indices.filter { batches[$0].phase == .ready }
        let due = batches.indices.compactMap { index -> (Int, Instant)? in
            guard case .waiting(let until) = batches[index].phase else { return nil }
            if until <= now { return (index, until) }
            wakeAt(until)
            return nil
        }
        candidates += due.sorted { $0.1 < $1.1 }.map(\.0)
        for index in candidates where free > 0 {
            decision.actions.append(send(index: index, probe: false, now: now))
            free -= 1
        }

        // While backing off with nothing in flight, probe now and then with the batch due soonest.
        if case .failing = health, free > 0, sendingCount == 0 {
            let waiting = waitingBatches.sorted { $0.until < $1.until }
            if let first = waiting.first {
                let probeAt = (lastSendAt ?? now) + settings.probeInterval
                if probeAt <= now, let index = batches.firstIndex(where: { $0.id == first.batch.id }) {
                    decision.actions.append(send(index: index, probe: true, now: now))
                    free -= 1
                } else {
                    wakeAt(probeAt)
                }
            }
        }

        // Read the next batch: while healthy, when a slot (plus one batch read ahead) is free and a batch is full,
        // the flush interval has passed, or a flush is waiting.
        if !claiming, case .healthy = health, unclaimedCount > 0,
            sendingCount + readyCount < settings.maxInFlight + 1, batches.count < settings.maxActiveBatches
        {
            let full = unclaimedCount >= settings.maxBatchSize || unclaimedBytes >= settings.maxBatchBytes
            let dueAt = (unclaimedSince ?? now) + settings.flushInterval
            if let claimRetryAt, claimRetryAt > now {
                wakeAt(claimRetryAt)
            } else if full || flushing || dueAt <= now {
                claimRetryAt = nil
                claiming = true
                decision.actions.append(
                    .claim(after: cursor, maxCount: settings.maxBatchSize, maxBytes: settings.maxBatchBytes))
            } else {
                wakeAt(dueAt)
            }
        }
        decision.wakeAt = wake
        return decision
    }

    /// On hold: nothing is sent but one probe every ``Settings/holdProbeInterval``.
    private mutating func decideOnHold(now: Instant) -> Decision {
        var decision = Decision()
        guard holdProbeBatchID == nil, sendingCount == 0, let probeAt = holdProbeAt else { return decision }
        if probeAt > now {
            decision.wakeAt = probeAt
            return decision
        }
        if let index = batches.firstIndex(where: { $0.phase == .ready }) ?? batches.indices.first {
            holdProbeBatchID = batches[index].id
            decision.actions.append(send(index: index, probe: true, now: now))
        } else if !claiming, unclaimedCount > 0 {
            claiming = true
            decision.actions.append(
                .claim(after: cursor, maxCount: settings.maxBatchSize, maxBytes: settings.maxBatchBytes))
        }
        return decision
    }

    private var readyCount: Int { batches.count { $0.phase == .ready } }

    private mutating func send(index: Int, probe: Bool, now: Instant) -> Action {
        batches[index].phase = .sending(probe: probe)
        batches[index].sentToTarget = targetGeneration
        lastSendAt = now
        let batch = batches[index]
        return .send(batchID: batch.id, rows: batch.rows, isolated: batch.isolated, probe: probe)
    }
}
