import LagoEngine

// The module `LagoEngine` exports a class of the same name, so its types cannot be qualified as
// `LagoEngine.DeadLetter` where `ConsoleUI` (which has its own `DeadLetter`) is imported too.
typealias EngineDeadLetter = DeadLetter
typealias EngineRetryingBatch = RetryingBatch
typealias EngineRunState = EngineState

extension Duration {
    /// The duration in seconds, as a `Double`.
    var inSeconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
