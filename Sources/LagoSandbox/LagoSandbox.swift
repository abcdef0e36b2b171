public import Foundation
import HTTPServing
import Hummingbird
import HummingbirdCore
import LagoAPI
import LagoIngest
public import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// How to start a ``Sandbox``.
public struct SandboxOptions: Sendable {
    /// Interface to listen on (default `127.0.0.1`).
    public var host: String
    /// TCP port; 0 (the default) picks a free port, readable from ``Sandbox/port`` once running.
    public var port: Int
    /// SQLite file keeping events, metrics, customers and subscriptions across restarts; nil keeps them in memory.
    public var dataPath: String?
    /// Adds the seed (see ``SandboxSeed``) where absent.
    public var seed: Bool
    /// Accepted API keys; empty means one generated UUID (read it from ``Sandbox/apiKey``).
    public var apiKeys: [String]
    /// Events per batch before `too_many_events` (Lago's default is 100).
    public var maxBatchSize: Int
    /// Largest request body read; larger bodies get `413`.
    public var maxBodyBytes: Int
    /// Close connections idle this long (nil: never).
    public var idleTimeout: Duration?
    /// The clock for reception times, `created_at` and the usage period (inject a fixed one in tests).
    public var now: @Sendable () -> Date
    /// The organization's webhook HMAC key (`hmac`-signed webhooks); `nil` generates one (read it from
    /// ``Sandbox/webhookHMACKey``).
    public var webhookHMACKey: String? = nil
    /// Runs Lago's post-validation (and sends `events.errors` to the registered endpoints) this often; `nil` (the
    /// default) only on `POST /_sandbox/post_validate` or ``Sandbox/postValidate()``.
    public var postValidationInterval: Duration? = nil
    /// The pause before the n-th retry of a failed webhook delivery is n times this (3 retries, as Lago).
    public var webhookRetryDelay: Duration = .milliseconds(200)
    /// The price per unit of every charge of the seeded subscription (major currency units), what `current_usage`
    /// and `estimate_fees` multiply the units by; change it later with ``Sandbox/setUnitAmount(_:subscription:)``
    /// or `PUT /_sandbox/unit_amount`.
    public var seedUnitAmount: String = "0.001"

    public init(
        host: String = "127.0.0.1",
        port: Int = 0,
        dataPath: String? = nil,
        seed: Bool = true,
        apiKeys: [String] = [],
        maxBatchSize: Int = 100,
        maxBodyBytes: Int = 32 << 20,
        idleTimeout: Duration? = nil,
        now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.host = host
        self.port = port
        self.dataPath = dataPath
        self.seed = seed
        self.apiKeys = apiKeys
        self.maxBatchSize = maxBatchSize
        self.maxBodyBytes = maxBodyBytes
        self.idleTimeout = idleTimeout
        self.now = now
    }
}

/// Errors of the sandbox's own API (not Lago errors, which are HTTP answers).
public struct SandboxError: Error, Sendable, Hashable, CustomStringConvertible {
    private enum Kind: Hashable, Sendable {
        case alreadyStarted, stoppedBeforeStart
        case metricCodeTaken(String)
        case invalidExpression(String, String)
        case persistence(String)
        case invalidUnitAmount(String)
        case cannotListen(String)
    }

    private let kind: Kind

    /// ``Sandbox/run(gracefulShutdownOnSignals:)`` was called twice; a sandbox serves once.
    public static let alreadyStarted = SandboxError(kind: .alreadyStarted)
    /// The server stopped (or failed) before it listened.
    public static let stoppedBeforeStart = SandboxError(kind: .stoppedBeforeStart)
    /// A billable metric with this code exists.
    public static func metricCodeTaken(_ code: String) -> SandboxError { .init(kind: .metricCodeTaken(code)) }
    /// The metric's expression does not parse.
    public static func invalidExpression(_ expression: String, _ reason: String) -> SandboxError {
        .init(kind: .invalidExpression(expression, reason))
    }
    /// Writing the `--data` file failed.
    public static func persistence(_ reason: String) -> SandboxError { .init(kind: .persistence(reason)) }
    /// The server could not listen: the address and why, in words (``listenFailureReason(_:)``).
    public static func cannotListen(_ message: String) -> SandboxError { .init(kind: .cannotListen(message)) }
    /// A price per unit that is not a plain non-negative decimal.
    public static func invalidUnitAmount(_ amount: String) -> SandboxError { .init(kind: .invalidUnitAmount(amount)) }

    public var description: String {
        switch kind {
        case .alreadyStarted: "the sandbox has already been started"
        case .stoppedBeforeStart: "the sandbox stopped before it was listening"
        case .metricCodeTaken(let code): "a billable metric with code \(code) exists"
        case .invalidExpression(let expression, let reason): "invalid expression \(expression): \(reason)"
        case .persistence(let reason): "sandbox data file write failed: \(reason)"
        case .invalidUnitAmount(let amount):
            "unit amount \(amount) is not a price: give a non-negative decimal such as \"0.002\""
        case .cannotListen(let message): message
        }
    }
}

/// A local, faithful Lago (v1.51, Postgres event store) with fault injection, for tests and demos.
///
/// In-process use:
/// ```swift
/// try await Sandbox.withRunning(SandboxOptions()) { sandbox in
///     let client = LagoClient(baseURL: sandbox.baseURL, apiKey: sandbox.apiKey)
///     sandbox.faults.failNext(2, status: 503, pathPrefix: "/api/v1/events")
///     …
///     #expect(sandbox.storedEventCount == 100)
/// }
/// ```
/// Long-running use (the console embeds it): create it, run ``run(gracefulShutdownOnSignals:)`` in a task, await
/// ``waitUntilRunning()`` for the base URL, and call ``stop()`` (or cancel the task) to shut it down.
/// The sandbox logs through the injected `Logger` and never prints.
public final class Sandbox: Sendable {
    /// The options it was created with.
    public let options: SandboxOptions
    /// Fault injection; effective immediately, also while running.
    public let faults: SandboxFaults

    let store: SandboxStore
    let webhooks: SandboxWebhooks
    private let keys: APIKeyStore
    private let counters = SandboxRequestCounters()
    private let lifecycle = Lifecycle()
    private let logger: Logger

    /// The default logger: discards everything, so a sandbox never prints unless given a logger.
    public static let silentLogger = Logger(label: "lago.sandbox") { _ in SwiftLogNoOpLogHandler() }

    /// Opens the store (loading `options.dataPath`), seeds it if asked; does not listen yet.
    /// - Throws: when the data file cannot be opened, read or written.
    public init(options: SandboxOptions = SandboxOptions(), logger: Logger = Sandbox.silentLogger) throws {
        self.options = options
        self.logger = logger
        faults = SandboxFaults()
        keys = APIKeyStore(options.apiKeys.isEmpty ? [UUID().uuidString.lowercased()] : options.apiKeys)
        store = try SandboxStore(dataPath: options.dataPath)
        webhooks = SandboxWebhooks(
            hmacKey: options.webhookHMACKey, retryDelay: options.webhookRetryDelay, logger: logger)
        if options.seed {
            do {
                try store.seed(now: options.now(), unitAmount: options.seedUnitAmount)
            } catch {
                store.close()
                throw error
            }
        }
    }

    deinit {
        store.close()
    }

    /// Runs a sandbox for the duration of `body`: it is listening when `body` starts and shut down when `body`
    /// returns or throws (the data file, if any, is closed too).
    /// - Throws: what `body` throws, or the server's error when it cannot listen.
    public static func withRunning<Result>(
        _ options: SandboxOptions = SandboxOptions(),
        logger: Logger = Sandbox.silentLogger,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (Sandbox) async throws -> Result
    ) async throws -> Result {
        let sandbox = try Sandbox(options: options, logger: logger)
        defer { sandbox.store.close() }
        return try await withThrowingTaskGroup(of: Void.self, returning: Result.self, isolation: isolation) { group in
            group.addTask { try await sandbox.run() }
            do {
                _ = try await sandbox.waitUntilRunning()
                let result = try await body(sandbox)
                sandbox.stop()
                try await group.waitForAll()
                return result
            } catch {
                sandbox.stop()
                try? await group.waitForAll()
                throw error
            }
        }
    }

    /// Serves until ``stop()`` is called or the task is cancelled (or, with `gracefulShutdownOnSignals`, until
    /// SIGINT/SIGTERM, shutting down gracefully).
    /// - Throws: ``SandboxError/alreadyStarted`` on a second call; the bind error when the port is unavailable.
    public func run(gracefulShutdownOnSignals: Bool = false) async throws {
        try lifecycle.begin()
        let application = makeApplication()
        var failure: (any Error)?
        do {
            let services = ServiceGroup(
                configuration: .init(
                    services: [application],
                    gracefulShutdownSignals: gracefulShutdownOnSignals ? [.sigterm, .sigint] : [],
                    logger: logger))
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await services.run() }
                group.addTask {
                    await self.lifecycle.waitForStopRequest()
                    // Gracefully: stop accepting and let what is under way finish; what still streams after a second
                    // is cut. Cancelling the server outright can drop a connection accepted but not yet read, which
                    // SwiftNIO traps on (apple/swift-nio#2637).
                    await services.triggerGracefulShutdown()
                    try? await Task.sleep(for: .seconds(1))
                }
                if let interval = self.options.postValidationInterval {
                    group.addTask {
                        // Ends with the group: the sleep is cancelled.
                        while (try? await Task.sleep(for: interval)) != nil {
                            _ = await self.postValidate()
                        }
                    }
                }
                try await group.next()
                group.cancelAll()
                try await group.waitForAll()
            }
        } catch is CancellationError {
        } catch {
            // A server that never listened failed to bind: say where and why, in words.
            failure =
                lifecycle.port == nil && !(error is SandboxError)
                ? SandboxError.cannotListen(
                    "the sandbox cannot listen on \(options.host):\(options.port): \(listenFailureReason(error)); "
                        + "choose another port with --port (0 picks a free one)")
                : error
        }
        lifecycle.finish(failure)
        if let failure { throw failure }
    }

    /// Waits until the server listens and returns ``baseURL``.
    /// - Throws: the server's error, or ``SandboxError/stoppedBeforeStart``, when it stops before listening.
    @discardableResult
    public func waitUntilRunning() async throws -> URL {
        _ = try await lifecycle.waitUntilStarted()
        return baseURL
    }

    /// Asks a running sandbox to stop; ``run(gracefulShutdownOnSignals:)`` then returns. Safe to call any time.
    public func stop() {
        lifecycle.requestStop()
    }

    /// The listening port once running (nil before).
    public var port: Int? {
        lifecycle.port
    }

    /// `http://HOST:PORT` (the admin API lives under `/_sandbox`); uses the configured port until running.
    public var rootURL: URL {
        let host = options.host.contains(":") ? "[\(options.host)]" : options.host
        return URL(string: "http://\(host):\(port ?? options.port)")!
    }

    /// `http://HOST:PORT/api/v1`, what a Lago client takes as its base URL.
    public var baseURL: URL {
        rootURL.appendingPathComponent("api/v1")
    }

    /// The accepted API keys.
    public var apiKeys: [String] {
        keys.all
    }

    /// The first accepted API key (send it as `Authorization: Bearer <key>`).
    public var apiKey: String {
        keys.all.first ?? ""
    }

    /// Replaces the accepted API keys (requests with any other key get 401 from now on).
    public func setAPIKeys(_ newKeys: [String]) {
        keys.set(newKeys)
    }

    /// A snapshot of the counters.
    public func stats() -> SandboxStats {
        counters.stats(store: store.counters)
    }

    /// Starts (or stops) keeping the body of every `POST /api/v1/events…` request as received, byte for byte, for
    /// ``eventRequestBodies()``; off by default.
    public func recordEventRequestBodies(_ recording: Bool = true) {
        counters.setRecordingEventBodies(recording)
    }

    /// The event request bodies received while recording, oldest first (see ``recordEventRequestBodies(_:)``).
    public func eventRequestBodies() -> [[UInt8]] { counters.recordedEventBodies }

    /// Zeroes the request and ingestion counters (stored events stay).
    public func resetStats() {
        counters.clear()
        store.resetCounters()
    }

    /// The organization's webhook HMAC key: what `hmac`-signed webhooks are signed with, and what
    /// `lago.webhook_hmac_key` must hold to verify them.
    public var webhookHMACKey: String {
        get { webhooks.currentHMACKey }
        set { webhooks.currentHMACKey = newValue }
    }

    /// Runs Lago's post-validation over the events not validated yet and sends `events.errors` (HMAC- or
    /// JWT-signed, as each endpoint asked) to every registered endpoint, retrying a failed delivery 3 times;
    /// returns the transaction ids by reason (all empty when no event had an error: nothing is sent, as in Lago).
    public func postValidate() async -> [String: [String]] {
        guard let errors = await webhooks.runPostValidation(store: store) else { return [:] }
        return [
            "invalid_code": errors.invalidCode, "missing_aggregation_property": errors.missingAggregationProperty,
            "invalid_filter_values": errors.invalidFilterValues,
        ]
    }

    /// Sets the price per unit of every charge of a subscription (`"0.002"`: major currency units, a plain
    /// non-negative decimal); returns false when no subscription has that external id.
    /// - Throws: ``SandboxError`` for an amount that is not such a decimal, or when the data file cannot be written.
    @discardableResult
    public func setUnitAmount(_ unitAmount: String, subscription externalID: String) throws -> Bool {
        guard let amount = LagoDecimal(bigDecimal: unitAmount), !unitAmount.hasPrefix("-") else {
            throw SandboxError.invalidUnitAmount(unitAmount)
        }
        guard var current = store.subscriptions.last(where: { $0.externalID == externalID }) else { return false }
        current.unitAmount = amount.plainString
        do {
            try store.upsert(current)
        } catch {
            throw SandboxError.persistence(String(describing: error))
        }
        return true
    }

    /// Sends Lago's (deprecated) `event.error` webhook for a stored event, as Lago does when post-processing finds
    /// it a duplicate (`{"transaction_id":["value_already_exist"]}`), to every endpoint; false when no stored event
    /// has that transaction id.
    @discardableResult
    public func sendDuplicateEventError(transactionID: String) async -> Bool {
        guard let event = store.firstEvent(transactionID: transactionID) else { return false }
        await webhooks.send(
            SandboxWebhooks.eventErrorBody(Serializers.event(event), organizationID: webhooks.organizationID))
        return true
    }

    /// Registers a webhook endpoint as `POST /api/v1/webhook_endpoints` does (`signatureAlgo` `jwt` or `hmac`).
    @discardableResult
    public func registerWebhookEndpoint(url: String, signatureAlgo: String = "jwt") -> SandboxWebhookEndpoint? {
        webhooks.register(url: url, signatureAlgo: signatureAlgo, now: options.now())
    }

    /// What the webhook sender did: endpoints, deliveries, failures, retries.
    public var webhookStats: SandboxWebhookStats { webhooks.stats }

    /// Stored events in insertion order, optionally only those of one `external_subscription_id`.
    public func events(subscription: String? = nil) -> [SandboxEvent] {
        store.events(subscription: subscription)
    }

    /// Number of stored events.
    public var storedEventCount: Int {
        store.eventCount
    }

    /// The billable metrics, in creation order.
    public func billableMetrics() -> [SandboxBillableMetric] {
        store.metrics
    }

    /// Adds a billable metric (events with its code are aggregated by `current_usage`).
    /// - Throws: ``SandboxError/metricCodeTaken(_:)``, ``SandboxError/invalidExpression(_:_:)``, or a persistence
    ///   error.
    @discardableResult
    public func addBillableMetric(_ metric: SandboxBillableMetric) throws -> SandboxBillableMetric {
        if let expression = metric.expression, !expression.isEmpty {
            do {
                _ = try SandboxExpression(expression)
            } catch {
                throw SandboxError.invalidExpression(expression, String(describing: error))
            }
        }
        do {
            try store.add(metric)
        } catch StoreError.metricCodeTaken {
            throw SandboxError.metricCodeTaken(metric.code)
        } catch StoreError.persistence(let reason) {
            throw SandboxError.persistence(reason)
        }
        return metric
    }

    /// Adds a billable metric from its main fields (`fieldName` defaults to `value`; ignored for `count_agg`).
    /// - Throws: as ``addBillableMetric(_:)``.
    @discardableResult
    public func addBillableMetric(
        code: String,
        name: String? = nil,
        aggregationType: SandboxAggregationType = .sumAgg,
        fieldName: String? = SandboxSeed.valueProperty,
        expression: String? = nil
    ) throws -> SandboxBillableMetric {
        try addBillableMetric(
            SandboxBillableMetric(
                code: code,
                name: name,
                aggregationType: aggregationType,
                fieldName: fieldName,
                expression: expression,
                createdAt: options.now()
            )
        )
    }

    /// Removes a billable metric; returns false when there was none with this code. Events are kept (Lago then
    /// still accepts events with the code, which `current_usage` no longer shows).
    /// - Throws: a persistence error.
    @discardableResult
    public func removeBillableMetric(code: String) throws -> Bool {
        do {
            try store.removeMetric(code: code)
            return true
        } catch StoreError.metricNotFound {
            return false
        } catch StoreError.persistence(let reason) {
            throw SandboxError.persistence(reason)
        }
    }

    /// The customers, in creation order.
    public func customers() -> [SandboxCustomer] {
        store.customers
    }

    /// The subscriptions, in creation order.
    public func subscriptions() -> [SandboxSubscription] {
        store.subscriptions
    }

    /// Adds (or replaces, by `externalID`) a customer; returns it with its sequential id.
    /// - Throws: a persistence error.
    @discardableResult
    public func addCustomer(_ customer: SandboxCustomer) throws -> SandboxCustomer {
        do {
            return try store.upsert(customer)
        } catch StoreError.persistence(let reason) {
            throw SandboxError.persistence(reason)
        }
    }

    /// The plans `POST /subscriptions` accepts, in creation order (the seed's, those added, those of added
    /// subscriptions).
    public func plans() -> [SandboxPlan] {
        store.plans
    }

    /// Adds a plan (or renames the one with its code), so `POST /subscriptions` accepts its code; every plan
    /// charges every billable metric alike.
    /// - Throws: a persistence error.
    @discardableResult
    public func addPlan(code: String, name: String? = nil) throws -> SandboxPlan {
        let plan = SandboxPlan(code: code, name: name, createdAt: options.now())
        do {
            try store.upsert(plan)
        } catch StoreError.persistence(let reason) {
            throw SandboxError.persistence(reason)
        }
        return store.plan(code: code) ?? plan
    }

    /// Adds (or replaces, by `externalID`) a subscription, creating its customer when unknown; its plan becomes
    /// one `POST /subscriptions` accepts.
    /// - Throws: a persistence error.
    public func addSubscription(_ subscription: SandboxSubscription) throws {
        do {
            if store.customer(externalID: subscription.externalCustomerID) == nil {
                try store.upsert(SandboxCustomer(externalID: subscription.externalCustomerID, createdAt: options.now()))
            }
            try store.upsert(subscription)
        } catch StoreError.persistence(let reason) {
            throw SandboxError.persistence(reason)
        }
    }

    // MARK: - Server

    private func makeApplication() -> some ApplicationProtocol {
        let faults = faults
        let counters = counters
        let store = store
        let idleTimeout = options.idleTimeout.map { TimeAmount($0) }
        let responder = SandboxResponder(
            lago: LagoRoutes(
                store: store,
                apiKeys: keys,
                webhooks: webhooks,
                maxBatchSize: options.maxBatchSize,
                now: options.now,
                logger: logger
            ),
            admin: AdminRoutes(
                faults: faults,
                apiKeys: keys,
                webhooks: webhooks,
                store: store,
                stats: { counters.stats(store: store.counters) },
                resetStats: {
                    counters.clear()
                    store.resetCounters()
                }
            ),
            faults: faults,
            counters: counters,
            maxBodyBytes: options.maxBodyBytes
        )
        let server = HTTPServerBuilder { httpResponder in
            SandboxChildChannel(
                http1: HTTP1Channel(responder: httpResponder, configuration: .init(idleTimeout: idleTimeout)),
                faults: faults,
                counters: counters
            )
        }
        let lifecycle = lifecycle
        let configuredPort = options.port
        var serverLogger = logger
        serverLogger.handler = ShutdownLogFilter(wrapped: logger.handler, isStopping: { lifecycle.isStopping })
        return Application(
            responder: responder,
            server: server,
            configuration: ApplicationConfiguration(address: .hostname(options.host, port: options.port)),
            onServerRunning: { channel in
                lifecycle.started(port: channel.localAddress?.port ?? configuredPort)
            },
            eventLoopGroupProvider: .singleton,
            logger: serverLogger
        )
    }
}

/// Start/stop state of a sandbox's single run, behind a lock.
final class Lifecycle: Sendable {
    private struct State {
        var begun = false
        var port: Int?
        var finished = false
        var failure: (any Error)?
        var startWaiters: [CheckedContinuation<Int, any Error>] = []
        var stopRequested = false
        var stopWaiter: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())

    var port: Int? {
        state.withLock { $0.port }
    }

    /// A stop was requested (by ``Sandbox/stop()`` or task cancellation).
    var isStopping: Bool {
        state.withLock { $0.stopRequested }
    }

    func begin() throws {
        try state.withLock { state in
            guard !state.begun else { throw SandboxError.alreadyStarted }
            state.begun = true
        }
    }

    func started(port: Int) {
        let waiters = state.withLock { state in
            state.port = port
            defer { state.startWaiters = [] }
            return state.startWaiters
        }
        for waiter in waiters { waiter.resume(returning: port) }
    }

    func finish(_ failure: (any Error)?) {
        let waiters = state.withLock { state in
            state.finished = true
            state.failure = failure
            state.port = nil
            defer { state.startWaiters = [] }
            return state.startWaiters
        }
        for waiter in waiters { waiter.resume(throwing: failure ?? SandboxError.stoppedBeforeStart) }
    }

    func waitUntilStarted() async throws -> Int {
        try await withCheckedThrowingContinuation { continuation in
            let result: Result<Int, any Error>? = state.withLock { state in
                if let port = state.port { return .success(port) }
                if state.finished { return .failure(state.failure ?? SandboxError.stoppedBeforeStart) }
                state.startWaiters.append(continuation)
                return nil
            }
            if let result { continuation.resume(with: result) }
        }
    }

    func requestStop() {
        let waiter = state.withLock { state in
            state.stopRequested = true
            defer { state.stopWaiter = nil }
            return state.stopWaiter
        }
        waiter?.resume()
    }

    func waitForStopRequest() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state in
                    if state.stopRequested { return true }
                    state.stopWaiter = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            requestStop()
        }
    }
}
