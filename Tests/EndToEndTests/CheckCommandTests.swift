import Foundation
import LagoSandbox
import TestSupport
import Testing

/// `lago-console check` as the real binary against the sandbox's catalogue.
@Suite("check (real binary)")
struct CheckCommandTests {
    @Test func namesEveryReasonAndExitsOneWhenAnEventWillNotBill() async throws {
        let home = try E2EHome("check")
        defer { home.remove() }
        try await Sandbox.withRunning { sandbox in
            let config = try home.writeConfig(for: sandbox, defaultSubscription: nil)
            let sub = SandboxSeed.subscriptionExternalID
            let events = home.path("events.ndjson")
            try """
            {"transaction_id":"good","external_subscription_id":"\(sub)","code":"llm_input_tokens","properties":{"value":3}}
            {"transaction_id":"typo","external_subscription_id":"\(sub)","code":"llm_input_tokenz","properties":{"value":3}}
            {"transaction_id":"nosub","external_subscription_id":"sub_zzz","code":"llm_input_tokens","properties":{"value":3}}
            {"transaction_id":"text","external_subscription_id":"\(sub)","code":"llm_input_tokens","properties":{"value":"three"}}
            """.write(toFile: events, atomically: true, encoding: .utf8)

            let checked = try await runLagoConsole(["--config", config, "check", "--file", events, "--json"])
            #expect(checked.status == 1, "\(checked.output)")
            struct Report: Decodable {
                struct Event: Decodable {
                    var transaction_id: String
                    var status: String
                    var reasons: [String]
                }
                var events: [Event]
                var billable: Int
                var unbillable: Int
            }
            let report = try JSONDecoder().decode(Report.self, from: Data(checked.output.utf8))
            let verdicts = Dictionary(uniqueKeysWithValues: report.events.map { ($0.transaction_id, $0) })
            #expect(verdicts["good"]?.status == "billable")
            #expect(verdicts["typo"]?.reasons == ["invalid_code"])
            #expect(verdicts["nosub"]?.reasons == ["subscription_not_found"])
            #expect(verdicts["text"]?.reasons == ["missing_aggregation_property"])
            #expect(report.billable == 1 && report.unbillable == 3)
            #expect(sandbox.events().isEmpty, "check sends nothing")

            let one = try await runLagoConsole([
                "--config", config, "check", "--event",
                #"{"transaction_id":"x","external_subscription_id":"\#(sub)","code":"llm_input_tokens","properties":{"value":1}}"#,
            ])
            #expect(one.status == 0, "\(one.output)")
            #expect(one.output.contains("✔ billable"))

            let broken = try await runLagoConsole(["--config", config, "check", "--event", "{"])
            #expect(broken.status != 0 && broken.output.contains("--event: not JSON"), "\(broken.output)")
        }
    }
}
