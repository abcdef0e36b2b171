import Foundation
import LagoSandbox
import TestSupport
import Testing

/// A console with its own engine holds the spool as `serve` does and serves the same control API (issue #17,
/// points 3 and 4): headless commands and a second console attach to it instead of being refused the spool; a key
/// changed in the config file by someone else applies at once; a relay that could not listen and an attached engine
/// that went away are said on the status line. The real binary in tmux against an in-process sandbox.
@Suite("A console serves its engine (real binary, tmux)", .serialized)
struct ConsoleServesItsEngineTests {
    @Test func headlessCommandsAndASecondConsoleAttachAndAKeyChangedOutsideAppliesLive() async throws {
        let binary = try lagoConsoleBinary()
        let home = try E2EHome("lc-holds")
        defer { home.remove() }
        try await Sandbox.withRunning { sandbox in
            // The relay is to listen where the sandbox already does: it cannot.
            let taken = try #require(sandbox.port)
            let config = try home.writeConfig(
                for: sandbox, engine: ["flush_interval_seconds = 0.05"], relay: ["listen = \"127.0.0.1:\(taken)\""])
            let environment = home.environment
            let first = try TmuxSession.start(
                [binary, "--config", config], width: 160, height: 40, environment: environment)
            defer { first.kill() }

            // The relay could not listen: the status line says so, the Queue pane says where and why.
            try await first.waitFor(text: "✗ relay not listening")
            try first.send("2")
            try await first.waitFor("the relay's address and cause") {
                $0.replacingOccurrences(of: "\n", with: " ").replacingOccurrences(of: "│", with: " ")
                    .split(separator: " ").joined(separator: " ")
                    .contains("the relay cannot listen on 127.0.0.1:\(taken): the address is in use")
            }

            // The console announces its control API next to the spool, as serve does.
            let endpoint = try await home.discovery()
            #expect(endpoint["holder"] as? String == "console", "\(endpoint)")
            let pid = try #require(endpoint["pid"] as? Int, "the discovery file names the console's pid")

            // Read-only and headless commands attach to the console's engine instead of being refused the spool.
            let status = try await runLagoConsole(["--config", config, "status", "--json"])
            #expect(status.status == 0, "\(status.output)")
            #expect(status.output.contains(#""holder" : "console""#), "\(status.output)")
            let text = try await runLagoConsole(["--config", config, "status"])
            #expect(text.output.contains("console  pid \(pid) · running"), "\(text.output)")
            let sent = try await runLagoConsole(["--config", config, "send", "--usage", "input=7", "--json"])
            #expect(sent.status == 0, "\(sent.output)")
            let firstID = try #require(Self.transactionIDs(sent.output).first, "\(sent.output)")
            #expect(
                await eventually(timeout: .seconds(20)) { sandbox.events().contains { $0.transactionID == firstID } },
                "the console's engine delivers the sent event")

            // A wrong key set from outside reaches the console at once: its status line shows the key, then Lago's
            // refusal of it.
            let wrongKey = "e2e-wrong-key-WXYZ"
            let wrong = try await runLagoConsole(
                ["--config", config, "config", "set", "lago.api_key", "-"], standardInput: Data(wrongKey.utf8))
            #expect(
                wrong.status == 0 && wrong.output.contains("the running console (pid \(pid)) uses it now"),
                "\(wrong.output)")
            try await first.waitFor(text: "key ••••WXYZ")
            let held = try await runLagoConsole(["--config", config, "send", "--usage", "input=8", "--json"])
            #expect(held.status == 0, "\(held.output)")
            let heldID = try #require(Self.transactionIDs(held.output).first, "\(held.output)")
            try await first.waitFor(text: "auth ✗")
            #expect(!sandbox.events().contains { $0.transactionID == heldID })

            // The right key back: the hold lifts, the event is delivered once.
            let right = try await runLagoConsole(
                ["--config", config, "config", "set", "lago.api_key", "-"], standardInput: Data(sandbox.apiKey.utf8))
            #expect(right.status == 0, "\(right.output)")
            try await first.waitFor(text: "key ••••\(sandbox.apiKey.suffix(4))")
            #expect(
                await eventually(timeout: .seconds(20)) {
                    sandbox.events().filter { $0.transactionID == heldID }.count == 1
                }, "the held event is delivered once with the right key")
            try await first.waitFor(text: "auth ✔")

            // A metric code changed from outside: the Mappings pane shows it, and usage sent now is coded with it.
            let mapped = try await runLagoConsole(
                ["--config", config, "config", "set", "metric_codes.output", "e2e_output_live"])
            #expect(mapped.status == 0 && mapped.output.contains("uses it now"), "\(mapped.output)")
            try first.send("4")
            try await first.waitFor(text: "e2e_output_live")
            let coded = try await runLagoConsole(["--config", config, "send", "--usage", "output=3", "--json"])
            let codedID = try #require(Self.transactionIDs(coded.output).first, "\(coded.output)")
            #expect(
                await eventually(timeout: .seconds(20)) {
                    sandbox.events().contains { $0.transactionID == codedID && $0.code == "e2e_output_live" }
                }, "usage sent after the change is coded with the new metric code")
            // The pane's LAST MIN per field is what reached Lago under each code in that minute (all of this test's
            // events are): input 2 (one delivered at once, one held, then delivered), output 1, under its new code.
            let counts = try await first.waitFor("the Mappings pane's counts to match Lago's") { screen in
                Self.lastMinute(screen, field: "input", code: "llm_input_tokens")
                    == sandbox.events().filter { $0.code == "llm_input_tokens" }.count
                    && Self.lastMinute(screen, field: "output", code: "e2e_output_live")
                        == sandbox.events().filter { $0.code == "e2e_output_live" }.count
            }
            #expect(Self.lastMinute(counts, field: "input", code: "llm_input_tokens") == 2, "\(counts)")

            // A second console attaches to the first one's engine.
            let second = try TmuxSession.start(
                [binary, "--config", config], width: 160, height: 40, environment: environment)
            defer { second.kill() }
            try await second.waitFor(text: "console pid \(pid)")
            #expect(try second.screen().contains("ATTACHED"))

            // The first console quits: the second says its engine is gone and that it is reattaching.
            try first.send("q")
            let quitting = try await first.waitFor("exit or the quit prompt") {
                $0.contains("[exit 0]") || $0.contains("before quitting?")
            }
            if quitting.contains("before quitting?") { try first.send("n") }
            try await first.waitFor(text: "[exit 0]")
            try await second.waitFor(text: "✗ console gone — reattaching")

            // serve starts on the spool: the second console finds it and attaches.
            let serve = try ServeAttachTests.ServeProcess(
                arguments: ["--config", config, "serve", "--listen", "127.0.0.1:0"],
                logPath: home.path("serve.log"))
            let servePID = serve.process.processIdentifier
            try await second.waitFor(text: "serve pid \(servePID)", timeout: .seconds(30))
            let reattached = try second.screen()
            #expect(!reattached.contains("gone"), "reattached: \(reattached)")
            #expect(await serve.terminate() == 0, "serve log:\n\(serve.log)")
        }
    }

    /// The Mappings pane's LAST MIN of `field` (mapped to `code`), `nil` when the row or the count is not there
    /// (`—` is 0).
    static func lastMinute(_ screen: String, field: String, code: String) -> Int? {
        for row in screen.split(separator: "\n") {
            let words = row.split(separator: " ").map(String.init)
            guard let at = words.firstIndex(of: code), at > 0, words[at - 1] == field, at + 1 < words.count else {
                continue
            }
            return words[at + 1] == "—" ? 0 : Int(words[at + 1])
        }
        return nil
    }

    /// The transaction ids of `send --json`'s report.
    static func transactionIDs(_ output: String) -> [String] {
        guard let start = output.firstIndex(of: "{"),
            let object = try? JSONSerialization.jsonObject(with: Data(output[start...].utf8)) as? [String: Any]
        else { return [] }
        return object["transaction_ids"] as? [String] ?? []
    }
}
