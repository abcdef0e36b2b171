import Foundation
import IngestConformance
import LagoAPI
import Testing

@testable import LagoSandbox

/// The sandbox's side of Lago's webhooks (issue #15 point 3): post-validation finds what Lago's finds, the bodies
/// are Lago's (`../shared/lago-api-facts.md` §8.2), endpoints and the public key are served as Lago serves them, and
/// the HMAC key is readable and settable.
@Suite struct SandboxWebhookTests {
    @Test func theEventsErrorsBodyIsLagosByteForByte() {
        var errors = SandboxWebhooks.EventsErrors()
        errors.invalidCode = ["tx_1"]
        errors.missingAggregationProperty = ["tx_2"]
        errors.invalidFilterValues = ["tx_3"]
        let body = String(decoding: SandboxWebhooks.eventsErrorsBody(errors, organizationID: "org-1"), as: UTF8.self)
        #expect(
            body
                == #"{"webhook_type":"events.errors","object_type":"events_errors","organization_id":"org-1","#
                + #""events_errors":{"invalid_code":["tx_1"],"missing_aggregation_property":["tx_2"],"#
                + #""missing_group_key":[],"invalid_filter_values":["tx_3"]}}"#)
        let duplicate = String(
            decoding: SandboxWebhooks.eventErrorBody(
                .object([("transaction_id", .string("tx_9"))]), organizationID: "o"),
            as: UTF8.self)
        #expect(
            duplicate
                == #"{"webhook_type":"event.error","object_type":"event_error","organization_id":"o","event_error":"#
                + #"{"status":422,"error":"Unprocessable entity","message":"{\"transaction_id\":[\"value_already_exist\"]}","#
                + #""event":{"transaction_id":"tx_9"}}}"#)
    }

    @Test func postValidationNamesWhatLagoNamesOnceEach() async throws {
        try await withSandbox { sandbox, client in
            _ = try sandbox.addBillableMetric(
                SandboxBillableMetric(
                    code: "regional", aggregationType: .countAgg,
                    filters: [.init(key: "region", values: ["eu", "us"])]))
            let events = [
                #"{"transaction_id":"t-ok","external_subscription_id":"sub_sandbox","code":"llm_input_tokens","properties":{"value":3}}"#,
                #"{"transaction_id":"t-code","external_subscription_id":"sub_sandbox","code":"nope"}"#,
                #"{"transaction_id":"t-prop","external_subscription_id":"sub_sandbox","code":"llm_input_tokens","properties":{"value":"3 tokens"}}"#,
                #"{"transaction_id":"t-none","external_subscription_id":"sub_sandbox","code":"llm_input_tokens"}"#,
                #"{"transaction_id":"t-filter","external_subscription_id":"sub_sandbox","code":"regional","properties":{"region":"mars"}}"#,
                #"{"transaction_id":"t-region","external_subscription_id":"sub_sandbox","code":"regional","properties":{"region":"eu"}}"#,
            ]
            let answer = try await client.post(
                "/api/v1/events/batch", #"{"events":[\#(events.joined(separator: ","))]}"#)
            #expect(answer.status == 200, "\(answer.text)")
            let errors = await sandbox.postValidate()
            #expect(errors["invalid_code"] == ["t-code"])
            #expect(errors["missing_aggregation_property"] == ["t-prop", "t-none"])
            #expect(errors["invalid_filter_values"] == ["t-filter"])
            #expect(await sandbox.postValidate().isEmpty, "each event is validated once, as Lago covers each hour once")
            #expect(sandbox.webhookStats.postValidations == 1 && sandbox.webhookStats.delivered == 0)
        }
    }

    @Test func endpointsAndThePublicKeyAreServedInLagosShapes() async throws {
        try await withSandbox { sandbox, client in
            let created = try await client.post(
                "/api/v1/webhook_endpoints",
                #"{"webhook_endpoint":{"webhook_url":"http://127.0.0.1:1/webhooks/lago","signature_algo":"hmac"}}"#)
            #expect(created.status == 200)
            #expect(created.json["webhook_endpoint"]?["signature_algo"] == "hmac")
            #expect(created.json["webhook_endpoint"]?["webhook_url"] == "http://127.0.0.1:1/webhooks/lago")
            let defaulted = try await client.post(
                "/api/v1/webhook_endpoints", #"{"webhook_endpoint":{"webhook_url":"https://example.com/hooks"}}"#)
            #expect(defaulted.json["webhook_endpoint"]?["signature_algo"] == "jwt", "Lago's default")
            let bad = try await client.post(
                "/api/v1/webhook_endpoints", #"{"webhook_endpoint":{"webhook_url":"ftp://x","signature_algo":"hmac"}}"#)
            #expect(bad.status == 422)
            let badAlgo = try await client.post(
                "/api/v1/webhook_endpoints",
                #"{"webhook_endpoint":{"webhook_url":"http://x.example","signature_algo":"md5"}}"#)
            #expect(badAlgo.status == 422)
            let listed = try await client.get("/api/v1/webhook_endpoints")
            #expect(listed.json["webhook_endpoints"]?.arrayValue?.count == 2)

            let key = try await client.get("/api/v1/webhooks/public_key")
            #expect(key.status == 200)
            #expect(key.headers.first { $0.name.lowercased() == "content-type" }?.value.hasPrefix("text/plain") == true)
            let pem = try #require(Data(base64Encoded: key.text)).map { Character(UnicodeScalar($0)) }
            #expect(String(pem).hasPrefix("-----BEGIN PUBLIC KEY-----"))
            let json = try await client.get("/api/v1/webhooks/json_public_key")
            #expect(json.json["webhook"]?["public_key"]?.stringValue == key.text, "the same key both ways")
            let unauthorized = try await client.get("/api/v1/webhooks/public_key", auth: .none)
            #expect(unauthorized.status == 401)
        }
    }

    @Test func theHMACKeyIsSetByOptionOrAdminAPIAndReadBack() async throws {
        var options = testOptions()
        options.webhookHMACKey = "from-the-option"
        try await withSandbox(options) { sandbox, client in
            #expect(sandbox.webhookHMACKey == "from-the-option")
            let read = try await client.get("/_sandbox/webhook_hmac_key", auth: .none)
            #expect(read.json["webhook_hmac_key"] == "from-the-option")
            let set = try await client.send(
                "PUT", "/_sandbox/webhook_hmac_key", raw: #"{"webhook_hmac_key":"rotated"}"#)
            #expect(set.status == 200 && sandbox.webhookHMACKey == "rotated")
            let empty = try await client.send("PUT", "/_sandbox/webhook_hmac_key", raw: #"{"webhook_hmac_key":""}"#)
            #expect(empty.status == 422 && sandbox.webhookHMACKey == "rotated")
            let stats = try await client.get("/_sandbox/stats", auth: .none)
            #expect(stats.json["webhooks"]?["delivered"] == 0)
        }
        try await withSandbox { sandbox, _ in
            #expect(sandbox.webhookHMACKey.count >= 32, "a generated key when none is given")
        }
    }

    @Test func aDeliveryThatFailsIsTriedThreeTimesMoreThenCountedFailed() async throws {
        var options = testOptions()
        options.webhookRetryDelay = .milliseconds(20)
        try await withSandbox(options) { sandbox, client in
            // Nothing listens on port 1: every try is refused.
            #expect(
                sandbox.registerWebhookEndpoint(url: "http://127.0.0.1:1/webhooks/lago", signatureAlgo: "hmac") != nil)
            let answer = try await client.post(
                "/api/v1/events",
                #"{"event":{"transaction_id":"t-x","external_subscription_id":"sub_sandbox","code":"nope"}}"#)
            #expect(answer.status == 200)
            #expect(await sandbox.postValidate()["invalid_code"] == ["t-x"])
            let stats = sandbox.webhookStats
            #expect(stats.attempts == 4 && stats.failed == 1 && stats.delivered == 0, "\(stats)")
            #expect(stats.lastError?.contains("127.0.0.1:1") == true)
            let admin = try await client.get("/_sandbox/webhooks", auth: .none)
            #expect(admin.json["stats"]?["attempts"] == 4 && admin.json["endpoints"]?.arrayValue?.count == 1)
        }
    }

    @Test func withAnIntervalPostValidationRunsOnItsOwn() async throws {
        var options = testOptions()
        options.postValidationInterval = .milliseconds(50)
        // Not less: AsyncHTTPClient backs off reconnecting to a refused address, and a request queued in that window
        // waits for its deadline.
        options.webhookRetryDelay = .milliseconds(20)
        try await withSandbox(options) { sandbox, client in
            #expect(sandbox.registerWebhookEndpoint(url: "http://127.0.0.1:1/webhooks/lago") != nil)
            let answer = try await client.post(
                "/api/v1/events",
                #"{"event":{"transaction_id":"t-tick","external_subscription_id":"sub_sandbox","code":"nope"}}"#)
            #expect(answer.status == 200)
            let deadline = ContinuousClock.now + .seconds(20)
            while sandbox.webhookStats.failed == 0, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(sandbox.webhookStats.postValidations == 1 && sandbox.webhookStats.attempts == 4)
            #expect(await sandbox.postValidate().isEmpty, "the interval's run validated it already")
        }
    }
}
