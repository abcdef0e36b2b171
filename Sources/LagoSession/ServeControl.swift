public import LagoControl
public import LagoEngine
public import Logging
public import Prometheus
import Synchronization

/// The control API of `lago-console serve`.
public enum ServeControl {
    /// Runs `body` with the control API listening and its discovery file written next to the spool through
    /// `published` (which writes it again when the Lago changes; removed afterwards); `/metrics` needs the control
    /// token when `metricsRequireToken` is set; `POST /control/v1/config/reload` calls `reloadConfiguration`. When
    /// the configured port is taken, a free port is used (the discovery file names it) and a warning says
    /// Prometheus will not find /metrics where configured.
    public static func withControl(
        engine: any EngineControl, host: String, port: Int, endpoint: ControlEndpoint,
        registry: PrometheusCollectorRegistry, metricsRequireToken: Bool, spoolPath: String,
        reloadConfiguration: @escaping @Sendable () async -> ConfigReload, published: PublishedEndpoint,
        logger: Logger, _ body: @Sendable () async throws -> Void
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
