import Foundation
import LagoAPI
import LagoSandbox
import Testing

/// Conformance with `lago-api-facts.md` §1 and §6 (bullets 1–4, 6) for event ingestion and lookup.
@Suite("Lago events API conformance")
struct EventConformanceTests {
    // MARK: §6.1 Auth

    @Test("§6.1 missing or unknown key is 401 before the body is parsed; any scheme word is accepted")
    func auth() async throws {
        try await withSandbox { _, client in
            let unauthorized: JSONValue = ["status": 401, "error": "Unauthorized"]
            let missing = try await client.post("/api/v1/events", "{not json", auth: .none)
            #expect(missing.status == 401)
            #expect(missing.json == unauthorized)
            let unknown = try await client.post("/api/v1/events/batch", "{not json", auth: .header("Bearer nope"))
            #expect(unknown.status == 401)
            #expect(unknown.json == unauthorized)
            let noKey = try await client.get("/api/v1/events", auth: .header("Bearer"))
            #expect(noKey.json == unauthorized)
            let otherScheme = try await client.get("/api/v1/events", auth: .header("Token \(testAPIKey)"))
            #expect(otherScheme.status == 200)
            let malformed = try await client.post("/api/v1/events", "{not json")
            #expect(malformed.status == 400)
            #expect(malformed.json == ["status": 400, "error": "Bad Request"])
        }
    }

    // MARK: §6.2 POST /events

    @Test("§6.2 success: 200 with Lago's event object, ms timestamp, second created_at, nulls")
    func createEvent() async throws {
        try await withSandbox { sandbox, client in
            let response = try await client.post(
                "/api/v1/events",
                #"{"event":{"transaction_id":"transaction_1234567890","external_subscription_id":"sub_1234567890","code":"storage","timestamp":1651240791.123,"precise_total_amount_cents":"1234.56","properties":{"gb":10},"external_customer_id":"dropped"}}"#
            )
            #expect(response.status == 200)
            let lagoID = response.json["event"]?["lago_id"]
            #expect(isUUID(lagoID))
            #expect(
                response.json
                    == [
                        "event": expectedEvent(
                            lagoID: lagoID ?? nil,
                            transactionID: "transaction_1234567890",
                            code: "storage",
                            timestamp: "2022-04-29T13:59:51.123Z",
                            subscription: "sub_1234567890",
                            precise: "1234.56",
                            properties: ["gb": 10]
                        )
                    ]
            )
            #expect(sandbox.storedEventCount == 1)
        }
    }

    @Test("§6.2 missing `event` wrapper, empty event, null event: 400 param missing")
    func missingWrapper() async throws {
        try await withSandbox { sandbox, client in
            let expected: JSONValue = [
                "status": 400, "error": "BadRequest: param is missing or the value is empty or invalid: event",
            ]
            for body in [
                #"{"transaction_id":"t","code":"c","external_subscription_id":"s"}"#, #"{"event":{}}"#,
                #"{"event":null}"#, "", "[1,2]",
            ] {
                let response = try await client.post("/api/v1/events", body)
                #expect(response.status == 400, "body: \(body)")
                #expect(response.json == expected, "body: \(body)")
            }
            #expect(sandbox.storedEventCount == 0)
        }
    }

    @Test("§1.1 without Content-Type application/json the body is not parsed: 400 (single), 422 no_events (batch)")
    func contentType() async throws {
        try await withSandbox { _, client in
            let body = #"{"event":{"transaction_id":"t","code":"c"}}"#
            let single = try await client.post("/api/v1/events", body, contentType: "text/plain")
            #expect(single.status == 400)
            #expect(
                single.json == [
                    "status": 400, "error": "BadRequest: param is missing or the value is empty or invalid: event",
                ]
            )
            let batch = try await client.post(
                "/api/v1/events/batch",
                #"{"events":[{"transaction_id":"t","code":"c"}]}"#,
                contentType: nil
            )
            #expect(batch.json == validationErrors(["events": ["no_events"]]))
            let charset = try await client.post("/api/v1/events", body, contentType: "application/json; charset=utf-8")
            #expect(charset.status == 200)
        }
    }

    @Test(
        "§1.2/§1.6 invalid timestamps are 422 invalid_format",
        arguments: [#""2022-04-29T08:59:51Z""#, #""""#, #""abc""#, #""123abc""#, "true", "false"]
    )
    func invalidTimestamp(timestamp: String) async throws {
        try await withSandbox { sandbox, client in
            let response = try await client.post(
                "/api/v1/events",
                #"{"event":{"transaction_id":"t1","code":"c","external_subscription_id":"s","timestamp":\#(timestamp)}}"#
            )
            #expect(response.status == 422)
            #expect(response.json == validationErrors(["timestamp": ["invalid_format"]]))
            #expect(sandbox.storedEventCount == 0)
        }
    }

    @Test(
        "§1.2 accepted timestamps keep their precision (BigDecimal forms, negatives, floats)",
        arguments: [
            ("1651240791", "2022-04-29T13:59:51.000Z"),
            (#""1651240791""#, "2022-04-29T13:59:51.000Z"),
            ("1651240791.123", "2022-04-29T13:59:51.123Z"),
            (#""1651240791.123""#, "2022-04-29T13:59:51.123Z"),
            (#""1780586634.1""#, "2026-06-04T15:23:54.100Z"),
            (#""1e9""#, "2001-09-09T01:46:40.000Z"),
            (#""-1.5""#, "1969-12-31T23:59:58.500Z"),
            (#"" 1651240791 ""#, "2022-04-29T13:59:51.000Z"),
            ("1651240791123", "54295-09-27T05:32:03.000Z"),
            ("null", "2026-01-15T10:00:00.000Z"),
        ]
    )
    func acceptedTimestamp(input: String, expected: String) async throws {
        try await withSandbox { sandbox, client in
            let response = try await client.post(
                "/api/v1/events",
                #"{"event":{"transaction_id":"t1","code":"c","external_subscription_id":"s","timestamp":\#(input)}}"#
            )
            #expect(response.status == 200)
            #expect(response.json["event"]?["timestamp"] == .string(expected))
            let stored = try await client.get("/api/v1/events/t1")
            #expect(stored.json["event"]?["timestamp"] == .string(expected))
        }
    }

    @Test("§6.2 absent timestamp is the time of reception")
    func absentTimestamp() async throws {
        try await withSandbox { _, client in
            let response = try await client.post("/api/v1/events", #"{"event":{"transaction_id":"t1","code":"c"}}"#)
            #expect(response.json["event"]?["timestamp"] == "2026-01-15T10:00:00.000Z")
            #expect(response.json["event"]?["external_subscription_id"] == .null)
        }
    }

    @Test("§1.6 missing transaction_id and code: both value_is_mandatory")
    func missingFields() async throws {
        try await withSandbox { sandbox, client in
            let response = try await client.post(
                "/api/v1/events",
                #"{"event":{"external_subscription_id":"sub","transaction_id":"  ","properties":{"a":1}}}"#
            )
            #expect(response.status == 422)
            #expect(
                response.json
                    == validationErrors(["transaction_id": ["value_is_mandatory"], "code": ["value_is_mandatory"]])
            )
            #expect(sandbox.storedEventCount == 0)
        }
    }

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

    @Test("§1.1 casting: precise_total_amount_cents, numeric ids, dropped keys, non-object properties")
    func casting() async throws {
        try await withSandbox { _, client in
            let cases: [(String, JSONValue, JSONValue)] = [
                (#""1234.56""#, "1234.56", "t1"),
                (#""asdfa""#, "0.0", "t2"),
                ("100", "100.0", "t3"),
                (#""-5""#, "-5.0", "t4"),
                (#""0.1234567890123456789""#, "0.123456789012346", "t5"),
                ("null", nil, "t6"),
                (#""""#, nil, "t7"),
            ]
            for (input, expected, transactionID) in cases {
                let response = try await client.post(
                    "/api/v1/events",
                    #"{"event":{"transaction_id":"\#(transactionID.stringValue!)","code":"c","precise_total_amount_cents":\#(input)}}"#
                )
                #expect(response.json["event"]?["precise_total_amount_cents"] == expected, "input \(input)")
            }
            let numeric = try await client.post(
                "/api/v1/events",
                #"{"event":{"transaction_id":12345,"code":true,"external_subscription_id":7,"properties":"nope"}}"#
            )
            #expect(numeric.json["event"]?["transaction_id"] == "12345")
            #expect(numeric.json["event"]?["code"] == "t")
            #expect(numeric.json["event"]?["external_subscription_id"] == "7")
            #expect(numeric.json["event"]?["properties"] == [:])
        }
    }

    // MARK: §6.3 Batch

    @Test("§6.3/§1.6 batch without events or with [] is 422 no_events")
    func batchNoEvents() async throws {
        try await withSandbox { _, client in
            for body in [
                #"{}"#, #"{"events":[]}"#, #"{"events":null}"#, #"{"event":{"transaction_id":"t","code":"c"}}"#,
            ] {
                let response = try await client.post("/api/v1/events/batch", body)
                #expect(response.status == 422)
                #expect(response.json == validationErrors(["events": ["no_events"]]))
            }
        }
    }

    @Test("§1.4/§1.6 101 events is 422 too_many_events; 100 is accepted")
    func batchLimit() async throws {
        try await withSandbox { sandbox, client in
            func batch(_ count: Int, prefix: String) -> JSONValue {
                [
                    "events": .array(
                        (0..<count).map {
                            ["transaction_id": .string("\(prefix)\($0)"), "code": "c", "external_subscription_id": "s"]
                        }
                    )
                ]
            }
            let tooMany = try await client.post("/api/v1/events/batch", json: batch(101, prefix: "a"))
            #expect(tooMany.status == 422)
            #expect(tooMany.json == validationErrors(["events": ["too_many_events"]]))
            #expect(sandbox.storedEventCount == 0)
            let limit = try await client.post("/api/v1/events/batch", json: batch(100, prefix: "b"))
            #expect(limit.status == 200)
            #expect(limit.json["events"]?.arrayValue?.count == 100)
            #expect(sandbox.storedEventCount == 100)
        }
    }

    @Test("§1.6 batch phase-1 errors keyed by index (string), all collected; nothing stored")
    func batchPhaseOne() async throws {
        try await withSandbox { sandbox, client in
            let response = try await client.post(
                "/api/v1/events/batch",
                #"{"events":[{"transaction_id":"a","code":"c","external_subscription_id":"s"},{"transaction_id":"b","code":"c","external_subscription_id":"s","timestamp":"abc"},{"external_subscription_id":"s"},{"transaction_id":"d","code":"c","external_subscription_id":"s"}]}"#
            )
            #expect(response.status == 422)
            #expect(
                response.json
                    == validationErrors([
                        "1": ["timestamp": ["invalid_format"]],
                        "2": ["transaction_id": ["value_is_mandatory"], "code": ["value_is_mandatory"]],
                    ])
            )
            #expect(sandbox.storedEventCount == 0)
        }
    }

    @Test("§1.6 batch timestamp error exactly as Lago's request spec")
    func batchTimestampExample() async throws {
        try await withSandbox { _, client in
            let response = try await client.post(
                "/api/v1/events/batch",
                #"{"events":[{"transaction_id":"a","code":"c","external_subscription_id":"s","timestamp":1651240791},{"transaction_id":"b","code":"c","external_subscription_id":"s","timestamp":"2022-04-29T08:59:51Z"}]}"#
            )
            #expect(response.json == validationErrors(["1": ["timestamp": ["invalid_format"]]]))
        }
    }

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

    @Test("§1.7 duplicates inside one batch: the first occurrence wins")
    func batchDuplicatesWithinPayload() async throws {
        try await withSandbox { sandbox, client in
            let pair = try await client.post(
                "/api/v1/events/batch",
                #"{"events":[{"transaction_id":"x","code":"c","external_subscription_id":"s"},{"transaction_id":"y","code":"c","external_subscription_id":"s"},{"transaction_id":"x","code":"c","external_subscription_id":"s"}]}"#
            )
            #expect(pair.json == validationErrors(["2": ["transaction_id": ["value_already_exist"]]]))
            let triple = try await client.post(
                "/api/v1/events/batch",
                #"{"events":[{"transaction_id":"z","code":"c","external_subscription_id":"s"},{"transaction_id":"z","code":"c","external_subscription_id":"s"},{"transaction_id":"z","code":"c","external_subscription_id":"s"}]}"#
            )
            #expect(
                triple.json
                    == validationErrors([
                        "1": ["transaction_id": ["value_already_exist"]],
                        "2": ["transaction_id": ["value_already_exist"]],
                    ])
            )
            #expect(sandbox.storedEventCount == 0)
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

    @Test("§6.3 success: events in input order, created_at shared, properties echoed")
    func batchSuccess() async throws {
        try await withSandbox { sandbox, client in
            let response = try await client.post(
                "/api/v1/events/batch",
                #"{"events":[{"transaction_id":"b","code":"c2","external_subscription_id":"s","timestamp":"1651240791","properties":{"value":"12.5","nested":{"k":[1,2]}}},{"transaction_id":"a","code":"c1","external_subscription_id":"s","timestamp":1651240790}]}"#
            )
            #expect(response.status == 200)
            let events = response.json["events"]?.arrayValue ?? []
            #expect(events.count == 2)
            #expect(events.allSatisfy { isUUID($0["lago_id"]) })
            #expect(
                response.json
                    == [
                        "events": [
                            expectedEvent(
                                lagoID: events.first?["lago_id"] ?? nil,
                                transactionID: "b",
                                code: "c2",
                                timestamp: "2022-04-29T13:59:51.000Z",
                                subscription: "s",
                                properties: ["value": "12.5", "nested": ["k": [1, 2]]]
                            ),
                            expectedEvent(
                                lagoID: events.last?["lago_id"] ?? nil,
                                transactionID: "a",
                                code: "c1",
                                timestamp: "2022-04-29T13:59:50.000Z",
                                subscription: "s"
                            ),
                        ]
                    ]
            )
            #expect(sandbox.events(subscription: "s").map(\.transactionID) == ["b", "a"])
        }
    }

    // MARK: §6.4 Unknown code / subscription

    @Test("§6.4 unknown metric code and unknown or missing subscription are accepted")
    func unknownCodeAndSubscription() async throws {
        try await withSandbox { sandbox, client in
            let unknown = try await client.post(
                "/api/v1/events",
                #"{"event":{"transaction_id":"t1","code":"no_such_metric","external_subscription_id":"no_such_sub"}}"#
            )
            #expect(unknown.status == 200)
            let missing = try await client.post(
                "/api/v1/events",
                #"{"event":{"transaction_id":"t2","code":"no_such_metric"}}"#
            )
            #expect(missing.status == 200)
            // No subscription: never a duplicate (NULL never collides in Postgres' unique index).
            let again = try await client.post(
                "/api/v1/events",
                #"{"event":{"transaction_id":"t2","code":"no_such_metric"}}"#
            )
            #expect(again.status == 200)
            #expect(sandbox.storedEventCount == 3)
        }
    }

    // MARK: §3.1 / §6.6 lookup and 404s

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

    @Test("§6.6 unknown routes: 404 resource_not_found without auth; wrong method too")
    func unknownRoutes() async throws {
        try await withSandbox { _, client in
            let expected: JSONValue = ["status": 404, "error": "Not Found", "code": "resource_not_found"]
            for (method, path) in [
                ("GET", "/api/v1/nope"), ("GET", "/"), ("DELETE", "/api/v1/events"), ("PUT", "/api/v1/events/batch"),
                ("GET", "/api/v2/events"),
            ] {
                let response = try await client.send(method, path, auth: .none)
                #expect(response.status == 404, "\(method) \(path)")
                #expect(response.json == expected, "\(method) \(path)")
            }
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
