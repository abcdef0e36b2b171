import Logging

/// Wraps the injected log handler for the server: while a requested stop cancels the server, Hummingbird reports
/// the cancellation at error level ("Waiting on child channel: CancellationError", "Already closed"); those
/// expected messages are demoted to debug so an operator's log shows no false errors.
struct ShutdownLogFilter: LogHandler {
    var wrapped: any LogHandler
    let isStopping: @Sendable () -> Bool

    func log(event: LogEvent) {
        guard event.level >= .error, event.source.hasPrefix("Hummingbird"), isStopping() else {
            wrapped.log(event: event)
            return
        }
        guard wrapped.logLevel <= .debug else { return }
        var demoted = event
        demoted.level = .debug
        wrapped.log(event: demoted)
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { wrapped[metadataKey: key] }
        set { wrapped[metadataKey: key] = newValue }
    }

    var metadata: Logger.Metadata {
        get { wrapped.metadata }
        set { wrapped.metadata = newValue }
    }

    var logLevel: Logger.Level {
        get { wrapped.logLevel }
        set { wrapped.logLevel = newValue }
    }

    var metadataProvider: Logger.MetadataProvider? {
        get { wrapped.metadataProvider }
        set { wrapped.metadataProvider = newValue }
    }
}
