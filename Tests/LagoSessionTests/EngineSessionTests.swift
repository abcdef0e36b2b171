import Foundation
import LagoAPI
import LagoConfig
import LagoUsage
import LagoControl
import LagoEngine
import LagoSandbox
import LagoSession
import Logging
import Synchronization
import Testing

/// A configuration whose spool is in a fresh temporary folder.
func temporaryConfiguration() -> LagoConsoleConfiguration {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("lago-session-\(UUID().uuidString)")
    var configuration = LagoConsoleConfiguration.defaults
    configuration.engine.spoolPath = folder.appendingPathComponent("spool.sqlite").path
    return configuration
}

func sandboxTarget(_ sandbox: Sandbox) throws -> LagoTarget {
    LagoTarget(baseURL: try LagoBaseURL(sandbox.baseURL.absoluteString), apiKey: sandbox.apiKey, isSandbox: true)
}

@Suite("One mapping from the config file to the engine")
struct EngineSettingsTests {
    @Test("An empty config file gives the engine's own defaults")
    func defaultsAgree() {
        let mapped = EngineSettings.engineConfiguration(.defaults, isSandbox: false, defaultSubscription: nil)
        let engine = EngineConfiguration(spoolPath: mapped.spoolPath)
        #expect(mapped.flushInterval == engine.flushInterval)
        #expect(mapped.maxBatchSize == engine.maxBatchSize)
        #expect(mapped.maxBatchBytes == engine.maxBatchBytes)
        #expect(mapped.maxBatchBytes == 1 << 20)
        #expect(mapped.maxInFlight == engine.maxInFlight)
        #expect(mapped.spoolLimit == engine.spoolLimit)
        #expect(mapped.spoolLimit == 10_000_000)
        #expect(mapped.requestTimeout == engine.requestTimeout)
        #expect(mapped.maxRetryBackoff == engine.maxRetryBackoff)
        #expect(mapped.maxEventAge == engine.maxEventAge)
        #expect(mapped.synchronousMode == engine.synchronousMode)
        #expect(mapped.dedupWindow == engine.dedupWindow)
        #expect(mapped.dedupMaxEntries == engine.dedupMaxEntries)
        #expect(mapped.defaultSubscription == nil)
        for field in CanonicalField.allCases {
            #expect(mapped.metricCode(for: field) == engine.metricCode(for: field))
        }
    }

    @Test("Every engine key of the file reaches the engine")
    func mapsEveryKey() {
        var configuration = temporaryConfiguration()
        configuration.engine = .init(
            flushIntervalSeconds: 2.5, maxBatchSize: 50, maxBatchBytes: 4096, maxInFlight: 7,
            spoolPath: configuration.engine.spoolPath, spoolLimit: 1234, requestTimeoutSeconds: 3,
            maxRetryBackoffSeconds: 9, maxEventAgeSeconds: 60)
        configuration.engine.spoolSync = "full"
        configuration.metricCodes[.input] = "my_input"
        let mapped = EngineSettings.engineConfiguration(configuration, isSandbox: false, defaultSubscription: "sub_1")
        #expect(mapped.spoolPath == configuration.engine.spoolPath)
        #expect(mapped.flushInterval == .milliseconds(2500))
        #expect(mapped.maxBatchSize == 50)
        #expect(mapped.maxBatchBytes == 4096)
        #expect(mapped.maxInFlight == 7)
        #expect(mapped.spoolLimit == 1234)
        #expect(mapped.requestTimeout == .seconds(3))
        #expect(mapped.maxRetryBackoff == .seconds(9))
        #expect(mapped.maxEventAge == .seconds(60))
        #expect(mapped.synchronousMode == .full)
        #expect(mapped.defaultSubscription == "sub_1")
        #expect(mapped.metricCode(for: .input) == "my_input")
    }

    @Test("The sandbox's events use a spool of their own beside the configured one")
    func sandboxSpool() {
        let configuration = temporaryConfiguration()
        let spool = EngineSettings.spoolPath(configuration, isSandbox: true)
        #expect(spool != configuration.engine.spoolPath)
        #expect(URL(fileURLWithPath: spool).lastPathComponent == "sandbox-spool.sqlite")
        #expect(
            URL(fileURLWithPath: spool).deletingLastPathComponent()
                == URL(fileURLWithPath: configuration.engine.spoolPath).deletingLastPathComponent())
    }
}

@Suite("EngineSession.open: attach to a running serve, else open the spool")
struct EngineSessionTests {
    let logger = Logger(label: "engine-session-tests")

    @Test("With no serve, the spool is opened by a local engine delivering to the given Lago")
    func opensLocally() async throws {
        let configuration = temporaryConfiguration()
        try await Sandbox.withRunning(SandboxOptions()) { sandbox in
            let delivered = try await EngineSession.open(
                configuration: configuration,
                options: EngineSessionOptions(isSandbox: true, sandboxSubscription: SandboxSeed.subscriptionExternalID),
                logger: logger, lago: { use in try await use(try sandboxTarget(sandbox)) }
            ) { session in
                #expect(session.localEngine != nil)
                #expect(session.serve == nil)
                #expect(session.spoolPath == EngineSettings.spoolPath(configuration, isSandbox: true))
                #expect(session.defaultSubscription == SandboxSeed.subscriptionExternalID)
                _ = try await session.control.enqueue(UsageRecord(values: [.input: 10]))
                return try await session.control.flush(deadline: .seconds(20)).delivered
            }
            #expect(delivered == 1)
        }
    }

    @Test("A second local engine on a locked spool is refused (serve keeps refusing a second serve)")
    func lockedSpool() async throws {
        let configuration = temporaryConfiguration()
        try await Sandbox.withRunning(SandboxOptions()) { sandbox in
            let options = EngineSessionOptions(isSandbox: false, attach: false, start: false)
            try await EngineSession.open(
                configuration: configuration, options: options, logger: logger,
                lago: { use in try await use(try sandboxTarget(sandbox)) }
            ) { (_: EngineSession) -> Void in
                await #expect(throws: SpoolOpenError.self) {
                    try await EngineSession.open(
                        configuration: configuration, options: options, logger: logger,
                        lago: { use in try await use(try sandboxTarget(sandbox)) }
                    ) { _ in }
                }
            }
        }
    }

    @Test("With a serve running on the spool, the session goes through its control API and never calls `lago`")
    func attaches() async throws {
        let configuration = temporaryConfiguration()
        let logger = logger
        try await Sandbox.withRunning(SandboxOptions()) { sandbox in
            let target = try sandboxTarget(sandbox)
            try await EngineSession.open(
                configuration: configuration, options: EngineSessionOptions(isSandbox: false, attach: false),
                logger: logger, lago: { use in try await use(target) }
            ) { (serve: EngineSession) -> Void in
                let engine = try #require(serve.localEngine)
                let token = ControlServerOptions.randomToken()
                try await ControlServer.withRunning(
                    engine: engine, options: ControlServerOptions(token: token), logger: logger
                ) { url in
                    let endpoint = ControlEndpoint(
                        url: url.absoluteString, token: token, pid: 4242, startedAt: Date(),
                        lagoURL: target.baseURL.apiRoot, sandbox: true, relayURL: nil, maskedKey: target.maskedKey,
                        sandboxAPIKey: target.apiKey)
                    try endpoint.write(forSpool: serve.spoolPath)
                    defer { endpoint.remove(forSpool: serve.spoolPath) }
                    let called = Atomic<Bool>(false)
                    let ids: [String] = try await EngineSession.open(
                        configuration: configuration, options: EngineSessionOptions(isSandbox: false),
                        logger: logger,
                        lago: { use in
                            called.store(true, ordering: .relaxed)
                            return try await use(target)
                        }
                    ) { session in
                        #expect(session.localEngine == nil)
                        #expect(session.serve?.pid == 4242)
                        #expect(session.lago.isSandbox)
                        #expect(session.lago.apiKey == target.apiKey)
                        return try await session.control.enqueue(
                            UsageRecord(values: [.output: 3], externalSubscriptionID: SandboxSeed.subscriptionExternalID))
                    }
                    let lagoCalled = called.load(ordering: .relaxed)
                    #expect(!lagoCalled)
                    #expect(ids.count == 1)
                    let stats = await engine.stats()
                    #expect(stats.pending + stats.delivered >= 1)
                }
            }
        }
    }

    @Test("A stale discovery file (no serve answers) is ignored: the spool is opened locally")
    func staleDiscoveryFile() async throws {
        let configuration = temporaryConfiguration()
        let spoolPath = EngineSettings.spoolPath(configuration, isSandbox: false)
        try FileManager.default.createDirectory(
            atPath: URL(fileURLWithPath: spoolPath).deletingLastPathComponent().path,
            withIntermediateDirectories: true)
        let stale = ControlEndpoint(
            url: "http://127.0.0.1:1", token: "x", pid: 1, startedAt: Date(), lagoURL: "http://127.0.0.1:1/api/v1",
            sandbox: false, relayURL: nil, maskedKey: "••••")
        try stale.write(forSpool: spoolPath)
        try await Sandbox.withRunning(SandboxOptions()) { sandbox in
            let local = try await EngineSession.open(
                configuration: configuration, options: EngineSessionOptions(isSandbox: false, start: false),
                logger: logger, lago: { use in try await use(try sandboxTarget(sandbox)) }
            ) { session in session.localEngine != nil }
            #expect(local)
        }
    }
}
