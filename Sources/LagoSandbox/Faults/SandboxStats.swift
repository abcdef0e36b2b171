import Synchronization

/// Counters of a running sandbox (`sandbox.stats()`, `GET /_sandbox/stats`). Admin requests are not counted.
public struct SandboxStats: Sendable, Hashable, Codable {
    /// Answered requests by HTTP status (faults included); dropped and reset answers are counted separately.
    public var requestsByStatus: [Int: Int]
    /// Every request that reached the sandbox (not counting refused connections).
    public var requestsTotal: Int
    /// Events in the store.
    public var eventsStored: Int
    /// Distinct `transaction_id` values among stored events (across subscriptions).
    public var uniqueTransactionIDs: Int
    /// Events rejected with `value_already_exist` (each event of a rejected batch that was a duplicate counts once).
    public var duplicateAttemptsRejected: Int
    /// Accepted `POST /events/batch` requests.
    public var batchesAccepted: Int
    /// Accepted `POST /events` requests.
    public var singleEventsAccepted: Int
    /// Connections closed at accept time by an outage in `.refuse` mode.
    public var connectionsRefused: Int
    /// Requests whose connection was closed without an answer (outage `.refuse`, ack loss `.dropConnection`).
    public var responsesDropped: Int
    /// Answers cut after the headers and half the body.
    public var responsesReset: Int
    /// Requests a fault answered or spoiled (any mode).
    public var faultsInjected: Int

    /// Count for one status (0 when never seen).
    public func requests(status: Int) -> Int {
        requestsByStatus[status] ?? 0
    }
}

/// Request-level counters; event counters come from the store.
final class SandboxRequestCounters: Sendable {
    private struct Counts {
        var byStatus: [Int: Int] = [:]
        var total = 0
        var connectionsRefused = 0
        var responsesDropped = 0
        var responsesReset = 0
        var faultsInjected = 0
    }

    private let counts = Mutex(Counts())
    /// Bodies of event POSTs as received, while recording is on (tests compare them byte for byte).
    private let eventBodies = Mutex<(recording: Bool, bodies: [[UInt8]])>((false, []))

    func setRecordingEventBodies(_ recording: Bool) {
        eventBodies.withLock { $0.recording = recording }
    }

    func recordEventBody(_ body: [UInt8]) {
        eventBodies.withLock { if $0.recording { $0.bodies.append(body) } }
    }

    var recordedEventBodies: [[UInt8]] { eventBodies.withLock { $0.bodies } }

    func request() {
        counts.withLock { $0.total += 1 }
    }

    func answered(status: Int) {
        counts.withLock { $0.byStatus[status, default: 0] += 1 }
    }

    func fault() {
        counts.withLock { $0.faultsInjected += 1 }
    }

    func connectionRefused() {
        counts.withLock { $0.connectionsRefused += 1 }
    }

    func dropped() {
        counts.withLock { $0.responsesDropped += 1 }
    }

    func reset() {
        counts.withLock { $0.responsesReset += 1 }
    }

    func clear() {
        counts.withLock { $0 = Counts() }
    }

    func stats(store: SandboxStore.Counters) -> SandboxStats {
        counts.withLock { counts in
            SandboxStats(
                requestsByStatus: counts.byStatus,
                requestsTotal: counts.total,
                eventsStored: store.eventsStored,
                uniqueTransactionIDs: store.uniqueTransactionIDs,
                duplicateAttemptsRejected: store.duplicateAttemptsRejected,
                batchesAccepted: store.batchesAccepted,
                singleEventsAccepted: store.singleEventsAccepted,
                connectionsRefused: counts.connectionsRefused,
                responsesDropped: counts.responsesDropped,
                responsesReset: counts.responsesReset,
                faultsInjected: counts.faultsInjected
            )
        }
    }
}
