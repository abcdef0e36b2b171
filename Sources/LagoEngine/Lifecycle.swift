public import Foundation
public import LagoAPI
public import LagoBilling
public import LagoUsage
import Synchronization

/// One change in the life of one event, published on ``LagoEngine/lifecycleEvents(bufferSize:)``.
public struct EventLifecycleChange: Sendable, Hashable, Codable {
    /// The stage reached.
    public enum Stage: Sendable, Hashable, Codable {
        /// Committed to the spool.
        case queued
        /// A request carries it (1 = first try).
        case inFlight(attempt: Int)
        /// Lago stored it.
        case delivered
        /// Lago already had it: an earlier try whose answer was lost had stored it.
        case alreadyInLago
        /// Its batch failed and is tried again at `at` (attempt = the number of that try).
        case retryScheduled(attempt: Int, at: Date, reason: String)
        /// Taken out of delivery; see the dead letters.
        case dead(DeadLetterReason)
        /// Accepted into the held list, not the queue: Lago would not bill it (policy `hold`; the reasons are in
        /// ``EventLifecycleChange/billing``). ``EventLifecycleChange/eventID`` is its id in the held list.
        case held
        /// Released from the held list by the operator (``EventLifecycleChange/eventID`` is its id in the held
        /// list); the event goes on as a new `.queued` change, in the queue's ids.
        case released
        /// Discarded from the held list by the operator; never sent (``EventLifecycleChange/eventID`` is its id in
        /// the held list).
        case discarded
    }

    /// The event's transaction id (several events may share one: another subscription, a replay).
    public var transactionID: String
    /// What happened.
    public var stage: Stage
    /// When.
    public var date: Date
    /// The event itself, on `.queued` changes (so a subscriber can show events it did not send); `nil` on later
    /// stages.
    public var event: EventInput? = nil
    /// The event's row in the spool: one per event, never reused, so two events with the same transaction id are
    /// told apart (a replay is a new row). `nil` only from engines of earlier releases.
    public var eventID: Int64? = nil
    /// The exact JSON object sent, on `.inFlight` changes (a subscriber that joined after `.queued`, or an event
    /// resumed from the spool, learns the event from it).
    public var payload: String? = nil
    /// The HTTP status of Lago's answer to the request that settled or failed the event, if it answered.
    public var httpStatus: Int? = nil
    /// Lago's answer in its own words (`HTTP 200`, the error and its details), or the transport failure.
    public var answer: String? = nil
    /// The "missed N" marker: how many changes this subscriber's stream dropped just before this one (its buffer
    /// was full: the engine's, the control server's or a remote engine's), `nil` when none. Only notifications
    /// are dropped, never events: ``LagoEngine/stats()`` stays exact. Carried over the control API as
    /// `missedBefore`.
    public var missedBefore: Int? = nil
    /// The billing check's verdict, on `.queued` and `.held` changes of an engine that checks events.
    public var billing: BillingVerdict? = nil
    /// Where the event came from and what coded it, on `.queued`, `.held` and `.inFlight` changes (`nil` for
    /// events accepted before spool schema version 5, and from engines of earlier releases).
    public var origin: EventOrigin? = nil

    /// Creates a change (the engine publishes them; tests and remote engines build them too).
    public init(
        transactionID: String, stage: Stage, date: Date, event: EventInput? = nil, eventID: Int64? = nil,
        payload: String? = nil, httpStatus: Int? = nil, answer: String? = nil, billing: BillingVerdict? = nil,
        origin: EventOrigin? = nil
    ) {
        self.billing = billing
        self.origin = origin
        self.transactionID = transactionID
        self.stage = stage
        self.date = date
        self.event = event
        self.eventID = eventID
        self.payload = payload
        self.httpStatus = httpStatus
        self.answer = answer
    }
}

/// One failed attempt of a queued event, as the spool keeps it (a restart keeps it too).
public struct AttemptRecord: Sendable, Hashable, Codable {
    /// The event's row in the spool (``EventLifecycleChange/eventID``).
    public var eventID: Int64
    /// The attempt's number (1 = first try).
    public var attempt: Int
    /// When Lago answered (or the request failed).
    public var at: Date
    /// The HTTP status, if Lago answered.
    public var httpStatus: Int?
    /// Lago's answer in its words, or the transport failure.
    public var answer: String

    /// Creates a record.
    public init(eventID: Int64, attempt: Int, at: Date, httpStatus: Int?, answer: String) {
        self.eventID = eventID
        self.attempt = attempt
        self.at = at
        self.httpStatus = httpStatus
        self.answer = answer
    }
}

/// A bounded buffer of lifecycle changes for one consumer. When it is full the oldest change is dropped, never
/// the producer slowed; the next change the consumer takes carries the count in
/// ``EventLifecycleChange/missedBefore`` (a dropped change's own count is carried on), so a consumer always learns
/// how many it missed, and where.
///
/// One consumer: either ``next()`` (or the stream of ``makeStream(onEnd:)``) or ``takeAll()``.
public final class LifecycleChangeBuffer: Sendable {
    private struct State: Sendable {
        var ring: [EventLifecycleChange?]
        var head = 0
        var count = 0
        /// Dropped since the consumer last took a change: marked on the next one it takes.
        var missed = 0
        var droppedTotal = 0
        var finished = false
        var waiter: CheckedContinuation<EventLifecycleChange?, Never>?

        /// The oldest change, marked with what was dropped before it.
        mutating func take() -> EventLifecycleChange? {
            guard count > 0, var change = ring[head] else { return nil }
            ring[head] = nil
            head = (head + 1) % ring.count
            count -= 1
            if missed > 0 {
                change.missedBefore = (change.missedBefore ?? 0) + missed
                missed = 0
            }
            return change
        }
    }

    private let state: Mutex<State>
    /// The most changes held.
    public let capacity: Int

    /// Creates an empty buffer holding at most `capacity` changes (at least 1).
    public init(capacity: Int) {
        self.capacity = max(1, capacity)
        state = Mutex(State(ring: Array(repeating: nil, count: max(1, capacity))))
    }

    /// Changes dropped so far (a full buffer).
    public var droppedCount: Int { state.withLock { $0.droppedTotal } }

    /// Appends a change; never blocks. Returns how many changes were dropped to make room (0 or 1).
    @discardableResult
    public func append(_ change: EventLifecycleChange) -> Int {
        append(contentsOf: CollectionOfOne(change))
    }

    /// Appends changes in order; never blocks. Returns how many changes were dropped to make room. Nothing is
    /// kept after ``finish()``.
    @discardableResult
    public func append(contentsOf changes: some Sequence<EventLifecycleChange>) -> Int {
        typealias Handoff = (CheckedContinuation<EventLifecycleChange?, Never>?, EventLifecycleChange?, Int)
        let (waiter, handed, dropped): Handoff =
            state.withLock { state in
                guard !state.finished else { return (nil, nil, 0) }
                var dropped = 0
                for change in changes {
                    if state.count == state.ring.count, let oldest = state.ring[state.head] {
                        state.ring[state.head] = nil
                        state.head = (state.head + 1) % state.ring.count
                        state.count -= 1
                        state.missed += 1 + (oldest.missedBefore ?? 0)
                        dropped += 1
                    }
                    state.ring[(state.head + state.count) % state.ring.count] = change
                    state.count += 1
                }
                state.droppedTotal += dropped
                guard let waiter = state.waiter, let first = state.take() else { return (nil, nil, dropped) }
                state.waiter = nil
                return (waiter, first, dropped)
            }
        waiter?.resume(returning: handed)
        return dropped
    }

    /// No more changes come: the consumer gets what is buffered, then the end.
    public func finish() {
        let waiter: CheckedContinuation<EventLifecycleChange?, Never>? = state.withLock { state in
            state.finished = true
            defer { state.waiter = nil }
            return state.count == 0 ? state.waiter : nil
        }
        waiter?.resume(returning: nil)
    }

    /// Everything buffered, oldest first (the first marked with what was dropped before it), and whether the
    /// buffer is finished.
    public func takeAll() -> (changes: [EventLifecycleChange], finished: Bool) {
        state.withLock { state in
            var changes: [EventLifecycleChange] = []
            changes.reserveCapacity(state.count)
            while let change = state.take() { changes.append(change) }
            return (changes, state.finished)
        }
    }

    /// The next change, waiting for one; `nil` once finished and empty, or when the waiting task is cancelled.
    public func next() async -> EventLifecycleChange? {
        // Buffered: no suspension.
        if let change = state.withLock({ $0.take() }) { return change }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<EventLifecycleChange?, Never>) in
                let ready: (EventLifecycleChange?, Bool) = state.withLock { state in
                    if let change = state.take() { return (change, true) }
                    if state.finished || Task.isCancelled { return (nil, true) }
                    state.waiter = continuation
                    return (nil, false)
                }
                if ready.1 { continuation.resume(returning: ready.0) }
            }
        } onCancel: {
            cancel()
        }
    }

    /// Ends the consumer's wait and drops what is buffered: the consumer has gone.
    private func cancel() {
        let waiter: CheckedContinuation<EventLifecycleChange?, Never>? = state.withLock { state in
            state.finished = true
            state.ring = Array(repeating: nil, count: state.ring.count)
            state.count = 0
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: nil)
    }

    /// A stream of this buffer's changes for its one consumer. `onEnd` runs once the stream is over: finished and
    /// drained, its task cancelled, or the stream and its iterators released.
    public func makeStream(onEnd: @escaping @Sendable () -> Void) -> AsyncStream<EventLifecycleChange> {
        let end = EndOfStream(onEnd)
        return AsyncStream(
            unfolding: { [self] in
                // `end` lives as long as this closure, which the stream releases when it is over.
                withExtendedLifetime(end) {}
                return await self.next()
            },
            onCancel: { [self] in self.cancel() })
    }

    /// Runs a closure when released.
    private final class EndOfStream: Sendable {
        let onEnd: @Sendable () -> Void
        init(_ onEnd: @escaping @Sendable () -> Void) { self.onEnd = onEnd }
        deinit { onEnd() }
    }
}

/// Fans lifecycle changes out to subscribers with bounded buffers (``LifecycleChangeBuffer``); a full buffer
/// drops the oldest change, counts it, and marks the subscriber's next change with the number it missed, so a
/// slow subscriber never blocks the engine and always learns what it missed.
final class LifecycleBroadcaster: Sendable {
    private let subscribers = Mutex<[Int: LifecycleChangeBuffer]>([:])
    private let nextID = Atomic<Int>(0)
    private let subscriberCount = Atomic<Int>(0)
    private let missed = Atomic<Int>(0)

    var hasSubscribers: Bool { subscriberCount.load(ordering: .relaxed) > 0 }
    var missedCount: Int { missed.load(ordering: .relaxed) }

    func subscribe(bufferSize: Int) -> AsyncStream<EventLifecycleChange> {
        let buffer = LifecycleChangeBuffer(capacity: bufferSize)
        let id = nextID.wrappingAdd(1, ordering: .relaxed).newValue
        subscribers.withLock { $0[id] = buffer }
        subscriberCount.add(1, ordering: .relaxed)
        return buffer.makeStream { [weak self] in
            guard let self else { return }
            if self.subscribers.withLock({ $0.removeValue(forKey: id) }) != nil {
                self.subscriberCount.subtract(1, ordering: .relaxed)
            }
        }
    }

    func publish(_ changes: [EventLifecycleChange]) {
        guard hasSubscribers, !changes.isEmpty else { return }
        let buffers = subscribers.withLock { Array($0.values) }
        var dropped = 0
        for buffer in buffers { dropped += buffer.append(contentsOf: changes) }
        if dropped > 0 { missed.add(dropped, ordering: .relaxed) }
    }

    /// Publishes the same stage for many events, building the values only when someone listens.
    func publish(_ transactionIDs: some Sequence<String>, stage: EventLifecycleChange.Stage, date: Date) {
        guard hasSubscribers else { return }
        publish(transactionIDs.map { EventLifecycleChange(transactionID: $0, stage: stage, date: date) })
    }

    func finish() {
        let buffers = subscribers.withLock { subscribers in
            defer { subscribers.removeAll() }
            return Array(subscribers.values)
        }
        subscriberCount.store(0, ordering: .relaxed)
        for buffer in buffers { buffer.finish() }
    }
}
