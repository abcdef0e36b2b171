import Foundation
import LagoBilling
import LagoSandbox
import TestSupport
import Testing

/// Billing truth through the real binary (issue #13): `lago-console serve` in front of a sandbox checks every event
/// its relay accepts; `status --json` shows each reason a real event produced; `billing.unbillable = reject` gives
/// a client Lago's 422 naming the event and the reason.
@Suite("billing truth through serve (real binary)", .serialized)
struct BillingServeTests {
    /// Starts serve on `config` and returns it with its relay's URL.
    static func startServe(
        config: String, spool: String, log: String
    ) async throws -> (ServeAttachTests.ServeProcess, String) {
        let serve = try ServeAttachTests.ServeProcess(arguments: ["--config", config, "serve"], logPath: log)
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if let data = FileManager.default.contents(atPath: spool + ".control.json"),
                let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                let relay = object["relayURL"] as? String
            {
                return (serve, relay)
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        _ = await serve.terminate()
        Issue.record("serve did not start; log:\n\(serve.log)")
        throw CancellationError()
    }

    /// Posts `body` to the relay with python3's standard library; returns the status and the answer.
    static func post(_ relay: String, path: String, body: String) async throws -> (status: Int, answer: String) {
        let script = """
            import sys, urllib.request, urllib.error
            request = urllib.request.Request(sys.argv[1] + sys.argv[2], data=sys.argv[3].encode(), method="POST", headers={"Authorization": "Bearer k", "Content-Type": "application/json"})
            try:
                answer = urllib.request.urlopen(request)
                print(answer.status, answer.read().decode())
            except urllib.error.HTTPError as error:
                print(error.code, error.read().decode())
            """
        let result = try await runProgram("/usr/bin/env", ["python3", "-c", script, relay, path, body])
        let text = result.output.trimmingCharacters(in: .whitespacesAndNewlines)
        let status = Int(text.prefix { $0.isNumber }) ?? -1
        return (status, String(text.drop { $0.isNumber }.dropFirst()))
    }

    /// The config of these tests: no default subscription (an event naming none is `subscription_missing`, as Lago
    /// would leave it) and `billing.unbillable = policy`.
    static func writeConfig(_ home: E2EHome, sandbox: Sandbox, policy: String) throws -> String {
        try home.writeConfig(
            for: sandbox, defaultSubscription: nil, engine: ["flush_interval_seconds = 0.05"],
            more: "[billing]\nunbillable = \"\(policy)\"\n")
    }

    @Test(.enabled(if: which("python3") != nil))
    func eachReasonFromARealEventShowsInStatusJSONAndRejectAnswers422() async throws {
        let home = try E2EHome("lc-bill")
        defer { home.remove() }
        try await Sandbox.withRunning { sandbox in
            try sandbox.addBillableMetric(
                SandboxBillableMetric(
                    code: "api_calls", fieldName: "value", filters: [.init(key: "region", values: ["eu", "us"])]))
            try sandbox.addSubscription(
                SandboxSubscription(externalID: "sub_later", externalCustomerID: "cus_later", status: .pending))
            try sandbox.addSubscription(SandboxSubscription(externalID: "sub_two_a", externalCustomerID: "cus_two"))
            try sandbox.addSubscription(SandboxSubscription(externalID: "sub_two_b", externalCustomerID: "cus_two"))
            let spool = home.spool
            let config = try Self.writeConfig(home, sandbox: sandbox, policy: "forward")
            var (serve, relay) = try await Self.startServe(
                config: config, spool: spool, log: home.path("serve.log"))

            func event(_ id: String, _ fields: String) -> String { #"{"transaction_id":"\#(id)",\#(fields)}"# }
            let events = [
                event(
                    "ok",
                    #""external_subscription_id":"sub_sandbox","code":"llm_input_tokens","properties":{"value":2}"#),
                event("code", #""external_subscription_id":"sub_sandbox","code":"nope_code","properties":{"value":1}"#),
                event("none", #""code":"llm_input_tokens","properties":{"value":1}"#),
                event(
                    "sub", #""external_subscription_id":"sub_zzz","code":"llm_input_tokens","properties":{"value":1}"#),
                event(
                    "pending",
                    #""external_subscription_id":"sub_later","code":"llm_input_tokens","properties":{"value":1}"#),
                event(
                    "early",
                    #""external_subscription_id":"sub_sandbox","code":"llm_input_tokens","timestamp":1600000000,"properties":{"value":1}"#
                ),
                event(
                    "nan",
                    #""external_subscription_id":"sub_sandbox","code":"llm_input_tokens","properties":{"value":"abc"}"#),
                event(
                    "region",
                    #""external_subscription_id":"sub_sandbox","code":"api_calls","properties":{"value":1,"region":"mars"}"#
                ),
                event(
                    "stranger",
                    #""external_customer_id":"cus_nobody","code":"llm_input_tokens","properties":{"value":1}"#),
                event("two", #""external_customer_id":"cus_two","code":"llm_input_tokens","properties":{"value":1}"#),
            ]
            // A console attached to serve sees the events live, as an operator watching ingestion would.
            let console = try TmuxSession.start(
                [try lagoConsoleBinary(), "--config", config], width: 120, height: 40,
                environment: home.environment)
            defer { console.kill() }
            try await console.waitFor(text: "ATTACHED")
            let posted = try await Self.post(
                relay, path: "/events/batch", body: #"{"events":[\#(events.joined(separator: ","))]}"#)
            #expect(posted.status == 200, "forward: Lago would take them all; \(posted.answer)")
            let flushed = try await runLagoConsole(["--config", config, "flush", "--json"])
            #expect(flushed.status == 0, "\(flushed.output)")

            let status = try await runLagoConsole(["--config", config, "status", "--json"])
            let json = try #require(
                try JSONSerialization.jsonObject(with: Data(status.output.utf8)) as? [String: Any], "\(status.output)")
            let billing = try #require(json["billing"] as? [String: Any])
            let accepted = try #require(billing["accepted"] as? [String: Any])
            #expect(accepted["billable"] as? Int == 1)
            #expect(accepted["unbillable"] as? Int == 9)
            let byReason = try #require(accepted["by_reason"] as? [String: Int])
            #expect(
                byReason == [
                    "invalid_code": 1, "subscription_missing": 1, "subscription_not_found": 1,
                    "subscription_not_active": 1, "before_subscription_start": 1, "missing_aggregation_property": 1,
                    "invalid_filter_values": 1, "customer_has_no_active_subscription": 1,
                    "ambiguous_customer_subscription": 1,
                ], "\(status.output)")
            #expect(billing["policy"] as? String == "forward" && billing["checking"] as? Bool == true)
            // The console's Billing pane lists each reason's group (names cut to the column still start alike).
            try console.send("7")
            let screen = try await console.waitFor("the nine reasons in the Billing pane") { screen in
                BillingReason.allCases.allSatisfy { screen.contains($0.rawValue.prefix(20)) }
            }
            #expect(screen.contains("9 groups"), "\(screen)")
            try console.send("q")
            let text = try await runLagoConsole(["--config", config, "status"])
            #expect(
                text.output.contains("accepted since start: 1 billable · 0 unchecked · 9 unbillable"), "\(text.output)")
            _ = await serve.terminate()

            // The strict mode: the same unbillable event is refused with Lago's shape, naming index and reason.
            _ = try Self.writeConfig(home, sandbox: sandbox, policy: "reject")
            (serve, relay) = try await Self.startServe(
                config: config, spool: spool, log: home.path("serve2.log"))
            let fresh = [
                event(
                    "ok2",
                    #""external_subscription_id":"sub_sandbox","code":"llm_input_tokens","properties":{"value":2}"#),
                event(
                    "code2", #""external_subscription_id":"sub_sandbox","code":"nope_code","properties":{"value":1}"#),
            ]
            let refused = try await Self.post(
                relay, path: "/events/batch", body: #"{"events":[\#(fresh.joined(separator: ","))]}"#)
            #expect(refused.status == 422, "\(refused.answer)")
            #expect(
                refused.answer
                    == #"{"status":422,"error":"Unprocessable Entity","code":"validation_errors","error_details":{"1":{"code":["invalid_code"]}}}"#
            )
            #expect(!sandbox.events().contains { $0.transactionID == "ok2" }, "nothing of a refused request is sent")
            _ = await serve.terminate()
        }
    }
}
