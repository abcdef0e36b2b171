import Foundation
public import LagoBilling
public import LagoConfig
public import LagoEngine

/// The one mapping from the config file to the delivery engine, used by the console, `serve` and every headless
/// command.
///
/// The config file's defaults (``LagoConsoleConfiguration/Engine``) and the engine's are one set, `DeliveryDefaults`:
/// an empty config file gives an engine configured exactly as `EngineConfiguration(spoolPath:)` (tested).
public enum EngineSettings {
    /// The spool of the configured Lago, or of the embedded sandbox (a file of its own beside it, so test traffic
    /// never mixes with events bound for a real Lago).
    public static func spoolPath(_ configuration: LagoConsoleConfiguration, isSandbox: Bool) -> String {
        let spoolPath = configuration.engine.spoolPath
        guard isSandbox else { return spoolPath }
        return URL(fileURLWithPath: spoolPath).deletingLastPathComponent()
            .appendingPathComponent("sandbox-spool.sqlite").path
    }

    /// The engine configuration the config file asks for, on the spool ``spoolPath(_:isSandbox:)`` names.
    ///
    /// Pure: creates no directory (``EngineSession/open(configuration:options:logger:lago:_:)`` does).
    public static func engineConfiguration(
        _ configuration: LagoConsoleConfiguration, isSandbox: Bool, defaultSubscription: String?
    ) -> EngineConfiguration {
        let engine = configuration.engine
        var result = EngineConfiguration(
            spoolPath: spoolPath(configuration, isSandbox: isSandbox),
            flushInterval: engine.flushInterval,
            maxBatchSize: engine.maxBatchSize,
            maxBatchBytes: engine.maxBatchBytes,
            maxInFlight: engine.maxInFlight,
            spoolLimit: engine.spoolLimit,
            requestTimeout: engine.requestTimeout,
            maxRetryBackoff: engine.maxRetryBackoff,
            maxEventAge: engine.maxEventAge,
            synchronousMode: engine.spoolSync == "full" ? .full : .normal,
            defaultSubscription: defaultSubscription,
            metricCodes: configuration.metricCodes.byField
        )
        result.minInFlight = engine.minInFlight
        result.maxInFlightLimit = engine.maxInFlightLimit
        result.dedupWindow = .seconds(configuration.relay.dedupWindowSeconds)
        result.dedupMaxEntries = configuration.relay.dedupMaxEntries
        return result
    }

    /// The config file's `billing.unbillable` (checked when the file was read; anything else is `forward`).
    public static func unbillablePolicy(_ configuration: LagoConsoleConfiguration) -> UnbillablePolicy {
        UnbillablePolicy(rawValue: configuration.billing.unbillable) ?? .forward
    }

    /// Creates the folder of a spool (mode 0700) when it is missing.
    /// - Throws: when the folder cannot be created.
    static func createSpoolFolder(_ spoolPath: String) throws {
        try FileManager.default.createDirectory(
            atPath: URL(fileURLWithPath: spoolPath).deletingLastPathComponent().path,
            withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    }
}
