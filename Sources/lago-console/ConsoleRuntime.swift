import ConsoleBridge
import ConsoleUI
import Foundation
import LagoAPI
import LagoBilling
import LagoConfig
import LagoEngine
import LagoRelay
import LagoSandbox
import LagoSession
import Logging
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
        // When `lago-console serve` runs on this spool, the console watches and steers its engine over the control
        // API instead of starting a second one; quitting the console leaves serve delivering.
        let _: Void = try await EngineSession.open(
            configuration: configuration,
            options: EngineSessionOptions(
                isSandbox: useSandbox, sandboxSubscription: SandboxSeed.subscriptionExternalID),
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
                    attachedTo: serve.map { "serve pid \($0.pid)" }),
                defaultSubscription: session.defaultSubscription, readOnly: options.readOnly, noColor: options.noColor,
                demoTraffic: options.demoTraffic ?? (serve == nil && session.lago.isSandbox),
                frameStatsPath: options.frameStatsPath, billing: session.billing)
            defer { if console.wasInterrupted { interrupted.store(true, ordering: .relaxed) } }
            guard let engine = session.localEngine else { return try await console.run() }
            try await runWithRelay(
                engine: engine, session: console, billing: session.billing,
                fallbackSubscription: session.lago.isSandbox ? SandboxSeed.subscriptionExternalID : nil, logger: logger)
        }
        return interrupted.load(ordering: .relaxed)
    }

    /// Runs the session with the relay listening on `relay.listen`, so local Lago clients feed the console. When the
    /// relay cannot listen (the port is taken, e.g. by `lago-console serve`), the console runs without it and says so
    /// in the log.
    private func runWithRelay(
        engine: LagoEngine, session: ConsoleSession, billing: BillingCatalogueService?, fallbackSubscription: String?,
        logger: Logger
    ) async throws {
        let relay = store.configuration.relay
        var options = RelayOptions(
            host: relay.host ?? "127.0.0.1", port: relay.port ?? 8787, token: relay.token.isEmpty ? nil : relay.token,
            maxBodyBytes: relay.maxBodyBytes,
            defaultSubscription: { [store] in store.configuration.lago.defaultSubscriptionID ?? fallbackSubscription })
        if let billing { options.customerSubscription = { billing.subscription(forCustomer: $0) } }
        options.setUsageSources { [store] in store.configuration.usage }
        let started = Atomic<Bool>(false)
        do {
            try await LagoRelay.withRunning(engine: engine, options: options, logger: logger) { url in
                started.store(true, ordering: .relaxed)
                logger.info("relay listening", metadata: ["url": "\(url)"])
                try await session.run()
            }
        } catch  where !started.load(ordering: .relaxed) {
            logger.warning("relay not started; running without it", metadata: ["error": "\(error)"])
            try await session.run()
        }
    }
}
