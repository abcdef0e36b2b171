import Foundation
import LagoSandbox
import Testing

/// `lago-console verify` against the sandbox, run as the real binary.
@Suite("verify command")
struct VerifyCommandTests {
    struct Run {
        var status: Int32
        var output: String
    }

    func verify(_ sandbox: Sandbox, config: String, _ extra: [String] = [], apiKey: String? = nil) async throws -> Run {
        let (status, output) = try await runLagoConsole(
            ["--config", config, "verify"] + extra,
            environment: ["LAGO_API_URL": sandbox.rootURL.absoluteString, "LAGO_API_KEY": apiKey ?? sandbox.apiKey])
        return Run(status: status, output: output)
    }

    func configFile(defaultSubscription: String) throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("verify-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent("config.toml").path
        try "[lago]\ndefault_subscription_id = \"\(defaultSubscription)\"\n".write(
            toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func aReadySandboxPassesEveryCheckIncludingARoundTrip() async throws {
        try await Sandbox.withRunning { sandbox in
            let run = try await verify(
                sandbox, config: try configFile(defaultSubscription: "sub_sandbox"), ["--send-test"])
            #expect(run.status == 0, "\(run.output)")
            #expect(run.output.contains("✔ test event"))
            #expect(!run.output.contains(sandbox.apiKey), "the API key is never printed")
        }
    }

    @Test func aMissingMetricAndAnUnknownSubscriptionAreNamed() async throws {
        try await Sandbox.withRunning { sandbox in
            #expect(try sandbox.removeBillableMetric(code: "llm_reasoning_tokens"))
            let run = try await verify(sandbox, config: try configFile(defaultSubscription: "sub_nowhere"))
            #expect(run.status == 1)
            #expect(run.output.contains("✗ metric_codes.reasoning"), "\(run.output)")
            #expect(run.output.contains("llm_reasoning_tokens is not a billable metric"))
            #expect(run.output.contains("✗ default subscription"))
            #expect(run.output.contains("verify failed: metric_codes.reasoning, default subscription"))
        }
    }

    @Test func aRefusedKeyFailsAndSkipsTheRest() async throws {
        try await Sandbox.withRunning { sandbox in
            let run = try await verify(
                sandbox, config: try configFile(defaultSubscription: "sub_sandbox"), apiKey: "not-a-sandbox-key")
            #expect(run.status == 1)
            #expect(run.output.contains("✗ API key"), "\(run.output)")
            #expect(run.output.contains("– metric_codes.input"))
        }
    }
}
