import AsyncHTTPClient
import Foundation
import LagoAPI
import LagoControl
import LagoEngine
import LagoSandbox
import LagoUsage
import Logging
import Prometheus
import Synchronization
import TestSupport
import Testing

/// A temporary directory removed when the test ends.
struct TemporaryDirectory: ~Copyable {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("lago-control-tests-\(UUID().uuidString)")
            .path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

func event(_ index: Int, code: String = "llm_input_tokens") -> EventInput {
    EventInput(
        transactionID: "ctl-\(index)", externalSubscriptionID: SandboxSeed.subscriptionExternalID, code: code,
        properties: ["value": .integer(Int64(index + 1))])
}

/// A sandbox, an engine reporting metrics to its own Prometheus registry, the control API in front of it, and a
/// `RemoteEngine` connected to it; `/metrics` needs the token when `metricsRequireToken` is set.
func withControlledEngine(
    metricsRequireToken: Bool = false, reloadConfiguration: (@Sendable () async -> ConfigReload)? = nil,
    _ body: @Sendable (Sandbox, LagoEngine, RemoteEngine, URL, ControlEndpoint) async throws -> Void
) async throws {
    let directory = try TemporaryDirectory()
    let spoolPath = directory.path + "/spool.sqlite"
    let logger = Logger(label: "control-tests")
    try await Sandbox.withRunning(SandboxOptions(), logger: logger) { sandbox in
        let registry = PrometheusCollectorRegistry()
        var configuration = EngineConfiguration(
            spoolPath: spoolPath, flushInterval: .milliseconds(20), retryBase: .milliseconds(20),
            maxRetryBackoff: .milliseconds(200), probeInterval: .milliseconds(100),
            defaultSubscription: SandboxSeed.subscriptionExternalID)
        configuration.metricsFactory = PrometheusMetricsFactory(registry: registry)
        let engine = try LagoEngine(
            configuration: configuration, baseURL: LagoBaseURL(sandbox.baseURL.absoluteString), apiKey: sandbox.apiKey)
        engine.start()
        let token = ControlServerOptions.randomToken()
        do {
            try await ControlServer.withRunning(
                engine: engine,
                options: ControlServerOptions(
                    token: token, metrics: registry, metricsRequireToken: metricsRequireToken,
                    reloadConfiguration: reloadConfiguration),
                logger: logger
            ) { url in
                let endpoint = ControlEndpoint(
                    url: url.absoluteString, token: token, pid: getpid(), startedAt: Date(),
                    lagoURL: sandbox.baseURL.absoluteString, sandbox: true, relayURL: nil, maskedKey: "••••test")
                let remote = try await RemoteEngine.connect(endpoint)
                do {
                    try await body(sandbox, engine, remote, url, endpoint)
                } catch {
                    await remote.shutdown()
                    throw error
                }
                await remote.shutdown()
            }
        } catch {
            await engine.shutdown()
            throw error
        }
        await engine.shutdown()
    }
}

func get(_ url: String, token: String? = nil) async throws -> (status: Int, body: String) {
    var request = HTTPClientRequest(url: url)
    if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
    let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
    let body = try await response.body.collect(upTo: 1 << 22)
    return (Int(response.status.code), String(buffer: body))
}

@Suite("Control API")
struct ControlTests {
    @Test func aRemoteEngineSendsFlushesAndWatchesTheLifecycleOfTheServingEngine() async throws {
        try await withControlledEngine { sandbox, engine, remote, _, _ in
            let stream = remote.lifecycleEvents(bufferSize: 10_000)
            let watcher = Task {
                var delivered = Set<String>()
                var queued = Set<String>()
                for await change in stream {
                    switch change.stage {
                    case .queued: queued.insert(change.transactionID)
                    case .delivered: delivered.insert(change.transactionID)
                    default: break
                    }
                    if delivered.count == 250 { break }
                }
                return (queued, delivered)
            }
            // Give the stream a moment to subscribe before anything is enqueued.
            #expect(await eventually { engine.hasLifecycleSubscribers })
            var ids: [String] = []
            for chunk in 0..<5 {
                ids += try await remote.enqueue((0..<50).map { event(chunk * 50 + $0) })
            }
            let usageIDs = try await remote.enqueue(
                UsageRecord(values: [.input: 10, .output: 3], dimensions: ["model": .string("m")], idBase: "usage-1"))
            #expect(usageIDs == ["usage-1:input", "usage-1:output"])
            let flushed = try await remote.flush(deadline: .seconds(20))
            #expect(flushed.pending == 0)
            let stored = Set(sandbox.events().map(\.transactionID))
            #expect(Set(ids).isSubset(of: stored))
            #expect(Set(usageIDs).isSubset(of: stored))
            let (queued, delivered) = await watcher.value
            #expect(Set(ids).isSubset(of: queued))
            #expect(delivered.count == 250)
            let stats = try await remote.stats()
            #expect(stats.delivered == 252)
            #expect(stats.queued == 0)
        }
    }

    @Test func aSlowRemoteSubscriberIsToldHowManyChangesItMissed() async throws {
        try await withControlledEngine { sandbox, engine, remote, _, _ in
            // A buffer of 3, read only once everything is delivered: whatever it dropped, the changes it keeps say
            // how many came before them (`missedBefore` crosses the control wire).
            let stream = remote.lifecycleEvents(bufferSize: 3)
            #expect(await eventually { engine.hasLifecycleSubscribers })
            for chunk in 0..<4 {
                _ = try await remote.enqueue((0..<50).map { event(1_000 + chunk * 50 + $0) })
            }
            #expect(try await remote.flush(deadline: .seconds(20)).pending == 0)
            // Queued, in flight, delivered: 3 changes per event, each either received or counted as missed.
            let total = 200 * 3
            var received = 0
            var missed = 0
            for await change in stream {
                received += 1
                missed += change.missedBefore ?? 0
                if received + missed >= total { break }
            }
            #expect(received + missed == total, "\(received) received, \(missed) missed")
            #expect(missed > 0 && received < total, "the slow subscriber dropped some")
        }
    }

    @Test func pauseResumeAndMappingApplyToTheServingEngine() async throws {
        try await withControlledEngine { sandbox, engine, remote, _, _ in
            try await remote.pauseDelivery()
            #expect(await eventually { await engine.stats().state == .paused })
            try await remote.setMapping([.input: "custom_input_metric"])
            try await remote.setDefaultSubscription("sub_other")
            let ids = try await remote.enqueue(UsageRecord(values: [.input: 5], idBase: "mapped"))
            // A flush while paused is answered by the loop's first decision after the event was committed: it
            // found the event and, paused, sent nothing (and sends nothing until resumed). No sleep needed.
            let paused = try await remote.flush(deadline: .seconds(10))
            #expect(paused.pending == 1 && paused.delivered == 0)
            #expect(sandbox.events().isEmpty)
            try await remote.resumeDelivery()
            #expect(try await remote.flush(deadline: .seconds(10)).pending == 0)
            let stored = sandbox.events().first { $0.transactionID == ids[0] }
            #expect(stored?.code == "custom_input_metric")
            #expect(stored?.externalSubscriptionID == "sub_other")
        }
    }

    @Test func deadLettersAreListedShownReplayedAndDiscardedRemotely() async throws {
        try await withControlledEngine { sandbox, engine, remote, _, _ in
            // A blank code is refused by Lago (422 keyed by index): dead-lettered with Lago's reason.
            _ = try await remote.enqueue([event(1, code: " "), event(2, code: " ")])
            _ = try await remote.flush(deadline: .seconds(10))
            let letters = try await remote.deadLetters(limit: 10, offset: 0)
            #expect(letters.count == 2)
            let first = try #require(letters.first)
            let shown = try #require(try await remote.deadLetter(id: first.id))
            #expect(shown.reason.status == 422)
            #expect(shown.payload.contains("ctl-"))
            #expect(try await remote.deadLetter(id: 999_999) == nil)
            let replayed = try await remote.replayDeadLetter(
                id: first.id, edit: DeadLetterEdit(code: "llm_input_tokens"))
            #expect(replayed == .queued(transactionID: first.transactionID))
            _ = try await remote.flush(deadline: .seconds(10))
            #expect(
                sandbox.events().contains { $0.transactionID == replayed.transactionID && $0.code == "llm_input_tokens" })
            try await remote.discardDeadLetter(id: letters[1].id)
            #expect(try await remote.deadLetters(limit: 10, offset: 0).isEmpty)
            await #expect(throws: EngineError.self) { try await remote.discardDeadLetter(id: letters[1].id) }
            // Engine errors keep their kind across the process boundary.
            do {
                try await remote.discardDeadLetter(id: letters[1].id)
            } catch let error as EngineError {
                #expect(error.kind == .deadLetterNotFound)
            }
            _ = engine
        }
    }

    @Test func everyControlRouteNeedsTheTokenButMetricsDoNot() async throws {
        try await withControlledEngine { _, _, _, url, endpoint in
            let base = url.absoluteString
            let anonymous = try await get(base + "/control/v1/stats")
            let wrongToken = try await get(base + "/control/v1/stats", token: "wrong")
            let rightToken = try await get(base + "/control/v1/stats", token: endpoint.token)
            #expect(anonymous.status == 401)
            #expect(wrongToken.status == 401)
            #expect(rightToken.status == 200)
            let wrong = ControlEndpoint(
                url: base, token: "nope", pid: 1, startedAt: Date(), lagoURL: "", sandbox: true, relayURL: nil,
                maskedKey: "")
            await #expect(throws: (any Error).self) { _ = try await RemoteEngine.connect(wrong) }
            let metrics = try await get(base + "/metrics")
            #expect(metrics.status == 200)
        }
    }

    @Test func aConfigReloadAnswersWhatTheServerDidAndNeedsTheToken() async throws {
        let report = ConfigReload(
            configFile: "/tmp/config.toml", liveKeys: ["lago.api_key", "lago.api_url"], applied: ["lago.api_key"],
            restartNeeded: ["engine.max_in_flight"], environmentOverrides: ["lago.api_url": "LAGO_API_URL"],
            lagoURL: "http://127.0.0.1:1/api/v1", maskedKey: "••••2345", sandbox: false)
        let calls = Atomic<Int>(0)
        try await withControlledEngine(reloadConfiguration: {
            calls.add(1, ordering: .relaxed)
            return report
        }) { _, _, remote, url, _ in
            let answered = try await remote.reloadConfiguration()
            #expect(answered == report)
            #expect(calls.load(ordering: .relaxed) == 1)
            let wrong = RemoteEngine(
                endpoint: ControlEndpoint(
                    url: url.absoluteString, token: "nope", pid: 1, startedAt: Date(), lagoURL: "", sandbox: true,
                    relayURL: nil, maskedKey: ""))
            await #expect(throws: ControlError.self) { _ = try await wrong.reloadConfiguration() }
            await wrong.shutdown()
            #expect(calls.load(ordering: .relaxed) == 1, "a request without the token reloads nothing")
        }
        // An engine with no config file to follow says so.
        try await withControlledEngine { _, _, remote, _, _ in
            do {
                _ = try await remote.reloadConfiguration()
                Issue.record("expected a 404")
            } catch ControlError.refused(let status, _) {
                #expect(status == 404)
            }
        }
    }

    @Test func whenTheControlAPIMayListenBeyondLoopbackMetricsNeedTheTokenToo() async throws {
        // serve sets metricsRequireToken with relay.control_allow_remote; only loopback can be bound here.
        try await withControlledEngine(metricsRequireToken: true) { _, _, _, url, endpoint in
            let base = url.absoluteString
            let anonymous = try await get(base + "/metrics")
            let wrongToken = try await get(base + "/metrics", token: "wrong")
            let rightToken = try await get(base + "/metrics", token: endpoint.token)
            #expect(anonymous.status == 401)
            #expect(!anonymous.body.contains(EngineMetrics.Name.enqueued), "no metric is shown without the token")
            #expect(wrongToken.status == 401)
            #expect(rightToken.status == 200)
            #expect(rightToken.body.contains(EngineMetrics.Name.enqueued))
            #expect(try await get(base + "/control/v1/stats").status == 401)
        }
    }

    @Test func prometheusMetricsCountWhatTheEngineDid() async throws {
        try await withControlledEngine { _, _, remote, url, _ in
            _ = try await remote.enqueue((0..<30).map { event($0) } + [event(99, code: " ")])
            _ = try await remote.flush(deadline: .seconds(10))
            let metrics = try await get(url.absoluteString + "/metrics").body
            func value(_ line: String) -> Double? {
                metrics.split(separator: "\n").first { $0.hasPrefix(line + " ") }
                    .flatMap { Double($0.split(separator: " ").last ?? "") }
            }
            #expect(value(EngineMetrics.Name.enqueued) == 31)
            #expect(value(EngineMetrics.Name.delivered) == 30)
            #expect(value(EngineMetrics.Name.dead) == 1)
            #expect(value(EngineMetrics.Name.queued) == 0)
            #expect(value(EngineMetrics.Name.inFlight) == 0)
            #expect(value(EngineMetrics.Name.deadLetters) == 1)
            // Adaptive delivery: the limit as stats() has it, nothing in flight, the round trip's average; no
            // rate-limit gauge while Lago (here the sandbox without its limiter) sends no rate-limit headers.
            let stats = try await remote.stats()
            #expect(value(EngineMetrics.Name.concurrencyLimit) == stats.concurrencyLimit.map(Double.init))
            #expect(value(EngineMetrics.Name.requestsInFlight) == 0)
            #expect((value(EngineMetrics.Name.roundTrip) ?? 0) > 0)
            #expect(value(EngineMetrics.Name.roundTrip) == stats.roundTripAverage.map { $0 / .seconds(1) })
            #expect(value(EngineMetrics.Name.rateLimitRemaining) == nil)
            #expect((value(EngineMetrics.Name.requests) ?? 0) >= 1)
            #expect(metrics.contains("# TYPE \(EngineMetrics.Name.requestDuration) histogram"))
            #expect(metrics.contains("\(EngineMetrics.Name.requestDuration)_count"))
            #expect(metrics.contains("\(EngineMetrics.Name.requestDuration)_bucket{le=\"+Inf\"}"))
        }
    }

    @Test func theDiscoveryFileIsPrivateAndNamesTheEndpoint() throws {
        let directory = try TemporaryDirectory()
        let spool = directory.path + "/spool.sqlite"
        #expect(ControlEndpoint.read(forSpool: spool) == nil)
        let endpoint = ControlEndpoint(
            url: "http://127.0.0.1:1", token: "t", pid: 42, startedAt: Date(timeIntervalSince1970: 1_700_000_000),
            lagoURL: "http://127.0.0.1:2/api/v1", sandbox: false, relayURL: nil, maskedKey: "••••abcd")
        try endpoint.write(forSpool: spool)
        let attributes = try FileManager.default.attributesOfItem(atPath: ControlEndpoint.discoveryPath(forSpool: spool))
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        #expect(ControlEndpoint.read(forSpool: spool) == endpoint)
        var other = endpoint
        other.token = "another"
        other.remove(forSpool: spool)  // not ours: kept
        #expect(ControlEndpoint.read(forSpool: spool) == endpoint)
        endpoint.remove(forSpool: spool)
        #expect(ControlEndpoint.read(forSpool: spool) == nil)
    }
}


@Suite("Control API: serve restarts")
struct ControlRestartTests {
    /// Runs a control server for `engine` until `stop` is signalled; writes its discovery file first.
    static func serveControl(
        _ engine: LagoEngine, token: String, spoolPath: String, ready: AsyncStream<ControlEndpoint>.Continuation,
        stop: AsyncStream<Void>
    ) async throws {
        try await ControlServer.withRunning(
            engine: engine, options: ControlServerOptions(token: token), logger: Logger(label: "restart-tests")
        ) { url in
            let endpoint = ControlEndpoint(
                url: url.absoluteString, token: token, pid: getpid(), startedAt: Date(), lagoURL: "", sandbox: true,
                relayURL: nil, maskedKey: "")
            try endpoint.write(forSpool: spoolPath)
            ready.yield(endpoint)
            for await _ in stop { break }
        }
    }

    @Test func aRemoteEngineFindsARestartedServeThroughTheDiscoveryFile() async throws {
        let directory = try TemporaryDirectory()
        let spoolPath = directory.path + "/spool.sqlite"
        try await Sandbox.withRunning(SandboxOptions(), logger: Logger(label: "restart-tests")) { sandbox in
            let engine = try LagoEngine(
                configuration: EngineConfiguration(
                    spoolPath: spoolPath, flushInterval: .milliseconds(20),
                    defaultSubscription: SandboxSeed.subscriptionExternalID),
                baseURL: LagoBaseURL(sandbox.baseURL.absoluteString), apiKey: sandbox.apiKey)
            engine.start()
            let (ready, readyContinuation) = AsyncStream<ControlEndpoint>.makeStream()
            var endpoints = ready.makeAsyncIterator()
            let (stopFirst, stopFirstContinuation) = AsyncStream<Void>.makeStream()
            let first = Task {
                try await Self.serveControl(
                    engine, token: "first-token", spoolPath: spoolPath, ready: readyContinuation, stop: stopFirst)
            }
            let firstEndpoint = try #require(await endpoints.next())
            let remote = try await RemoteEngine.connect(
                firstEndpoint, discoveryPath: ControlEndpoint.discoveryPath(forSpool: spoolPath))
            let changes = remote.lifecycleEvents(bufferSize: 1_000)

            // serve stops; another one starts on the same spool, on another port with another token.
            stopFirstContinuation.yield()
            try await first.value
            let (stopSecond, stopSecondContinuation) = AsyncStream<Void>.makeStream()
            let second = Task {
                try await Self.serveControl(
                    engine, token: "second-token", spoolPath: spoolPath, ready: readyContinuation, stop: stopSecond)
            }
            let secondEndpoint = try #require(await endpoints.next())
            #expect(secondEndpoint.url != firstEndpoint.url)

            // A send to the old endpoint fails and is not re-sent on its own: nothing reached the engine. (The
            // lifecycle stream, reconnecting in the background, may have found the new endpoint first on a busy
            // machine; then the send went there, once.)
            var firstSent: [String] = []
            do {
                firstSent = try await remote.enqueue([event(1)])
            } catch is ControlError {
                #expect(await engine.stats().pending + (await engine.stats().delivered) == 0)
            }
            // It found the new endpoint: reads and the next send go there.
            #expect(remote.endpoint.token == "second-token")
            _ = try await remote.stats()
            let ids = try await remote.enqueue([event(2)])
            #expect(try await remote.flush(deadline: .seconds(10)).pending == 0)
            #expect(sandbox.events().map(\.transactionID).sorted() == (firstSent + ids).sorted())
            // The lifecycle stream reconnects by itself (within about a second): probes sent meanwhile until one
            // shows up on it.
            let seen = SeenFlag()
            let watcher = Task {
                for await change in changes where change.transactionID.hasPrefix("probe-") {
                    seen.set()
                    return
                }
            }
            var probe = 0
            let deadline = ContinuousClock.now + .seconds(15)
            while !seen.value && ContinuousClock.now < deadline {
                _ = try await remote.enqueue([EventInput(
                    transactionID: "probe-\(probe)", externalSubscriptionID: SandboxSeed.subscriptionExternalID,
                    code: "llm_input_tokens", properties: ["value": 1])])
                probe += 1
                try await Task.sleep(for: .milliseconds(200))
            }
            #expect(seen.value, "the lifecycle stream did not come back after serve restarted")
            watcher.cancel()

            stopSecondContinuation.yield()
            try await second.value
            await remote.shutdown()
            await engine.shutdown()
        }
    }
}

final class SeenFlag: Sendable {
    private let flag = Mutex(false)
    var value: Bool { flag.withLock { $0 } }
    func set() { flag.withLock { $0 = true } }
}
