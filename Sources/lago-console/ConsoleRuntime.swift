import ConsoleUI
import Foundation
import LagoAPI
import LagoConfig
import LagoEngine
import LagoSandbox
import Logging
import Synchronization
import Terminal
import LagoRelay
import LagoControl

/// Wires the pure console (`ConsoleUI`) to the terminal, the engine, the Lago client, the config store and,
/// when no Lago is configured, the embedded sandbox. Wiring only: every decision lives in the reducer or the core.
struct ConsoleRuntime {
    struct Options {
        var useSandbox: Bool
        var demoTraffic: Bool?
        var readOnly: Bool
        var noColor: Bool
        var logFile: String
        /// `LAGO_CONSOLE_FRAME_STATS`: where the session writes its frame counts for the console benchmark.
        var frameStatsPath: String? = nil
    }

    /// What the main loop consumes: console events, plus a render tick and the end of the loop.
    enum Input: Sendable {
        case console(ConsoleEvent)
        case renderTick
        case finished
    }

    let store: ConfigStore
    let options: Options

    static func defaultLogFile(environment: [String: String]) -> String {
        let spool = ConfigPaths.defaultSpoolPath(environment: environment)
        return URL(fileURLWithPath: spool).deletingLastPathComponent().appendingPathComponent("console.log").path
    }

    func run() async throws {
        let logger = Logger(label: "lago-console", factory: FileLogHandler.factory(path: options.logFile, level: .info))
        if try await attachToServe(logger: logger) { return }
        if options.useSandbox {
            var sandboxOptions = SandboxOptions()
            sandboxOptions.seed = true
            try await Sandbox.withRunning(sandboxOptions, logger: logger) { sandbox in
                let baseURL = try LagoBaseURL(sandbox.baseURL.absoluteString)
                try await runConsole(
                    baseURL: baseURL, apiKey: sandbox.apiKey, isSandbox: true,
                    defaultSubscription: store.configuration.lago.defaultSubscriptionID ?? SandboxSeed.subscriptionExternalID,
                    logger: logger)
            }
        } else {
            let configuration = store.configuration
            guard let url = configuration.lago.apiURL else { return }
            let baseURL = try LagoBaseURL(url.absoluteString, allowInsecureHTTP: configuration.lago.allowInsecureHTTP)
            try await runConsole(
                baseURL: baseURL, apiKey: configuration.lago.apiKey, isSandbox: false,
                defaultSubscription: configuration.lago.defaultSubscriptionID, logger: logger)
        }
    }

    /// When `lago-console serve` runs on the spool this console would open, watches and steers its engine over the
    /// control API instead of starting a second one; quitting the console leaves serve delivering. Returns whether
    /// it attached (a stale discovery file, from a serve that is gone, is ignored).
    private func attachToServe(logger: Logger) async throws -> Bool {
        let configuration = store.configuration
        let spoolPath = Self.spoolPath(configuration, isSandbox: options.useSandbox)
        guard let endpoint = ControlEndpoint.read(forSpool: spoolPath) else { return false }
        let remote: RemoteEngine
        do {
            remote = try await RemoteEngine.connect(
                endpoint, discoveryPath: ControlEndpoint.discoveryPath(forSpool: spoolPath))
        } catch {
            logger.info("not attaching to serve", metadata: ["control": "\(endpoint.url)", "error": "\(error)"])
            return false
        }
        logger.info("attached to lago-console serve", metadata: ["pid": "\(endpoint.pid)", "control": "\(endpoint.url)"])
        do {
            let baseURL = try LagoBaseURL(
                endpoint.lagoURL, allowInsecureHTTP: endpoint.sandbox || configuration.lago.allowInsecureHTTP)
            let apiKey = endpoint.sandboxAPIKey ?? configuration.lago.apiKey
            let clientConfiguration = LagoClientConfiguration(
                baseURL: baseURL, apiKey: apiKey, requestTimeout: configuration.engine.requestTimeout)
            try await withLagoClient(configuration: clientConfiguration, logger: logger) { client in
                let session = ConsoleSession(
                    engine: remote, client: client, store: store, logger: logger,
                    connection: ConnectionInfo(
                        url: baseURL.apiRoot, isSandbox: endpoint.sandbox, maskedKey: endpoint.maskedKey,
                        attachedTo: "serve pid \(endpoint.pid)"),
                    defaultSubscription: configuration.lago.defaultSubscriptionID
                        ?? (endpoint.sandbox ? SandboxSeed.subscriptionExternalID : nil),
                    readOnly: options.readOnly, noColor: options.noColor, demoTraffic: options.demoTraffic ?? false,
                    frameStatsPath: options.frameStatsPath)
                try await session.run()
            }
        } catch {
            await remote.shutdown()
            throw error
        }
        await remote.shutdown()
        return true
    }

    /// The spool of the configured Lago, or of the embedded sandbox (a file of its own beside it).
    static func spoolPath(_ configuration: LagoConsoleConfiguration, isSandbox: Bool) -> String {
        let spoolPath = configuration.engine.spoolPath
        guard isSandbox else { return spoolPath }
        return URL(fileURLWithPath: spoolPath).deletingLastPathComponent().appendingPathComponent("sandbox-spool.sqlite")
            .path
    }

    /// The engine configuration from the config store; the sandbox gets a spool of its own so test traffic never
    /// mixes with events bound for a real Lago.
    static func engineConfiguration(
        _ configuration: LagoConsoleConfiguration, isSandbox: Bool, defaultSubscription: String?
    ) -> EngineConfiguration {
        let spoolPath = Self.spoolPath(configuration, isSandbox: isSandbox)
        try? FileManager.default.createDirectory(
            atPath: URL(fileURLWithPath: spoolPath).deletingLastPathComponent().path,
            withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        var engine = EngineConfiguration(
            spoolPath: spoolPath,
            flushInterval: configuration.engine.flushInterval,
            maxBatchSize: configuration.engine.maxBatchSize,
            maxBatchBytes: configuration.engine.maxBatchBytes,
            maxInFlight: configuration.engine.maxInFlight,
            spoolLimit: configuration.engine.spoolLimit,
            requestTimeout: configuration.engine.requestTimeout,
            maxRetryBackoff: configuration.engine.maxRetryBackoff,
            maxEventAge: configuration.engine.maxEventAge,
            synchronousMode: configuration.engine.spoolSync == "full" ? .full : .normal,
            defaultSubscription: defaultSubscription,
            metricCodes: configuration.metricCodes.byField
        )
        engine.dedupWindow = .seconds(configuration.relay.dedupWindowSeconds)
        engine.dedupMaxEntries = configuration.relay.dedupMaxEntries
        return engine
    }

    private func runConsole(
        baseURL: LagoBaseURL, apiKey: String, isSandbox: Bool, defaultSubscription: String?, logger: Logger
    ) async throws {
        let configuration = store.configuration
        let engineConfiguration = Self.engineConfiguration(
            configuration, isSandbox: isSandbox, defaultSubscription: defaultSubscription)
        let clientConfiguration = LagoClientConfiguration(
            baseURL: baseURL, apiKey: apiKey, requestTimeout: configuration.engine.requestTimeout)
        try await withLagoClient(configuration: clientConfiguration, logger: logger) { client in
            let engine = try LagoEngine(configuration: engineConfiguration, client: client, logger: logger)
            engine.start()
            let session = ConsoleSession(
                engine: engine, client: client, store: store, logger: logger,
                connection: ConnectionInfo(
                    url: baseURL.apiRoot, isSandbox: isSandbox, maskedKey: ConfigMasking.mask(apiKey)),
                defaultSubscription: defaultSubscription,
                readOnly: options.readOnly, noColor: options.noColor,
                demoTraffic: options.demoTraffic ?? isSandbox, frameStatsPath: options.frameStatsPath)
            do {
                try await runWithRelay(
                    engine: engine, session: session, fallbackSubscription: isSandbox ? SandboxSeed.subscriptionExternalID : nil,
                    logger: logger)
            } catch {
                await engine.shutdown()
                throw error
            }
            await engine.shutdown()
        }
    }

    /// Runs the session with the relay listening on `relay.listen`, so local Lago clients feed the console. When the
    /// relay cannot listen (the port is taken, e.g. by `lago-console serve`), the console runs without it and says so
    /// in the log.
    private func runWithRelay(
        engine: LagoEngine, session: ConsoleSession, fallbackSubscription: String?, logger: Logger
    ) async throws {
        let relay = store.configuration.relay
        let options = RelayOptions(
            host: relay.host ?? "127.0.0.1", port: relay.port ?? 8787, token: relay.token.isEmpty ? nil : relay.token,
            maxBodyBytes: relay.maxBodyBytes,
            defaultSubscription: { [store] in store.configuration.lago.defaultSubscriptionID ?? fallbackSubscription })
        let started = Atomic<Bool>(false)
        do {
            try await LagoRelay.withRunning(engine: engine, options: options, logger: logger) { url in
                started.store(true, ordering: .relaxed)
                logger.info("relay listening", metadata: ["url": "\(url)"])
                try await session.run()
            }
        } catch where !started.load(ordering: .relaxed) {
            logger.warning("relay not started; running without it", metadata: ["error": "\(error)"])
            try await session.run()
        }
    }
}
