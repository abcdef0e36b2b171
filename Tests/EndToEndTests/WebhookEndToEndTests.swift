import AsyncHTTPClient
import Foundation
import LagoSandbox
import NIOCore
import TestSupport
import Testing

/// Issue #15 points 2 and 3 through the real binary: `lago-console serve` prints its webhook URL, the sandbox's
/// post-validation posts `events.errors` signed with HMAC and with JWT to it, and `status --json` (from serve's
/// engine, then from the spool alone) counts exactly the named events beside our own verdicts.
@Suite("Lago webhooks into serve (real binary)", .serialized)
struct WebhookEndToEndTests {
    /// The JSON object in a command's combined output.
    static func json(_ output: String) -> [String: Any]? {
        guard let start = output.firstIndex(of: "{"), let end = output.lastIndex(of: "}") else { return nil }
        return try? JSONSerialization.jsonObject(with: Data(output[start...end].utf8)) as? [String: Any]
    }

    static func lago(_ status: [String: Any]?) -> [String: Any]? {
        (status?["billing"] as? [String: Any])?["lago"] as? [String: Any]
    }

    static func post(_ url: String, body: String, headers: [(String, String)]) async throws -> Int {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(string: body))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        _ = try await response.body.collect(upTo: 1 << 20)
        return Int(response.status.code)
    }

    @Test func signedEventsErrorsReachServeAndStatusCountsExactlyTheNamedEvents() async throws {
        let home = try E2EHome("lc-hooks")
        defer { home.remove() }
        var options = SandboxOptions()
        options.webhookRetryDelay = .milliseconds(50)
        options.webhookHMACKey = "e2e-org-hmac-key"
        try await Sandbox.withRunning(options) { sandbox in
            let config = try home.writeConfig(
                for: sandbox, engine: ["flush_interval_seconds = 0.05"], relay: ["token = \"relay-secret-token\""])
            // The key from the environment, as an operator would give it (never on the command line).
            let serve = try ServeAttachTests.ServeProcess(
                arguments: ["--config", config, "serve"], logPath: home.path("serve.log"),
                environment: ["LAGO_WEBHOOK_HMAC_KEY": sandbox.webhookHMACKey])
            var webhookURL: String?
            let deadline = ContinuousClock.now + .seconds(60)
            while webhookURL == nil, ContinuousClock.now < deadline {
                if let line = serve.log.split(separator: "\n").first(where: { $0.hasPrefix("Lago webhooks: ") }) {
                    webhookURL = line.dropFirst("Lago webhooks: ".count).split(separator: " ").first.map(String.init)
                }
                try await Task.sleep(for: .milliseconds(100))
            }
            let hookURL = try #require(webhookURL, "serve printed no webhook URL; log:\n\(serve.log)")
            #expect(hookURL.hasSuffix("/webhooks/lago") && serve.log.contains("Developers → Webhooks"))
            let relayURL = String(hookURL.dropLast("/webhooks/lago".count)) + "/api/v1"

            func event(_ id: String, _ code: String) -> String {
                #"{"transaction_id":"\#(id)","external_subscription_id":"sub_sandbox","code":"\#(code)","properties":{"value":5}}"#
            }
            let batch = [
                event("e2e-ok", "llm_input_tokens"), event("e2e-bad", "nope_code"),
                event("e2e-gone", "llm_output_tokens"),
            ]
            let posted = try await Self.post(
                relayURL + "/events/batch", body: #"{"events":[\#(batch.joined(separator: ","))]}"#,
                headers: [("Authorization", "Bearer relay-secret-token")])
            #expect(posted == 200, "serve log:\n\(serve.log)")
            let flushed = try await runLagoConsole(["--config", config, "flush", "--json"])
            #expect(flushed.status == 0, "\(flushed.output)")
            #expect(Set(sandbox.events().map(\.transactionID)) == ["e2e-ok", "e2e-bad", "e2e-gone"])

            // Lago changes its mind about e2e-gone (its metric is deleted): we had predicted it billable.
            #expect(try sandbox.removeBillableMetric(code: "llm_output_tokens"))
            #expect(sandbox.registerWebhookEndpoint(url: hookURL, signatureAlgo: "hmac") != nil)
            #expect(sandbox.registerWebhookEndpoint(url: hookURL, signatureAlgo: "jwt") != nil)

            // Refused before anything is recorded: unsigned, tampered, wrong key.
            let body =
                #"{"webhook_type":"events.errors","object_type":"events_errors","organization_id":"o","events_errors":"#
                + #"{"invalid_code":["e2e-ok"],"missing_aggregation_property":[],"missing_group_key":[],"invalid_filter_values":[]}}"#
            #expect(try await Self.post(hookURL, body: body, headers: [("X-Lago-Unique-Key", "x1")]) == 401)
            #expect(
                try await Self.post(
                    hookURL, body: body,
                    headers: [
                        ("X-Lago-Signature-Algorithm", "jwt"), ("X-Lago-Signature", "e30.e30.c2ln"),
                        ("X-Lago-Unique-Key", "x2"),
                    ])
                    == 401)

            let errors = await sandbox.postValidate()
            #expect(errors["invalid_code"] == ["e2e-bad", "e2e-gone"])
            var lago: [String: Any]?
            let until = ContinuousClock.now + .seconds(30)
            while ContinuousClock.now < until {
                lago = Self.lago(Self.json(try await runLagoConsole(["--config", config, "status", "--json"]).output))
                if (lago?["webhooks"] as? Int) == 2 { break }
                try await Task.sleep(for: .milliseconds(200))
            }
            #expect(sandbox.webhookStats.delivered == 2 && sandbox.webhookStats.failed == 0)
            let live = try #require(lago, "serve log:\n\(serve.log)")
            #expect(live["webhooks"] as? Int == 2, "one hmac-signed and one jwt-signed webhook: \(live)")
            #expect(live["not_billed"] as? Int == 2)
            #expect((live["by_reason"] as? [String: Int]) == ["invalid_code": 2])
            #expect((live["by_agreement"] as? [String: Int]) == ["agreed": 1, "predicted_billable": 1])
            #expect((live["disagreements"] as? Int ?? 0) >= 1)
            let named = Set(((live["recent"] as? [[String: Any]]) ?? []).compactMap { $0["transaction_id"] as? String })
            #expect(named == ["e2e-bad", "e2e-gone"], "exactly the named events, not e2e-ok")
            let text = try await runLagoConsole(["--config", config, "status"])
            #expect(text.output.contains("Lago     not billed 2 (invalid_code 2)"), "\(text.output)")
            #expect(text.output.contains("DISAGREES"), "\(text.output)")
            #expect(!serve.log.contains(sandbox.webhookHMACKey), "the HMAC key is never logged")
            _ = await serve.terminate()

            // The same counts from the spool alone, serve stopped.
            let offline = Self.lago(
                Self.json(try await runLagoConsole(["--config", config, "status", "--json"]).output))
            #expect(offline?["not_billed"] as? Int == 2 && offline?["webhooks"] as? Int == 2)
            #expect((offline?["by_agreement"] as? [String: Int]) == ["agreed": 1, "predicted_billable": 1])
        }
    }
}
