import Foundation
import IngestConformance
import LagoAPI
import LagoSandbox
import Testing

/// Conformance with `lago-api-facts.md` §1 and §6 (bullets 1–4, 6) for event ingestion and lookup.
///
/// The ingestion cases a relay must pass too live in `Tests/IngestConformance` (``IngestCases``) and run here
/// against the sandbox and in `LagoRelayTests` against the relay. The tests below are Lago-only; each says why.
@Suite("Lago events API conformance")
struct EventConformanceTests {
    // MARK: Shared with the relay

    @Test("Shared ingestion case", arguments: IngestCases.all)
    func ingestion(_ ingestCase: IngestCase) async throws {
        try await withSandbox { sandbox, client in
            try await ingestCase.run(against: sandboxTarget(sandbox, client))
        }
    }

    // MARK: Lago-only

    // Query routes (`GET /events`) exist in Lago only; the relay serves ingestion and answers 404 to the rest.
    @Test("§6.1 GET routes: 401 for a missing or unknown key; any scheme word is accepted")
    func authOnQueries() async throws {
        try await withSandbox { _, client in
            let unauthorized: JSONValue = ["status": 401, "error": "Unauthorized"]
            let missing = try await client.get("/api/v1/events", auth: .none)
            #expect(missing.status == 401)
            #expect(missing.json == unauthorized)
            let noKey = try await client.get("/api/v1/events", auth: .header("Bearer"))
            #expect(noKey.json == unauthorized)
            let otherScheme = try await client.get("/api/v1/events", auth: .header("Token \(testAPIKey)"))
            #expect(otherScheme.status == 200)
        }
    }

    // Duplicates against events already stored (phase 2 against the store): only Lago knows its store. A relay
    // accepts the replay; its engine then meets Lago's 422 `value_already_exist` at delivery and dead-letters the
    // event with that reason, or counts it as already in Lago after an earlier ambiguous attempt (engine tests).
    @Test(
        "§1.6/§1.8 duplicate (external_subscription_id, transaction_id): 422 value_already_exist; other subscription OK"
    )
    func duplicateSingle() async throws {
        try await withSandbox { sandbox, client in
            let body = #"{"event":{"transaction_id":"tx","code":"c","external_subscription_id":"sub_a"}}"#
            #expect(try await client.post("/api/v1/events", body).status == 200)
            let duplicate = try await client.post("/api/v1/events", body)
            #expect(duplicate.status == 422)
            #expect(duplicate.json == validationErrors(["transaction_id": ["value_already_exist"]]))
            let other = try await client.post(
                "/api/v1/events",
                #"{"event":{"transaction_id":"tx","code":"c","external_subscription_id":"sub_b"}}"#
            )
            #expect(other.status == 200)
            #expect(sandbox.storedEventCount == 2)
            #expect(sandbox.stats().duplicateAttemptsRejected == 1)
            #expect(sandbox.stats().uniqueTransactionIDs == 1)
        }
    }

    // Expressions are evaluated against Lago's billable metrics, which the relay does not know: it accepts such an
    // event, and Lago's 422 at delivery dead-letters it with Lago's reason (engine delivery tests).
    @Test("§1.6 expression failure: error_details is a plain string")
    func expressionFailureSingle() async throws {
        try await withSandbox { sandbox, client in
            try sandbox.addBillableMetric(
                code: "compute",
                aggregationType: .sumAgg,
                fieldName: "total",
                expression: "event.properties.a * event.properties.b"
            )
            let response = try await client.post(
                "/api/v1/events",
                #"{"event":{"transaction_id":"t1","code":"compute","external_subscription_id":"s","properties":{"a":2}}}"#
            )
            #expect(response.status == 422)
            #expect(response.json == validationErrors("expression_evaluation_failed: Variable: b not found"))
            let ok = try await client.post(
                "/api/v1/events",
                #"{"event":{"transaction_id":"t2","code":"compute","external_subscription_id":"s","properties":{"a":2,"b":"3.5"}}}"#
            )
            #expect(ok.status == 200)
            #expect(ok.json["event"]?["properties"] == ["a": 2, "b": "3.5", "total": "7"])
            #expect(sandbox.storedEventCount == 1)
        }
    }

    @Test("§1.6 batch expression failure: the index maps to a string")
    func batchExpressionFailure() async throws {
        try await withSandbox { sandbox, client in
            try sandbox.addBillableMetric(code: "expr", fieldName: "out", expression: "round(event.properties.foo * 2)")
            let response = try await client.post(
                "/api/v1/events/batch",
                #"{"events":[{"transaction_id":"a","code":"expr","external_subscription_id":"s","properties":{"bar":1}},{"transaction_id":"b","code":"other","external_subscription_id":"s"}]}"#
            )
            #expect(response.json == validationErrors(["0": "expression_evaluation_failed: Variable: foo not found"]))
            #expect(sandbox.storedEventCount == 0)
        }
    }

    // Phase 2 against the store: Lago-only (see `duplicateSingle`). The within-payload variants are shared.
    @Test("§1.6/§1.7 phase 2: duplicates against the store, keyed by index, batch rejected whole (issue #3049 body)")
    func batchDuplicatesAgainstStore() async throws {
        try await withSandbox { sandbox, client in
            let events = (0..<5).map { #"{"transaction_id":"tx\#($0)","code":"c","external_subscription_id":"sub"}"# }
            let body = #"{"events":[\#(events.joined(separator: ","))]}"#
            #expect(try await client.post("/api/v1/events/batch", body).status == 200)
            let replay = try await client.post("/api/v1/events/batch", body)
            #expect(replay.status == 422)
            #expect(
                replay.json
                    == validationErrors([
                        "0": ["transaction_id": ["value_already_exist"]],
                        "1": ["transaction_id": ["value_already_exist"]],
                        "2": ["transaction_id": ["value_already_exist"]],
                        "3": ["transaction_id": ["value_already_exist"]],
                        "4": ["transaction_id": ["value_already_exist"]],
                    ])
            )
            // One new event plus one stored duplicate: nothing of the batch is stored.
            let mixed = try await client.post(
                "/api/v1/events/batch",
                #"{"events":[{"transaction_id":"fresh","code":"c","external_subscription_id":"sub"},{"transaction_id":"tx3","code":"c","external_subscription_id":"sub"}]}"#
            )
            #expect(mixed.json == validationErrors(["1": ["transaction_id": ["value_already_exist"]]]))
            #expect(sandbox.storedEventCount == 5)
            #expect(sandbox.stats().duplicateAttemptsRejected == 6)
            #expect(sandbox.stats().batchesAccepted == 1)
        }
    }

    @Test("§1.7 phase-2 errors are only reported when phase 1 passed")
    func batchPhasesNotMixed() async throws {
        try await withSandbox { _, client in
            _ = try await client.post(
                "/api/v1/events",
                #"{"event":{"transaction_id":"old","code":"c","external_subscription_id":"s"}}"#
            )
            let response = try await client.post(
                "/api/v1/events/batch",
                #"{"events":[{"transaction_id":"old","code":"c","external_subscription_id":"s"},{"transaction_id":"new","code":"c","external_subscription_id":"s","timestamp":"bad"}]}"#
            )
            #expect(response.json == validationErrors(["1": ["timestamp": ["invalid_format"]]]))
        }
    }

    // Storage order is the store's own; the shared `batchSuccess` case checks what a client sees.
    @Test("§6.3 a batch is stored in input order")
    func batchStoredInInputOrder() async throws {
        try await withSandbox { sandbox, client in
            let response = try await client.post(
                "/api/v1/events/batch",
                #"{"events":[{"transaction_id":"b","code":"c2","external_subscription_id":"s"},{"transaction_id":"a","code":"c1","external_subscription_id":"s"}]}"#
            )
            #expect(response.status == 200)
            #expect(sandbox.events(subscription: "s").map(\.transactionID) == ["b", "a"])
        }
    }

    // MARK: §3.1 / §6.6 lookup (Lago-only: the relay stores nothing it could show) and health

    @Test("§3.1/§6.6 GET /events/{id}: URL-decoded, first match; 404 event_not_found")
    func showEvent() async throws {
        try await withSandbox { _, client in
            let odd = "1Az()[]?#._/|-/../"
            let body: JSONValue = [
                "event": ["transaction_id": .string(odd), "code": "c", "external_subscription_id": "s1"]
            ]
            #expect(try await client.post("/api/v1/events", json: body).status == 200)
            _ = try await client.post(
                "/api/v1/events",
                #"{"event":{"transaction_id":"shared","code":"first","external_subscription_id":"s1"}}"#
            )
            _ = try await client.post(
                "/api/v1/events",
                #"{"event":{"transaction_id":"shared","code":"second","external_subscription_id":"s2"}}"#
            )
            let encoded = odd.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
            let found = try await client.get("/api/v1/events/\(encoded)")
            #expect(found.status == 200)
            #expect(found.json["event"]?["transaction_id"] == .string(odd))
            #expect(try await client.get("/api/v1/events/shared").json["event"]?["code"] == "first")
            let missing = try await client.get("/api/v1/events/nope")
            #expect(missing.status == 404)
            #expect(missing.json == ["status": 404, "error": "Not Found", "code": "event_not_found"])
        }
    }

    @Test("GET /health answers like Lago")
    func health() async throws {
        try await withSandbox { _, client in
            let response = try await client.get("/health", auth: .none)
            #expect(response.status == 200)
            #expect(
                response.json
                    == [
                        "version": "v1.51.0", "github_url": "https://github.com/getlago/lago-api/tree/v1.51.0",
                        "message": "Success",
                    ]
            )
        }
    }
}

/// The sandbox as a target of the shared ingestion cases: fixed clock, synchronous store.
func sandboxTarget(_ sandbox: Sandbox, _ client: TestClient) -> IngestTarget {
    IngestTarget(
        kind: .lago, client: client, answersLagoID: true, createdAt: "2026-01-15T10:00:00Z",
        receptionTimestamp: "2026-01-15T10:00:00.000Z",
        storedEventCount: { sandbox.storedEventCount },
        storedEvent: { transactionID in
            let encoded = transactionID.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
            let response = try await client.get("/api/v1/events/\(encoded)")
            return response.status == 200 ? response.json["event"] : nil
        }
    )
}
