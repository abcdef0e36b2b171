import Foundation
import IngestConformance
import LagoAPI
import LagoSandbox
import Testing

/// The price `current_usage` multiplies the units by (issue #15 point 3): set by the seed option, the admin API or
/// Swift, and applied at once; a price that is not one is refused.
@Suite struct SandboxPriceTests {
    static let events =
        #"{"events":[{"transaction_id":"p1","code":"llm_input_tokens","external_subscription_id":"sub_sandbox","properties":{"value":40}},"#
        + #"{"transaction_id":"p2","code":"llm_input_tokens","external_subscription_id":"sub_sandbox","properties":{"value":"2.1"}}]}"#

    static func inputCharge(_ client: TestClient) async throws -> JSONValue? {
        let response = try await client.get(
            "/api/v1/customers/cus_sandbox/current_usage?external_subscription_id=sub_sandbox")
        return response.json["customer_usage"]?["charges_usage"]?.arrayValue?
            .first { $0["billable_metric"]?["code"] == "llm_input_tokens" }
    }

    @Test func theSeedPriceTheAdminPriceAndSwiftsPriceAreWhatCurrentUsageCharges() async throws {
        var options = testOptions()
        options.seedUnitAmount = "0.5"
        try await withSandbox(options) { sandbox, client in
            #expect(try await client.post("/api/v1/events/batch", Self.events).status == 200)
            var charge = try await Self.inputCharge(client)
            #expect(charge?["units"] == "42.1" && charge?["events_count"] == 2)
            #expect(charge?["amount_cents"] == 2105, "42.1 units × 0.5 USD = 21.05 USD")

            let set = try await client.send(
                "PUT", "/_sandbox/unit_amount",
                raw: #"{"unit_amount":"0.02","external_subscription_id":"sub_sandbox"}"#,
                auth: .none)
            #expect(set.status == 200 && set.json["unit_amount"] == "0.02")
            charge = try await Self.inputCharge(client)
            #expect(charge?["amount_cents"] == 84, "42.1 × 2 cents = 84.2, rounded half-up")

            #expect(try sandbox.setUnitAmount("1", subscription: "sub_sandbox"))
            charge = try await Self.inputCharge(client)
            #expect(charge?["amount_cents"] == 4210)
            #expect(try !sandbox.setUnitAmount("1", subscription: "nobody"))
            #expect(throws: SandboxError.invalidUnitAmount("-1")) {
                try sandbox.setUnitAmount("-1", subscription: "sub_sandbox")
            }

            let bad = try await client.send(
                "PUT", "/_sandbox/unit_amount", raw: #"{"unit_amount":"cheap"}"#, auth: .none)
            #expect(bad.status == 422)
            let unknown = try await client.send(
                "PUT", "/_sandbox/unit_amount", raw: #"{"unit_amount":"1","external_subscription_id":"nope"}"#,
                auth: .none)
            #expect(unknown.status == 404)
        }
    }
}
