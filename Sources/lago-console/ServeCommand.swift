import ArgumentParser
import Foundation
import LagoAPI
import LagoConfig
import LagoControl
import LagoEngine
import LagoRelay
import LagoSandbox
import Logging
import Prometheus
import Synchronization
import UnixSignals

/// `lago-console serve`: the engine and the relay without a screen, for a long-running ingest point.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the delivery engine and the Lago-compatible relay without a screen.",
        discussion: """
            Existing Lago clients point their API URL at the relay (relay.listen, loopback by default); their \
            events are spooled durably before the relay answers, then delivered to the configured Lago (or, with \
            --sandbox or no Lago configured, to an embedded sandbox). Logs go to stderr. SIGTERM or SIGINT stop \
            gracefully: undelivered events stay in the spool for the next start. The control API on \
            relay.control_listen lets a console attach to this engine (`lago-console` opened while serve runs) and \
            serves Prometheus metrics on /metrics. It listens on loopback only unless relay.control_allow_remote \
            is true, and then /metrics needs the control token too. serve follows its config file, whoever \
            changes it: metric codes, lago.default_subscription_id, lago.api_key, lago.api_url and \
            lago.allow_insecure_http apply to the next request (a fixed key or URL lifts a hold); other keys when \
            serve restarts.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Flag(help: "Deliver to an embedded sandbox even when a Lago is configured.")
    var sandbox = false

    @Option(help: "Listen address (host:port) overriding relay.listen.")
    var listen: String?

    @Option(help: "Control API and /metrics address (host:port, port 0 picks one) overriding relay.control_listen.")
    var controlListen: String?

    func run() async throws {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .info
            return handler
        }
        let logger = Logger(label: "lago-console.serve")
        let store = try global.loadConfigStore()
        let configuration = store.configuration
        // The file's relay.control_listen was checked when it loaded; the option gets the same rule.
        if let controlListen, let address = ListenAddress(controlListen),
            let reason = configuration.relay.controlExposureProblem(address)
        {
            throw ConsoleFailure(
                description: "--control-listen: \(reason). To allow it: lago-console --config \(store.filePath) "
                    + "config set \(ConfigKey.relayControlAllowRemote.name) true")
        }
        let useSandbox = sandbox || configuration.lago.apiURL == nil
        if useSandbox {
            try await Sandbox.withRunning(SandboxOptions(), logger: logger) { sandbox in
                logger.info("no Lago configured: delivering to an embedded sandbox", metadata: ["url": "\(sandbox.baseURL)"])
                try await serve(
                    baseURL: try LagoBaseURL(sandbox.baseURL.absoluteString), apiKey: sandbox.apiKey, isSandbox: true,
                    store: store, logger: logger)
            }
        } else if let url = configuration.lago.apiURL {
            let baseURL = try LagoBaseURL(url.absoluteString, allowInsecureHTTP: configuration.lago.allowInsecureHTTP)
            try await serve(
                baseURL: baseURL, apiKey: configuration.lago.apiKey, isSandbox: false, store: store, logger: logger)
        }
    }

    private func serve(
        baseURL: LagoBaseURL, apiKey: String, isSandbox: Bool, store: ConfigStore, logger: Logger
    ) async throws {
        let configuration = store.configuration
        let defaultSubscription = configuration.lago.defaultSubscriptionID ?? (isSandbox ? SandboxSeed.subscriptionExternalID : nil)
        var engineConfiguration = ConsoleRuntime.engineConfiguration(
            configuration, isSandbox: isSandbox, defaultSubscription: defaultSubscription)
        let registry = PrometheusCollectorRegistry()
        let metricsFactory = PrometheusMetricsFactory(registry: registry)
        engineConfiguration.metricsFactory = metricsFactory
        let spoolPath = engineConfiguration.spoolPath
        let engine = try LagoEngine(
            configuration: engineConfiguration, baseURL: baseURL, apiKey: apiKey, logger: logger)
        engine.start()
        let (host, port) = try Self.address(
            listen, option: "--listen", default: (configuration.relay.host ?? "127.0.0.1", configuration.relay.port ?? 8787))
        let control = try Self.address(
            controlListen, option: "--control-listen",
            default: (configuration.relay.controlHost ?? "127.0.0.1", configuration.relay.controlPort ?? 8788))
        var options = RelayOptions(
            host: host, port: port, token: configuration.relay.token.isEmpty ? nil : configuration.relay.token,
            maxBodyBytes: configuration.relay.maxBodyBytes,
            // The engine's, so a change from the config file or an attached console applies to both at once.
            defaultSubscription: { engine.defaultSubscription })
        options.metricsFactory = metricsFactory
        let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
        do {
            try await LagoRelay.withRunning(engine: engine, options: options, logger: logger) { relayURL in
                logger.info(
                    "relaying", metadata: ["relay": "\(relayURL)", "lago": "\(baseURL)", "key": "\(ConfigMasking.mask(apiKey))"])
                let endpointBase = ControlEndpoint(
                    url: "", token: ControlServerOptions.randomToken(), pid: getpid(), startedAt: Date(),
                    lagoURL: baseURL.apiRoot, sandbox: isSandbox, relayURL: relayURL.absoluteString,
                    maskedKey: ConfigMasking.mask(apiKey), sandboxAPIKey: isSandbox ? apiKey : nil)
                let published = PublishedEndpoint(spoolPath: spoolPath, logger: logger)
                // Whoever changes the config file, serve reads it again and applies what it can while it runs.
                let follower = ServeConfigFollower(
                    store: store, engine: engine, isSandbox: isSandbox, lagoURL: baseURL.apiRoot, apiKey: apiKey,
                    logger: logger, onLagoChange: { published.lagoChanged(apiRoot: $0, maskedKey: $1) })
                try await Self.withControl(
                    engine: engine, host: control.host, port: control.port, endpoint: endpointBase, registry: registry,
                    metricsRequireToken: configuration.relay.controlAllowRemote, spoolPath: spoolPath,
                    reloadConfiguration: { follower.reload() }, published: published, logger: logger
                ) {
                await withTaskGroup(of: Void.self) { group in
                    group.addTask { await follower.watch(every: .seconds(1)) }
                    for await signal in signals {
                        logger.info("stopping", metadata: ["signal": "\(signal)"])
                        break
                    }
                    group.cancelAll()
                }
                }
            }
        } catch {
            await engine.shutdown()
            throw error
        }
        let stats = await engine.stats()
        await engine.shutdown()
        logger.info("stopped", metadata: ["delivered": "\(stats.delivered)", "pending": "\(stats.pending)", "dead": "\(stats.dead)"])
    }
}

extension ServeCommand {
    /// `host:port` from an option, or the configured default.
    static func address(
        _ text: String?, option: String, default fallback: (String, Int)
    ) throws -> (host: String, port: Int) {
        guard let text else { return fallback }
        // The rules of relay.listen in the config file.
        guard let address = ListenAddress(text) else {
            throw ConsoleFailure(description: "\(option): expected HOST:PORT such as 127.0.0.1:8787 or [::1]:8787, got \(text)")
        }
        return (address.host, address.port)
    }

    /// Runs `body` with the control API listening and its discovery file written next to the spool through
    /// `published` (which writes it again when the Lago changes; removed afterwards); `/metrics` needs the control
    /// token when `metricsRequireToken` is set; `POST /control/v1/config/reload` calls `reloadConfiguration`. When
    /// the configured port is taken, a free port is used (the discovery file names it) and a warning says
    /// Prometheus will not find /metrics where configured.
    static func withControl(
        engine: any EngineControl, host: String, port: Int, endpoint: ControlEndpoint, registry: PrometheusCollectorRegistry,
        metricsRequireToken: Bool, spoolPath: String, reloadConfiguration: @escaping @Sendable () async -> ConfigReload,
        published: PublishedEndpoint, logger: Logger, _ body: @Sendable () async throws -> Void
    ) async throws {
        let started = Atomic<Bool>(false)
        func run(port: Int) async throws {
            let options = ControlServerOptions(
                host: host, port: port, token: endpoint.token, metrics: registry,
                metricsRequireToken: metricsRequireToken, reloadConfiguration: reloadConfiguration)
            try await ControlServer.withRunning(engine: engine, options: options, logger: logger) { url in
                started.store(true, ordering: .relaxed)
                var endpoint = endpoint
                endpoint.url = url.absoluteString
                try published.publish(endpoint)
                logger.info(
                    "control API listening",
                    metadata: [
                        "control": "\(url)", "metrics": "\(url)/metrics",
                        "discovery": "\(ControlEndpoint.discoveryPath(forSpool: spoolPath))",
                    ])
                defer { endpoint.remove(forSpool: spoolPath) }
                try await body()
            }
        }
        do {
            try await run(port: port)
        } catch where !started.load(ordering: .relaxed) && port != 0 {
            logger.warning(
                "control API cannot listen on the configured address; using a free port (see the discovery file)",
                metadata: ["address": "\(host):\(port)", "error": "\(error)"])
            try await run(port: 0)
        }
    }
}

/// The discovery file `serve` wrote, kept so that a change of the Lago URL or key it delivers with is written
/// there too (the URL and the masked key; never the key itself).
final class PublishedEndpoint: Sendable {
    private let spoolPath: String
    private let logger: Logger
    private let state = Mutex<(endpoint: ControlEndpoint?, lago: (apiRoot: String, maskedKey: String)?)>((nil, nil))

    init(spoolPath: String, logger: Logger) {
        self.spoolPath = spoolPath
        self.logger = logger
    }

    /// Writes the discovery file (with the Lago in use now, if it changed since `endpoint` was made).
    /// - Throws: ``ControlError/discovery(_:)`` when it cannot be written.
    func publish(_ endpoint: ControlEndpoint) throws {
        try state.withLock { state in
            var endpoint = endpoint
            if let lago = state.lago {
                endpoint.lagoURL = lago.apiRoot
                endpoint.maskedKey = lago.maskedKey
            }
            try endpoint.write(forSpool: spoolPath)
            state.endpoint = endpoint
        }
    }

    /// Writes the discovery file again with the Lago serve now delivers to.
    func lagoChanged(apiRoot: String, maskedKey: String) {
        state.withLock { state in
            state.lago = (apiRoot, maskedKey)
            guard var endpoint = state.endpoint else { return }
            endpoint.lagoURL = apiRoot
            endpoint.maskedKey = maskedKey
            do {
                try endpoint.write(forSpool: spoolPath)
                state.endpoint = endpoint
            } catch {
                logger.warning("the discovery file still names the previous Lago", metadata: ["error": "\(error)"])
            }
        }
    }
}
