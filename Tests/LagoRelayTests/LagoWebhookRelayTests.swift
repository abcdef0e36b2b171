import AsyncHTTPClient
import Crypto
import Foundation
import LagoAPI
import LagoBilling
import LagoEngine
import LagoRelay
import LagoSandbox
import Logging
import NIOCore
import Synchronization
import Testing

/// Lago's webhooks in (issue #15 points 2 and 3), in one process: the sandbox's post-validation sends `events.errors`
/// signed with HMAC and with JWT to the relay, which records exactly the named events beside its own verdicts;
/// unsigned or wrongly signed webhooks are refused with 401 and change nothing; a replay is counted once.
@Suite struct LagoWebhookRelayTests {
    struct Context: Sendable {
        var relayURL: URL
        var webhookURL: URL
        var sandbox: Sandbox
        var engine: LagoEngine
        /// The relay's clock (the time a webhook is received).
        var clock: ShiftedClock
    }

    /// Now, plus a shift the test sets.
    final class ShiftedClock: Sendable {
        let shift = Mutex(0.0)
        func now() -> Date { Date().addingTimeInterval(shift.withLock { $0 }) }
    }

    static func withWebhookRelay(_ body: @Sendable (Context) async throws -> Void) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hooks-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var sandboxOptions = SandboxOptions()
        sandboxOptions.webhookRetryDelay = .milliseconds(20)
        try await Sandbox.withRunning(sandboxOptions) { sandbox in
            let clientConfiguration = LagoClientConfiguration(
                baseURL: try LagoBaseURL(sandbox.baseURL.absoluteString), apiKey: sandbox.apiKey)
            try await withLagoClient(configuration: clientConfiguration, logger: Logger(label: "test")) { client in
                let catalogue = BillingCatalogueService(client: client, refreshInterval: .seconds(3600))
                let refresher = Task { await catalogue.run() }
                defer { refresher.cancel() }
                #expect(await catalogue.firstLoad(timeout: .seconds(20)))
                var configuration = EngineConfiguration(
                    spoolPath: directory.appendingPathComponent("spool.sqlite").path)
                configuration.flushInterval = .milliseconds(20)
                configuration.billingChecker = catalogue
                let engine = try LagoEngine(configuration: configuration, client: client)
                engine.start()
                let clock = ShiftedClock()
                var options = RelayOptions(host: "127.0.0.1", port: 0, defaultSubscription: { "sub_sandbox" })
                options.now = { clock.now() }
                options.webhookKeys = LagoWebhookKeys(
                    hmacKey: { sandbox.webhookHMACKey }, publicKey: { try await client.webhookPublicKey() })
                do {
                    try await LagoRelay.withRunning(engine: engine, options: options, logger: Logger(label: "relay")) {
                        url in
                        var components = URLComponents(url: url, resolvingAgainstBaseURL: false)!
                        components.path = "/webhooks/lago"
                        try await body(
                            Context(
                                relayURL: url, webhookURL: components.url!, sandbox: sandbox, engine: engine,
                                clock: clock))
                    }
                } catch {
                    await engine.shutdown()
                    throw error
                }
                await engine.shutdown()
            }
        }
    }

    /// Posts a webhook with the given headers; returns the status and the body.
    static func postWebhook(_ url: URL, body: [UInt8], headers: [(String, String)]) async throws -> (Int, String) {
        var request = HTTPClientRequest(url: url.absoluteString)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: body))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        return (Int(response.status.code), String(buffer: bytes))
    }

    static func hmac(_ body: [UInt8], key: String) -> String {
        Data(HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: Data(key.utf8))))
            .base64EncodedString()
    }

    /// The engine's Lago counts once `condition` holds (polled with a deadline).
    static func lagoStats(
        _ engine: LagoEngine, until condition: (LagoConfirmedStats) -> Bool
    ) async throws -> LagoConfirmedStats {
        let deadline = ContinuousClock.now + .seconds(20)
        while true {
            let stats = await engine.stats().billing.lago ?? LagoConfirmedStats()
            if condition(stats) || ContinuousClock.now > deadline { return stats }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    static func event(_ id: String, code: String) -> String {
        #"{"transaction_id":"\#(id)","external_subscription_id":"sub_sandbox","code":"\#(code)","properties":{"value":2}}"#
    }

    @Test func signedEventsErrorsFromTheSandboxMarkExactlyTheNamedEventsBesideOurVerdicts() async throws {
        try await Self.withWebhookRelay { context in
            let (sandbox, engine) = (context.sandbox, context.engine)
            // ok-1 bills; bad-1 names no metric (we say invalid_code); gone-1's metric is deleted after we checked
            // it billable; late-1's metric is created after we said invalid_code.
            let batch = [
                Self.event("ok-1", code: "llm_input_tokens"), Self.event("bad-1", code: "nope_code"),
                Self.event("gone-1", code: "llm_output_tokens"), Self.event("late-1", code: "late_metric"),
            ]
            let answer = try await post(
                context.relayURL, path: "/events/batch",
                body: Array(#"{"events":[\#(batch.joined(separator: ","))]}"#.utf8))
            #expect(answer.status == 200)
            #expect(await engine.flush(deadline: .seconds(20)).pending == 0)
            #expect(sandbox.events().count == 4)
            #expect(try sandbox.removeBillableMetric(code: "llm_output_tokens"))
            _ = try sandbox.addBillableMetric(code: "late_metric", aggregationType: .countAgg, fieldName: nil)
            #expect(
                sandbox.registerWebhookEndpoint(url: context.webhookURL.absoluteString, signatureAlgo: "hmac") != nil)
            #expect(
                sandbox.registerWebhookEndpoint(url: context.webhookURL.absoluteString, signatureAlgo: "jwt") != nil)

            let errors = await sandbox.postValidate()
            #expect(errors["invalid_code"] == ["bad-1", "gone-1"])
            let lago = try await Self.lagoStats(engine) { $0.webhooks == 2 }
            #expect(sandbox.webhookStats.delivered == 2 && sandbox.webhookStats.failed == 0)
            #expect(lago.webhooks == 2, "one hmac-signed, one jwt-signed")
            #expect(lago.notBilled == 2 && lago.byReason == ["invalid_code": 2], "each event once, whatever the copies")
            #expect(Set(lago.recent.map(\.transactionID)) == ["bad-1", "gone-1"], "exactly the named events")
            #expect(lago.byAgreement == ["agreed": 1, "predicted_billable": 1])
            let gone = try #require(lago.recent.first { $0.transactionID == "gone-1" })
            #expect(gone.agreement == .predictedBillable && gone.predicted == .billable())
            #expect(lago.disagreements == 1 + lago.predictedUnbillableNotReported)
        }
    }

    @Test func anEventWePredictedUnbillableThatAnHourLaterWebhookDoesNotNameIsADisagreement() async throws {
        try await Self.withWebhookRelay { context in
            let (sandbox, engine) = (context.sandbox, context.engine)
            let batch = [Self.event("bad-2", code: "nope_code"), Self.event("late-2", code: "late_metric")]
            let answer = try await post(
                context.relayURL, path: "/events/batch",
                body: Array(#"{"events":[\#(batch.joined(separator: ","))]}"#.utf8))
            #expect(answer.status == 200)
            #expect(await engine.flush(deadline: .seconds(20)).pending == 0)
            _ = try sandbox.addBillableMetric(code: "late_metric", aggregationType: .countAgg, fieldName: nil)
            // The webhook reaches the relay two hours on: its hour's post-validation covered both events.
            let text =
                #"{"webhook_type":"events.errors","object_type":"events_errors","organization_id":"o","#
                + #""events_errors":{"invalid_code":["bad-2"],"missing_aggregation_property":[],"#
                + #""missing_group_key":[],"invalid_filter_values":[]}}"#
            let body = Array(text.utf8)
            let key = sandbox.webhookHMACKey
            context.clock.shift.withLock { $0 = 2 * 3600 }
            let (status, _) = try await Self.postWebhook(
                context.webhookURL, body: body,
                headers: [
                    ("X-Lago-Signature-Algorithm", "hmac"), ("X-Lago-Signature", Self.hmac(body, key: key)),
                    ("X-Lago-Unique-Key", "later"),
                ])
            #expect(status == 200)
            let lago = try await Self.lagoStats(engine) { $0.webhooks == 1 }
            #expect(lago.byAgreement == ["agreed": 1] && lago.notBilled == 1)
            // late-2: we said invalid_code; Lago's validation of its hour named it not, so Lago bills it.
            #expect(lago.predictedUnbillableNotReported == 1 && lago.disagreements == 1)
        }
    }

    @Test func unsignedTamperedOrWronglySignedWebhooksGet401AndAReplayIsCountedOnce() async throws {
        try await Self.withWebhookRelay { context in
            let (sandbox, engine) = (context.sandbox, context.engine)
            let answer = try await post(
                context.relayURL, path: "/events",
                body: Array(#"{"event":\#(Self.event("ok-3", code: "llm_input_tokens"))}"#.utf8))
            #expect(answer.status == 200)
            #expect(await engine.flush(deadline: .seconds(20)).pending == 0)
            let body = Array(
                (#"{"webhook_type":"event.error","object_type":"event_error","organization_id":"o","event_error":"#
                    + #"{"status":422,"error":"Unprocessable entity","message":"{\"transaction_id\":[\"value_already_exist\"]}","#
                    + #""event":{"transaction_id":"ok-3","external_subscription_id":"sub_sandbox","code":"llm_input_tokens"}}}"#)
                    .utf8)
            let key = sandbox.webhookHMACKey
            let good = Self.hmac(body, key: key)
            var tampered = body
            tampered[tampered.count - 4] = UInt8(ascii: "X")
            let refused: [([UInt8], [(String, String)])] = [
                (body, []),
                (body, [("X-Lago-Signature-Algorithm", "hmac"), ("X-Lago-Unique-Key", "u1")]),
                (
                    tampered,
                    [("X-Lago-Signature-Algorithm", "hmac"), ("X-Lago-Signature", good), ("X-Lago-Unique-Key", "u1")]
                ),
                (
                    body,
                    [
                        ("X-Lago-Signature-Algorithm", "hmac"), ("X-Lago-Signature", Self.hmac(body, key: "wrong")),
                        ("X-Lago-Unique-Key", "u1"),
                    ]
                ),
                (
                    body,
                    [("X-Lago-Signature-Algorithm", "jwt"), ("X-Lago-Signature", good), ("X-Lago-Unique-Key", "u1")]
                ),
            ]
            for (sent, headers) in refused {
                let (status, text) = try await Self.postWebhook(context.webhookURL, body: sent, headers: headers)
                #expect(status == 401 && text == #"{"status":401,"error":"Unauthorized"}"#)
            }
            #expect((await engine.stats().billing.lago)?.webhooks == 0, "nothing recorded")
            let signed = [
                ("X-Lago-Signature-Algorithm", "hmac"), ("X-Lago-Signature", good), ("X-Lago-Unique-Key", "u1"),
            ]
            let (first, _) = try await Self.postWebhook(context.webhookURL, body: body, headers: signed)
            let (again, replay) = try await Self.postWebhook(context.webhookURL, body: body, headers: signed)
            #expect(first == 200 && again == 200 && replay.contains("replayed"))
            let lago = try await Self.lagoStats(engine) { $0.webhooks == 1 && $0.replaysIgnored == 1 }
            #expect(lago.webhooks == 1 && lago.replaysIgnored == 1 && lago.notBilled == 1)
            #expect(lago.byReason == ["value_already_exist": 1])
            let reported = try #require(lago.recent.first)
            #expect(reported.transactionID == "ok-3" && reported.externalSubscriptionID == "sub_sandbox")
            #expect(reported.agreement == .predictedBillable && reported.webhookType == "event.error")
            // Other webhooks (an invoice…) are acknowledged and record nothing.
            let invoice = Array(#"{"webhook_type":"invoice.created","object_type":"invoice","invoice":{}}"#.utf8)
            let (status, _) = try await Self.postWebhook(
                context.webhookURL, body: invoice,
                headers: [("X-Lago-Signature-Algorithm", "hmac"), ("X-Lago-Signature", Self.hmac(invoice, key: key))])
            #expect(status == 200)
            #expect((await engine.stats().billing.lago)?.webhooks == 1)
        }
    }

    @Test func theSandboxsEventErrorForADuplicateReachesTheRelayJWTSigned() async throws {
        try await Self.withWebhookRelay { context in
            let (sandbox, engine) = (context.sandbox, context.engine)
            let answer = try await post(
                context.relayURL, path: "/events",
                body: Array(#"{"event":\#(Self.event("dup-1", code: "llm_input_tokens"))}"#.utf8))
            #expect(answer.status == 200)
            #expect(await engine.flush(deadline: .seconds(20)).pending == 0)
            #expect(sandbox.registerWebhookEndpoint(url: context.webhookURL.absoluteString) != nil, "jwt by default")
            #expect(await sandbox.sendDuplicateEventError(transactionID: "dup-1"))
            #expect(await !sandbox.sendDuplicateEventError(transactionID: "never-sent"))
            let lago = try await Self.lagoStats(engine) { $0.webhooks == 1 }
            #expect(lago.byReason == ["value_already_exist": 1] && lago.notBilled == 1)
            #expect(lago.recent.first?.externalSubscriptionID == "sub_sandbox")
            #expect(lago.recent.first?.agreement == .predictedBillable)
        }
    }

    @Test func webhooksRecordedAtOnceAreAllCountedAtOnce() async throws {
        try await Self.withWebhookRelay { context in
            let engine = context.engine
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<20 {
                    group.addTask {
                        let report = LagoWebhookReport(
                            uniqueKey: "k\(index)", webhookType: "events.errors",
                            events: [LagoReportedEvent(transactionID: "tx-\(index)", reason: "invalid_code")],
                            receivedAt: Date())
                        let recording = try await engine.recordLagoWebhook(report)
                        #expect(recording == .recorded(events: 1))
                    }
                }
                try await group.waitForAll()
            }
            // No poll: once every call returned, the counts include them all.
            let lago = try #require(await engine.stats().billing.lago)
            #expect(lago.webhooks == 20 && lago.notBilled == 20)
            #expect(lago.byAgreement == ["not_from_this_spool": 20], "no such event went through this spool")
        }
    }
}
