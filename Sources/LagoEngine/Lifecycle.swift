public import Foundation
public import LagoAPI
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

    /// Creates a change (the engine publishes them; tests and remote engines build them too).
    public init(
        transactionID: String, stage: Stage, date: Date, event: EventInput? = nil, eventID: Int64? = nil,
        payload: String? = nil, httpStatus: Int? = nil, answer: String? = nil
    ) {
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

/// Fans lifecycle changes out to subscribers with bounded buffers; a full buffer drops the oldest change and
/// counts it, so a slow subscriber never blocks the engine.
final class LifecycleBroadcaster: Sendable {
    private let subscribers = Mutex<[Int: AsyncStream<EventLifecycleChange>.Continuation]>([:])
    private let nextID = Atomic<Int>(0)
    private let subscriberCount = Atomic<Int>(0)
    private let missed = Atomic<Int>(0)

    var hasSubscribers: Bool { subscriberCount.load(ordering: .relaxed) > 0 }
    var missedCount: Int { missed.load(ordering: .relaxed) }

    func subscribe(bufferSize: Int) -> AsyncStream<EventLifecycleChange> {
        let (stream, continuation) = AsyncStream.makeStream(
            of: EventLifecycleChange.self, bufferingPolicy: .bufferingNewest(max(1, bufferSize)))
        let id = nextID.wrappingAdd(1, ordering: .relaxed).newValue
        subscribers.withLock { $0[id] = continuation }
        subscriberCount.add(1, ordering: .relaxed)
        continuation.onTermination = { [weak self] _ in
            guard let self else { return }
            if self.subscribers.withLock({ $0.removeValue(forKey: id) }) != nil {
                self.subscriberCount.subtract(1, ordering: .relaxed)
            }
        }
        return stream
    }

    func publish(_ changes: [EventLifecycleChange]) {
        guard hasSubscribers, !changes.isEmpty else { return }
        let continuations = subscribers.withLock { Array($0.values) }
        var dropped = 0
        for continuation in continuations {
            for change in changes {
                if case .dropped = continuation.yield(change) { dropped += 1 }
            }
        }
        if dropped > 0 { missed.add(dropped, ordering: .relaxed) }
    }

    /// Publishes the same stage for many events, building the values only when someone listens.
    func publish(_ transactionIDs: some Sequence<String>, stage: EventLifecycleChange.Stage, date: Date) {
        guard hasSubscribers else { return }
        publish(transactionIDs.map { EventLifecycleChange(transactionID: $0, stage: stage, date: date) })
    }

    func finish() {
        let continuations = subscribers.withLock { subscribers in
            defer { subscribers.removeAll() }
            return Array(subscribers.values)
        }
        subscriberCount.store(0, ordering: .relaxed)
        for continuation in continuations { continuation.finish() }
    }
}
