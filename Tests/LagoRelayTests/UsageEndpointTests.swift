import Foundation
import LagoAPI
import LagoEngine
import LagoSandbox
import LagoUsage
import Testing

/// `POST /v1/usage` (issue #16, point 1): Agent-SDK-shaped usage records coded with the engine's live mapping and
/// default subscription, checked record by record, spooled before the answer, never billed twice.
@Suite struct UsageEndpointTests {
    /// The relay's root (its URL ends in `/api/v1`, Lago's API root).
    static func root(_ relayURL: URL) -> URL {
        URL(string: String(relayURL.absoluteString.dropLast("/api/v1".count)))!
    }

    @Test func aRecordBecomesOneEventPerFieldUnderTheLiveMappingAndIsNeverBilledTwice() async throws {
        let reception = Date(timeIntervalSince1970: 1_764_000_321.25)
        try await withRelay(now: { reception }) { relayURL, sandbox, engine in
            let root = Self.root(relayURL)
            let record = #"{"id":"call-1","input":120,"output":40,"model":"gpt-x","dimensions":{"team":"core"}}"#
            let answer = try await post(root, path: "/v1/usage", body: Array(record.utf8))
            #expect(answer.status == 200, "\(String(describing: answer.json))")
            #expect(answer.json == ["transaction_ids": ["call-1:input", "call-1:output"]])
            #expect(await engine.flush(deadline: .seconds(20)).pending == 0)
            let input = try #require(sandbox.events().first { $0.transactionID == "call-1:input" })
            #expect(input.code == "llm_input_tokens" && input.externalSubscriptionID == "sub_sandbox")
            #expect(input.properties == ["value": 120, "model": "gpt-x", "team": "core"])
            let accepted = await engine.stats()
            #expect(accepted.delivered == 2)

            // Sent again (a client retry): refused as Lago refuses a duplicate, nothing billed twice.
            let again = try await post(root, path: "/v1/usage", body: Array(record.utf8))
            #expect(again.status == 422)
            #expect(again.json?["error_details"] == ["id": ["value_already_exist"]])
            #expect(await engine.flush(deadline: .seconds(20)).pending == 0)
            #expect(sandbox.events().filter { $0.transactionID.hasPrefix("call-1:") }.count == 2)

            // The mapping is the operator's: a change applies to the records accepted after it.
            engine.updateMapping([.input: "renamed_input"])
            let batch = #"{"records":[{"id":"call-2","input":7},{"id":"call-3","reasoning":3,"subscription":"sub_x"}]}"#
            let second = try await post(root, path: "/v1/usage", body: Array(batch.utf8))
            #expect(second.status == 200)
            #expect(
                second.json == [
                    "records": [["transaction_ids": ["call-2:input"]], ["transaction_ids": ["call-3:reasoning"]]]
                ])
            #expect(await engine.flush(deadline: .seconds(20)).pending == 0)
            let renamed = try #require(sandbox.events().first { $0.transactionID == "call-2:input" })
            #expect(renamed.code == "renamed_input")
            #expect(renamed.timestampMicroseconds == 1_764_000_321_250_000, "stamped with its time of reception")
            let reasoning = try #require(sandbox.events().first { $0.transactionID == "call-3:reasoning" })
            #expect(reasoning.externalSubscriptionID == "sub_x" && reasoning.code == "llm_reasoning_tokens")
        }
    }

    @Test func everyProblemOfEveryRecordIsNamedAndNothingIsSpooled() async throws {
        try await withRelay { relayURL, sandbox, engine in
            let root = Self.root(relayURL)
            let batch =
                #"{"records":[{"id":"fine","input":1},{"input":-1},{"input":1.5,"dimensions":{"value":2}},"#
                + #"{"audio_output":9},{"timestamp":"soon","model":3}]}"#
            let answer = try await post(root, path: "/v1/usage", body: Array(batch.utf8))
            #expect(answer.status == 422)
            let details = try #require(answer.json?["error_details"]?.objectValue)
            #expect(details.keys.sorted() == ["1", "2", "3", "4"])
            #expect(details["1"] == ["input": ["must be a whole number of 0 or more"]])
            #expect(details["2"]?["input"] == ["must be a whole number of 0 or more"])
            #expect(details["2"]?["dimensions.value"] == ["the name 'value' is reserved for the field's value"])
            #expect(details["3"]?["audio_output"]?.arrayValue?.first?.stringValue?.hasPrefix("unknown field") == true)
            #expect(details["4"]?["timestamp"] == ["must be Unix seconds (a number)"])
            #expect(details["4"]?["model"] == ["must be a string"])
            let stats = await engine.stats()
            #expect(stats.queued == 0 && stats.delivered == 0, "one bad record refuses the request whole")
            #expect(sandbox.events().isEmpty)

            // No subscription anywhere: the field is named with the fix.
            engine.updateDefaultSubscription(nil)
            let orphan = try await post(root, path: "/v1/usage", body: Array(#"{"input":5}"#.utf8))
            #expect(orphan.status == 422)
            #expect(
                orphan.json?["error_details"]
                    == [
                        "subscription": [
                            "missing: send the subscription's external id, or set lago.default_subscription_id"
                        ]
                    ])
            let notJSON = try await post(
                root, path: "/v1/usage", body: Array("input=5".utf8), contentType: "text/plain")
            #expect(notJSON.status == 422)
        }
    }
}
