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

    /// Runs the binary without blocking a thread of the concurrency pool, which serves the in-process sandbox.
    func verify(_ sandbox: Sandbox, config: String, _ extra: [String] = [], apiKey: String? = nil) async throws -> Run {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try lagoConsoleBinary())
        process.arguments = ["--config", config, "verify"] + extra
        var environment = ProcessInfo.processInfo.environment
        environment["LAGO_API_URL"] = sandbox.rootURL.absoluteString
        environment["LAGO_API_KEY"] = apiKey ?? sandbox.apiKey
        process.environment = environment
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("verify-\(UUID().uuidString).txt")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: output) }
        let handle = try FileHandle(forWritingTo: output)
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        let status = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Int32, any Error>) in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do {
                try process.run()
            } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: error)
            }
        }
        try handle.close()
        return Run(status: status, output: try String(contentsOf: output, encoding: .utf8))
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
            let run = try await verify(sandbox, config: try configFile(defaultSubscription: "sub_sandbox"), ["--send-test"])
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
