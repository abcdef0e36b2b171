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
            serves Prometheus metrics on /metrics.
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
        let defaultSubscription = configuration.lago.defaultSubscriptionID ?? (isSandbox ? "sub_sandbox" : nil)
        var engineConfiguration = ConsoleRuntime.engineConfiguration(
            configuration, isSandbox: isSandbox, defaultSubscription: defaultSubscription)
        let registry = PrometheusCollectorRegistry()
        engineConfiguration.metricsFactory = PrometheusMetricsFactory(registry: registry)
        let spoolPath = engineConfiguration.spoolPath
        let engine = try LagoEngine(
            configuration: engineConfiguration, baseURL: baseURL, apiKey: apiKey, logger: logger)
        engine.start()
        let subscription = DefaultSubscription(defaultSubscription)
        let (host, port) = try Self.address(
            listen, option: "--listen", default: (configuration.relay.host ?? "127.0.0.1", configuration.relay.port ?? 8787))
        let control = try Self.address(
            controlListen, option: "--control-listen",
            default: (configuration.relay.controlHost ?? "127.0.0.1", configuration.relay.controlPort ?? 8788))
        var options = RelayOptions(
            host: host, port: port, token: configuration.relay.token.isEmpty ? nil : configuration.relay.token,
            maxBodyBytes: configuration.relay.maxBodyBytes, defaultSubscription: { subscription.current })
        options.metricsFactory = PrometheusMetricsFactory(registry: registry)
        let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
        do {
            try await LagoRelay.withRunning(engine: engine, options: options, logger: logger) { relayURL in
                logger.info(
                    "relaying", metadata: ["relay": "\(relayURL)", "lago": "\(baseURL)", "key": "\(ConfigMasking.mask(apiKey))"])
                let endpointBase = ControlEndpoint(
                    url: "", token: ControlServerOptions.randomToken(), pid: getpid(), startedAt: Date(),
                    lagoURL: baseURL.apiRoot, sandbox: isSandbox, relayURL: relayURL.absoluteString,
                    maskedKey: ConfigMasking.mask(apiKey), sandboxAPIKey: isSandbox ? apiKey : nil)
                try await Self.withControl(
                    engine: ServedEngine(engine: engine, relaySubscription: subscription), host: control.host, port: control.port, endpoint: endpointBase, registry: registry,
                    spoolPath: spoolPath, logger: logger
                ) {
                await withTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for await changed in store.changes() {
                            subscription.update(changed.lago.defaultSubscriptionID)
                            var codes: [CanonicalField: String] = [:]
                            for field in CanonicalField.allCases { codes[field] = changed.metricCodes[field] }
                            engine.updateMapping(codes)
                            engine.updateDefaultSubscription(changed.lago.defaultSubscriptionID)
                        }
                    }
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
        logger.info("stopped", metadata: ["delivered": "\(stats.delivered)", "queued": "\(stats.queued)", "dead": "\(stats.dead)"])
    }
}

extension ServeCommand {
    /// `host:port` from an option, or the configured default.
    static func address(
        _ text: String?, option: String, default fallback: (String, Int)
    ) throws -> (host: String, port: Int) {
        guard let text else { return fallback }
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count >= 2, let last = parts.last, let number = Int(last), (0...65_535).contains(number) else {
            throw ConsoleFailure(description: "\(option): expected host:port, got \(text)")
        }
        var host = parts.dropLast().joined(separator: ":")
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host, number)
    }

    /// Runs `body` with the control API listening and its discovery file written next to the spool (removed
    /// afterwards). When the configured port is taken, a free port is used (the discovery file names it) and a
    /// warning says Prometheus will not find /metrics where configured.
    static func withControl(
        engine: any EngineControl, host: String, port: Int, endpoint: ControlEndpoint, registry: PrometheusCollectorRegistry,
        spoolPath: String, logger: Logger, _ body: @Sendable () async throws -> Void
    ) async throws {
        let started = Atomic<Bool>(false)
        func run(port: Int) async throws {
            let options = ControlServerOptions(host: host, port: port, token: endpoint.token, metrics: registry)
            try await ControlServer.withRunning(engine: engine, options: options, logger: logger) { url in
                started.store(true, ordering: .relaxed)
                var endpoint = endpoint
                endpoint.url = url.absoluteString
                try endpoint.write(forSpool: spoolPath)
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

/// serve's engine as the control API drives it: a default subscription set by an attached console applies to the
/// relay's events too, not only to usage the engine codes.
struct ServedEngine: EngineControl {
    let engine: LagoEngine
    let relaySubscription: DefaultSubscription

    func enqueue(_ events: [EventInput]) async throws -> [String] { try await engine.enqueue(events) }
    func enqueue(_ usage: UsageRecord) async throws -> [String] { try await engine.enqueue(usage) }
    func flush(deadline: Duration) async throws -> FlushResult { await engine.flush(deadline: deadline) }
    func stats() async throws -> EngineStats { await engine.stats() }
    func lifecycleEvents(bufferSize: Int?) -> AsyncStream<EventLifecycleChange> {
        engine.lifecycleEvents(bufferSize: bufferSize)
    }
    func deadLetters(limit: Int, offset: Int) async throws -> [DeadLetter] {
        try await engine.deadLetters(limit: limit, offset: offset)
    }
    func deadLetter(id: Int64) async throws -> DeadLetter? { try await engine.deadLetter(id: id) }
    func replayDeadLetter(id: Int64, edit: DeadLetterEdit?) async throws -> String {
        try await engine.replayDeadLetter(id: id, edit: edit)
    }
    func discardDeadLetter(id: Int64) async throws { try await engine.discardDeadLetter(id: id) }
    func pauseDelivery() async throws { engine.pause() }
    func resumeDelivery() async throws { engine.resume() }
    func retryDelivery() async throws { engine.retryNow() }
    func setMapping(_ metricCodes: [CanonicalField: String]) async throws { engine.updateMapping(metricCodes) }
    func setDefaultSubscription(_ externalSubscriptionID: String?) async throws {
        engine.updateDefaultSubscription(externalSubscriptionID)
        relaySubscription.update(externalSubscriptionID)
    }
}

/// The default subscription the relay applies, shared between the config watcher and request handlers.
final class DefaultSubscription: Sendable {
    private let value: Mutex<String?>

    init(_ initial: String?) { value = Mutex(initial) }

    var current: String? { value.withLock { $0 } }

    /// A change to an unset value keeps the current one (the sandbox default).
    func update(_ new: String?) {
        guard let new else { return }
        value.withLock { $0 = new }
    }
}
