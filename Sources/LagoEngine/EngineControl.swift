public import LagoAPI
public import LagoUsage

/// What a console or a headless command needs from a delivery engine, whether it runs in this process
/// (``LagoEngine``) or in another one reached over its control API (`LagoControl.RemoteEngine`).
///
/// Remote implementations throw transport errors from every call; ``LagoEngine`` throws only what its own methods
/// document.
public protocol EngineControl: Sendable {
    /// Spools events atomically; returns their transaction ids once committed.
    func enqueue(_ events: [EventInput]) async throws -> [String]
    /// Spools events lago-console coded (a console's test usage under its mapping), each with what gave it its
    /// code, atomically; returns their transaction ids once committed.
    func enqueue(_ events: [EventInput], codedBy codings: [EventOrigin.Coding]) async throws -> [String]
    /// Spools the events of a usage record under the engine's mapping and default subscription.
    func enqueue(_ usage: UsageRecord) async throws -> [String]
    /// Sends everything now; returns when the spool is empty or at `deadline`.
    func flush(deadline: Duration) async throws -> FlushResult
    /// A snapshot of the engine.
    func stats() async throws -> EngineStats
    /// Per-event lifecycle changes; the stream ends when the engine (or the connection to it) goes away.
    func lifecycleEvents(bufferSize: Int?) -> AsyncStream<EventLifecycleChange>
    /// Dead letters, oldest first.
    func deadLetters(limit: Int, offset: Int) async throws -> [DeadLetter]
    /// One dead letter.
    func deadLetter(id: Int64) async throws -> DeadLetter?
    /// Replays a dead letter after asking Lago what it holds under its transaction id (see
    /// ``LagoEngine/replayDeadLetter(id:edit:)``).
    func replayDeadLetter(id: Int64, edit: DeadLetterEdit?) async throws -> ReplayResult
    /// Deletes a dead letter.
    func discardDeadLetter(id: Int64) async throws
    /// The failed attempts the spool keeps for a queued event, oldest first.
    func attemptLog(eventID: Int64) async throws -> [AttemptRecord]
    /// Events held out of delivery as unbillable (policy `hold`), oldest first.
    func heldEvents(limit: Int, offset: Int) async throws -> [HeldEvent]
    /// Queues a held event (checked again); see ``LagoEngine/releaseHeld(id:)``.
    func releaseHeld(id: Int64) async throws -> HeldRelease
    /// Deletes a held event for good.
    func discardHeld(id: Int64) async throws
    /// Stops sending (events are still accepted).
    func pauseDelivery() async throws
    /// Resumes sending.
    func resumeDelivery() async throws
    /// Lifts an auth hold and sends backing-off batches now.
    func retryDelivery() async throws
    /// Applies a new mapping to usage enqueued from now on.
    func setMapping(_ metricCodes: [CanonicalField: String]) async throws
    /// Applies a new default subscription to usage enqueued from now on.
    func setDefaultSubscription(_ externalSubscriptionID: String?) async throws
}

extension LagoEngine: EngineControl {
    public func pauseDelivery() async throws { pause() }
    public func resumeDelivery() async throws { resume() }
    public func retryDelivery() async throws { retryNow() }
    public func setMapping(_ metricCodes: [CanonicalField: String]) async throws { updateMapping(metricCodes) }
    public func setDefaultSubscription(_ externalSubscriptionID: String?) async throws {
        updateDefaultSubscription(externalSubscriptionID)
    }
}

extension EngineControl {
    /// The first `limit` dead letters, oldest first.
    public func deadLetters(limit: Int) async throws -> [DeadLetter] {
        try await deadLetters(limit: limit, offset: 0)
    }
}

extension EngineControl {
    /// Spools one event; returns its transaction id once committed.
    public func enqueue(_ event: EventInput) async throws -> String {
        try await enqueue([event])[0]
    }
}
