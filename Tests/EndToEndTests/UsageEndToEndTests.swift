import Foundation
import LagoSandbox
import TestSupport
import Testing

/// Issue #15, point 1, through the real binary against the sandbox: the customer's usage in Lago, read back.
@Suite("usage on the customer")
struct UsageEndToEndTests {

    func json(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "\(text)")
    }

    /// `usage --json` is Lago's own customer_usage object; the second run says what the test event moved, as the
    /// sandbox (which counts what Lago bills) aggregates it.
    @Test func headlessUsageShowsLagosObjectAndWhatMovedSinceThePreviousRun() async throws {
        let home = try E2EHome("usage")
        defer { home.remove() }
        try await Sandbox.withRunning { sandbox in
            let config = try home.writeConfig(for: sandbox)
            let first = try await runLagoConsole(["--config", config, "usage", "--json"])
            #expect(first.status == 0, "\(first.output)")
            let before = try json(first.output)
            #expect(before["external_customer_id"] as? String == "cus_sandbox")
            #expect(before["changes_since_previous"] is NSNull)
            let usage = try #require(before["customer_usage"] as? [String: Any])
            #expect(usage["currency"] as? String == "USD")
            #expect((usage["charges_usage"] as? [Any])?.count == 10)

            let sent = try await runLagoConsole(["--config", config, "send", "--usage", "input=120", "--wait"])
            #expect(sent.status == 0, "\(sent.output)")
            // A non-numeric value: Lago stores it and never bills it, so usage does not move for it.
            let unbillable =
                #"{"transaction_id":"nan-1","external_subscription_id":"sub_sandbox","code":"llm_output_tokens","properties":{"value":"many"}}"#
            let refused = try await runLagoConsole(["--config", config, "send", "--event", unbillable, "--wait"])
            #expect(refused.status == 0, "\(refused.output)")

            let second = try await runLagoConsole(["--config", config, "usage", "--json"])
            #expect(second.status == 0, "\(second.output)")
            let after = try json(second.output)
            let changes = try #require(after["changes_since_previous"] as? [String: Any], "\(second.output)")
            let charges = try #require(changes["charges"] as? [[String: Any]])
            let input = try #require(charges.first { $0["billable_metric_code"] as? String == "llm_input_tokens" })
            #expect(input["units"] as? String == "120")
            #expect(input["events_count"] as? Int == 1)
            // 120 × 0.001 USD = 0.12 USD.
            #expect(input["amount_cents"] as? Int == 12)
            #expect(changes["total_amount_cents"] as? Int == 12)
            let output = try #require(charges.first { $0["billable_metric_code"] as? String == "llm_output_tokens" })
            #expect(output["units"] as? String == "0" && output["events_count"] as? Int == 0, "\(output)")
            #expect(!second.output.contains(#"\/"#), "no escaped slashes")

            let text = try await runLagoConsole(["--config", config, "usage"])
            #expect(text.status == 0, "\(text.output)")
            #expect(text.output.contains("Usage of sub_sandbox (customer cus_sandbox)"), "\(text.output)")
            #expect(text.output.contains("Total   0.12 USD"), "\(text.output)")
            let row = text.output.split(separator: "\n").first { $0.hasPrefix("llm_input_tokens ") }
            #expect(row?.contains("120") == true && row?.contains("0.12 USD") == true, "\(text.output)")

            // The reading kept between runs is the owner's only.
            let kept = try FileManager.default.attributesOfItem(
                atPath: home.path("spool.sqlite.usage.json"))
            #expect((kept[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        }
    }

    @Test func lagosRefusalsAreLagosWordsAndExitThree() async throws {
        let home = try E2EHome("usage")
        defer { home.remove() }
        try await Sandbox.withRunning { sandbox in
            let config = try home.writeConfig(for: sandbox, defaultSubscription: "")
            let none = try await runLagoConsole(["--config", config, "usage"])
            #expect(none.status == 2, "\(none.output)")
            #expect(none.output.contains("pass --subscription ID"), "\(none.output)")

            let unknown = try await runLagoConsole(["--config", config, "usage", "--subscription", "sub_nope"])
            #expect(unknown.status == 3, "\(unknown.output)")
            #expect(
                unknown.output.contains("usage of sub_nope") && unknown.output.contains("HTTP 404"), "\(unknown.output)"
            )

            try sandbox.addSubscription(
                SandboxSubscription(externalID: "sub_old", externalCustomerID: "cus_sandbox", status: .terminated))
            let inactive = try await runLagoConsole(["--config", config, "usage", "--subscription", "sub_old"])
            #expect(inactive.status == 3, "\(inactive.output)")
            #expect(inactive.output.contains("no_active_subscription"), "\(inactive.output)")
            #expect(!inactive.output.contains("Error("), "no Swift type names: \(inactive.output)")
        }
    }

    /// The console alone shows a test event delivered, stored in Lago (verified) and counted on the customer's
    /// usage; an event Lago stores and never bills is marked not counted with the billing check's reason.
    @Test func theConsoleShowsATestEventCountedOnTheCustomersUsage() async throws {
        let binary = try lagoConsoleBinary()
        let home = try E2EHome("usage")
        defer { home.remove() }
        try await Sandbox.withRunning { sandbox in
            let config = try home.writeConfig(
                for: sandbox, more: "[usage]\nrefresh_interval_seconds = 1\ncount_timeout_seconds = 5\n")
            let session = try TmuxSession.start(
                [binary, "--config", config], width: 120, height: 40, environment: home.environment)
            defer { session.kill() }

            try session.send("8")
            try await session.waitFor(text: "customer cus_sandbox", timeout: .seconds(30))
            try await session.waitFor(text: "llm_input_tokens")

            try session.send(":send llm_input_tokens sub_sandbox value=120", literal: true)
            try session.send("Enter")
            try session.send("6")
            try await session.waitFor(text: "✔ delivered", timeout: .seconds(30))
            try session.send("v")
            try await session.waitFor(text: "in Lago ·")
            let counted = try await session.waitFor("the counted mark", timeout: .seconds(30)) { screen in
                screen.contains("counted · llm_input_tokens +120 units, +1 event")
            }
            #expect(counted.contains("Verified in Lago"), "\(counted)")
            try session.send("8")
            let usage = try await session.waitFor("the usage row moved by the event") { screen in
                screen.contains("┌ 8 Usage")
                    && screen.split(separator: "\n").contains { $0.contains("llm_input_tokens") && $0.contains("+120") }
            }
            #expect(usage.contains("+0.12 USD since the last test"), "\(usage)")
            try session.send("1")
            try await session.waitFor("the Events pane's counted mark") { screen in
                screen.contains("┌ 1 Events")
                    && screen.split(separator: "\n").contains {
                        $0.contains("✔ counted") && $0.contains("llm_input_tokens")
                    }
            }

            try session.send(":send llm_output_tokens sub_sandbox value=many", literal: true)
            try session.send("Enter")
            try session.send("8")
            try await session.waitFor(
                text: "not counted after 5 s: missing_aggregation_property", timeout: .seconds(30))
            #expect(sandbox.events().contains { $0.code == "llm_output_tokens" }, "Lago stored it")
        }
    }
}
