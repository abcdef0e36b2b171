public import ConsoleUI
import Synchronization

/// What the console's main loop consumes: console events, plus a render tick and the end of the input.
public enum ConsoleInput: Sendable {
    /// An event for the reducer.
    case console(ConsoleEvent)
    /// A frame that was held back (frame pacing) is due.
    case renderTick
    /// The terminal's input ended: the loop ends.
    case finished
}

/// The console's inbox, bounded by coalescing: what only its latest value matters for is replaced, lifecycle
/// batches are merged up to a cap and what does not fit is counted, never silently dropped.
///
/// - `.stats`, `.connection` and `.tick` replace a waiting one of their kind (latest wins; the reducer keeps only
///   the latest anyway), and so does `.renderTick`;
/// - `.eventLifecycle` batches are merged into a batch waiting right before them; at most ``lifecycleCapacity``
///   updates wait in all, the oldest of a batch beyond it are dropped and reported as one `.lifecycleMissed(n)`
///   (handed out next);
/// - everything else (keys, resizes, effect results, the end) is kept in order: keys come at human speed and each
///   effect answers once.
///
/// Pure: ``ConsoleMailbox`` wraps it for tasks.
public struct ConsoleInboxQueue: Sendable {
    /// Lifecycle updates waiting at most by default.
    public static let defaultLifecycleCapacity = 20_000

    /// The most lifecycle updates waiting at once.
    public let lifecycleCapacity: Int
    private var items: [ConsoleInput] = []
    private var head = 0
    private var missed = 0
    private var waitingLifecycle = 0

    /// Creates an empty queue holding at most `lifecycleCapacity` lifecycle updates (at least 1).
    public init(lifecycleCapacity: Int = Self.defaultLifecycleCapacity) {
        self.lifecycleCapacity = max(1, lifecycleCapacity)
    }

    /// Inputs waiting.
    public var count: Int { items.count - head + (missed > 0 ? 1 : 0) }

    /// Whether nothing waits.
    public var isEmpty: Bool { count == 0 }

    /// Adds an input, coalescing it with a waiting one of its kind where only the latest matters.
    public mutating func append(_ input: ConsoleInput) {
        switch input {
        case .renderTick:
            if let index = waitingIndex(where: { if case .renderTick = $0 { true } else { false } }) {
                items[index] = input
                return
            }
        case .console(let event):
            switch event {
            case .stats, .connection, .tick:
                if let index = waitingIndex(where: { Self.sameKind($0, event) }) {
                    items[index] = input
                    return
                }
            case .eventLifecycle(var updates):
                let room = max(0, lifecycleCapacity - waitingLifecycle)
                if updates.count > room {
                    missed += updates.count - room
                    updates.removeFirst(updates.count - room)
                }
                guard !updates.isEmpty else { return }
                waitingLifecycle += updates.count
                // Merged only into a batch right before it, so nothing else changes order.
                if head < items.count, case .console(.eventLifecycle(let waiting)) = items[items.count - 1] {
                    items[items.count - 1] = .console(.eventLifecycle(waiting + updates))
                } else {
                    items.append(.console(.eventLifecycle(updates)))
                }
                return
            default:
                break
            }
        case .finished:
            break
        }
        items.append(input)
    }

    /// The next input, oldest first (a count of missed lifecycle updates comes first); `nil` when empty.
    public mutating func popFirst() -> ConsoleInput? {
        if missed > 0 {
            defer { missed = 0 }
            return .console(.lifecycleMissed(missed))
        }
        guard head < items.count else { return nil }
        let input = items[head]
        head += 1
        if case .console(.eventLifecycle(let updates)) = input { waitingLifecycle -= updates.count }
        if head > 64 && head * 2 > items.count {
            items.removeFirst(head)
            head = 0
        }
        return input
    }

    private func waitingIndex(where matches: (ConsoleInput) -> Bool) -> Int? {
        var index = items.count - 1
        while index >= head {
            if matches(items[index]) { return index }
            index -= 1
        }
        return nil
    }

    private static func sameKind(_ input: ConsoleInput, _ event: ConsoleEvent) -> Bool {
        guard case .console(let waiting) = input else { return false }
        switch (waiting, event) {
        case (.stats, .stats), (.connection, .connection), (.tick, .tick): return true
        default: return false
        }
    }
}

/// The console's inbox shared by its producers (terminal, engine, effects, timers) and its one consumer, the main
/// loop: a ``ConsoleInboxQueue`` behind a mutex, with the consumer suspended while it is empty.
public final class ConsoleMailbox: Sendable {
    private struct State {
        var queue: ConsoleInboxQueue
        var waiter: CheckedContinuation<ConsoleInput?, Never>?
        var closed = false
    }

    private let state: Mutex<State>

    /// Creates an empty mailbox (see ``ConsoleInboxQueue/init(lifecycleCapacity:)``).
    public init(lifecycleCapacity: Int = ConsoleInboxQueue.defaultLifecycleCapacity) {
        state = Mutex(State(queue: ConsoleInboxQueue(lifecycleCapacity: lifecycleCapacity)))
    }

    /// Posts an input; never blocks. Ignored once the mailbox is closed.
    public func post(_ input: ConsoleInput) {
        let resumed: (CheckedContinuation<ConsoleInput?, Never>, ConsoleInput)? = state.withLock { state in
            guard !state.closed else { return nil }
            state.queue.append(input)
            guard let waiter = state.waiter, let next = state.queue.popFirst() else { return nil }
            state.waiter = nil
            return (waiter, next)
        }
        if let (waiter, next) = resumed { waiter.resume(returning: next) }
    }

    /// Posts a console event.
    public func post(_ event: ConsoleEvent) {
        post(.console(event))
    }

    /// Stops accepting inputs; a consumer waiting gets `nil`. What waits is still handed out.
    public func close() {
        let waiter = state.withLock { state -> CheckedContinuation<ConsoleInput?, Never>? in
            state.closed = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: nil)
    }

    /// The next input, waiting until there is one; `nil` once closed and empty. One consumer at a time.
    public func next() async -> ConsoleInput? {
        await withCheckedContinuation { continuation in
            let ready: ConsoleInput?? = state.withLock { state in
                if let input = state.queue.popFirst() { return .some(input) }
                if state.closed { return .some(nil) }
                state.waiter = continuation
                return .none
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}
