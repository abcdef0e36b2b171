import ArgumentParser
import Foundation
import LagoAPI
import LagoConfig
import LagoEngine
import LagoSandbox
import LagoSession
import Logging
import Prometheus
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
        let relay = try ServeAddress.parse(
            listen, option: "--listen",
            default: (configuration.relay.host ?? "127.0.0.1", configuration.relay.port ?? 8787))
        let control = try ServeAddress.parse(
            controlListen, option: "--control-listen",
            default: (configuration.relay.controlHost ?? "127.0.0.1", configuration.relay.controlPort ?? 8788))
        // The first events are checked, not `unchecked`, unless Lago takes longer than this to list them.
        if let billing = session.billing, await !billing.firstLoad(timeout: .seconds(10)) {
            logger.warning(
                "Lago's billable metrics and subscriptions are not loaded yet: events are unchecked until they are",
                metadata: ["error": "\(billing.status.lastError ?? "still loading")"])
        }
        let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
        let lago = session.lago
        let holding = SpoolHolding(holder: "serve", relay: relay, control: control, relayIsOptional: false)
        try await holding.run(
            session: session, engine: engine, store: store, registry: registry, metricsFactory: metricsFactory,
            logger: logger
        ) { relayURL, _ in
            guard let relayURL else { return }
            logger.info(
                "relaying", metadata: ["relay": "\(relayURL)", "lago": "\(lago.baseURL)", "key": "\(lago.maskedKey)"])
            let webhookURL = relayURL.deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent("webhooks").appendingPathComponent("lago")
            // Unbuffered, one line: the URL to register in Lago.
            FileHandle.standardOutput.write(
                Data(
                    ("Lago webhooks: \(webhookURL.absoluteString) (register it in Lago: Developers → Webhooks, "
                        + "signature JWT, or HMAC with lago.webhook_hmac_key set)\n").utf8))
            for await signal in signals {
                logger.info("stopping", metadata: ["signal": "\(signal)"])
                break
            }
        }
        return await engine.stats()
    }
}
