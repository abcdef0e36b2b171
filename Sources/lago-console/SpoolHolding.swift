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

/// What a process holding a spool runs beside its own work — `serve` and a console with its own engine alike, so
/// that the two never differ: the relay (Lago clients' events, usage records, OTLP spans and Lago's signed
/// webhooks in), the control API with its discovery file (other processes attach to this engine instead of being
/// refused the spool), and the config follower (a key, URL, metric code or default subscription changed in the file
/// by anyone applies while it runs). Wiring only.
struct SpoolHolding {
    /// `serve` or `console`: the discovery file's `holder`, and how messages name this process.
    var holder: String
    /// Where the relay listens.
    var relay: (host: String, port: Int)
    /// Where the control API listens (a free port when that one is taken).
    var control: (host: String, port: Int)
    /// Whether the process goes on without a relay that cannot listen (a console: it says so on its status line);
    /// else that failure is thrown (`serve`).
    var relayIsOptional: Bool

    /// Runs `body` with all of it running on `session`'s engine (`body` gets the relay's URL, or why it is not
    /// listening); stops it all when `body` returns.
    func run(
        session: EngineSession, engine: LagoEngine, store: ConfigStore, registry: PrometheusCollectorRegistry,
        metricsFactory: PrometheusMetricsFactory, logger: Logger,
        _ body: @escaping @Sendable (_ relayURL: URL?, _ relayProblem: String?) async throws -> Void
    ) async throws {
        let configuration = store.configuration
        let lago = session.lago
        var options = RelayOptions(
            host: relay.host, port: relay.port,
            token: configuration.relay.token.isEmpty ? nil : configuration.relay.token,
            maxBodyBytes: configuration.relay.maxBodyBytes,
            // The engine's, so a change from the config file or an attached console applies to both at once.
            defaultSubscription: { engine.defaultSubscription })
        options.metricsFactory = metricsFactory
        options.setUsageSources { [store] in store.configuration.usage }
        if let billing = session.billing {
            // Events naming only their customer get the customer's one active subscription, which Lago bills.
            options.customerSubscription = { billing.subscription(forCustomer: $0) }
        }
        // Lago's webhooks (events.errors, event.error) come in on the relay, proven by their signature: hmac with
        // lago.webhook_hmac_key (read per request), jwt with the public key the Lago delivered to serves (fetched with
        // the engine's client, which follows a changed lago.api_url or lago.api_key); a self-hosted Lago signs as
        // its own origin, the one the engine delivers to now.
        options.webhookKeys = LagoWebhookKeys(
            hmacKey: { store.configuration.lago.webhookHMACKey },
            publicKey: { try await engine.lagoWebhookPublicKey() },
            issuers: {
                var issuers: Set<String> = [LagoWebhookVerifier.lagoCloudIssuer]
                if let url = URL(string: engine.lagoBaseURL.apiRoot), let scheme = url.scheme, let host = url.host {
                    issuers.insert("\(scheme)://\(host)" + (url.port.map { ":\($0)" } ?? ""))
                }
                return issuers
            })
        let published = PublishedEndpoint(spoolPath: session.spoolPath, logger: logger)
        // Whoever changes the config file, the holder reads it again and applies what it can while it runs.
        let follower = ServeConfigFollower(
            store: store, engine: engine, isSandbox: lago.isSandbox,
            sandboxSubscription: SandboxSeed.subscriptionExternalID, lagoURL: lago.baseURL.apiRoot,
            apiKey: lago.apiKey, logger: logger, holder: holder,
            onLagoChange: { published.lagoChanged(apiRoot: $0, maskedKey: $1) })
        let (holder, control) = (self.holder, self.control)
        try await withRelay(engine: engine, options: options, logger: logger) { relayURL, relayProblem in
            let endpoint = ControlEndpoint(
                url: "", token: ControlServerOptions.randomToken(), pid: getpid(), startedAt: Date(),
                lagoURL: lago.baseURL.apiRoot, sandbox: lago.isSandbox, relayURL: relayURL?.absoluteString,
                maskedKey: lago.maskedKey, sandboxAPIKey: lago.isSandbox ? lago.apiKey : nil, holder: holder)
            try await ServeControl.withControl(
                engine: engine, host: control.host, port: control.port, endpoint: endpoint, registry: registry,
                metricsRequireToken: configuration.relay.controlAllowRemote, spoolPath: session.spoolPath,
                reloadConfiguration: { follower.reload() }, published: published, logger: logger
            ) {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { await follower.watch(every: .seconds(1)) }
                    try await body(relayURL, relayProblem)
                    group.cancelAll()
                }
            }
        }
    }

    /// Runs `body` with the relay listening (its URL); when it cannot listen and ``relayIsOptional``, without it
    /// and why (logged too).
    private func withRelay(
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
        } catch  where relayIsOptional && !started.load(ordering: .relaxed) {
            logger.warning("relay not started; running without it", metadata: ["error": "\(error)"])
            try await body(nil, "\(error)")
        }
    }
}
