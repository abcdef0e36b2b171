import Foundation
import LagoSandbox
import TestSupport
import Testing

/// `lago-console tail` (issue #17, point 2) against a running serve: NDJSON with Lago's names, filtered by code.
@Suite("tail")
struct TailEndToEndTests {
    @Test func tailStreamsTheLifecycleOfServesEventsAsNDJSON() async throws {
        let home = try E2EHome("lc-tail")
        defer { home.remove() }
        try await Sandbox.withRunning { sandbox in
            let spool = home.spool
            let config = try home.writeConfig(for: sandbox)

            let noServe = try await runLagoConsole(["--config", config, "tail"])
            #expect(
                noServe.status == 1 && noServe.output.contains("no `lago-console serve` runs on"), "\(noServe.output)")
            let badState = try await runLagoConsole(["--config", config, "tail", "--state", "deliverd"])
            #expect(
                badState.status == 2 && badState.output.contains("--state deliverd: no such stage"),
                "\(badState.output)")

            let (serve, _) = try await BillingServeTests.startServe(
                config: config, spool: spool, log: home.path("serve.log"))
            let tail = try ServeAttachTests.ServeProcess(
                arguments: ["--config", config, "tail", "--json", "--code", "llm_input_tokens"],
                logPath: home.path("tail.log"))
            defer {
                Task {
                    _ = await tail.terminate()
                    _ = await serve.terminate()
                }
            }

            func lines() -> [[String: Any]] {
                tail.log.split(separator: "\n").filter { $0.hasPrefix("{") }.compactMap {
                    try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
                }
            }
            // The stream connects after the command starts: send until one of ours is seen delivered.
            var seen: String?
            let deadline = ContinuousClock.now + .seconds(60)
            var round = 0
            while seen == nil && ContinuousClock.now < deadline {
                round += 1
                let sent = try await runLagoConsole(
                    [
                        "--config", config, "send", "--event",
                        #"{"transaction_id":"tail-\#(round)","code":"llm_input_tokens","properties":{"value":\#(round)}}"#,
                    ])
                #expect(sent.status == 0, "\(sent.output)")
                _ = try await runLagoConsole(["--config", config, "send", "--usage", "output=1"])
                let until = ContinuousClock.now + .seconds(3)
                while seen == nil && ContinuousClock.now < until {
                    seen = lines().first { $0["stage"] as? String == "delivered" }?["transaction_id"] as? String
                    if seen == nil { try await Task.sleep(for: .milliseconds(100)) }
                }
            }
            let transaction = try #require(seen, "tail printed no delivered event; log:\n\(tail.log)")
            let ours = lines().filter { $0["transaction_id"] as? String == transaction }
            let stages = ours.compactMap { $0["stage"] as? String }
            #expect(stages.last == "delivered", "\(stages)")
            #expect(stages.contains("in_flight"), "\(stages)")
            #expect(
                lines().allSatisfy { $0["code"] as? String == "llm_input_tokens" }, "the --code filter: \(tail.log)")
            let delivered = try #require(ours.last)
            #expect(delivered["external_subscription_id"] as? String == "sub_sandbox")
            #expect(delivered["http_status"] as? Int == 200)
            // `send --event` through serve: made by lago-console, its code written by the sender (no mapping).
            #expect(delivered["source"] as? String == "console" && delivered["mapped_field"] == nil, "\(delivered)")
            let time = try #require(delivered["time"] as? String)
            #expect(time.hasSuffix("Z") && time.contains("T"), "ISO-8601 UTC: \(time)")
            #expect(!tail.log.contains(#"\/"#) && !tail.log.contains("transactionID"), "\(tail.log)")
            if let queued = ours.first(where: { $0["stage"] as? String == "queued" }) {
                #expect(queued["properties"] is [String: Any], "properties as an object: \(queued)")
                #expect(queued["billing"] as? String == "billable", "\(queued)")
            }
        }
    }
}
