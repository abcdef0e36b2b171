import ConsoleBridge
import ConsoleUI
import Foundation
import LagoAPI
import LagoBilling
import LagoConfig
import LagoControl
import LagoEngine
import LagoRelay
import LagoSandbox
import LagoSession
import Logging
import Prometheus
import Synchronization
import Terminal

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

    let store: ConfigStore
    let options: Options

    static func defaultLogFile(environment: [String: String]) -> String {
        let spool = ConfigPaths.defaultSpoolPath(environment: environment)
        return URL(fileURLWithPath: spool).deletingLastPathComponent().appendingPathComponent("console.log").path
    }

    /// Runs the console; returns whether the operator interrupted it (Ctrl-C).
    func run() async throws -> Bool {
        let interrupted = Atomic<Bool>(false)
        let logger = Logger(label: "lago-console", factory: FileLogHandler.factory(path: options.logFile, level: .info))
        let configuration = store.configuration
        let useSandbox = options.useSandbox
        // A console with its own engine exposes it as serve does: Prometheus metrics on its control API.
        let registry = PrometheusCollectorRegistry()
        let metricsFactory = PrometheusMetricsFactory(registry: registry)
        // When `lago-console serve` (or another console) runs on this spool, the console watches and steers its
        // engine over the control API instead of starting a second one; quitting the console leaves it delivering.
        let _: Void = try await EngineSession.open(
            configuration: configuration,
            options: EngineSessionOptions(
                isSandbox: useSandbox, sandboxSubscription: SandboxSeed.subscriptionExternalID,
                customize: { $0.metricsFactory = metricsFactory }),
            logger: logger,
            lago: { (use: (LagoTarget) async throws -> Void) in
                guard !useSandbox, let url = configuration.lago.apiURL else {
                    var sandboxOptions = SandboxOptions()
                    sandboxOptions.seed = true
                    return try await Sandbox.withRunning(sandboxOptions, logger: logger) { sandbox in
                        try await use(
                            LagoTarget(
                                baseURL: try LagoBaseURL(sandbox.baseURL.absoluteString), apiKey: sandbox.apiKey,
                                isSandbox: true))
                    }
                }
                let baseURL = try LagoBaseURL(
                    url.absoluteString, allowInsecureHTTP: configuration.lago.allowInsecureHTTP)
                try await use(LagoTarget(baseURL: baseURL, apiKey: configuration.lago.apiKey, isSandbox: false))
            }
        ) { (session: EngineSession) -> Void in
            let serve = session.serve
            let console = ConsoleSession(
                engine: session.control, client: session.client, store: store, logger: logger,
                connection: ConnectionInfo(
                    url: session.lago.baseURL.apiRoot, isSandbox: session.lago.isSandbox,
                    maskedKey: serve?.maskedKey ?? session.lago.maskedKey,
                    attachedTo: serve.map { "\($0.holderName) pid \($0.pid)" }),
                defaultSubscription: session.defaultSubscription, readOnly: options.readOnly, noColor: options.noColor,
                demoTraffic: options.demoTraffic ?? (serve == nil && session.lago.isSandbox),
                frameStatsPath: options.frameStatsPath, billing: session.billing)
            defer { if console.wasInterrupted { interrupted.store(true, ordering: .relaxed) } }
            guard let engine = session.localEngine else { return try await console.run() }
            try await runLocal(
                engine: engine, session: session, console: console, registry: registry, metricsFactory: metricsFactory,
                logger: logger)
        }
        return interrupted.load(ordering: .relaxed)
    }

    /// Runs the console on its own engine as `serve` would run it: with the relay listening on `relay.listen`, so
    /// local Lago clients feed the console (when it cannot listen, the port taken say, the console runs without it
    /// and says why on its status line); with the control API on `relay.control_listen` (a free port when that is
    /// taken) and its discovery file, so headless commands and a second console attach to this engine instead of
    /// being refused the spool; and following the config file, so a key, URL, mapping or default subscription
    /// changed by anyone applies while it runs.
    private func runLocal(
        engine: LagoEngine, session: EngineSession, console: ConsoleSession, registry: PrometheusCollectorRegistry,
        metricsFactory: PrometheusMetricsFactory, logger: Logger
    ) async throws {
        let configuration = store.configuration
        let lago = session.lago
        let sandboxSubscription = lago.isSandbox ? SandboxSeed.subscriptionExternalID : nil
        let relay = configuration.relay
        var options = RelayOptions(
            host: relay.host ?? "127.0.0.1", port: relay.port ?? 8787, token: relay.token.isEmpty ? nil : relay.token,
            maxBodyBytes: relay.maxBodyBytes,
            // The engine's, so a change from the config file or the console applies to both at once.
            defaultSubscription: { engine.defaultSubscription })
        options.metricsFactory = metricsFactory
        if let billing = session.billing { options.customerSubscription = { billing.subscription(forCustomer: $0) } }
        options.setUsageSources { [store] in store.configuration.usage }
        let published = PublishedEndpoint(spoolPath: session.spoolPath, logger: logger)
        let follower = ServeConfigFollower(
            store: store, engine: engine, isSandbox: lago.isSandbox, sandboxSubscription: sandboxSubscription,
            lagoURL: lago.baseURL.apiRoot, apiKey: lago.apiKey, logger: logger, holder: "console",
            onLagoChange: { published.lagoChanged(apiRoot: $0, maskedKey: $1) })
        let control = (host: relay.controlHost ?? "127.0.0.1", port: relay.controlPort ?? 8788)
        try await Self.withRelay(engine: engine, options: options, logger: logger) { relayURL, relayProblem in
            let endpoint = ControlEndpoint(
                url: "", token: ControlServerOptions.randomToken(), pid: getpid(), startedAt: Date(),
                lagoURL: lago.baseURL.apiRoot, sandbox: lago.isSandbox, relayURL: relayURL?.absoluteString,
                maskedKey: lago.maskedKey, sandboxAPIKey: lago.isSandbox ? lago.apiKey : nil, holder: "console")
            try await ServeControl.withControl(
                engine: engine, host: control.host, port: control.port, endpoint: endpoint, registry: registry,
                metricsRequireToken: relay.controlAllowRemote, spoolPath: session.spoolPath,
                reloadConfiguration: { follower.reload() }, published: published, logger: logger
            ) {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { await follower.watch(every: .seconds(1)) }
                    try await console.run(relayProblem: relayProblem)
                    group.cancelAll()
                }
            }
        }
    }

    /// Runs `body` with the relay listening (its URL), or without it and why it could not listen (logged too).
    private static func withRelay(
        engine: LagoEngine, options: RelayOptions, logger: Logger,
        _ body: @Sendable (_ relayURL: URL?, _ problem: String?) async throws -> Void
    ) async throws {
        let started = Atomic<Bool>(false)
        do {
            try await LagoRelay.withRunning(engine: engine, options: options, logger: logger) { url in
                started.store(true, ordering: .relaxed)
                logger.info("relay listening", metadata: ["url": "\(url)"])
                try await body(url, nil)
            }
        } catch  where !started.load(ordering: .relaxed) {
            logger.warning("relay not started; running without it", metadata: ["error": "\(error)"])
            try await body(nil, "\(error)")
        }
    }
}
