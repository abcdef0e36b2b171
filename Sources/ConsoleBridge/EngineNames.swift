public import LagoEngine

// `LagoEngine` exports a class of the same name, so its types cannot be qualified as `LagoEngine.DeadLetter` where
// `ConsoleUI` (which has its own `DeadLetter`, `RetryingBatch`, `EngineState`) is imported too. This file imports the
// engine alone.

/// The engine's dead letter.
public typealias EngineDeadLetter = DeadLetter

/// The engine's held event (policy `hold`).
public typealias EngineHeldEvent = HeldEvent
