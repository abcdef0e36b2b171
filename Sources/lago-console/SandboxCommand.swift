import ArgumentParser
import Foundation
import LagoBench
import LagoSandbox
import Logging

/// `lago-console sandbox`: serve the local Lago-compatible sandbox.
struct SandboxCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sandbox",
        abstract: "Run a local Lago-compatible sandbox with fault injection.",
        discussion: """
            Serves Lago's events, billable metrics, customers, subscriptions, current usage and estimate-fees API
            (v1.51, Postgres event store) until SIGINT or SIGTERM. Faults can be set at start with the flags below
            and changed at runtime over the admin API on the same port: GET /_sandbox/stats, GET|POST /_sandbox/faults,
            POST /_sandbox/reset (loopback clients only).
            """
    )

    @Option(help: "TCP port (0 picks a free one).")
    var port: Int = 3000

    @Option(help: "Interface to listen on.")
    var host: String = "127.0.0.1"

    @Option(help: "SQLite file keeping events, metrics, customers and subscriptions across restarts.")
    var data: String?

    @Flag(name: .customLong("no-seed"), help: "Do not create the seeded metrics, customer and subscription.")
    var noSeed = false

    @Option(name: .customLong("api-key"), help: "Accepted API key (repeatable; default: a generated UUID).")
    var apiKeys: [String] = []

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = "notice"

    @Option(name: .customLong("fail-next"), help: "Fail the next N requests.")
    var failNext: Int?

    @Option(name: .customLong("fail-status"), help: "Status for --fail-next and --fail-fraction.")
    var failStatus: Int = 500

    @Option(name: .customLong("fail-path-prefix"), help: "Only fail requests whose path starts with this.")
    var failPathPrefix: String?

    @Option(name: .customLong("fail-fraction"), help: "Fail this fraction (0-1) of requests.")
    var failFraction: Double?

    @Option(name: .customLong("fail-seed"), help: "Seed of the --fail-fraction generator.")
    var failSeed: UInt64 = 0

    @Option(
        name: .customLong("latency-ms"),
        help: "Answer every request N milliseconds after it arrived (it is served at once).")
    var latencyMilliseconds: Int?

    @Option(name: .customLong("latency-jitter-ms"), help: "Add a random 0 to N milliseconds to every request's delay.")
    var latencyJitterMilliseconds: Int?

    @Option(
        name: .customLong("requests-per-second"),
        help: "Limit event requests to N per 1-second window, as Lago Cloud does (headers on every answer, 429 beyond)."
    )
    var requestsPerSecond: Int?

    @Option(name: .customLong("rate-limit"), help: "Answer the next N requests 429.")
    var rateLimit: Int?

    @Option(name: .customLong("retry-after"), help: "Retry-After / X-RateLimit-Reset seconds for --rate-limit.")
    var retryAfter: Int = 1

    @Option(name: .customLong("outage-seconds"), help: "Start with an outage of this many seconds.")
    var outageSeconds: Double?

    @Option(name: .customLong("outage-mode"), help: "refuse (close connections) or status_503.")
    var outageMode: String = SandboxOutageMode.status503.rawValue

    @Option(name: .customLong("ack-loss"), help: "Store the next N event POSTs but lose the answer.")
    var ackLoss: Int?

    @Option(name: .customLong("ack-loss-mode"), help: "status_503 or drop_connection.")
    var ackLossMode: String = SandboxAckLossMode.status503.rawValue

    @Option(name: .customLong("reset-mid-response"), help: "Cut the next N answers after half the body.")
    var resetMidResponse: Int?

    @Option(
        name: .customLong("webhook-hmac-key-file"),
        help: """
            File holding the organization's webhook HMAC key (default: LAGO_WEBHOOK_HMAC_KEY, else a generated key, \
            readable at GET /_sandbox/webhook_hmac_key).
            """)
    var webhookHMACKeyFile: String?

    @Option(
        name: .customLong("unit-amount"),
        help: "Price per unit of every charge of the seeded subscription (current_usage amounts), e.g. 0.002.")
    var unitAmount: String = "0.001"

    @Option(
        name: .customLong("post-validation-interval"),
        help: "Run Lago's post-validation and send events.errors webhooks every N seconds (default: off).")
    var postValidationInterval: Double?

    @Flag(help: "Run the loopback ingestion benchmark on an ephemeral port, print its JSON result and exit.")
    var benchmark = false

    @Option(name: .customLong("benchmark-events"), help: "Events the benchmark sends (batches of 100).")
    var benchmarkEvents: Int = 200_000

    @Option(name: .customLong("benchmark-connections"), help: "Concurrent connections of the benchmark.")
    var benchmarkConnections: Int = 4

    func validate() throws {
        guard (0...65_535).contains(port) else {
            throw ValidationError("--port \(port) is not a TCP port: use 1 to 65535, or 0 to pick a free one")
        }
        guard SandboxOutageMode(rawValue: outageMode) != nil else {
            throw ValidationError("--outage-mode must be refuse or status_503")
        }
        guard SandboxAckLossMode(rawValue: ackLossMode) != nil else {
            throw ValidationError("--ack-loss-mode must be status_503 or drop_connection")
        }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical")
        }
        if let failFraction, !(0...1).contains(failFraction) {
            throw ValidationError("--fail-fraction must be between 0 and 1")
        }
        if let latencyJitterMilliseconds, latencyJitterMilliseconds < 0 {
            throw ValidationError("--latency-jitter-ms must be 0 or more")
        }
        if unitAmount.wholeMatch(of: /[0-9]+(\.[0-9]+)?/) == nil {
            throw ValidationError(
                "--unit-amount \(unitAmount) is not a price: give a non-negative decimal such as 0.002")
        }
        if let postValidationInterval, !(postValidationInterval > 0) {
            throw ValidationError("--post-validation-interval must be more than 0 seconds")
        }
        if let requestsPerSecond, requestsPerSecond < 1 {
            throw ValidationError("--requests-per-second must be 1 or more")
        }
    }

    func run() async throws {
        var logger = Logger(label: "lago.sandbox") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .notice
        if benchmark {
            let result = try await SandboxBenchmark.run(
                events: benchmarkEvents,
                connections: benchmarkConnections,
                dataPath: data,
                logger: logger
            )
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            Self.say([String(decoding: try encoder.encode(result), as: UTF8.self)])
            return
        }
        var options = SandboxOptions(host: host, port: port, dataPath: data, seed: !noSeed, apiKeys: apiKeys)
        if let webhookHMACKeyFile {
            guard let text = try? String(contentsOfFile: webhookHMACKeyFile, encoding: .utf8) else {
                throw ValidationError("--webhook-hmac-key-file \(webhookHMACKeyFile) cannot be read")
            }
            options.webhookHMACKey = text.trimmingCharacters(in: .whitespacesAndNewlines)
        } else if let key = ProcessInfo.processInfo.environment["LAGO_WEBHOOK_HMAC_KEY"], !key.isEmpty {
            options.webhookHMACKey = key
        }
        options.seedUnitAmount = unitAmount
        options.postValidationInterval = postValidationInterval.map { .milliseconds(Int64($0 * 1000)) }
        let sandbox = try Sandbox(options: options, logger: logger)
        applyFaults(to: sandbox.faults)

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await sandbox.run(gracefulShutdownOnSignals: true) }
            let baseURL = try await sandbox.waitUntilRunning()
            var lines = [
                "Lago sandbox listening",
                "  base URL:  \(baseURL.absoluteString)",
                "  API key:   \(sandbox.apiKey)",
                "  admin API: \(sandbox.rootURL.absoluteString)/_sandbox/stats",
            ]
            if let data { lines.append("  data:      \(data)") }
            if !sandbox.faults.snapshot.isEmpty { lines.append("  faults:    configured (GET /_sandbox/faults)") }
            lines.append("Press Ctrl-C to stop.")
            Self.say(lines)
            try await group.waitForAll()
        }
        Self.say(["Lago sandbox stopped (\(sandbox.storedEventCount) events stored)."])
    }

    /// Writes lines to standard output unbuffered, so a parent process reading a pipe sees them at once.
    private static func say(_ lines: [String]) {
        FileHandle.standardOutput.write(Data((lines.joined(separator: "\n") + "\n").utf8))
    }

    private func applyFaults(to faults: SandboxFaults) {
        if let failNext { faults.failNext(failNext, status: failStatus, pathPrefix: failPathPrefix) }
        if let failFraction {
            faults.failFraction(failFraction, status: failStatus, seed: failSeed, pathPrefix: failPathPrefix)
        }
        if latencyMilliseconds != nil || latencyJitterMilliseconds != nil {
            faults.latency(
                .milliseconds(latencyMilliseconds ?? 0), jitter: .milliseconds(latencyJitterMilliseconds ?? 0))
        }
        if let requestsPerSecond { faults.rateLimiter(requestsPerSecond: requestsPerSecond) }
        if let rateLimit { faults.rateLimit(next: rateLimit, retryAfter: retryAfter) }
        if let outageSeconds, let mode = SandboxOutageMode(rawValue: outageMode) {
            faults.outage(for: .milliseconds(Int(outageSeconds * 1000)), mode: mode)
        }
        if let ackLoss, let mode = SandboxAckLossMode(rawValue: ackLossMode) {
            faults.ackLoss(next: ackLoss, mode: mode)
        }
        if let resetMidResponse { faults.resetMidResponse(next: resetMidResponse) }
    }
}
