import Foundation
import LagoSandbox
import TestSupport
import Testing

/// `send`, `flush`, `status` and `dead-letters` as the real binary, against the sandbox's real validation.
@Suite("headless commands")
struct HeadlessCommandTests {
    func run(_ config: String, _ arguments: [String]) async throws -> (status: Int32, output: String) {
        try await runLagoConsole(["--config", config] + arguments)
    }

    @Test func sendDeadLetterReplayFlushAndStatus() async throws {
        let home = try E2EHome("headless")
        defer { home.remove() }
        try await Sandbox.withRunning { sandbox in
            try sandbox.addBillableMetric(
                code: "doubled_tokens", name: "Doubled", fieldName: "value", expression: "event.properties.x * 2")
            let config = try home.writeConfig(for: sandbox)

            let sent = try await run(config, ["send", "--usage", "input=120", "output=40", "--wait"])
            #expect(sent.status == 0, "\(sent.output)")
            #expect(sent.output.contains(":input  in Lago"))
            #expect(sandbox.events(subscription: "sub_sandbox").count == 2)

            // Lago refuses this one (its metric's expression needs property x): dead-lettered with Lago's reason.
            let poison =
                #"{"transaction_id":"poison-1","external_subscription_id":"sub_sandbox","code":"doubled_tokens"}"#
            let refused = try await run(config, ["send", "--event", poison, "--wait"])
            #expect(refused.status == 1, "\(refused.output)")
            let listed = try await run(config, ["dead-letters", "list"])
            #expect(listed.output.contains("poison-1"), "\(listed.output)")
            #expect(listed.output.contains("expression_evaluation_failed"))
            let id = try #require(listed.output.split(separator: "\t").first.map(String.init))

            let shown = try await run(config, ["dead-letters", "show", id])
            #expect(shown.output.contains("doubled_tokens"), "\(shown.output)")
            // --json: Lago's names, the payload as the object it is.
            let shownJSON = try await run(config, ["dead-letters", "show", id, "--json"])
            let letter = try #require(
                try JSONSerialization.jsonObject(with: Data(shownJSON.output.utf8)) as? [String: Any],
                "\(shownJSON.output)")
            #expect(letter["transaction_id"] as? String == "poison-1" && letter["dead_at"] is String, "\(letter)")
            #expect((letter["payload"] as? [String: Any])?["code"] as? String == "doubled_tokens", "\(letter)")

            let replayed = try await run(config, ["dead-letters", "replay", id, "--code", "llm_input_tokens"])
            #expect(replayed.status == 0, "\(replayed.output)")
            let flushed = try await run(config, ["flush", "--json"])
            #expect(flushed.status == 0, "\(flushed.output)")
            #expect(sandbox.events(subscription: "sub_sandbox").contains { $0.transactionID == "poison-1" })

            let status = try await run(config, ["status", "--json"])
            #expect(
                status.output.contains(#""queued" : 0"#) && status.output.contains(#""dead" : 0"#), "\(status.output)")
            #expect(status.output.contains(#""pending" : 0"#), "\(status.output)")
            let refusedDiscard = try await run(config, ["dead-letters", "discard", "1"])
            #expect(refusedDiscard.status != 0, "discarding needs --yes")
        }
    }

    @Test func sendWithoutServeDeliversItselfOrSaysWhatStaysSpooled() async throws {
        let home = try E2EHome("headless")
        defer { home.remove() }
        try await Sandbox.withRunning { sandbox in
            let config = try home.writeConfig(for: sandbox)
            // No serve, no --wait: the command delivers before it exits.
            let sent = try await run(config, ["send", "--usage", "input=7"])
            #expect(sent.status == 0, "\(sent.output)")
            #expect(sent.output.contains(":input  delivered"), "\(sent.output)")
            #expect(sandbox.events().count == 1)

            // Lago is down for longer than --timeout: the event stays spooled, the command says so and fails.
            sandbox.faults.outage(for: .seconds(30), mode: .status503)
            let stuck = try await run(config, ["send", "--usage", "input=8", "--timeout", "1"])
            #expect(stuck.status == 1, "\(stuck.output)")
            #expect(stuck.output.contains("stay spooled"), "\(stuck.output)")
            sandbox.faults.clear()
            let status = try await run(config, ["status", "--json"])
            #expect(status.output.contains(#""pending" : 1"#), "\(status.output)")
            // The figure is the spool's: its rows, read from the file itself.
            if let python = which("python3") {
                let spool = home.path("spool.sqlite")
                let rows = try await runProgram(
                    python,
                    [
                        "-c",
                        "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from events').fetchone()[0])",
                        spool,
                    ])
                #expect(rows.output.trimmingCharacters(in: .whitespacesAndNewlines) == "1", "\(rows.output)")
            }

            // --no-wait only spools.
            let spooled = try await run(config, ["send", "--usage", "input=9", "--no-wait"])
            #expect(spooled.status == 0 && spooled.output.contains("--no-wait"), "\(spooled.output)")
            let flushed = try await run(config, ["flush"])
            #expect(flushed.status == 0, "\(flushed.output)")
            #expect(sandbox.events().count == 3)
        }
    }

    @Test func theCommandLineRefusesWhatTheConsoleRefuses() async throws {
        let home = try E2EHome("headless")
        defer { home.remove() }
        try await Sandbox.withRunning { sandbox in
            let config = try home.writeConfig(for: sandbox)
            for arguments in [
                ["send", "--usage", "input=-5"], ["send", "--usage", "input=1.5"], ["send", "--usage", "input=abc"],
                ["send", "--event", #"{"transaction_id":"t","code":"bad code"}"#],
                ["send", "--event", #"{"transaction_id":" t","code":"c"}"#],
                ["send", "--usage", "input=1", "--subscription", ""],
                ["dead-letters", "replay", "1", "--code", "bad code"],
            ] {
                let refused = try await run(config, arguments)
                #expect(refused.status != 0, "\(arguments): \(refused.output)")
                #expect(!refused.output.contains("Error("), "no Swift type names: \(refused.output)")
            }
            #expect(sandbox.events().isEmpty, "nothing refused was sent")
        }
    }

    /// The exit codes `--help` and the README document: a usage error is 2 (not swift-argument-parser's 64).
    @Test func usageErrorsExitTwoWithTheUsage() async throws {
        for arguments in [["--bogus"], ["send", "--usage"], ["usage", "--subscription"], ["status", "extra"]] {
            let run = try await runLagoConsole(arguments)
            #expect(run.status == 2, "\(arguments): \(run.output)")
            #expect(run.output.contains("Usage: lago-console"), "\(arguments): \(run.output)")
        }
        let help = try await runLagoConsole(["--help"])
        #expect(help.status == 0)
        #expect(help.output.contains("130 interrupted"), "\(help.output)")
    }

    /// `send --file` (issue #17, point 2): a file of Lago events and usage records, every line checked first with
    /// its number; nothing sent unless all are good; what is sent reaches Lago exact (numbers, timestamps).
    @Test func sendAFileOfEventsCheckedLineByLine() async throws {
        let home = try E2EHome("headless")
        defer { home.remove() }
        try await Sandbox.withRunning { sandbox in
            let config = try home.writeConfig(for: sandbox)
            let bad = home.path("bad.ndjson")
            try """
            {"transaction_id":"f-1","code":"llm_input_tokens","properties":{"value":5}}
            {"transaction_id":"f-2","code":"bad code","properties":{"value":5}}

            {"code":"llm_input_tokens","properties":{"value":5}}
            {"transaction_id":"f-1","code":"llm_output_tokens","properties":{"value":5}}
            {"input": -3}
            not json
            """.write(toFile: bad, atomically: true, encoding: .utf8)
            let refused = try await run(config, ["send", "--file", bad])
            #expect(refused.status == 2, "\(refused.output)")
            for expected in [
                "5 lines refused, nothing sent", "bad.ndjson:2: code bad code:",
                "bad.ndjson:4: not a Lago event: transaction_id is missing",
                "bad.ndjson:5: transaction_id f-1 is already on \(bad):1",
                "bad.ndjson:6: input: must be a whole number",
                "bad.ndjson:7: not JSON",
            ] {
                #expect(refused.output.contains(expected), "\(expected): \(refused.output)")
            }
            let status = try await run(config, ["status", "--json"])
            #expect(status.output.contains(#""pending" : 0"#), "\(status.output)")
            #expect(sandbox.events().isEmpty)

            let good = """
                {"transaction_id":"f-1","code":"llm_input_tokens","timestamp":1767268800.123456,"properties":{"value":12345678901234567890,"model":"gpt-4.1"}}
                {"events":[{"transaction_id":"f-2","code":"llm_output_tokens","properties":{"value":"0.000001"}},{"transaction_id":"f-3","external_subscription_id":"sub_sandbox","code":"llm_tool_calls","properties":{"value":1}}]}
                {"id":"call-9","input":120,"output":40,"model":"claude-sonnet-4"}
                """
            let sent = try await runLagoConsole(
                ["--config", config, "send", "--file", "-", "--json"], standardInput: Data(good.utf8))
            #expect(sent.status == 0, "\(sent.output)")
            let events = sandbox.events(subscription: "sub_sandbox")
            #expect(events.count == 5, "\(events.map(\.transactionID))")
            #expect(Set(events.map(\.transactionID)) == ["f-1", "f-2", "f-3", "call-9:input", "call-9:output"])
            let first = try #require(events.first { $0.transactionID == "f-1" })
            #expect(first.properties["value"] == .bigInteger("12345678901234567890"), "\(first.properties)")
            #expect(first.timestampMicroseconds == 1_767_268_800_123_456)
            #expect(events.first { $0.transactionID == "f-2" }?.properties["value"] == .string("0.000001"))
        }
    }

    /// An event sent without a subscription bills the default one, as the console's and the relay's do: before,
    /// `send --event` sent it with none, and Lago stored it and never billed it.
    @Test func aRawEventWithoutASubscriptionBillsTheDefaultOne() async throws {
        let home = try E2EHome("headless")
        defer { home.remove() }
        try await Sandbox.withRunning { sandbox in
            let config = try home.writeConfig(for: sandbox)
            let event = #"{"transaction_id":"no-sub-1","code":"llm_input_tokens","properties":{"value":3}}"#
            let sent = try await run(config, ["send", "--event", event, "--wait"])
            #expect(sent.status == 0, "\(sent.output)")
            #expect(sandbox.events().first { $0.transactionID == "no-sub-1" }?.externalSubscriptionID == "sub_sandbox")
        }
    }

    /// Issue #17's error table: each bad input → the exact message and exit code, no Swift type names.
    @Test func badInputGetsAMessageAPersonCanActOn() async throws {
        let home = try E2EHome("headless")
        defer { home.remove() }
        let config = home.path("config.toml")
        try """
        [lago]
        api_url = "http://127.0.0.1:1"
        api_key = "k"
        [engine]
        spool_path = "\(home.path("spool.sqlite"))"
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let missing = home.path("nope.toml")
        let table: [([String], Int32, String)] = [
            (["send", "--event", "{bad"], 2, "Error: --event: not JSON (check its quotes, commas and braces)"),
            (
                ["send", "--event", #"{"transaction_id":"x","code":5}"#], 2,
                "Error: --event: not a Lago event: code: must be a string"
            ),
            (
                ["send", "--event", #"{"transaction_id":"x","code":"a","properties":[1]}"#], 2,
                "Error: --event: not a Lago event: properties: must be an object"
            ),
            (["check", "--event", "{bad"], 2, "Error: --event: not JSON (check its quotes, commas and braces)"),
            (
                ["usage", "--subscription", "sub_1"], 3,
                "usage of sub_1: GET /subscriptions/sub_1: connection refused by http://127.0.0.1:1: nothing listens "
                    + "there; is Lago running, and is lago.api_url right?"
            ),
            (
                ["serve", "--listen", "127.0.0.1:99999"], 1,
                "Error: --listen 127.0.0.1:99999: port 99999 is out of range: give 1 to 65535 (0 picks a free port)"
            ),
            (["tail", "--state", "gone"], 2, "Error: --state gone: no such stage; give one or more of queued,"),
        ]
        for (arguments, status, message) in table {
            let run = try await runLagoConsole(["--config", config] + arguments)
            #expect(run.status == status, "\(arguments): \(run.output)")
            #expect(run.output.contains(message), "\(arguments): \(run.output)")
            #expect(!run.output.contains("DecodingError") && !run.output.contains("errno"), "\(run.output)")
        }
        let typo = try await runLagoConsole(["--config", missing, "status"])
        #expect(typo.status == 1, "\(typo.output)")
        #expect(typo.output.contains("Error: --config \(missing): no such file"), "\(typo.output)")
        // A port something else listens on: the address and the cause in words, never errno 98.
        try await Sandbox.withRunning { sandbox in
            let taken = try #require(sandbox.port)
            let busy: [([String], String)] = [
                (
                    ["serve", "--listen", "127.0.0.1:\(taken)"],
                    "Error: the relay cannot listen on 127.0.0.1:\(taken): the address is in use (another process "
                        + "listens there); set relay.listen (or serve's --listen) to a free address"
                ),
                (
                    ["sandbox", "--port", "\(taken)"],
                    "Error: the sandbox cannot listen on 127.0.0.1:\(taken): the address is in use (another process "
                        + "listens there); choose another port with --port (0 picks a free one)"
                ),
            ]
            for (arguments, message) in busy {
                let run = try await runLagoConsole(["--config", config] + arguments)
                #expect(run.status == 1, "\(arguments): \(run.output)")
                #expect(run.output.contains(message), "\(arguments): \(run.output)")
                #expect(!run.output.contains("errno") && !run.output.contains("bind("), "\(run.output)")
            }
        }
    }
}
