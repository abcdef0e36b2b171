import Foundation
import LagoSandbox
import TestSupport
import Testing

/// The real `lago-console` binary in tmux, on its embedded sandbox: the operator's first run, end to end.
@Suite("Console end to end (tmux)", .serialized)
struct ConsoleEndToEndTests {
    @Test func sendVerifyMapFlushResizeQuit() async throws {
        let binary = try lagoConsoleBinary()
        let home = try E2EHome("lc-e2e")
        defer { home.remove() }
        let configFile = home.path("config/lago-console/config.toml")
        let session = try TmuxSession.start([binary], width: 120, height: 40, environment: home.environment)
        defer { session.kill() }

        // First run: no Lago configured → the embedded sandbox, with demo traffic reaching "delivered".
        try await session.waitFor(text: "SANDBOX")
        try await session.waitFor(text: "delivered", timeout: .seconds(30))

        // Send a test event from the form and watch it reach delivered, then verify it in Lago.
        try session.send("6")
        try await session.waitFor(text: "Send test")
        try session.send("Enter")
        try session.send("4242", literal: true)
        try session.send("Enter")
        try session.send("C-s")
        try await session.waitFor(text: "✔ delivered")
        try session.send("v")
        // tmux may show a frame half written: wait for the whole verification, not just its heading.
        let verified = try await session.waitFor("the verified event") {
            $0.contains("Verified in Lago") && $0.contains("value=4242")
        }
        #expect(verified.contains("value=4242"))

        // The new user's first try: an event Lago accepts (200) and never bills. The console says so in the row and
        // in the detail, against the sandbox's real metrics and subscriptions.
        try session.send("1")
        try session.send(":send nope_code sub_zzz value=1", literal: true)
        try session.send("Enter")
        let unbillable = try await session.waitFor("the unbillable event's row") { screen in
            screen.split(separator: "\n").contains { $0.contains("nope_code") && $0.contains("⚠") }
        }
        #expect(unbillable.contains("nope_code"))
        try session.send("/", "nope_code", "Enter")
        try session.send("Enter")
        try await session.waitFor(text: "Lago will not bill it: subscription_not_found, invalid_code")
        try session.send("Escape")
        try session.send("Escape")

        // The Billing pane groups it by reason × code × subscription, each group with its fix.
        try session.send("7")
        let billing = try await session.waitFor("the event's two issue groups") { screen in
            let rows = screen.split(separator: "\n")
            return rows.contains {
                $0.contains("subscription_not_found") && $0.contains("nope_code") && $0.contains("sub_zzz")
            }
                && rows.contains { $0.contains("invalid_code") && $0.contains("nope_code") && $0.contains("sub_zzz") }
                && screen.contains("Fix: d sets the default subscription")
        }
        #expect(billing.contains("read "), "the catalogue's age: \(billing)")
        #expect(billing.contains("No subscription of this Lago has this external_subscription_id"))
        try session.send("j")
        try await session.waitFor(text: "Fix: create metric nope_code in Lago")
        try session.send("1")

        // Change a mapping to a code that is no metric in Lago: warned first (its events would never bill), then
        // saved to the config file at once.
        try session.send("4")
        try await session.waitFor(text: "METRIC CODE")
        try session.send("c")
        try await session.waitFor(text: "metrics in Lago")
        try session.send("Enter")
        try session.send("C-u")
        try session.send("e2e_input_code", literal: true)
        try session.send("Enter")
        try await session.waitFor(text: "never billed (invalid_code)")
        try session.send("Enter")
        try await session.waitFor(text: "e2e_input_code")
        let deadline = ContinuousClock.now + .seconds(10)
        var saved = ""
        while ContinuousClock.now < deadline {
            saved = (try? String(contentsOfFile: configFile, encoding: .utf8)) ?? ""
            if saved.contains("e2e_input_code") { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(saved.contains("e2e_input_code"), "config file: \(saved)")
        let attributes = try FileManager.default.attributesOfItem(atPath: configFile)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)

        // Flush from anywhere.
        try session.send("f")
        try await session.waitFor(text: "flushed: delivered")

        // Resize: the wide layout shows the queue pane beside the main pane.
        try session.resize(width: 170, height: 50)
        try await session.waitFor(text: "2 Queue ─")
        // Too small: the console says so, and q still works from there.
        try session.resize(width: 70, height: 20)
        try await session.waitFor(text: "too small")
        try session.resize(width: 120, height: 40)
        try await session.waitFor(text: "6 Send test")

        // Quit (answering the flush question if events are pending); the terminal is sane afterwards.
        try session.send("q")
        let afterQuit = try await session.waitFor("the quit prompt or the exit") {
            $0.contains("[exit ") || $0.contains("before quitting")
        }
        if afterQuit.contains("before quitting") { try session.send("y") }
        // `stty -a` runs after the exit line: wait for its output too (its local flags include isig or -isig).
        let final = try await session.waitFor("the exit and stty's report") {
            $0.contains("[exit 0]") && $0.components(separatedBy: "[exit 0]").last!.contains("isig")
        }
        let stty = final.components(separatedBy: "[exit 0]").last ?? ""
        #expect(stty.contains("icanon") && !stty.contains("-icanon"), "stty after quit: \(stty)")
        #expect(stty.contains(" echo ") && !stty.contains("-echo "), "stty after quit: \(stty)")
    }

    /// Policy `hold` through the real binary (issue #13, point 5): an event for a code Lago does not have yet is held,
    /// not sent, and the Billing pane lists it; once the metric exists and `c` has the catalogue read again, `r`
    /// releases it (the engine's new verdict is shown) and Lago receives it once.
    @Test func aHeldEventIsReleasedFromTheBillingPaneOnceItsMetricExists() async throws {
        let binary = try lagoConsoleBinary()
        let home = try E2EHome("lc-e2e")
        defer { home.remove() }
        try await Sandbox.withRunning { sandbox in
            let config = try home.writeConfig(for: sandbox, more: "[billing]\nunbillable = \"hold\"\n")
            let session = try TmuxSession.start(
                [binary, "--config", config], width: 120, height: 40, environment: home.environment)
            defer { session.kill() }

            try session.send("7")
            try await session.waitFor(text: "10 metrics")
            try session.send(":send late_metric sub_sandbox value=3", literal: true)
            try session.send("Enter")
            let held = try await session.waitFor("the held event in the held list") { screen in
                screen.contains("Held  1")
                    && screen.split(separator: "\n").contains {
                        $0.contains("late_metric") && $0.contains("sub_sandbox") && $0.contains("invalid_code")
                    }
            }
            #expect(held.contains("hold — unbillable events wait below"), "\(held)")
            #expect(!sandbox.events().contains { $0.code == "late_metric" }, "held: not sent")

            try sandbox.addBillableMetric(code: "late_metric")
            try session.send("c")
            try await session.waitFor(text: "11 metrics", timeout: .seconds(30))
            try session.send("G", "r")
            try await session.waitFor(text: "Release held event")
            try session.send("y")
            try await session.waitFor(text: "queued, Lago will bill it")
            try await session.waitFor("Lago receiving the released event") { _ in
                sandbox.events().contains { $0.code == "late_metric" }
            }
            try await session.waitFor(text: "Held  0")
            #expect(sandbox.events().filter { $0.code == "late_metric" }.count == 1)
        }
    }

    /// `--readonly` at 120×40: help lists no flush (neither `f` nor `:flush`), and pressing `f` says why nothing
    /// happens instead of doing nothing silently.
    @Test func readOnlyHidesFlushAndSaysWhyItsKeyDoesNothing() async throws {
        let binary = try lagoConsoleBinary()
        let home = try E2EHome("lc-e2e")
        defer { home.remove() }
        try await Sandbox.withRunning { sandbox in
            let config = try home.writeConfig(for: sandbox)
            let session = try TmuxSession.start(
                [binary, "--config", config, "--readonly"], width: 120, height: 40, environment: home.environment)
            defer { session.kill() }

            try await session.waitFor(text: " RO ")
            try session.send("?")
            let help = try await session.waitFor("the read-only help") { $0.contains("read-only mode") }
            #expect(!help.contains("flush pending events now"), "\(help)")
            #expect(!help.contains(":flush"), "\(help)")
            try session.send("Escape")
            try await session.waitFor("the help closed") { !$0.contains("read-only mode") }
            try session.send("f")
            try await session.waitFor(text: "read-only: flushing is off (started with --readonly)")
            try session.send("q")
            let exited = try await session.waitFor(text: "[exit ", timeout: .seconds(10))
            #expect(exited.contains("[exit 0]"), "\(exited)")
        }
    }

    /// Quitting while Lago fails: the flush before quitting shows what is left, Ctrl-C ends it at once (not at its
    /// 15 s deadline), and the event stays in the spool, delivered once by the next flush when Lago answers again.
    @Test func ctrlCDuringTheFlushBeforeQuittingQuitsAtOnceAndKeepsTheEvent() async throws {
        let binary = try lagoConsoleBinary()
        let home = try E2EHome("lc-e2e")
        defer { home.remove() }
        try await Sandbox.withRunning { sandbox in
            sandbox.faults.failNext(1_000_000, status: 503, pathPrefix: "/api/v1/events")
            let config = try home.writeConfig(for: sandbox)
            let session = try TmuxSession.start(
                [binary, "--config", config], width: 120, height: 40, environment: home.environment)
            defer { session.kill() }

            try session.send("6")
            try await session.waitFor(text: "Send test")
            try session.send("Enter")
            try session.send("4343", literal: true)
            try session.send("Enter")
            try session.send("C-s")
            try await session.waitFor("Lago's 503 on the event") { _ in sandbox.stats().requests(status: 503) > 0 }
            try session.send("q")
            try await session.waitFor(text: "before quitting")
            try session.send("y")
            try await session.waitFor(text: "left to deliver")
            let interrupted = ContinuousClock.now
            try session.send("C-c")
            let exited = try await session.waitFor(text: "[exit ", timeout: .seconds(10))
            #expect(ContinuousClock.now - interrupted < .seconds(10), "Ctrl-C did not wait for the flush's deadline")
            #expect(exited.contains("[exit 130]"), "Ctrl-C is an interruption: 130, as a shell expects")

            // The form's usage becomes one event per field filled in; all of them stay spooled.
            struct Status: Decodable { var pending: Int }
            let status = try await runLagoConsole(["--config", config, "status", "--json"])
            let pending = try JSONDecoder().decode(Status.self, from: Data(status.output.utf8)).pending
            #expect(pending >= 1, "\(status.output)")
            #expect(sandbox.events().isEmpty)
            sandbox.faults.clear()
            let flushed = try await runLagoConsole(["--config", config, "flush", "--json"])
            #expect(flushed.status == 0, "\(flushed.output)")
            let delivered = sandbox.events()
            #expect(delivered.count == pending && Set(delivered.map(\.transactionID)).count == pending)
        }
    }
}
