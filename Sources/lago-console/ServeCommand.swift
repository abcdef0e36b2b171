import ArgumentParser
import Foundation
import LagoAPI
import LagoConfig
import LagoControl
import LagoEngine
import LagoRelay
import LagoSandbox
import LagoSession
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
        let registry = PrometheusCollectorRegistry()
        let metricsFactory = PrometheusMetricsFactory(registry: registry)
        let options = EngineSessionOptions(
            isSandbox: useSandbox, attach: false, sandboxSubscription: SandboxSeed.subscriptionExternalID,
            customize: { $0.metricsFactory = metricsFactory })
        let stats: EngineStats = try await EngineSession.open(
            configuration: configuration, options: options, logger: logger,
            lago: { (use: (LagoTarget) async throws -> EngineStats) in
                guard !useSandbox, let url = configuration.lago.apiURL else {
                    return try await Sandbox.withRunning(SandboxOptions(), logger: logger) { sandbox in
                        logger.info(
                            "no Lago configured: delivering to an embedded sandbox",
                            metadata: ["url": "\(sandbox.baseURL)"])
                        return try await use(
                            LagoTarget(
                                baseURL: try LagoBaseURL(sandbox.baseURL.absoluteString), apiKey: sandbox.apiKey,
                                isSandbox: true))
                    }
                }
                let baseURL = try LagoBaseURL(
                    url.absoluteString, allowInsecureHTTP: configuration.lago.allowInsecureHTTP)
                return try await use(LagoTarget(baseURL: baseURL, apiKey: configuration.lago.apiKey, isSandbox: false))
            }
        ) { session in
            try await serve(session, store: store, registry: registry, metricsFactory: metricsFactory, logger: logger)
        }
        logger.info(
            "stopped",
            metadata: ["delivered": "\(stats.delivered)", "pending": "\(stats.pending)", "dead": "\(stats.dead)"])
    }

    /// Runs the relay and the control API on the session's engine until SIGTERM or SIGINT; returns the engine's
    /// last stats.
    private func serve(
        _ session: EngineSession, store: ConfigStore, registry: PrometheusCollectorRegistry,
        metricsFactory: PrometheusMetricsFactory, logger: Logger
    ) async throws -> EngineStats {
        guard let engine = session.localEngine else { preconditionFailure("serve opens its spool itself") }
        let configuration = store.configuration
        let (baseURL, apiKey, isSandbox, spoolPath) =
            (session.lago.baseURL, session.lago.apiKey, session.lago.isSandbox, session.spoolPath)
        let (host, port) = try ServeAddress.parse(
            listen, option: "--listen",
            default: (configuration.relay.host ?? "127.0.0.1", configuration.relay.port ?? 8787))
        let control = try ServeAddress.parse(
            controlListen, option: "--control-listen",
            default: (configuration.relay.controlHost ?? "127.0.0.1", configuration.relay.controlPort ?? 8788))
        var options = RelayOptions(
            host: host, port: port, token: configuration.relay.token.isEmpty ? nil : configuration.relay.token,
            maxBodyBytes: configuration.relay.maxBodyBytes,
            // The engine's, so a change from the config file or an attached console applies to both at once.
            defaultSubscription: { engine.defaultSubscription })
        options.metricsFactory = metricsFactory
        options.setUsageSources { [store] in store.configuration.usage }
        if let billing = session.billing {
            // Events naming only their customer get the customer's one active subscription, which Lago bills.
            options.customerSubscription = { billing.subscription(forCustomer: $0) }
            // The first events are checked, not `unchecked`, unless Lago takes longer than this to list them.
            if await !billing.firstLoad(timeout: .seconds(10)) {
                logger.warning(
                    "Lago's billable metrics and subscriptions are not loaded yet: events are unchecked until they are",
                    metadata: ["error": "\(billing.status.lastError ?? "still loading")"])
            }
        }
        let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
        // Lago's webhooks (events.errors, event.error) come in on the relay, proven by their signature: hmac with
        // lago.webhook_hmac_key (read per request), jwt with the public key the Lago delivered to serves (fetched with
        // the engine's client, which follows a changed lago.api_url or lago.api_key).
        var issuers: Set<String> = [LagoWebhookVerifier.lagoCloudIssuer]
        if let url = URL(string: baseURL.apiRoot), let scheme = url.scheme, let host = url.host {
            issuers.insert("\(scheme)://\(host)" + (url.port.map { ":\($0)" } ?? ""))
        }
        options.webhookKeys = LagoWebhookKeys(
            hmacKey: { store.configuration.lago.webhookHMACKey },
            publicKey: { try await engine.lagoWebhookPublicKey() },
            issuers: issuers)
        try await LagoRelay.withRunning(engine: engine, options: options, logger: logger) { relayURL in
            logger.info(
                "relaying",
                metadata: ["relay": "\(relayURL)", "lago": "\(baseURL)", "key": "\(ConfigMasking.mask(apiKey))"])
            let webhookURL = relayURL.deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent("webhooks").appendingPathComponent("lago")
            // Unbuffered, one line: the URL to register in Lago.
            FileHandle.standardOutput.write(
                Data(
                    ("Lago webhooks: \(webhookURL.absoluteString) (register it in Lago: Developers → Webhooks, "
                        + "signature JWT, or HMAC with lago.webhook_hmac_key set)\n").utf8))
            let endpointBase = ControlEndpoint(
                url: "", token: ControlServerOptions.randomToken(), pid: getpid(), startedAt: Date(),
                lagoURL: baseURL.apiRoot, sandbox: isSandbox, relayURL: relayURL.absoluteString,
                maskedKey: ConfigMasking.mask(apiKey), sandboxAPIKey: isSandbox ? apiKey : nil)
            let published = PublishedEndpoint(spoolPath: spoolPath, logger: logger)
            // Whoever changes the config file, serve reads it again and applies what it can while it runs.
            let follower = ServeConfigFollower(
                store: store, engine: engine, isSandbox: isSandbox,
                sandboxSubscription: SandboxSeed.subscriptionExternalID, lagoURL: baseURL.apiRoot, apiKey: apiKey,
                logger: logger, onLagoChange: { published.lagoChanged(apiRoot: $0, maskedKey: $1) })
            try await ServeControl.withControl(
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
        return await engine.stats()
    }
}
