import Foundation
import LagoSandbox
import TestSupport
import Testing

/// A running `lago-console serve` follows its config file: a key fixed after a 401, or a URL fixed after a 404, is
/// used for the next request without a restart, whether `config set` or another writer changed the file. The key
/// never shows in serve's log, in `status`, in `config set`'s answer or in the discovery file.
@Suite("serve follows its config file (real binaries)", .serialized)
struct ServeConfigFollowTests {
    /// Starts serve (with `environment` added to this process's) and waits for its discovery file.
    static func startServe(
        _ home: E2EHome, environment: [String: String] = [:]
    ) async throws -> ServeAttachTests.ServeProcess {
        let serve = try ServeAttachTests.ServeProcess(
            arguments: ["--config", home.config, "serve"], logPath: home.path("serve.log"), environment: environment)
        let discovery = home.spool + ".control.json"
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline, !FileManager.default.fileExists(atPath: discovery),
            serve.process.isRunning
        {
            try await Task.sleep(for: .milliseconds(50))
        }
        try #require(FileManager.default.fileExists(atPath: discovery), "no discovery file; serve log:\n\(serve.log)")
        return serve
    }

    /// Polls `status --json` until serve's engine reports `state`; returns the last output.
    @discardableResult
    static func awaitState(
        _ state: String, config: String, timeout: Duration = .seconds(20),
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> String {
        let deadline = ContinuousClock.now + timeout
        var output = ""
        while ContinuousClock.now < deadline {
            output = try await runLagoConsole(["--config", config, "status", "--json"]).output
            if output.contains(#""state" : "\#(state)""#) { return output }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("serve never reached \(state); last status:\n\(output)", sourceLocation: sourceLocation)
        return output
    }

    @Test func aKeyFixedAfterA401ReachesTheRunningServeWithoutARestart() async throws {
        let home = try E2EHome("lc-follow")
        defer { home.remove() }
        try await Sandbox.withRunning { sandbox in
            let rightKey = sandbox.apiKey
            let wrongKey = "wrong-key-\(UUID().uuidString.lowercased())"
            try home.writeConfig(
                apiURL: sandbox.rootURL.absoluteString, apiKey: wrongKey, engine: ["flush_interval_seconds = 0.05"])
            let serve = try await Self.startServe(home)
            var seen = ""

            let sent = try await runLagoConsole(["--config", home.config, "send", "--usage", "input=5", "--no-wait"])
            #expect(sent.status == 0, "\(sent.output)")
            seen += try await Self.awaitState("authFailed", config: home.config)
            #expect(sandbox.storedEventCount == 0)

            // The right key on standard input: saved, read again by serve, used for the next request.
            let set = try await runLagoConsole(
                ["--config", home.config, "config", "set", "lago.api_key", "-"],
                standardInput: Data("\(rightKey)\n".utf8))
            seen += set.output
            #expect(set.status == 0, "\(set.output)")
            #expect(
                set.output.contains("lago-console serve (pid \(serve.process.processIdentifier)) uses it now"),
                "\(set.output)")
            // Delivered well before the hold's own probe (every 30 s) would have tried again.
            let flushed = try await runLagoConsole(["--config", home.config, "flush", "--timeout", "20"])
            seen += flushed.output
            #expect(flushed.status == 0, "\(flushed.output)\nserve log:\n\(serve.log)")
            #expect(sandbox.storedEventCount == 1)
            seen += try await Self.awaitState("running", config: home.config)
            seen += try await runLagoConsole(["--config", home.config, "status"]).output

            // Any writer: the key rotated in Lago, then fixed by rewriting the file outside lago-console.
            let rotatedKey = "rotated-\(UUID().uuidString.lowercased())"
            sandbox.setAPIKeys([rotatedKey])
            let again = try await runLagoConsole(["--config", home.config, "send", "--usage", "input=6", "--no-wait"])
            #expect(again.status == 0, "\(again.output)")
            seen += try await Self.awaitState("authFailed", config: home.config)
            try home.writeConfig(
                apiURL: sandbox.rootURL.absoluteString, apiKey: rotatedKey, engine: ["flush_interval_seconds = 0.05"])
            let deadline = ContinuousClock.now + .seconds(20)
            while ContinuousClock.now < deadline, sandbox.storedEventCount < 2 {
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(sandbox.storedEventCount == 2, "serve log:\n\(serve.log)")
            seen += try await Self.awaitState("running", config: home.config)

            // A file that stops loading (half-written by an editor) changes nothing; serve says what is wrong.
            try "[lago\napi_key = \"\(wrongKey)\"\n".write(toFile: home.config, atomically: true, encoding: .utf8)
            let logged = ContinuousClock.now + .seconds(10)
            while ContinuousClock.now < logged, !serve.log.contains("the config file did not load") {
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(serve.log.contains("\(home.config):1"), "serve names the file and line:\n\(serve.log)")
            #expect(serve.log.contains("serve keeps the settings it had"), "\(serve.log)")
            // Repaired: serve kept delivering with the key it had.
            try home.writeConfig(
                apiURL: sandbox.rootURL.absoluteString, apiKey: rotatedKey, engine: ["flush_interval_seconds = 0.05"])
            let third = try await runLagoConsole(["--config", home.config, "send", "--usage", "input=7", "--wait"])
            #expect(third.status == 0 && sandbox.storedEventCount == 3, "\(third.output)\nserve log:\n\(serve.log)")
            let discovery = try String(contentsOfFile: home.spool + ".control.json", encoding: .utf8)
            #expect(discovery.contains(String(rotatedKey.suffix(4))), "the discovery file names the key in use, masked")
            #expect(await serve.terminate() == 0, "serve log:\n\(serve.log)")
            for key in [wrongKey, rightKey, rotatedKey] {
                #expect(!serve.log.contains(key), "the key is never logged:\n\(serve.log)")
                #expect(!seen.contains(key), "no command shows the key:\n\(seen)")
                #expect(!discovery.contains(key), "the key is never written to the discovery file")
            }
        }
    }

    @Test func aKeyFromServesEnvironmentWinsOverTheFileAndConfigSetSaysSo() async throws {
        let home = try E2EHome("lc-follow")
        defer { home.remove() }
        try await Sandbox.withRunning { sandbox in
            let fileKey = "file-key-\(UUID().uuidString.lowercased())"
            try home.writeConfig(
                apiURL: sandbox.rootURL.absoluteString, apiKey: fileKey, engine: ["flush_interval_seconds = 0.05"])
            let serve = try await Self.startServe(home, environment: ["LAGO_API_KEY": sandbox.apiKey])
            let otherKey = "other-key-\(UUID().uuidString.lowercased())"
            let set = try await runLagoConsole(
                ["--config", home.config, "config", "set", "lago.api_key", "-"],
                standardInput: Data("\(otherKey)\n".utf8))
            #expect(set.status == 0, "\(set.output)")
            #expect(
                set.output.contains(
                    "note: the running lago-console serve (pid \(serve.process.processIdentifier)) takes lago.api_key "
                        + "from LAGO_API_KEY in its environment, which overrides the file"),
                "\(set.output)")
            // serve keeps the key of its environment.
            let sent = try await runLagoConsole(["--config", home.config, "send", "--usage", "input=5", "--no-wait"])
            #expect(sent.status == 0, "\(sent.output)")
            let flushed = try await runLagoConsole(["--config", home.config, "flush", "--timeout", "20"])
            #expect(flushed.status == 0 && sandbox.storedEventCount == 1, "\(flushed.output)\nserve log:\n\(serve.log)")
            #expect(await serve.terminate() == 0, "serve log:\n\(serve.log)")
            for key in [fileKey, otherKey, sandbox.apiKey] {
                #expect(!serve.log.contains(key) && !set.output.contains(key), "the key is never shown")
            }
        }
    }

    @Test func aURLFixedAfterA404ReachesTheRunningServeWithoutARestart() async throws {
        let home = try E2EHome("lc-follow")
        defer { home.remove() }
        try await Sandbox.withRunning { sandbox in
            let root = sandbox.rootURL.absoluteString
            try home.writeConfig(
                apiURL: root + "/not-lago", apiKey: sandbox.apiKey, engine: ["flush_interval_seconds = 0.05"])
            let serve = try await Self.startServe(home)

            let sent = try await runLagoConsole(["--config", home.config, "send", "--usage", "input=5", "--no-wait"])
            #expect(sent.status == 0, "\(sent.output)")
            let held = try await Self.awaitState("wrongURL", config: home.config)
            #expect(held.contains("/not-lago/api/v1"), "\(held)")

            let set = try await runLagoConsole(["--config", home.config, "config", "set", "lago.api_url", root])
            #expect(set.status == 0, "\(set.output)")
            #expect(
                set.output.contains(
                    "lago-console serve (pid \(serve.process.processIdentifier)) uses it now: "
                        + "delivering to \(root)/api/v1"),
                "\(set.output)")
            let flushed = try await runLagoConsole(["--config", home.config, "flush", "--timeout", "20"])
            #expect(flushed.status == 0, "\(flushed.output)\nserve log:\n\(serve.log)")
            #expect(sandbox.storedEventCount == 1)
            let running = try await Self.awaitState("running", config: home.config)
            #expect(
                running.contains(#""lago" : "\#(root)/api/v1""#), "status names the Lago serve uses now: \(running)")

            // A key serve reads only at start says so.
            let later = try await runLagoConsole(
                ["--config", home.config, "config", "set", "engine.max_in_flight", "2"])
            #expect(later.output.contains("uses it when it restarts"), "\(later.output)")
            // Another config file on the same spool: serve does not read it, and config set says which one it reads.
            let other = home.url.appendingPathComponent("other.toml").path
            try FileManager.default.copyItem(atPath: home.config, toPath: other)
            let elsewhere = try await runLagoConsole(["--config", other, "config", "set", "metric_codes.input", "x_in"])
            #expect(elsewhere.status == 0, "\(elsewhere.output)")
            #expect(
                elsewhere.output.contains("reads \(home.config), not \(other), so it does not see this change"),
                "\(elsewhere.output)")
            #expect(await serve.terminate() == 0, "serve log:\n\(serve.log)")
            #expect(!serve.log.contains(sandbox.apiKey), "the key is never logged:\n\(serve.log)")
        }
    }
}
