import Foundation
import LagoSandbox
import TestSupport
import Testing

/// Issue #16's "done when": an app instrumented with the OpenTelemetry SDK exports GenAI spans to `lago-console
/// serve`'s relay and they bill through the sandbox with the console's live mapping — the real binary, the SDK's own
/// OTLP/HTTP protobuf exporter, a mapping changed while serve runs.
@Suite("OpenTelemetry SDK → serve → sandbox (real binaries)", .serialized)
struct OTelExportEndToEndTests {
    /// The SDK is importable here (CI installs it: `scripts/dev.sh`).
    static let sdkAvailable = pythonCan(
        "import opentelemetry.sdk, opentelemetry.exporter.otlp.proto.http.trace_exporter")

    @Test(
        "the SDK's exporter bills through serve with the live mapping, and a re-export bills nothing twice",
        .enabled(
            if: sdkAvailable || isCI,
            "skipped: the OpenTelemetry SDK is not importable (pip install opentelemetry-sdk opentelemetry-exporter-otlp-proto-http; CI=1 makes this a failure)"
        ))
    func sdkExportBillsWithTheLiveMapping() async throws {
        try #require(Self.sdkAvailable, "the OpenTelemetry SDK is not importable in CI")
        let python = try #require(which("python3"))
        let script = packageRoot.appendingPathComponent("Tests/Interop/otel_genai_export.py").path
        let home = try E2EHome("lc-otel")
        defer { home.remove() }
        try await Sandbox.withRunning { sandbox in
            let config = try home.writeConfig(
                for: sandbox, engine: ["flush_interval_seconds = 0.05"], relay: ["token = \"relay-otel-token\""])
            let serve = try ServeAttachTests.ServeProcess(
                arguments: ["--config", config, "serve"], logPath: home.path("serve.log"))
            defer { if serve.process.isRunning { serve.process.terminate() } }
            let relayURL = try #require(
                try await home.discovery()["relayURL"] as? String, "no relay URL; serve log:\n\(serve.log)")

            // 150 chat spans, each with one tool span, in one export.
            let first = try await runProgram(python, [script, relayURL, "relay-otel-token", "sdk-a", "150"])
            #expect(first.status == 0, "\(first.output)\nserve log:\n\(serve.log)")
            #expect(try await runLagoConsole(["--config", config, "flush", "--json"]).status == 0)
            let events = Dictionary(grouping: sandbox.events()) { $0.transactionID }
            #expect(events.values.allSatisfy { $0.count == 1 }, "each event once")
            for index in [0, 149] {
                let id = "sdk-a-\(index)"
                // input 1500 − 1000 read − 200 written = 300; the tool span is the chat's one tool call.
                for (field, code, value) in [
                    ("input", "llm_input_tokens", 300), ("output", "llm_output_tokens", 320),
                    ("cache_read", "llm_cached_input_tokens", 1000),
                    ("cache_write", "llm_cache_creation_tokens", 200), ("tool_calls", "llm_tool_calls", 1),
                ] {
                    let event = try #require(events["\(id):\(field)"]?.first, "\(id):\(field)")
                    #expect(event.code == code, "\(id):\(field)")
                    #expect(event.externalSubscriptionID == "sub_sandbox")
                    #expect(event.properties["value"] == .integer(Int64(value)), "\(id):\(field)")
                    #expect(event.properties["model"] == "claude-sonnet-4-20250514")
                    #expect(event.properties["provider"] == "anthropic")
                    // The span's end: 1764000000 s + index ms.
                    #expect(event.timestampMicroseconds == 1_764_000_000_000_000 + Int64(index) * 1_000)
                }
            }
            #expect(sandbox.events().count == 150 * 5, "five fields per span, nothing for the tool spans")

            // The operator renames the output metric while serve runs: spans accepted after it use the new code.
            let set = try await runLagoConsole(["--config", config, "config", "set", "metric_codes.output", "otel_out"])
            #expect(set.status == 0, "\(set.output)")
            let second = try await runProgram(python, [script, relayURL, "relay-otel-token", "sdk-b", "20"])
            #expect(second.status == 0, "\(second.output)")
            // The first batch exported again (an exporter's retry, a Collector replaying): billed once.
            let again = try await runProgram(python, [script, relayURL, "relay-otel-token", "sdk-a", "150"])
            #expect(again.status == 0, "\(again.output)")
            #expect(try await runLagoConsole(["--config", config, "flush", "--json"]).status == 0)
            let after = sandbox.events()
            #expect(after.count == 170 * 5, "the re-export added nothing")
            #expect(Set(after.map(\.transactionID)).count == after.count)
            let outputs = after.filter { $0.transactionID.hasSuffix(":output") }
            #expect(outputs.filter { $0.transactionID.hasPrefix("sdk-b-") }.allSatisfy { $0.code == "otel_out" })
            #expect(outputs.filter { $0.transactionID.hasPrefix("sdk-b-") }.count == 20)
            #expect(
                outputs.filter { $0.transactionID.hasPrefix("sdk-a-") }.allSatisfy { $0.code == "llm_output_tokens" })

            #expect(await serve.terminate() == 0, "serve log:\n\(serve.log)")
        }
    }
}
