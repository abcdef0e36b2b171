import Foundation
public import LagoAPI
public import Testing

/// Where the shared ingestion cases run: Lago itself (the sandbox) or the relay in front of the engine.
///
/// Both answer `POST /api/v1/events` and `/api/v1/events/batch` as Lago does (`lago-api-facts.md` §1, §6). Where a
/// relay legitimately differs from Lago the difference is a property here (`lago_id`, `created_at`), or the case is
/// not shared (see the sandbox's `EventConformanceTests` for the Lago-only cases and why).
public struct IngestTarget: Sendable {
    /// What is being tested.
    public enum Kind: String, Sendable {
        case lago, relay
    }

    public var kind: Kind
    /// A client for the target's origin, presenting ``testAPIKey`` (which the target accepts and no other key).
    public var client: TestClient
    /// Accepted answers carry a generated `lago_id` (Lago stores synchronously) rather than `null` (the relay
    /// queues: Lago's answer for asynchronously processed events).
    public var answersLagoID: Bool
    /// `created_at` in accepted answers: the second-precision time of reception (Lago) or `null` (relay).
    public var createdAt: JSONValue
    /// The timestamp stamped on events sent without one, as Lago formats it (both run on an injected clock).
    public var receptionTimestamp: String
    /// How many events Lago stores. For the relay: events accepted, spooled and then delivered to the Lago behind
    /// it (the call waits for the engine to flush), so refused requests must leave it unchanged.
    public var storedEventCount: @Sendable () async throws -> Int
    /// The first stored event with this transaction id as Lago's `GET /events/{id}` shows it, or nil (for the
    /// relay: read from the Lago behind it after a flush).
    public var storedEvent: @Sendable (_ transactionID: String) async throws -> JSONValue?

    public init(
        kind: Kind, client: TestClient, answersLagoID: Bool, createdAt: JSONValue, receptionTimestamp: String,
        storedEventCount: @escaping @Sendable () async throws -> Int,
        storedEvent: @escaping @Sendable (_ transactionID: String) async throws -> JSONValue?
    ) {
        self.kind = kind
        self.client = client
        self.answersLagoID = answersLagoID
        self.createdAt = createdAt
        self.receptionTimestamp = receptionTimestamp
        self.storedEventCount = storedEventCount
        self.storedEvent = storedEvent
    }
}

/// One shared ingestion conformance case; run it against a fresh target.
public struct IngestCase: Sendable, CustomTestStringConvertible {
    /// The rule checked, with its section of `lago-api-facts.md`.
    public let name: String
    private let body: @Sendable (IngestTarget) async throws -> Void

    init(_ name: String, _ body: @escaping @Sendable (IngestTarget) async throws -> Void) {
        self.name = name
        self.body = body
    }

    /// Runs the case; failures are recorded with `#expect` in the current test.
    public func run(against target: IngestTarget) async throws {
        try await body(target)
    }

    public var testDescription: String { name }
}

/// The ingestion cases shared by the sandbox's and the relay's conformance suites.
public enum IngestCases {
    /// Every shared case, in the order of `lago-api-facts.md`.
    public static let all: [IngestCase] =
        [auth, createEvent, missingWrapper, contentType]
        + invalidTimestamps + acceptedTimestamps
        + [
            absentTimestamp, missingFields, casting, batchNoEvents, batchLimit, batchPhaseOne, batchTimestampExample,
            batchDuplicatesWithinPayload, batchPhasesNotMixedWithinPayload, batchSuccess, unknownCodeAndSubscription,
            unknownRoutes,
        ]

    // MARK: §6.1 Auth

    static let auth = IngestCase(
        "§6.1 missing or unknown key is 401 before the body is parsed; any scheme word is accepted"
    ) { target in
        let client = target.client
        let unauthorized: JSONValue = ["status": 401, "error": "Unauthorized"]
        let missing = try await client.post("/api/v1/events", "{not json", auth: .none)
        #expect(missing.status == 401)
        #expect(missing.json == unauthorized)
        let unknown = try await client.post("/api/v1/events/batch", "{not json", auth: .header("Bearer nope"))
        #expect(unknown.status == 401)
        #expect(unknown.json == unauthorized)
        let noKey = try await client.post("/api/v1/events", "{not json", auth: .header("Bearer"))
        #expect(noKey.status == 401)
        #expect(noKey.json == unauthorized)
        // Lago takes the second word as the key: a bare key is no key.
        let bare = try await client.post("/api/v1/events", "{not json", auth: .header(testAPIKey))
        #expect(bare.status == 401)
        #expect(bare.json == unauthorized)
        let otherScheme = try await client.post(
            "/api/v1/events", #"{"event":{"transaction_id":"t1","code":"c"}}"#, auth: .header("Token \(testAPIKey)"))
        #expect(otherScheme.status == 200)
        let malformed = try await client.post("/api/v1/events", "{not json")
        #expect(malformed.status == 400)
        #expect(malformed.json == ["status": 400, "error": "Bad Request"])
        #expect(try await target.storedEventCount() == 1)
    }

    // MARK: §6.2 POST /events

    static let createEvent = IngestCase(
        "§6.2 success: 200 with Lago's event object, ms timestamp, second created_at, nulls"
    ) { target in
        let response = try await target.client.post(
            "/api/v1/events",
            #"{"event":{"transaction_id":"transaction_1234567890","external_subscription_id":"sub_1234567890","code":"storage","timestamp":1651240791.123,"precise_total_amount_cents":"1234.56","properties":{"gb":10},"external_customer_id":"dropped"}}"#
        )
        #expect(response.status == 200)
        let event = response.json["event"]
        expectLagoID(event, target)
        #expect(
            response.json
                == [
                    "event": expectedEvent(
                        lagoID: event?["lago_id"] ?? nil,
                        transactionID: "transaction_1234567890",
                        code: "storage",
                        timestamp: "2022-04-29T13:59:51.123Z",
                        subscription: "sub_1234567890",
                        precise: "1234.56",
                        properties: ["gb": 10],
                        createdAt: target.createdAt
                    )
                ]
        )
        #expect(try await target.storedEventCount() == 1)
        try await expectStoredAsAnswered(event, target)
    }

    static let missingWrapper = IngestCase(
        "§6.2 missing `event` wrapper, empty event, null event: 400 param missing"
    ) { target in
        let expected: JSONValue = [
            "status": 400, "error": "BadRequest: param is missing or the value is empty or invalid: event",
        ]
        for body in [
            #"{"transaction_id":"t","code":"c","external_subscription_id":"s"}"#, #"{"event":{}}"#,
            #"{"event":null}"#, "", "[1,2]",
        ] {
            let response = try await target.client.post("/api/v1/events", body)
            #expect(response.status == 400, "body: \(body)")
            #expect(response.json == expected, "body: \(body)")
        }
        #expect(try await target.storedEventCount() == 0)
    }

    static let contentType = IngestCase(
        "§1.1 without Content-Type application/json the body is not parsed: 400 (single), 422 no_events (batch)"
    ) { target in
        let client = target.client
        let body = #"{"event":{"transaction_id":"t","code":"c"}}"#
        let single = try await client.post("/api/v1/events", body, contentType: "text/plain")
        #expect(single.status == 400)
        let parameterMissing: JSONValue = [
            "status": 400, "error": "BadRequest: param is missing or the value is empty or invalid: event",
        ]
        #expect(single.json == parameterMissing)
        let batch = try await client.post(
            "/api/v1/events/batch", #"{"events":[{"transaction_id":"t","code":"c"}]}"#, contentType: nil)
        #expect(batch.status == 422)
        #expect(batch.json == validationErrors(["events": ["no_events"]]))
        // Not parsed, so not malformed either.
        let unparsed = try await client.post("/api/v1/events/batch", "{not json", contentType: "text/plain")
        #expect(unparsed.json == validationErrors(["events": ["no_events"]]))
        #expect(try await target.storedEventCount() == 0)
        let charset = try await client.post("/api/v1/events", body, contentType: "application/json; charset=utf-8")
        #expect(charset.status == 200)
        #expect(try await target.storedEventCount() == 1)
    }

    static let invalidTimestamps: [IngestCase] = [
        #""2022-04-29T08:59:51Z""#, #""""#, #""abc""#, #""123abc""#, "true", "false",
    ].map { timestamp in
        IngestCase("§1.2/§1.6 timestamp \(timestamp) is 422 invalid_format") { target in
            let response = try await target.client.post(
                "/api/v1/events",
                #"{"event":{"transaction_id":"t1","code":"c","external_subscription_id":"s","timestamp":\#(timestamp)}}"#
            )
            #expect(response.status == 422)
            #expect(response.json == validationErrors(["timestamp": ["invalid_format"]]))
            #expect(try await target.storedEventCount() == 0)
        }
    }

    /// Accepted timestamps and how Lago shows them; nil: the time of reception.
    static let acceptedTimestamps: [IngestCase] = [
        ("1651240791", "2022-04-29T13:59:51.000Z"),
        (#""1651240791""#, "2022-04-29T13:59:51.000Z"),
        ("1651240791.123", "2022-04-29T13:59:51.123Z"),
        (#""1651240791.123""#, "2022-04-29T13:59:51.123Z"),
        (#""1780586634.1""#, "2026-06-04T15:23:54.100Z"),
        (#""1e9""#, "2001-09-09T01:46:40.000Z"),
        (#""-1.5""#, "1969-12-31T23:59:58.500Z"),
        (#"" 1651240791 ""#, "2022-04-29T13:59:51.000Z"),
        ("1651240791123", "54295-09-27T05:32:03.000Z"),
        ("null", nil),
    ].map { (input: String, expected: String?) in
        IngestCase("§1.2 timestamp \(input) is accepted with its precision") { target in
            let expected = expected ?? target.receptionTimestamp
            let response = try await target.client.post(
                "/api/v1/events",
                #"{"event":{"transaction_id":"t1","code":"c","external_subscription_id":"s","timestamp":\#(input)}}"#
            )
            #expect(response.status == 200)
            #expect(response.json["event"]?["timestamp"] == .string(expected))
            #expect(try await target.storedEvent("t1")?["timestamp"] == .string(expected))
        }
    }

    static let absentTimestamp = IngestCase("§6.2 absent timestamp is the time of reception") { target in
        let response = try await target.client.post(
            "/api/v1/events", #"{"event":{"transaction_id":"t1","code":"c"}}"#)
        #expect(response.json["event"]?["timestamp"] == .string(target.receptionTimestamp))
        #expect(response.json["event"]?["external_subscription_id"] == .null)
        try await expectStoredAsAnswered(response.json["event"], target)
    }

    static let missingFields = IngestCase("§1.6 missing transaction_id and code: both value_is_mandatory") { target in
        let response = try await target.client.post(
            "/api/v1/events",
            #"{"event":{"external_subscription_id":"sub","transaction_id":"  ","properties":{"a":1}}}"#
        )
        #expect(response.status == 422)
        #expect(
            response.json
                == validationErrors(["transaction_id": ["value_is_mandatory"], "code": ["value_is_mandatory"]])
        )
        #expect(try await target.storedEventCount() == 0)
    }

    static let casting = IngestCase(
        "§1.1 casting: precise_total_amount_cents, numeric ids, dropped keys, non-object properties"
    ) { target in
        let cases: [(String, JSONValue, String)] = [
            (#""1234.56""#, "1234.56", "t1"),
            (#""asdfa""#, "0.0", "t2"),
            ("100", "100.0", "t3"),
            (#""-5""#, "-5.0", "t4"),
            (#""0.1234567890123456789""#, "0.123456789012346", "t5"),
            ("null", nil, "t6"),
            (#""""#, nil, "t7"),
        ]
        var answered: [JSONValue?] = []
        for (input, expected, transactionID) in cases {
            let response = try await target.client.post(
                "/api/v1/events",
                #"{"event":{"transaction_id":"\#(transactionID)","code":"c","precise_total_amount_cents":\#(input)}}"#
            )
            #expect(response.json["event"]?["precise_total_amount_cents"] == expected, "input \(input)")
            answered.append(response.json["event"])
        }
        let numeric = try await target.client.post(
            "/api/v1/events",
            #"{"event":{"transaction_id":12345,"code":true,"external_subscription_id":7,"properties":"nope"}}"#
        )
        #expect(numeric.json["event"]?["transaction_id"] == "12345")
        #expect(numeric.json["event"]?["code"] == "t")
        #expect(numeric.json["event"]?["external_subscription_id"] == "7")
        #expect(numeric.json["event"]?["properties"] == [:])
        answered.append(numeric.json["event"])
        #expect(try await target.storedEventCount() == 8)
        for event in answered { try await expectStoredAsAnswered(event, target) }
    }

    // MARK: §6.3 Batch

    static let batchNoEvents = IngestCase("§6.3/§1.6 batch without events or with [] is 422 no_events") { target in
        for body in [
            #"{}"#, #"{"events":[]}"#, #"{"events":null}"#, #"{"event":{"transaction_id":"t","code":"c"}}"#,
            "",
        ] {
            let response = try await target.client.post("/api/v1/events/batch", body)
            #expect(response.status == 422, "body: \(body)")
            #expect(response.json == validationErrors(["events": ["no_events"]]), "body: \(body)")
        }
        #expect(try await target.storedEventCount() == 0)
    }

    static let batchLimit = IngestCase("§1.4/§1.6 101 events is 422 too_many_events; 100 is accepted") { target in
        func batch(_ count: Int, prefix: String) -> JSONValue {
            [
                "events": .array(
                    (0..<count).map {
                        ["transaction_id": .string("\(prefix)\($0)"), "code": "c", "external_subscription_id": "s"]
                    }
                )
            ]
        }
        let tooMany = try await target.client.post("/api/v1/events/batch", json: batch(101, prefix: "a"))
        #expect(tooMany.status == 422)
        #expect(tooMany.json == validationErrors(["events": ["too_many_events"]]))
        #expect(try await target.storedEventCount() == 0)
        let limit = try await target.client.post("/api/v1/events/batch", json: batch(100, prefix: "b"))
        #expect(limit.status == 200)
        #expect(limit.json["events"]?.arrayValue?.count == 100)
        #expect(try await target.storedEventCount() == 100)
    }

    static let batchPhaseOne = IngestCase(
        "§1.6 batch phase-1 errors keyed by index (string), all collected; nothing stored"
    ) { target in
        let response = try await target.client.post(
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
        #expect(try await target.storedEventCount() == 0)
    }

    static let batchTimestampExample = IngestCase(
        "§1.6 batch timestamp error exactly as Lago's request spec"
    ) { target in
        let response = try await target.client.post(
            "/api/v1/events/batch",
            #"{"events":[{"transaction_id":"a","code":"c","external_subscription_id":"s","timestamp":1651240791},{"transaction_id":"b","code":"c","external_subscription_id":"s","timestamp":"2022-04-29T08:59:51Z"}]}"#
        )
        #expect(response.status == 422)
        #expect(response.json == validationErrors(["1": ["timestamp": ["invalid_format"]]]))
        #expect(try await target.storedEventCount() == 0)
    }

    static let batchDuplicatesWithinPayload = IngestCase(
        "§1.7 duplicates inside one batch: the first occurrence wins"
    ) { target in
        let pair = try await target.client.post(
            "/api/v1/events/batch",
            #"{"events":[{"transaction_id":"x","code":"c","external_subscription_id":"s"},{"transaction_id":"y","code":"c","external_subscription_id":"s"},{"transaction_id":"x","code":"c","external_subscription_id":"s"}]}"#
        )
        #expect(pair.status == 422)
        #expect(pair.json == validationErrors(["2": ["transaction_id": ["value_already_exist"]]]))
        let triple = try await target.client.post(
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
        #expect(try await target.storedEventCount() == 0)
    }

    static let batchPhasesNotMixedWithinPayload = IngestCase(
        "§1.7 phase-2 errors (duplicates in the payload) are only reported when phase 1 passed"
    ) { target in
        let response = try await target.client.post(
            "/api/v1/events/batch",
            #"{"events":[{"transaction_id":"x","code":"c","external_subscription_id":"s"},{"transaction_id":"x","code":"c","external_subscription_id":"s"},{"transaction_id":"y","code":"c","external_subscription_id":"s","timestamp":"bad"}]}"#
        )
        #expect(response.status == 422)
        #expect(response.json == validationErrors(["2": ["timestamp": ["invalid_format"]]]))
        #expect(try await target.storedEventCount() == 0)
    }

    static let batchSuccess = IngestCase(
        "§6.3 success: events in input order, created_at shared, properties echoed"
    ) { target in
        let response = try await target.client.post(
            "/api/v1/events/batch",
            #"{"events":[{"transaction_id":"b","code":"c2","external_subscription_id":"s","timestamp":"1651240791","properties":{"value":"12.5","nested":{"k":[1,2]}}},{"transaction_id":"a","code":"c1","external_subscription_id":"s","timestamp":1651240790}]}"#
        )
        #expect(response.status == 200)
        let events = response.json["events"]?.arrayValue ?? []
        #expect(events.count == 2)
        for event in events { expectLagoID(event, target) }
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
                            properties: ["value": "12.5", "nested": ["k": [1, 2]]],
                            createdAt: target.createdAt
                        ),
                        expectedEvent(
                            lagoID: events.last?["lago_id"] ?? nil,
                            transactionID: "a",
                            code: "c1",
                            timestamp: "2022-04-29T13:59:50.000Z",
                            subscription: "s",
                            createdAt: target.createdAt
                        ),
                    ]
                ]
        )
        #expect(try await target.storedEventCount() == 2)
        for event in events { try await expectStoredAsAnswered(event, target) }
    }

    // MARK: §6.4 Unknown code / subscription

    static let unknownCodeAndSubscription = IngestCase(
        "§6.4 unknown metric code and unknown or missing subscription are accepted"
    ) { target in
        let unknown = try await target.client.post(
            "/api/v1/events",
            #"{"event":{"transaction_id":"t1","code":"no_such_metric","external_subscription_id":"no_such_sub"}}"#
        )
        #expect(unknown.status == 200)
        let missing = try await target.client.post(
            "/api/v1/events", #"{"event":{"transaction_id":"t2","code":"no_such_metric"}}"#)
        #expect(missing.status == 200)
        // No subscription: never a duplicate (NULL never collides in Postgres' unique index).
        let again = try await target.client.post(
            "/api/v1/events", #"{"event":{"transaction_id":"t2","code":"no_such_metric"}}"#)
        #expect(again.status == 200)
        #expect(try await target.storedEventCount() == 3)
    }

    // MARK: §6.6 404s

    static let unknownRoutes = IngestCase(
        "§6.6 unknown routes: 404 resource_not_found without auth; wrong method too"
    ) { target in
        let expected: JSONValue = ["status": 404, "error": "Not Found", "code": "resource_not_found"]
        for (method, path) in [
            ("GET", "/api/v1/nope"), ("GET", "/"), ("DELETE", "/api/v1/events"), ("PUT", "/api/v1/events/batch"),
            ("GET", "/api/v2/events"), ("POST", "/api/v2/events"), ("POST", "/api/v1/events/batch/more"),
        ] {
            let response = try await target.client.send(method, path, auth: .none)
            #expect(response.status == 404, "\(method) \(path)")
            #expect(response.json == expected, "\(method) \(path)")
        }
    }

    // MARK: Helpers

    /// `lago_id` is a UUID where the target stores synchronously, `null` where it queues.
    static func expectLagoID(
        _ event: JSONValue?, _ target: IngestTarget, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        if target.answersLagoID {
            #expect(isUUID(event?["lago_id"]), "lago_id \(String(describing: event?["lago_id"]))",
                sourceLocation: sourceLocation)
        } else {
            #expect(event?["lago_id"] == .null, sourceLocation: sourceLocation)
        }
    }

    /// The event as stored in Lago has what the answer said (for the relay: it survived spool and delivery).
    static func expectStoredAsAnswered(
        _ answered: JSONValue?, _ target: IngestTarget, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        guard let transactionID = answered?["transaction_id"]?.stringValue else {
            Issue.record(
                "no transaction_id in the answer \(String(describing: answered))", sourceLocation: sourceLocation)
            return
        }
        let stored = try await target.storedEvent(transactionID)
        #expect(stored != nil, "\(transactionID) is not stored", sourceLocation: sourceLocation)
        let fields = [
            "transaction_id", "code", "timestamp", "external_subscription_id", "precise_total_amount_cents",
            "properties",
        ]
        for field in fields {
            #expect(stored?[field] == answered?[field], "\(transactionID).\(field)", sourceLocation: sourceLocation)
        }
    }
}
