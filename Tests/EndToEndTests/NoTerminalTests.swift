import Foundation
import TestSupport
import Testing

/// Started without a terminal (a pipe, a CI job, a service unit), the console says so at once and exits 2 instead of
/// drawing into a file or waiting for keys that never come (issue #17).
@Suite struct NoTerminalTests {
    @Test func theConsoleWithoutATerminalExitsAtOnceWithTheNextStep() async throws {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("lc-notty-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: home) }
        try "".write(to: home.appendingPathComponent("config.toml"), atomically: true, encoding: .utf8)
        let started = ContinuousClock.now
        let result = try await runLagoConsole(
            ["--config", home.appendingPathComponent("config.toml").path],
            environment: ["HOME": home.path, "XDG_STATE_HOME": home.appendingPathComponent("state").path],
            standardInput: Data())
        #expect(result.status == 2, "\(result.output)")
        #expect(result.output.contains("the console needs a terminal, and standard input is not one"))
        #expect(result.output.contains("lago-console serve"))
        #expect(!result.output.contains("\u{1B}["), "nothing was drawn")
        #expect(ContinuousClock.now - started < .seconds(30), "it does not wait for keys")
        #expect(
            !FileManager.default.fileExists(atPath: home.appendingPathComponent("state/lago-console").path),
            "no spool, sandbox or log was opened")
    }

    @Test func aSandboxPortOutOfRangeIsRefusedNamingIt() async throws {
        let result = try await runLagoConsole(["sandbox", "--port", "99999"], standardInput: Data())
        #expect(result.status != 0)
        #expect(
            result.output.contains("--port 99999 is not a TCP port: use 1 to 65535, or 0 to pick a free one"),
            "\(result.output)")
        #expect(!result.output.contains("listening"))
    }
}
