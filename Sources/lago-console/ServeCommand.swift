import ArgumentParser
import Foundation
import LagoAPI
import LagoConfig
import LagoEngine
import LagoRelay
import LagoSandbox
import Logging
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
            gracefully: undelivered events stay in the spool for the next start.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Flag(help: "Deliver to an embedded sandbox even when a Lago is configured.")
    var sandbox = false

    @Option(help: "Listen address (host:port) overriding relay.listen.")
    var listen: String?

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
        let engineConfiguration = ConsoleRuntime.engineConfiguration(
            configuration, isSandbox: isSandbox, defaultSubscription: defaultSubscription)
        let engine = try LagoEngine(
            configuration: engineConfiguration, baseURL: baseURL, apiKey: apiKey, logger: logger)
        engine.start()
        let subscription = DefaultSubscription(defaultSubscription)
        var (host, port) = (configuration.relay.host ?? "127.0.0.1", configuration.relay.port ?? 8787)
        if let listen {
            let parts = listen.split(separator: ":", omittingEmptySubsequences: false)
            guard let last = parts.last, let number = Int(last) else {
                throw ConsoleFailure(description: "--listen: expected host:port, got \(listen)")
            }
            host = parts.dropLast().joined(separator: ":")
            port = number
        }
        let options = RelayOptions(
            host: host, port: port, token: configuration.relay.token.isEmpty ? nil : configuration.relay.token,
            maxBodyBytes: configuration.relay.maxBodyBytes, defaultSubscription: { subscription.current })
        let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
        do {
            try await LagoRelay.withRunning(engine: engine, options: options, logger: logger) { relayURL in
                logger.info(
                    "relaying", metadata: ["relay": "\(relayURL)", "lago": "\(baseURL)", "key": "\(ConfigMasking.mask(apiKey))"])
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
        } catch {
            await engine.shutdown()
            throw error
        }
        let stats = await engine.stats()
        await engine.shutdown()
        logger.info("stopped", metadata: ["delivered": "\(stats.delivered)", "queued": "\(stats.queued)", "dead": "\(stats.dead)"])
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
