import Foundation
import LagoAPI

/// The flusher's decisions: which batch to send when, when to read more events from the spool, how long each
/// waiting batch backs off, when to probe a failing endpoint, which events are too old to send, when a `flush`
/// has done its work, when the loop ends and which transitions are logged. A value type driven from one task, with
/// no I/O (the async-http-client `HTTP1ConnectionStateMachine` pattern): inputs are `mutating` calls, every
/// consequence is an ``Action`` of the ``Decision`` that ``decide(now:wallNow:spooled:)`` returns, which the driver
/// carries out without deciding anything itself.
struct DeliveryStateMachine: Sendable {
    typealias Instant = ContinuousClock.Instant

    struct Settings: Sendable, Hashable {
        var maxBatchSize: Int
        var maxBatchBytes: Int
        /// Batches one spool read may claim at most. A claim waits its turn among the spool's commits: reading one
        /// batch per claim capped delivery at one batch per commit cycle (about 300 requests/s measured on 2 cores,
        /// with 64 allowed in flight, when a claim also counted the attempts).
        var maxBatchesPerClaim = 8
        /// Requests in flight at once when ``adaptive`` is `nil`.
        var maxInFlight: Int
        var flushInterval: Duration
        var retry: RetryPolicy
        var probeInterval: Duration
        /// While sending is on hold (401/403, a wrong URL), one batch is sent this often to find out whether the
        /// cause went away (a key restored in Lago, a proxy route fixed).
        var holdProbeInterval: Duration = .seconds(30)
        /// Events enqueued longer ago than this are dead-lettered `expired` instead of sent (`nil`: never).
        var maxEventAge: Duration? = nil

        /// The adaptive concurrency limit (`engine.max_in_flight = "auto"`); `nil`: ``maxInFlight``, fixed.
        var adaptive: ConcurrencyController.Settings? = nil

        /// The concurrency limit's settings.
        var concurrency: ConcurrencyController.Settings { adaptive ?? .fixed(maxInFlight) }
    }

    /// Why sending is on hold, and when the next probe goes.
    struct HoldState: Sendable, Hashable {
        var hold: BatchOutcome.Hold
        var probeAt: Instant
    }

    /// Where the flusher is in its life: the one state every decision starts from.
    enum Lifecycle: Sendable, Hashable {
        /// Sending and claiming.
        case running
        /// The operator paused sending (requests in flight finish); a hold found before or during the pause is
        /// kept for the resume.
        case paused(HoldState?)
        /// 401/403 or a wrong URL: nothing goes but one probe every ``Settings/holdProbeInterval``.
        case held(HoldState)
        /// Graceful shutdown: nothing new is sent or claimed; the loop ends once no request or read is under way.
        case stopping
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
        /// Its request in flight is the hold probe.
        var carriesHoldProbe = false
    }

    enum Health: Sendable, Hashable {
        case healthy
        case failing(since: Instant)
    }

    /// A state change the driver logs.
    enum Transition: Sendable, Hashable {
        /// Lago fails; batches back off (the reason of the first waiting batch).
        case backingOff(reason: String)
        /// Lago answers again; the waiting batches are released.
        case recovered
        /// Sending is on hold.
        case held(BatchOutcome.Hold)
        /// The hold is lifted.
        case holdLifted
    }

    /// Something the driver must do now.
    enum Action: Sendable {
        /// Send the batch's `rows` (its phase is now `sending`), less `expired`: those are dead-lettered as
        /// `expired` instead (too old to send). Report the batch with ``sendCompleted(batchID:rows:outcome:now:)``.
        case send(batchID: Int, rows: [SpoolRow], expired: [SpoolRow], isolated: Bool, probe: Bool)
        /// Read up to `batches` batches of at most `maxCount` events (or `maxBytes`) each, with ids above `cursor`,
        /// in one spool read, then call ``claimCompleted(batches:now:)``.
        case claim(after: Int64, maxCount: Int, maxBytes: Int, batches: Int)
        /// Announce the retry scheduled for these events (their lifecycle change).
        case announceRetry(ScheduledRetry, rows: [SpoolRow], outcome: BatchOutcome)
        /// Answer these ``flushStarted(id:deadline:)`` calls: their flush is done.
        case completeFlushes([Int])
        /// Log this state change.
        case log(Transition)
        /// End the loop: stopping, and nothing is in flight or being read.
        case exit
    }

    struct Decision: Sendable {
        var actions: [Action] = []
        /// Call ``decide(now:wallNow:spooled:)`` again at this instant at the latest.
        var wakeAt: Instant?
    }

    /// A retry scheduled by ``sendCompleted(batchID:rows:outcome:now:)``.
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

    /// A `flush` waiting for its work to be done.
    private struct FlushWaiter: Sendable, Hashable {
        var id: Int
        var deadline: Instant
    }

    let settings: Settings
    private var random: SplitMix64
    private(set) var lifecycle: Lifecycle = .running
    private(set) var batches: [Batch] = []
    private var nextBatchID = 1
    private(set) var cursor: Int64 = 0
    private(set) var unclaimedCount: Int
    private(set) var unclaimedBytes: Int
    private var unclaimedSince: Instant?
    private(set) var claiming = false
    private var claimRetryAt: Instant?
    /// Counts ``apiKeyChanged()`` calls: a 401 or 404 answered to a request sent before the last change says
    /// nothing about the new key or URL.
    private var targetGeneration = 0
    private(set) var health: Health = .healthy
    /// The limit of requests in flight, fixed or adaptive: fed every request that starts and ends.
    private(set) var concurrency: ConcurrencyController
    /// Lago's rate-limit window as its answers' headers describe it: no request goes while it is spent.
    private(set) var rateWindow = RateLimitWindow()
    /// The server's wait after a 429 is under way: when it ends, every batch goes at once (up to the ceiling of the
    /// concurrency limit and what the window allows), not the adaptive limit's few.
    private var burstAfterWait = false
    /// The server asked for no request before this instant (`Retry-After`, `X-RateLimit-Reset`).
    private(set) var notBefore: Instant?
    private var lastSendAt: Instant?
    private var lastFailureAt: Instant?
    private(set) var lastRecovery: Recovery?
    /// `flush` calls waiting: while there are any, partial batches go now and backoffs are kept short.
    private var flushWaiters: [FlushWaiter] = []
    /// Consequences of inputs, returned by the next ``decide(now:wallNow:spooled:)`` before its own.
    private var pendingActions: [Action] = []
    /// What the log last said: transitions are logged once each.
    private var loggedBackingOff = false
    private var loggedHeld = false

    init(settings: Settings, random: SplitMix64, unclaimedCount: Int, unclaimedBytes: Int, now: Instant) {
        self.settings = settings
        self.random = random
        self.unclaimedCount = unclaimedCount
        self.unclaimedBytes = unclaimedBytes
        self.concurrency = ConcurrencyController(settings: settings.concurrency)
        // Events found in the spool at start are overdue.
        self.unclaimedSince = unclaimedCount > 0 ? now - settings.flushInterval : nil
    }

    // MARK: Queries (for stats and tests; the driver decides nothing from them)

    /// Requests allowed in flight now.
    var concurrencyLimit: Int { concurrency.limit }
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
    /// Paused by the operator.
    var paused: Bool {
        if case .paused = lifecycle { return true }
        return false
    }
    /// Why sending is on hold (also while paused on a hold).
    var hold: BatchOutcome.Hold? {
        switch lifecycle {
        case .held(let state), .paused(let state?): state.hold
        case .running, .paused(nil), .stopping: nil
        }
    }
    var stopping: Bool { lifecycle == .stopping }
    /// A `flush` is waiting.
    var flushing: Bool { !flushWaiters.isEmpty }

    // MARK: Inputs

    /// Events were committed to the spool.
    mutating func rowsAppended(count: Int, bytes: Int, now: Instant) {
        guard count > 0 else { return }
        if unclaimedCount <= 0 { unclaimedSince = now }
        unclaimedCount += count
        unclaimedBytes += bytes
    }

    /// A claim read finished; each non-empty batch, in id order, becomes a ready batch. None: nothing is unclaimed.
    mutating func claimCompleted(batches claimed: [[SpoolRow]], now: Instant) {
        claiming = false
        let claimed = claimed.filter { !$0.isEmpty }
        guard let last = claimed.last?.last else {
            unclaimedCount = 0
            unclaimedBytes = 0
            unclaimedSince = nil
            return
        }
        cursor = max(cursor, last.id)
        for rows in claimed {
            unclaimedCount = max(0, unclaimedCount - rows.count)
            unclaimedBytes = max(0, unclaimedBytes - rows.reduce(0) { $0 + $1.body.count })
            batches.append(Batch(id: nextBatchID, rows: rows, phase: .ready))
            nextBatchID += 1
        }
        if unclaimedCount == 0 { unclaimedSince = nil }
    }

    /// A claim read failed; it is tried again a second later.
    mutating func claimFailed(now: Instant) {
        claiming = false
        claimRetryAt = now + .seconds(1)
    }

    /// A request finished (or, with no request, expired or damaged events were taken out). A retry it schedules
    /// is announced by the next decision (and returned, for tests).
    ///
    /// - Parameter rows: the batch as it went out (attempts counted; expired events removed).
    @discardableResult
    mutating func sendCompleted(batchID: Int, rows: [SpoolRow], outcome: BatchOutcome, now: Instant) -> ScheduledRetry?
    {
        guard let index = batches.firstIndex(where: { $0.id == batchID }) else { return nil }
        var batch = batches.remove(at: index)
        let wasHoldProbe = batch.carriesHoldProbe
        batch.carriesHoldProbe = false
        batch.rows = rows
        if let exchange = outcome.exchange {
            rateWindow.observe(exchange.rateLimit, inFlight: sendingCount, now: now)
            concurrency.requestCompleted(
                rtt: exchange.succeeded ? exchange.latency : nil, backPressure: exchange.backPressure,
                rateLimit: rateWindow.limit, now: now)
        }
        if rows.isEmpty { return nil }
        if outcome.serverAnswered {
            recover(now: now)
        }
        if let hold = outcome.hold {
            batch.phase = .ready
            batches.insert(batch, at: index)
            // Refused with the key (or at the URL) used before the change: send it again with the new one.
            guard batch.sentToTarget == targetGeneration else { return nil }
            let state = HoldState(hold: hold, probeAt: now + settings.holdProbeInterval)
            switch lifecycle {
            case .running, .held: lifecycle = .held(state)
            case .paused: lifecycle = .paused(state)
            case .stopping: break
            }
            return nil
        }
        if wasHoldProbe, var state = holdState {
            if outcome.serverAnswered {
                // Lago took the probe: the key (or the URL) works again.
                liftHold()
            } else {
                state.probeAt = now + settings.holdProbeInterval
                setHoldState(state)
            }
        }
        if let retry = outcome.retry, retry.rateLimited, let suggested = retry.suggestedDelay {
            // Lago is up and said when to come back: every waiting batch goes then, at the learned rate (the
            // window's limit and the concurrency limit), not one probe at a time.
            batch.failures += 1
            batch.lastReason = retry.reason
            lastFailureAt = now
            recover(now: now)
            let resume = max(notBefore ?? now, now + suggested)
            notBefore = resume
            burstAfterWait = true
            for other in batches.indices {
                if case .waiting(let until) = batches[other].phase, until > resume {
                    batches[other].phase = .waiting(until: resume)
                }
            }
            batch.phase = .waiting(until: resume)
            batches.insert(batch, at: index)
            let scheduled = ScheduledRetry(
                attempt: batch.failures + 1, at: resume, reason: retry.reason, eventCount: batch.rows.count)
            pendingActions.append(.announceRetry(scheduled, rows: rows, outcome: outcome))
            return scheduled
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
            let scheduled = ScheduledRetry(
                attempt: batch.failures + 1, at: until, reason: retry.reason, eventCount: batch.rows.count)
            pendingActions.append(.announceRetry(scheduled, rows: rows, outcome: outcome))
            return scheduled
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
    mutating func pause() {
        switch lifecycle {
        case .running: lifecycle = .paused(nil)
        case .held(let state): lifecycle = .paused(state)
        case .paused, .stopping: break
        }
    }

    /// Undoes ``pause()``.
    mutating func resume() {
        guard case .paused(let state) = lifecycle else { return }
        lifecycle = state.map { .held($0) } ?? .running
    }

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

    private var holdState: HoldState? {
        switch lifecycle {
        case .held(let state), .paused(let state?): state
        case .running, .paused(nil), .stopping: nil
        }
    }

    private mutating func setHoldState(_ state: HoldState) {
        switch lifecycle {
        case .held: lifecycle = .held(state)
        case .paused: lifecycle = .paused(state)
        case .running, .stopping: break
        }
    }

    private mutating func liftHold() {
        switch lifecycle {
        case .held: lifecycle = .running
        case .paused: lifecycle = .paused(nil)
        case .running, .stopping: break
        }
    }

    /// A `flush` starts: partial batches go now and current backoffs are cut short. It is answered by a
    /// ``Action/completeFlushes(_:)`` once everything is delivered, at `deadline`, when nothing can be sent (paused,
    /// on hold) or when the loop ends.
    mutating func flushStarted(id: Int, deadline: Instant) {
        if flushWaiters.isEmpty { releaseWaiting() }
        flushWaiters.append(FlushWaiter(id: id, deadline: deadline))
    }

    /// The caller of a `flush` stopped waiting (its task was cancelled): it is answered by a
    /// ``Action/completeFlushes(_:)`` at the next decision. An id no flush has (any more) is ignored.
    mutating func flushCancelled(id: Int) {
        guard let index = flushWaiters.firstIndex(where: { $0.id == id }) else { return }
        flushWaiters.remove(at: index)
        pendingActions.append(.completeFlushes([id]))
    }

    /// Graceful shutdown: nothing new is sent or claimed.
    mutating func stop() { lifecycle = .stopping }

    // MARK: Decision

    /// What to do now, and when to ask again.
    ///
    /// - Parameters:
    ///   - wallNow: the wall-clock time, for ``Settings/maxEventAge``.
    ///   - spooled: the events in the spool now (committed, not settled), for the flushes' "everything delivered".
    mutating func decide(now: Instant, wallNow: Date, spooled: Int) -> Decision {
        var decision = Decision()
        decision.actions = pendingActions
        pendingActions = []
        if lifecycle == .stopping, sendingCount == 0, !claiming {
            let waiting = flushWaiters.map(\.id)
            flushWaiters = []
            if !waiting.isEmpty { decision.actions.append(.completeFlushes(waiting)) }
            decision.actions.append(.exit)
            return decision
        }
        switch lifecycle {
        case .stopping, .paused: break
        case .held(let state): decideOnHold(state, now: now, wallNow: wallNow, into: &decision)
        case .running: decideRunning(now: now, wallNow: wallNow, into: &decision)
        }
        decideFlushes(now: now, spooled: spooled, into: &decision)
        logTransitions(into: &decision)
        return decision
    }

    private mutating func decideRunning(now: Instant, wallNow: Date, into decision: inout Decision) {
        if let notBefore, notBefore > now {
            var wake: Instant? = notBefore
            // Waiting what Lago asked after a 429: read ahead meanwhile, so that the wave after the wait is as wide
            // as the ceiling allows.
            if burstAfterWait {
                claimAhead(now: now, target: concurrency.settings.ceiling, wake: &wake, into: &decision)
            }
            decision.wakeAt = wake
            return
        }
        notBefore = nil
        var free = concurrency.limit - sendingCount
        if burstAfterWait {
            burstAfterWait = false
            free = max(free, concurrency.settings.ceiling - sendingCount)
        }
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
            // Lago's window is spent: the rest waits for its reset.
            if let until = rateWindow.blockedUntil(now: now) {
                wakeAt(until)
                break
            }
            decision.actions.append(send(index: index, probe: false, now: now, wallNow: wallNow))
            free -= 1
        }

        // While backing off with nothing in flight, probe now and then with the batch due soonest.
        if case .failing = health, free > 0, sendingCount == 0 {
            let waiting = waitingBatches.sorted { $0.until < $1.until }
            if let first = waiting.first {
                let probeAt = (lastSendAt ?? now) + settings.probeInterval
                if probeAt <= now, let index = batches.firstIndex(where: { $0.id == first.batch.id }) {
                    decision.actions.append(send(index: index, probe: true, now: now, wallNow: wallNow))
                    free -= 1
                } else {
                    wakeAt(probeAt)
                }
            }
        }

        claimAhead(now: now, target: concurrency.limit, wake: &wake, into: &decision)
        decision.wakeAt = wake
    }

    /// Reads the next batches: while healthy, when fewer than `target` requests plus as many read ahead (a whole
    /// wave) are sending or ready and a batch is full, the flush interval has passed, or a flush is waiting. One
    /// read claims what is missing (up to ``Settings/maxBatchesPerClaim``): only full batches, and a partial last one
    /// once the flush interval has passed or a flush waits.
    ///
    /// A wave read ahead, because far Lagos answer in waves: `target` requests go out together and come back
    /// together a round trip later. With one batch read ahead, the answers' slots were refilled by claims of 8 one
    /// after another, each waiting its turn among the spool's commits (the settlements of the same answers), and 64
    /// in flight 100 ms away dipped to a few at every wave; the reads now happen while the wave is away.
    private mutating func claimAhead(now: Instant, target: Int, wake: inout Instant?, into decision: inout Decision) {
        func wakeAt(_ instant: Instant) {
            wake = min(wake ?? instant, instant)
        }
        let wanted = target * 2
        guard !claiming, case .healthy = health, unclaimedCount > 0, sendingCount + readyCount < wanted,
            batches.count < target * 4 + 1
        else { return }
        let full = unclaimedCount >= settings.maxBatchSize || unclaimedBytes >= settings.maxBatchBytes
        let dueAt = (unclaimedSince ?? now) + settings.flushInterval
        if let claimRetryAt, claimRetryAt > now {
            wakeAt(claimRetryAt)
        } else if full || flushing || dueAt <= now {
            claimRetryAt = nil
            claiming = true
            let missing = min(wanted - (sendingCount + readyCount), target * 4 + 1 - batches.count)
            let size = max(1, settings.maxBatchSize)
            // Only full batches until the flush interval has passed or a flush waits; then the partial rest too.
            let onlyFull = full && !flushing && dueAt > now
            let available = onlyFull ? unclaimedCount / size : (unclaimedCount + size - 1) / size
            let count = max(1, min(missing, available, settings.maxBatchesPerClaim))
            decision.actions.append(
                .claim(
                    after: cursor, maxCount: settings.maxBatchSize, maxBytes: settings.maxBatchBytes, batches: count))
        } else {
            wakeAt(dueAt)
        }
    }

    /// On hold: nothing is sent but one probe every ``Settings/holdProbeInterval``.
    private mutating func decideOnHold(
        _ state: HoldState, now: Instant, wallNow: Date, into decision: inout Decision
    ) {
        guard !batches.contains(where: \.carriesHoldProbe), sendingCount == 0 else { return }
        if state.probeAt > now {
            decision.wakeAt = state.probeAt
            return
        }
        if let index = batches.firstIndex(where: { $0.phase == .ready }) ?? batches.indices.first {
            batches[index].carriesHoldProbe = true
            decision.actions.append(send(index: index, probe: true, now: now, wallNow: wallNow))
        } else if !claiming, unclaimedCount > 0 {
            claiming = true
            decision.actions.append(
                .claim(after: cursor, maxCount: settings.maxBatchSize, maxBytes: settings.maxBatchBytes, batches: 1))
        }
    }

    /// Flushes end when everything is delivered, at their deadline, or when nothing can be sent.
    private mutating func decideFlushes(now: Instant, spooled: Int, into decision: inout Decision) {
        guard !flushWaiters.isEmpty else { return }
        let blocked = paused || hold != nil
        let delivered = spooled == 0 && isIdle
        var done: [Int] = []
        flushWaiters.removeAll { waiter in
            let finished = delivered || waiter.deadline <= now || blocked
            if finished { done.append(waiter.id) }
            return finished
        }
        if !done.isEmpty { decision.actions.append(.completeFlushes(done)) }
        for waiter in flushWaiters {
            decision.wakeAt = min(decision.wakeAt ?? waiter.deadline, waiter.deadline)
        }
    }

    /// Backing off and holds, each logged once when it starts and once when it ends.
    private mutating func logTransitions(into decision: inout Decision) {
        if isBackingOff != loggedBackingOff {
            loggedBackingOff = isBackingOff
            decision.actions.append(
                .log(loggedBackingOff ? .backingOff(reason: waitingBatches.first?.batch.lastReason ?? "") : .recovered))
        }
        // Stopping forgets a hold without lifting it: nothing to log.
        if lifecycle != .stopping, (hold != nil) != loggedHeld {
            loggedHeld = hold != nil
            decision.actions.append(.log(hold.map { .held($0) } ?? .holdLifted))
        }
    }

    private var readyCount: Int { batches.count { $0.phase == .ready } }

    /// Marks the batch sending; its events older than ``Settings/maxEventAge`` (by `wallNow`) are named expired
    /// (not sent). The driver's checksum check comes first: a damaged event is dead-lettered as damaged, whatever
    /// its age.
    private mutating func send(index: Int, probe: Bool, now: Instant, wallNow: Date) -> Action {
        batches[index].phase = .sending(probe: probe)
        batches[index].sentToTarget = targetGeneration
        lastSendAt = now
        concurrency.requestStarted(inFlight: sendingCount)
        rateWindow.requestSent(now: now)
        let batch = batches[index]
        var expired: [SpoolRow] = []
        if let maxAge = settings.maxEventAge {
            let limit = wallNow.timeIntervalSince1970 - maxAge / .seconds(1)
            expired = batch.rows.filter { $0.enqueuedAt < limit }
        }
        return .send(batchID: batch.id, rows: batch.rows, expired: expired, isolated: batch.isolated, probe: probe)
    }
}
