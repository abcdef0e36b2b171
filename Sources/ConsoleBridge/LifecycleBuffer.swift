public import ConsoleUI
public import LagoBilling
public import LagoEngine

/// The engine's lifecycle changes waiting to be handed to the console in one batch (every ~50 ms), bounded.
///
/// Every change goes through the ``LifecycleAdapter`` at once (so what it learns of each event is never lost);
/// the row updates wait here. When ``capacity`` updates wait (the console's main loop is behind), the oldest tenth
/// is dropped and counted: ``take()`` reports how many were missed since the last batch, for the Events pane's
/// "missed N". Changes the engine's (or a serve's) stream dropped before they reached this console arrive marked
/// with ``EventLifecycleChange/missedBefore``; they are counted here too. Settled events are never lost by this: the
/// queue pane's counts come from the engine's stats.
public struct LifecycleBuffer: Sendable {
    /// Updates kept at most by default between two batches.
    public static let defaultCapacity = 20_000

    /// What the console receives in one batch.
    public struct Batch: Sendable {
        /// Row updates, oldest first.
        public var updates: [EventUpdate]
        /// Updates dropped since the previous batch: here (the buffer was full) or upstream (`missedBefore`).
        public var missed: Int
        /// Events first seen on a retry, whose earlier attempts the console should read from the spool.
        public var resumed: [Int64]
    }

    /// The most updates kept between two batches.
    public let capacity: Int
    private var adapter: LifecycleAdapter
    private var updates: [EventUpdate] = []
    private var missed = 0

    /// Creates an empty buffer keeping at most `capacity` updates (at least 10); `check` gives each event its
    /// billing verdict.
    public init(capacity: Int = Self.defaultCapacity, check: (@Sendable (BillingEvent) -> BillingVerdict)? = nil) {
        self.capacity = max(10, capacity)
        adapter = LifecycleAdapter(check: check)
    }

    /// Updates waiting now.
    public var count: Int { updates.count }

    /// Adds the row update for `change`, dropping the oldest tenth of the buffer first when it is full.
    public mutating func append(_ change: EventLifecycleChange) {
        missed += change.missedBefore ?? 0
        let update = adapter.update(for: change)
        if updates.count >= capacity {
            let dropped = capacity / 10
            updates.removeFirst(dropped)
            missed += dropped
        }
        updates.append(update)
    }

    /// The updates waiting, how many were missed since the last call and the resumed events; empties the buffer.
    public mutating func take() -> Batch {
        defer {
            updates.removeAll(keepingCapacity: true)
            missed = 0
        }
        return Batch(updates: updates, missed: missed, resumed: adapter.takeResumed())
    }
}
