import Foundation
import LagoAPI
import LagoConfig
import LagoUsage
import LagoControl
import LagoEngine
import LagoSandbox
import LagoSession
import Logging
import Testing

@Suite("What the headless commands report")
struct HeadlessReportTests {
    @Test("verify: a seeded sandbox with its subscription passes every check; an unknown metric code fails its own")
    func verifyChecks() async throws {
        try await Sandbox.withRunning(SandboxOptions()) { sandbox in
            var configuration = LagoConsoleConfiguration.defaults
            configuration.lago.defaultSubscriptionID = SandboxSeed.subscriptionExternalID
            let clientConfiguration = LagoClientConfiguration(
                baseURL: try LagoBaseURL(sandbox.baseURL.absoluteString), apiKey: sandbox.apiKey)
            let checks = try await withLagoClient(configuration: clientConfiguration) { client in
                await LagoVerification.checks(client: client, configuration: configuration, sendTest: true)
            }
            #expect(checks.allSatisfy { $0.status == .ok }, "\(checks)")
            #expect(checks.map(\.name).contains("test event"))
            configuration.metricCodes[.output] = "no_such_metric"
            configuration.lago.defaultSubscriptionID = nil
            let failing = try await withLagoClient(configuration: clientConfiguration) { client in
                await LagoVerification.checks(client: client, configuration: configuration, sendTest: false)
            }
            #expect(
                failing.filter { $0.status == .failed }.map(\.name) == ["metric_codes.output", "default subscription"])
            let lines = LagoVerification.lines(failing)
            #expect(lines.count == failing.count)
            #expect(lines.first?.hasPrefix("✔ Lago reachable") == true)
        }
    }

    @Test("verify: a refused key skips the rest, naming why")
    func refusedKey() async throws {
        try await Sandbox.withRunning(SandboxOptions()) { sandbox in
            let clientConfiguration = LagoClientConfiguration(
                baseURL: try LagoBaseURL(sandbox.baseURL.absoluteString), apiKey: "wrong")
            let checks = try await withLagoClient(configuration: clientConfiguration) { client in
                await LagoVerification.checks(client: client, configuration: .defaults, sendTest: true)
            }
            #expect(checks[1].name == "API key")
            #expect(checks[1].status == .failed)
            #expect(checks.dropFirst(2).allSatisfy { $0.status == .skipped && $0.detail == "the API key was refused" })
            #expect(checks.last?.name == "test event")
        }
    }

    @Test("status: a spool without serve, and one with a serve's live figures")
    func status() async throws {
        let configuration = temporaryConfiguration()
        try FileManager.default.createDirectory(
            atPath: URL(fileURLWithPath: configuration.engine.spoolPath).deletingLastPathComponent().path,
            withIntermediateDirectories: true)
        let engine = try LagoEngine(
            configuration: EngineConfiguration(spoolPath: configuration.engine.spoolPath),
            baseURL: try LagoBaseURL("http://127.0.0.1:1", allowInsecureHTTP: true), apiKey: "k")
        _ = try await engine.enqueue(UsageRecord(values: [.input: 1], externalSubscriptionID: "sub_1"))
        let stats = await engine.stats()
        await engine.shutdown()
        let status = SpoolStatus(stats: stats, lago: "http://lago/api/v1", serve: nil)
        #expect(status.pending == 1)
        #expect(status.lines()[1] == "pending  1 (queued 1, in flight 0, retrying 0)")
        #expect(status.lines().first == "Lago     http://lago/api/v1")
        #expect(status.lines().last == "serve    not running on this spool")
        let endpoint = ControlEndpoint(
            url: "http://127.0.0.1:8788", token: "t", pid: 77, startedAt: Date(), lagoURL: "http://lago/api/v1",
            sandbox: false, relayURL: "http://127.0.0.1:8787", maskedKey: "••••1234")
        let attached = SpoolStatus(stats: stats, lago: "http://lago/api/v1", serve: endpoint)
        #expect(attached.serve?.pid == 77)
        #expect(attached.lines().contains { $0.hasPrefix("serve    pid 77 · ") })
    }

    @Test("replay: each outcome in the operator's words")
    func replayDescription() {
        #expect(ReplayResult.queued(transactionID: "tx").operatorDescription == "queued again: tx")
        #expect(ReplayResult.alreadyInLago(transactionID: "tx").operatorDescription.hasPrefix("already in Lago: tx"))
    }

    @Test("send: usage and raw events from the arguments, each problem naming its argument")
    func sendArguments() throws {
        guard
            case .usage(let record) = try HeadlessSend.events(
                eventJSON: nil, usage: ["input=1_200", "output=40"], dimensions: ["model=gpt"], subscription: "sub_1")
        else {
            Issue.record("expected usage")
            return
        }
        #expect(record.values == [.input: 1200, .output: 40])
        #expect(record.dimensions == ["model": .string("gpt")])
        #expect(record.externalSubscriptionID == "sub_1")
        guard
            case .raw(let event) = try HeadlessSend.events(
                eventJSON: #"{"transaction_id":"t1","code":"llm_input_tokens"}"#, usage: [], dimensions: [],
                subscription: "sub_2")
        else {
            Issue.record("expected a raw event")
            return
        }
        #expect(event.externalSubscriptionID == "sub_2")
        #expect(throws: HeadlessSend.InputProblem.self) {
            try HeadlessSend.events(eventJSON: nil, usage: ["input=-1"], dimensions: [], subscription: nil)
        }
        #expect(throws: HeadlessSend.InputProblem.self) {
            try HeadlessSend.events(eventJSON: nil, usage: ["nope=1"], dimensions: [], subscription: nil)
        }
        #expect(throws: HeadlessSend.InputProblem.self) {
            try HeadlessSend.events(eventJSON: "{", usage: [], dimensions: [], subscription: nil)
        }
        #expect(EventRules.count(" 1_000 ") == 1000)
        #expect(EventRules.count("1.5") == nil)
    }
}
