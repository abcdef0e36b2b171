import Foundation
import TestSupport
import Testing

/// `config set`, `config check`, `serve` and the console as the real binary: a config file they cannot read
/// completely stops them all with the same error and is never rewritten; the API key comes from standard input;
/// the control API stays on loopback unless allowed.
@Suite("config commands (real binary)")
struct ConfigCommandTests {
    /// A fresh folder, removed when `body` returns.
    func withFolder(_ body: (URL) async throws -> Void) async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("lc-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try await body(folder)
    }

    /// An environment that keeps the binary off the real user's files.
    func environment(_ folder: URL) -> [String: String] {
        [
            "HOME": folder.path, "XDG_CONFIG_HOME": folder.appendingPathComponent("xdg-config").path,
            "XDG_STATE_HOME": folder.appendingPathComponent("xdg-state").path, "LAGO_API_KEY": "", "LAGO_API_URL": "",
        ]
    }

    /// Runs a command that must exit by itself within 60 s (a long-running one, such as `serve`, that wrongly
    /// starts is stopped, and the test fails).
    func runExpectingExit(_ arguments: [String], in folder: URL) async throws -> (status: Int32, output: String) {
        let log = folder.appendingPathComponent("run-\(UUID().uuidString).log").path
        let process = try ServeAttachTests.ServeProcess(arguments: arguments, logPath: log)
        let deadline = ContinuousClock.now + .seconds(60)
        while process.process.isRunning, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        let stillRunning = process.process.isRunning
        let status = await process.terminate()
        #expect(!stillRunning, "lago-console \(arguments.joined(separator: " ")) went on running:\n\(process.log)")
        return (status, process.log)
    }

    @Test func aConfigWithANULByteStopsEveryCommandAndIsNeverRewritten() async throws {
        try await withFolder { folder in
            let config = folder.appendingPathComponent("config.toml").path
            var bytes = Array("[metric_codes]\ninput = \"in\"\n\n[relay]\n".utf8)
            bytes += [0]
            bytes += Array("token = \"relay-secret-token\"\n".utf8)
            try Data(bytes).write(to: URL(fileURLWithPath: config))
            let expected = "\(config):5:1: the file holds a NUL byte (byte offset 37)"

            let check = try await runLagoConsole(
                ["--config", config, "config", "check"], environment: environment(folder))
            #expect(check.status == 1)
            #expect(check.output.contains(expected), "\(check.output)")
            #expect(check.output.contains("remove the NUL byte at line 5 of \(config)"))

            let set = try await runLagoConsole(
                ["--config", config, "config", "set", "metric_codes.input", "other"], environment: environment(folder))
            #expect(set.status == 1)
            #expect(set.output.contains(expected), "\(set.output)")
            #expect(try [UInt8](Data(contentsOf: URL(fileURLWithPath: config))) == bytes, "byte for byte as it was")

            let key = try await runLagoConsole(
                ["--config", config, "config", "set", "lago.api_key", "-"], environment: environment(folder),
                standardInput: Data("lago_key_0000\n".utf8))
            #expect(key.status == 1)
            #expect(try [UInt8](Data(contentsOf: URL(fileURLWithPath: config))) == bytes)

            for command in [["serve"], ["console"], ["status"]] {
                let run = try await runExpectingExit(["--config", config] + command, in: folder)
                #expect(run.status != 0)
                #expect(run.output.contains(expected), "\(command): \(run.output)")
            }
            #expect(try [UInt8](Data(contentsOf: URL(fileURLWithPath: config))) == bytes)
        }
    }

    /// Whether TOML `text` has the line `name = value`, the value quoted either way (TOMLKit writes literal strings).
    static func sets(_ name: String, to value: String, _ text: String) -> Bool {
        text.contains("\n\(name) = '\(value)'\n") || text.contains("\n\(name) = \"\(value)\"\n")
    }

    @Test func theAPIKeyIsReadFromStandardInputAndNeverPrinted() async throws {
        try await withFolder { folder in
            let config = folder.appendingPathComponent("config.toml").path
            let key = "lago_test_key_5f1e2d3c4b5a"
            // Without --create, a --config path that does not exist is refused (a typo is not a new file).
            let mistyped = try await runLagoConsole(
                ["--config", config, "config", "set", "lago.api_key", "-"], environment: environment(folder),
                standardInput: Data("\(key)\n".utf8))
            #expect(mistyped.status == 1 && mistyped.output.contains("no such file"), "\(mistyped.output)")
            #expect(!FileManager.default.fileExists(atPath: config))
            let set = try await runLagoConsole(
                ["--config", config, "config", "set", "--create", "lago.api_key", "-"],
                environment: environment(folder),
                standardInput: Data("\(key)\r\n".utf8))
            #expect(set.status == 0, "\(set.output)")
            #expect(set.output.contains("lago.api_key = ••••4b5a  # saved to \(config)"), "\(set.output)")
            #expect(!set.output.contains(key), "the key is never printed in full")
            #expect(!set.output.contains("5f1e2d3c"), "nor most of it")

            let text = try String(contentsOfFile: config, encoding: .utf8)
            #expect(Self.sets("api_key", to: key, text), "stored as read, its line ending stripped: \(text)")
            let mode = try FileManager.default.attributesOfItem(atPath: config)[.posixPermissions] as? NSNumber
            #expect(mode?.intValue == 0o600)

            let show = try await runLagoConsole(
                ["--config", config, "config", "show"], environment: environment(folder))
            #expect(show.status == 0)
            #expect(!show.output.contains(key))

            // A relay token reads from standard input the same way; an ordinary key takes "-" as its value.
            let token = try await runLagoConsole(
                ["--config", config, "config", "set", "relay.token", "-"], environment: environment(folder),
                standardInput: Data("relay-token-from-stdin\n".utf8))
            #expect(token.status == 0, "\(token.output)")
            let both = try String(contentsOfFile: config, encoding: .utf8)
            #expect(Self.sets("token", to: "relay-token-from-stdin", both), "\(both)")
            #expect(Self.sets("api_key", to: key, both), "\(both)")
        }
    }

    @Test func anEmptyKeyOnStandardInputIsRefusedAndNothingIsWritten() async throws {
        try await withFolder { folder in
            let config = folder.appendingPathComponent("config.toml").path
            for input in ["", "\n", "   \n", "\r\n"] {
                let set = try await runLagoConsole(
                    ["--config", config, "config", "set", "--create", "lago.api_key", "-"],
                    environment: environment(folder), standardInput: Data(input.utf8))
                #expect(set.status == 1, "\(input.debugDescription): \(set.output)")
                #expect(set.output.contains("lago.api_key: no value on standard input"), "\(set.output)")
                #expect(!FileManager.default.fileExists(atPath: config))
            }
        }
    }

    @Test func serveRefusesAControlAPIBeyondLoopbackUnlessAllowed() async throws {
        try await withFolder { folder in
            let config = folder.appendingPathComponent("config.toml").path
            let spool = folder.appendingPathComponent("spool.sqlite").path
            let base = "[engine]\nspool_path = \"\(spool)\"\n[relay]\nlisten = \"127.0.0.1:0\"\n"

            try (base + "control_listen = \"0.0.0.0:8788\"\n").write(toFile: config, atomically: true, encoding: .utf8)
            let fromFile = try await runExpectingExit(["--config", config, "serve"], in: folder)
            #expect(fromFile.status != 0)
            #expect(
                fromFile.output.contains(
                    "\(config):5: relay.control_listen: 0.0.0.0:8788 is not a loopback address"), "\(fromFile.output)")
            #expect(fromFile.output.contains("relay.control_allow_remote = true"))

            try base.write(toFile: config, atomically: true, encoding: .utf8)
            let fromOption = try await runExpectingExit(
                ["--config", config, "serve", "--control-listen", "0.0.0.0:0"], in: folder)
            #expect(fromOption.status != 0)
            #expect(
                fromOption.output.contains("--control-listen: 0.0.0.0:0 is not a loopback address"),
                "\(fromOption.output)")
            #expect(
                fromOption.output.contains("lago-console --config \(config) config set relay.control_allow_remote true")
            )
            #expect(!FileManager.default.fileExists(atPath: spool), "refused before the engine opened its spool")
        }
    }
}
