import ConsoleBridge
import ConsoleUI
import Foundation
import LagoAPI
import LagoBilling
import LagoConfig
import LagoControl
import LagoEngine
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
                    attachedTo: serve.map(EngineHolder.init)),
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

    /// Runs the console on its own engine as `serve` runs it (``SpoolHolding``): with the relay on `relay.listen`,
    /// so local Lago clients feed the console (when it cannot listen, the port taken say, the console runs without it
    /// and says why on its status line); with the control API on `relay.control_listen` and its discovery file, so
    /// headless commands and a second console attach to this engine instead of being refused the spool; and
    /// following the config file, so a key, URL, mapping or default subscription changed by anyone applies live.
    private func runLocal(
        engine: LagoEngine, session: EngineSession, console: ConsoleSession, registry: PrometheusCollectorRegistry,
        metricsFactory: PrometheusMetricsFactory, logger: Logger
    ) async throws {
        let relay = store.configuration.relay
        let holding = SpoolHolding(
            holder: "console", relay: (relay.host ?? "127.0.0.1", relay.port ?? 8787),
            control: (relay.controlHost ?? "127.0.0.1", relay.controlPort ?? 8788), relayIsOptional: true)
        try await holding.run(
            session: session, engine: engine, store: store, registry: registry, metricsFactory: metricsFactory,
            logger: logger
        ) { _, relayProblem in
            try await console.run(relayProblem: relayProblem)
        }
    }
}
