import Dispatch

/// Runs the console's main loop (reducer, render, diff) on a serial queue of its own, so a key is handled on a thread
/// the operating system schedules beside the concurrency pool, not behind the engine's, the relay's and the
/// sandbox's work queued on that pool's two threads.
public final class UIExecutor: TaskExecutor, @unchecked Sendable {
    // @unchecked: the only state is a serial DispatchQueue, which is itself safe to use from any thread.
    private let queue = DispatchQueue(label: "lago-console.ui", qos: .userInteractive)

    /// Creates the queue.
    public init() {}

    /// Runs `job` on the queue.
    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        queue.async { job.runSynchronously(on: executor) }
    }
}
