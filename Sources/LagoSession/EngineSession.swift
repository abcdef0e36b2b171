import Foundation
public import LagoAPI
public import LagoBilling
public import LagoConfig
public import LagoControl
public import LagoEngine
public import Logging

/// A Lago a local engine delivers to: the configured one, or the embedded sandbox the executable runs.
public struct LagoTarget: Sendable {
    /// The API root events go to.
    public var baseURL: LagoBaseURL
    /// The API key (never shown; ``maskedKey`` is).
    public var apiKey: String
    /// Whether this is the embedded sandbox (its events use a spool of their own).
    public var isSandbox: Bool

    /// Creates a target.
    public init(baseURL: LagoBaseURL, apiKey: String, isSandbox: Bool) {
        self.baseURL = baseURL
        self.apiKey = apiKey
        self.isSandbox = isSandbox
    }

    /// The key as the screen and the logs show it (`••••1234`).
    public var maskedKey: String { ConfigMasking.mask(apiKey) }

    /// The configured Lago's API root.
    /// - Throws: ``NoLagoConfigured`` when `lago.api_url` is not set (`purpose` says why one is needed) or the URL
    ///   is refused.
    public static func configuredBaseURL(
        _ configuration: LagoConsoleConfiguration, purpose: String
    ) throws(NoLagoConfigured) -> LagoBaseURL {
        guard let url = configuration.lago.apiURL else {
            throw NoLagoConfigured(
                description: "no Lago is configured: set lago.api_url (or LAGO_API_URL); \(purpose)")
        }
        do {
            return try LagoBaseURL(url.absoluteString, allowInsecureHTTP: configuration.lago.allowInsecureHTTP)
        } catch {
            throw NoLagoConfigured(description: "lago.api_url: \(error)")
        }
    }
}

/// No Lago is configured, or its URL is refused.
public struct NoLagoConfigured: Error, CustomStringConvertible {
    /// What is missing or wrong, and what for.
    public let description: String
}

/// How ``EngineSession/open(configuration:options:logger:lago:_:)`` opens an engine.
public struct EngineSessionOptions: Sendable {
    /// Whether the events go to the embedded sandbox's spool (and, when no serve runs, to the sandbox).
    public var isSandbox: Bool
    /// Whether to go through a running `lago-console serve` on the same spool. `serve` itself passes `false`:
    /// a second serve on a spool is refused by the spool's lock, as before.
    public var attach: Bool
    /// Whether a local engine starts delivering at once (`false`: it only reads and writes the spool).
    public var start: Bool
    /// The subscription of usage that names none when no default is configured and the Lago is a sandbox (the
    /// sandbox's seeded subscription).
    public var sandboxSubscription: String?
    /// A last change to the local engine's configuration (serve's Prometheus metrics factory).
    public var customize: @Sendable (inout EngineConfiguration) -> Void

    /// Creates options.
    public init(
        isSandbox: Bool, attach: Bool = true, start: Bool = true, sandboxSubscription: String? = nil,
        customize: @escaping @Sendable (inout EngineConfiguration) -> Void = { _ in }
    ) {
        self.isSandbox = isSandbox
        self.attach = attach
        self.start = start
        self.sandboxSubscription = sandboxSubscription
        self.customize = customize
    }
}

/// The spool of a local engine could not be opened (locked by another engine, damaged, unwritable).
public struct SpoolOpenError: Error, CustomStringConvertible {
    /// What the engine threw.
    public var underlying: any Error

    /// The engine's own message (it names the file and what to do).
    public var description: String { "\(underlying)" }
}

/// The engine a console, `serve` or a headless command works with, opened by one policy: attach to the
/// `lago-console serve` running on the spool (its discovery file names a control API that answers), else open the
/// spool with a local ``LagoEngine``.
public struct EngineSession: Sendable {
    /// Which engine the session runs on.
    public enum Engine: Sendable {
        /// An engine of this process, on the spool.
        case local(LagoEngine)
        /// The engine of a running `lago-console serve`, over its control API.
        case attached(RemoteEngine)
    }

    /// The engine.
    public let engine: Engine
    /// The configuration the session was opened with.
    public let configuration: LagoConsoleConfiguration
    /// The Lago the engine delivers to (for an attached session, the one serve names).
    public let lago: LagoTarget
    /// The spool the events go to.
    public let spoolPath: String
    /// The subscription of usage that names none.
    public let defaultSubscription: String?
    /// A client for the same Lago (reading events back, listing metrics and subscriptions); shut down on return.
    public let client: LagoClient
    /// The catalogue a local, started engine checks every accepted event against (kept fresh while the session
    /// runs); `nil` for an attached session (serve's engine checks) or an engine that does not deliver.
    public var billing: BillingCatalogueService? = nil

    /// The engine as the console and the commands drive it.
    public var control: any EngineControl {
        switch engine {
        case .local(let engine): engine
        case .attached(let remote): remote
        }
    }

    /// The local engine, when the session opened the spool itself.
    public var localEngine: LagoEngine? {
        if case .local(let engine) = engine { engine } else { nil }
    }

    /// The running serve the session goes through (read again when serve restarts), if any.
    public var serve: ControlEndpoint? {
        if case .attached(let remote) = engine { remote.endpoint } else { nil }
    }

    /// Opens the engine for `configuration` and runs `body` with it; closes it on return, whatever happens (a
    /// local engine is shut down, undelivered events stay spooled; an attached serve keeps delivering).
    ///
    /// `lago` is called only when no serve runs: it makes the Lago a local engine delivers to available for the
    /// call of `use` (the configured Lago, or an embedded sandbox the executable runs around it).
    /// - Throws: ``SpoolOpenError`` when the spool cannot be opened; what `lago` and `body` throw.
    public static func open<Result: Sendable>(
        configuration: LagoConsoleConfiguration, options: EngineSessionOptions, logger: Logger,
        lago: (_ use: (LagoTarget) async throws -> Result) async throws -> Result,
        _ body: (EngineSession) async throws -> Result
    ) async throws -> Result {
        let spoolPath = EngineSettings.spoolPath(configuration, isSandbox: options.isSandbox)
        if options.attach, let remote = await attach(spoolPath: spoolPath, logger: logger) {
            do {
                let result = try await runAttached(
                    remote, configuration: configuration, options: options, spoolPath: spoolPath, logger: logger,
                    body)
                await remote.shutdown()
                return result
            } catch {
                await remote.shutdown()
                throw error
            }
        }
        // `lago` and `body` are both the caller's; neither is kept after the call.
        return try await withoutActuallyEscaping(body) { body in
            try await lago { target in
                try await runLocal(target, configuration: configuration, options: options, logger: logger, body)
            }
        }
    }

    /// ``open(configuration:options:logger:lago:_:)`` for a headless command: the configured Lago's spool (or, with
    /// no Lago configured, that of a serve running on its embedded sandbox), through a running serve if there is
    /// one; `start`: a local engine delivers while `body` runs.
    /// - Throws: ``NoLagoConfigured`` when no serve runs and no Lago is configured; like `open`.
    public static func openHeadless<Result: Sendable>(
        configuration: LagoConsoleConfiguration, start: Bool, logger: Logger,
        _ body: (EngineSession) async throws -> Result
    ) async throws -> Result {
        try await open(
            configuration: configuration,
            options: EngineSessionOptions(isSandbox: configuration.lago.apiURL == nil, start: start), logger: logger,
            lago: { (use: (LagoTarget) async throws -> Result) in
                let baseURL = try LagoTarget.configuredBaseURL(
                    configuration,
                    purpose: "headless commands use its spool (or that of a running `lago-console serve`)")
                return try await use(
                    LagoTarget(baseURL: baseURL, apiKey: configuration.lago.apiKey, isSandbox: false))
            }, body)
    }

    /// The serve running on `spoolPath`, connected; `nil` when none answers (a stale discovery file, from a serve
    /// that is gone, is ignored).
    static func attach(spoolPath: String, logger: Logger) async -> RemoteEngine? {
        guard let endpoint = ControlEndpoint.read(forSpool: spoolPath) else { return nil }
        do {
            let remote = try await RemoteEngine.connect(
                endpoint, discoveryPath: ControlEndpoint.discoveryPath(forSpool: spoolPath))
            logger.info(
                "attached to lago-console serve", metadata: ["pid": "\(endpoint.pid)", "control": "\(endpoint.url)"])
            return remote
        } catch {
            logger.info("not attaching to serve", metadata: ["control": "\(endpoint.url)", "error": "\(error)"])
            return nil
        }
    }

    private static func runAttached<Result: Sendable>(
        _ remote: RemoteEngine, configuration: LagoConsoleConfiguration, options: EngineSessionOptions,
        spoolPath: String, logger: Logger, _ body: (EngineSession) async throws -> Result
    ) async throws -> Result {
        let endpoint = remote.endpoint
        let target = LagoTarget(
            baseURL: try LagoBaseURL(
                endpoint.lagoURL, allowInsecureHTTP: endpoint.sandbox || configuration.lago.allowInsecureHTTP),
            apiKey: endpoint.sandboxAPIKey ?? configuration.lago.apiKey, isSandbox: endpoint.sandbox)
        return try await withClient(target, configuration: configuration, logger: logger) { client in
            try await body(
                EngineSession(
                    engine: .attached(remote), configuration: configuration, lago: target, spoolPath: spoolPath,
                    defaultSubscription: defaultSubscription(configuration, target: target, options: options),
                    client: client))
        }
    }

    private static func runLocal<Result: Sendable>(
        _ target: LagoTarget, configuration: LagoConsoleConfiguration, options: EngineSessionOptions, logger: Logger,
        _ body: (EngineSession) async throws -> Result
    ) async throws -> Result {
        let defaultSubscription = defaultSubscription(configuration, target: target, options: options)
        var engineConfiguration = EngineSettings.engineConfiguration(
            configuration, isSandbox: options.isSandbox, defaultSubscription: defaultSubscription)
        options.customize(&engineConfiguration)
        // A missing folder is reported by the engine itself, naming the spool.
        try? EngineSettings.createSpoolFolder(engineConfiguration.spoolPath)
        return try await withClient(target, configuration: configuration, logger: logger) { client in
            // A delivering engine checks each event it accepts against Lago's catalogue, read by the same client.
            let billing =
                options.start
                ? BillingCatalogueService(
                    client: client, refreshInterval: .seconds(configuration.billing.refreshIntervalSeconds)) : nil
            if let billing {
                engineConfiguration.billingChecker = billing
                engineConfiguration.unbillablePolicy = EngineSettings.unbillablePolicy(configuration)
            }
            let engine: LagoEngine
            do {
                engine = try LagoEngine(configuration: engineConfiguration, client: client, logger: logger)
            } catch {
                throw SpoolOpenError(underlying: error)
            }
            if options.start { engine.start() }
            var session = EngineSession(
                engine: .local(engine), configuration: configuration, lago: target,
                spoolPath: engineConfiguration.spoolPath, defaultSubscription: defaultSubscription, client: client)
            session.billing = billing
            let refresher = billing.map { billing in Task { await billing.run() } }
            do {
                let result = try await body(session)
                refresher?.cancel()
                await engine.shutdown()
                return result
            } catch {
                refresher?.cancel()
                await engine.shutdown()
                throw error
            }
        }
    }

    private static func withClient<Result: Sendable>(
        _ target: LagoTarget, configuration: LagoConsoleConfiguration, logger: Logger,
        _ body: (LagoClient) async throws -> Result
    ) async throws -> Result {
        let clientConfiguration = LagoClientConfiguration(
            baseURL: target.baseURL, apiKey: target.apiKey, requestTimeout: configuration.engine.requestTimeout,
            maxConnections: configuration.engine.maxInFlight.fixedCount ?? configuration.engine.maxInFlightLimit)
        return try await withLagoClient(configuration: clientConfiguration, logger: logger, body)
    }

    /// The configured default subscription, else (on a sandbox) the sandbox's seeded one.
    static func defaultSubscription(
        _ configuration: LagoConsoleConfiguration, target: LagoTarget, options: EngineSessionOptions
    ) -> String? {
        configuration.lago.defaultSubscriptionID ?? (target.isSandbox ? options.sandboxSubscription : nil)
    }
}
