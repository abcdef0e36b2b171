import Foundation
import Testing

@testable import LagoAPI

/// Exact bodies from Lago's wire facts (lago-api v1.51).
enum LagoBodies {
    static let eventObject = """
        {"lago_id":"1a901a90-1a90-1a90-1a90-1a901a901a90","transaction_id":"transaction_1234567890",
        "lago_customer_id":null,"code":"storage","timestamp":"2022-04-29T08:59:51.123Z",
        "precise_total_amount_cents":"1234.56","properties":{"gb":10},"lago_subscription_id":null,
        "external_subscription_id":"sub_1234567890","created_at":"2022-04-29T08:59:51Z"}
        """
    static let single = #"{"event":\#(eventObject)}"#
    static let batch = #"{"events":[\#(eventObject)]}"#
    static let badRequest =
        #"{"status":400,"error":"BadRequest: param is missing or the value is empty or invalid: event"}"#
    static let unauthorized = #"{"status":401,"error":"Unauthorized"}"#
    static let forbidden = #"{"status":403,"error":"Forbidden","code":"write_action_not_allowed_for_event"}"#
    static let eventNotFound = #"{"status":404,"error":"Not Found","code":"event_not_found"}"#
    static let noActiveSubscription = #"{"status":405,"error":"Method Not Allowed","code":"no_active_subscription"}"#
    static let duplicateSingle =
        #"{"status":422,"error":"Unprocessable Entity","code":"validation_errors","error_details":{"transaction_id":["value_already_exist"]}}"#
    static let mandatorySingle =
        #"{"status":422,"error":"Unprocessable Entity","code":"validation_errors","error_details":{"transaction_id":["value_is_mandatory"],"code":["value_is_mandatory"]}}"#
    static let expressionSingle =
        #"{"status":422,"error":"Unprocessable Entity","code":"validation_errors","error_details":"expression_evaluation_failed: Variable: b not found"}"#
    static let batchTimestamp =
        #"{"status":422,"error":"Unprocessable Entity","code":"validation_errors","error_details":{"1":{"timestamp":["invalid_format"]}}}"#
    static let batchDuplicates =
        #"{"status":422,"error":"Unprocessable Entity","code":"validation_errors","error_details":{"0":{"transaction_id":["value_already_exist"]},"1":{"transaction_id":["value_already_exist"]},"2":{"transaction_id":["value_already_exist"]},"3":{"transaction_id":["value_already_exist"]},"4":{"transaction_id":["value_already_exist"]}}}"#
    static let batchExpression =
        #"{"status":422,"error":"Unprocessable Entity","code":"validation_errors","error_details":{"0":"expression_evaluation_failed: Variable: foo not found"}}"#
    static let tooMany =
        #"{"status":422,"error":"Unprocessable Entity","code":"validation_errors","error_details":{"events":["too_many_events"]}}"#
    static let noEvents =
        #"{"status":422,"error":"Unprocessable Entity","code":"validation_errors","error_details":{"events":["no_events"]}}"#
    static let tooManyRequests = #"{"status": 429, "error": "Too Many Requests"}"#
    static let internalError = #"{"status":500,"error":"Internal Server Error"}"#
}

func sampleEvents(_ count: Int) -> [EventInput] {
    (0..<count).map {
        EventInput(
            transactionID: "tx_\($0)", externalSubscriptionID: "sub_1", code: "llm_input_tokens",
            timestamp: 1_651_240_791.123, properties: ["value": 10])
    }
}

/// Runs `body` with a client pointed at a fresh canned server.
func withCannedClient(
    timeout: Duration = .seconds(5), _ body: @Sendable (CannedLagoServer, LagoClient) async throws -> Void
) async throws {
    let server = CannedLagoServer()
    try await server.withRunning { origin in
        let configuration = LagoClientConfiguration(
            baseURL: try LagoBaseURL(origin), apiKey: "test-key-123456789", requestTimeout: timeout)
        try await withLagoClient(configuration: configuration) { client in
            try await body(server, client)
        }
    }
}

/// Sends a batch of `count` events expecting a `LagoAPIError`.
func batchError(_ client: LagoClient, count: Int = 5) async throws -> LagoAPIError {
    do {
        _ = try await client.createBatch(sampleEvents(count))
    } catch let error as LagoAPIError {
        return error
    }
    Issue.record("expected an error")
    throw CancellationError()
}

@Suite("LagoClient against exact Lago bodies")
struct LagoClientTests {
    @Test func singleEventSuccessDecodesLagoEventObject() async throws {
        try await withCannedClient { server, client in
            server.on("POST", "/events", CannedResponse(status: 200, body: LagoBodies.single))
            let event = try await client.createEvent(sampleEvents(1)[0])
            #expect(event.lagoID == "1a901a90-1a90-1a90-1a90-1a901a901a90")
            #expect(event.transactionID == "transaction_1234567890")
            #expect(event.lagoCustomerID == nil)
            #expect(event.timestamp.text == "2022-04-29T08:59:51.123Z")
            #expect(event.preciseTotalAmountCents == "1234.56")
            #expect(event.properties == ["gb": .integer(10)])
            #expect(event.createdAt?.text == "2022-04-29T08:59:51Z")
            #expect(abs(event.timestamp.date.timeIntervalSince1970 - 1_651_222_791.123) < 0.0005)

            let request = try #require(server.requests.last)
            #expect(request.headers["authorization"] == "Bearer test-key-123456789")
            #expect(request.headers["content-type"] == "application/json")
            #expect(request.headers["user-agent"]?.hasPrefix("lago-console/") == true)
            let sent = try JSONValue.parse(Data(request.body.utf8))
            #expect(sent["event"]?["transaction_id"] == "tx_0")
            #expect(sent["event"]?["timestamp"] == .number(1_651_240_791.123))
            #expect(sent["event"]?["properties"] == ["value": 10])
        }
    }

    @Test func batchSuccessKeepsOrder() async throws {
        try await withCannedClient { server, client in
            server.on("POST", "/events/batch", CannedResponse(status: 200, body: LagoBodies.batch))
            let events = try await client.createBatch(sampleEvents(1))
            #expect(events.map(\.transactionID) == ["transaction_1234567890"])
            let body = try JSONValue.parse(Data(try #require(server.requests.last).body.utf8))
            #expect(body["events"]?.arrayValue?.count == 1)
        }
    }

    @Test func moreThanOneHundredEventsAreRefusedLocallyAndNeverSent() async throws {
        try await withCannedClient { server, client in
            server.on("POST", "/events/batch", CannedResponse(status: 200, body: LagoBodies.batch))
            let error = try await batchError(client, count: 101)
            #expect(error.kind == .invalidRequest)
            #expect(error.disposition(eventCount: 101) == .callerBug)
            #expect(error.description.contains("at most 100"))
            #expect(server.requests.isEmpty)
        }
    }

    @Test func badRequestIsACallerBug() async throws {
        try await withCannedClient { server, client in
            server.on("POST", "/events", CannedResponse(status: 400, body: LagoBodies.badRequest))
            do {
                _ = try await client.createEvent(sampleEvents(1)[0])
                Issue.record("expected 400")
            } catch let error as LagoAPIError {
                #expect(error.status == 400)
                #expect(error.error == "BadRequest: param is missing or the value is empty or invalid: event")
                #expect(error.code == nil)
                #expect(error.disposition(eventCount: 1) == .callerBug)
            }
        }
    }

    @Test func unauthorizedAndForbiddenHold() async throws {
        try await withCannedClient { server, client in
            server.on("POST", "/events/batch", CannedResponse(status: 401, body: LagoBodies.unauthorized))
            let unauthorized = try await batchError(client)
            #expect(unauthorized.status == 401)
            #expect(unauthorized.error == "Unauthorized")
            #expect(unauthorized.disposition(eventCount: 5) == .hold)

            server.on("POST", "/events/batch", CannedResponse(status: 403, body: LagoBodies.forbidden))
            let forbidden = try await batchError(client)
            #expect(forbidden.code == "write_action_not_allowed_for_event")
            #expect(forbidden.disposition(eventCount: 5) == .hold)
            #expect(forbidden.description.contains("write_action_not_allowed_for_event"))
        }
    }

    @Test func notFoundCarriesLagoCode() async throws {
        try await withCannedClient { server, client in
            server.on("GET", "/events/missing", CannedResponse(status: 404, body: LagoBodies.eventNotFound))
            do {
                _ = try await client.event(transactionID: "missing")
                Issue.record("expected 404")
            } catch let error as LagoAPIError {
                #expect(error.status == 404)
                #expect(error.code == "event_not_found")
                #expect(error.error == "Not Found")
            }
            // An unknown route (wrong base URL) holds delivery instead of dropping events, as a wrong URL.
            let wrongRoute = try await batchError(client)
            #expect(wrongRoute.code == "resource_not_found")
            #expect(wrongRoute.disposition(eventCount: 5) == .holdWrongURL)
        }
    }

    @Test func methodNotAllowedOnCurrentUsage() async throws {
        try await withCannedClient { server, client in
            server.on(
                "GET", "/customers/cus_1/current_usage",
                CannedResponse(status: 405, body: LagoBodies.noActiveSubscription))
            do {
                _ = try await client.currentUsage(externalCustomerID: "cus_1", externalSubscriptionID: "sub_1")
                Issue.record("expected 405")
            } catch let error as LagoAPIError {
                #expect(error.status == 405)
                #expect(error.code == "no_active_subscription")
                #expect(error.disposition(eventCount: 1) == .callerBug)
            }
            #expect(server.requests.last?.query == "external_subscription_id=sub_1")
        }
    }

    @Test func fieldKeyedSingleEventRejection() async throws {
        try await withCannedClient { server, client in
            for body in [LagoBodies.duplicateSingle, LagoBodies.mandatorySingle] {
                server.on("POST", "/events", CannedResponse(status: 422, body: body))
                do {
                    _ = try await client.createEvent(sampleEvents(1)[0])
                    Issue.record("expected 422")
                } catch let error as LagoAPIError {
                    let details = try JSONValue.parse(Data(body.utf8))["error_details"]
                    #expect(error.code == "validation_errors")
                    #expect(error.error == "Unprocessable Entity")
                    #expect(error.errorDetails == details)
                    #expect(error.disposition(eventCount: 1) == .rejected([0: try #require(details)]))
                }
            }
            server.on("POST", "/events", CannedResponse(status: 422, body: LagoBodies.duplicateSingle))
            let duplicate = try await { () async throws -> LagoAPIError in
                do { _ = try await client.createEvent(sampleEvents(1)[0]) } catch let e as LagoAPIError { return e }
                throw CancellationError()
            }()
            #expect(duplicate.isDuplicateTransaction)
        }
    }

    @Test func stringDetailsForASingleEvent() async throws {
        try await withCannedClient { server, client in
            server.on("POST", "/events", CannedResponse(status: 422, body: LagoBodies.expressionSingle))
            do {
                _ = try await client.createEvent(sampleEvents(1)[0])
                Issue.record("expected 422")
            } catch let error as LagoAPIError {
                #expect(error.errorDetails == .string("expression_evaluation_failed: Variable: b not found"))
                #expect(
                    error.disposition(eventCount: 1)
                        == .rejected([0: .string("expression_evaluation_failed: Variable: b not found")]))
                #expect(error.description.contains("Variable: b not found"))
            }
        }
    }

    @Test func indexKeyedBatchRejections() async throws {
        try await withCannedClient { server, client in
            server.on("POST", "/events/batch", CannedResponse(status: 422, body: LagoBodies.batchTimestamp))
            let timestamp = try await batchError(client)
            #expect(timestamp.disposition(eventCount: 5) == .rejected([1: ["timestamp": ["invalid_format"]]]))
            #expect(!timestamp.isDuplicateTransaction)

            server.on("POST", "/events/batch", CannedResponse(status: 422, body: LagoBodies.batchDuplicates))
            let duplicates = try await batchError(client)
            guard case .rejected(let byIndex) = duplicates.disposition(eventCount: 5) else {
                Issue.record("expected a rejection")
                return
            }
            #expect(byIndex.keys.sorted() == [0, 1, 2, 3, 4])
            #expect(byIndex.values.allSatisfy(LagoAPIError.isDuplicateReason))
            #expect(duplicates.isDuplicateTransaction)

            server.on("POST", "/events/batch", CannedResponse(status: 422, body: LagoBodies.batchExpression))
            let expression = try await batchError(client)
            #expect(
                expression.disposition(eventCount: 5)
                    == .rejected([0: .string("expression_evaluation_failed: Variable: foo not found")]))
        }
    }

    @Test func batchLevelErrorsAreCallerBugs() async throws {
        try await withCannedClient { server, client in
            for body in [LagoBodies.tooMany, LagoBodies.noEvents] {
                server.on("POST", "/events/batch", CannedResponse(status: 422, body: body))
                let error = try await batchError(client)
                #expect(error.disposition(eventCount: 5) == .callerBug)
                #expect(error.errorDetails?["events"]?.arrayValue?.isEmpty == false)
            }
        }
    }

    @Test func rateLimitedWithHeadersRetriesAfterTheServersDelay() async throws {
        try await withCannedClient { server, client in
            server.on(
                "POST", "/events/batch",
                CannedResponse(
                    status: 429, body: LagoBodies.tooManyRequests,
                    headers: ["X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1"]))
            let reset = try await batchError(client)
            #expect(reset.status == 429)
            #expect(reset.rateLimit == RateLimitHeaders(limit: 100, remaining: 0, reset: 1))
            #expect(reset.disposition(eventCount: 5) == .retryLater(suggestedDelay: .seconds(1)))

            server.on(
                "POST", "/events/batch",
                CannedResponse(
                    status: 429, body: LagoBodies.tooManyRequests,
                    headers: ["Retry-After": "7", "X-RateLimit-Reset": "1"]))
            let retryAfter = try await batchError(client)
            #expect(retryAfter.rateLimit.retryAfter == 7)
            #expect(retryAfter.disposition(eventCount: 5) == .retryLater(suggestedDelay: .seconds(7)))
        }
    }

    @Test func serverErrorsRetry() async throws {
        try await withCannedClient { server, client in
            server.on("POST", "/events/batch", CannedResponse(status: 500, body: LagoBodies.internalError))
            let error = try await batchError(client)
            #expect(error.status == 500)
            #expect(error.error == "Internal Server Error")
            #expect(error.disposition(eventCount: 5) == .retryLater(suggestedDelay: nil))

            server.on("POST", "/events/batch", CannedResponse(status: 502, body: "<html>Bad Gateway</html>"))
            let gateway = try await batchError(client)
            #expect(gateway.rawBody == "<html>Bad Gateway</html>")
            #expect(gateway.disposition(eventCount: 5) == .retryLater(suggestedDelay: nil))
        }
    }

    @Test func malformedJSONOnSuccessIsADecodingError() async throws {
        try await withCannedClient { server, client in
            server.on("POST", "/events", CannedResponse(status: 200, body: "{not json"))
            do {
                _ = try await client.createEvent(sampleEvents(1)[0])
                Issue.record("expected a decoding error")
            } catch let error as LagoAPIError {
                #expect(error.kind == .decoding)
                #expect(error.status == 200)
                #expect(error.rawBody == "{not json")
                // Lago answered 2xx: the event is stored, whatever the body said.
                #expect(error.disposition(eventCount: 1) == .delivered)
            }
        }
    }

    @Test func connectionRefusedRetries() async throws {
        let refusing = RefusingLoopbackPort()
        defer { withExtendedLifetime(refusing) {} }
        let configuration = LagoClientConfiguration(
            baseURL: try LagoBaseURL("http://127.0.0.1:\(refusing.port)"), apiKey: "k", requestTimeout: .seconds(3))
        try await withLagoClient(configuration: configuration) { client in
            do {
                _ = try await client.createBatch(sampleEvents(1))
                Issue.record("expected a transport error")
            } catch let error as LagoAPIError {
                #expect(error.kind == .connectionRefused, "got \(error)")
                #expect(error.status == nil)
                #expect(error.disposition(eventCount: 1) == .retryLater(suggestedDelay: nil))
            }
        }
    }

    @Test func slowServerTimesOut() async throws {
        try await withCannedClient(timeout: .milliseconds(300)) { server, client in
            server.on("POST", "/events/batch", CannedResponse(status: 200, body: LagoBodies.batch, delay: .seconds(3)))
            let error = try await batchError(client, count: 1)
            #expect(error.kind == .timeout, "got \(error)")
            #expect(error.disposition(eventCount: 1) == .retryLater(suggestedDelay: nil))
        }
    }

    @Test func transactionIDIsPercentEncodedInThePath() async throws {
        try await withCannedClient { server, client in
            _ = try? await client.event(transactionID: "1Az()[]?#._/|-/../")
            let request = try #require(server.requests.last)
            #expect(request.path == "/api/v1/events/1Az%28%29%5B%5D%3F%23._%2F%7C-%2F..%2F")
        }
    }

    @Test func zeroedPaginationAndPageFollowing() async throws {
        try await withCannedClient { server, client in
            server.on(
                "GET", "/events",
                CannedResponse(
                    status: 200,
                    body:
                        #"{"events":[],"meta":{"current_page":0,"next_page":null,"prev_page":null,"total_pages":0,"total_count":0}}"#
                ))
            let empty = try await client.events(EventListFilter(code: "a+b", externalSubscriptionID: "sub 1"))
            #expect(empty.items.isEmpty)
            #expect(
                empty.meta == PaginationMeta(currentPage: 0, nextPage: nil, prevPage: nil, totalPages: 0, totalCount: 0)
            )
            let query = try #require(server.requests.last).query
            #expect(query.contains("code=a%2Bb"))
            #expect(query.contains("external_subscription_id=sub%201"))

            let metric =
                #"{"lago_id":"x","name":"Storage","code":"storage","description":null,"aggregation_type":"sum_agg","weighted_interval":null,"recurring":false,"rounding_function":null,"rounding_precision":null,"created_at":"2022-09-14T16:35:31Z","field_name":"gb","expression":null,"active_subscriptions_count":0,"draft_invoices_count":0,"plans_count":0,"filters":[{"key":"region","values":["eu","us"]}]}"#
            server.on(
                "GET", "/billable_metrics",
                CannedResponse(
                    status: 200,
                    body:
                        #"{"billable_metrics":[\#(metric)],"meta":{"current_page":1,"next_page":null,"prev_page":null,"total_pages":1,"total_count":1}}"#
                ))
            let metrics = try await client.allBillableMetrics()
            #expect(metrics.map(\.code) == ["storage"])
            #expect(metrics.first?.filters == [BillableMetricFilter(key: "region", values: ["eu", "us"])])
            #expect(metrics.first?.fieldName == "gb")
        }
    }

    @Test func apiKeyChangesApplyToTheNextRequest() async throws {
        try await withCannedClient { server, client in
            server.on("POST", "/events/batch", CannedResponse(status: 200, body: LagoBodies.batch))
            client.setAPIKey("new-key")
            _ = try await client.createBatch(sampleEvents(1))
            #expect(server.requests.last?.headers["authorization"] == "Bearer new-key")
        }
    }

    @Test func aNewBaseURLAndKeyApplyTogetherToTheNextRequest() async throws {
        try await withCannedClient { server, client in
            server.on("POST", "/events/batch", CannedResponse(status: 200, body: LagoBodies.batch))
            let root = client.configuration.baseURL.apiRoot
            let wrongRoot = try LagoBaseURL(root.replacingOccurrences(of: "/api/v1", with: "/wrong"))
            #expect(client.setBaseURL(wrongRoot, apiKey: "other-key"))
            _ = try? await client.createBatch(sampleEvents(1))
            #expect(server.requests.last?.path == "/wrong/api/v1/events/batch")
            #expect(server.requests.last?.headers["authorization"] == "Bearer other-key")

            let rightRoot = try LagoBaseURL(root)
            #expect(client.setBaseURL(rightRoot, apiKey: "other-key"))
            #expect(!client.setBaseURL(rightRoot, apiKey: "other-key"), "the same root and key change nothing")
            _ = try await client.createBatch(sampleEvents(1))
            #expect(server.requests.last?.path == "/api/v1/events/batch")
            #expect(server.requests.last?.headers["authorization"] == "Bearer other-key")
        }
    }
}

@Suite("Base URL")
struct LagoBaseURLTests {
    @Test(arguments: [
        ("https://api.getlago.com/api/v1", "https://api.getlago.com/api/v1"),
        ("https://api.eu.getlago.com/api/v1/", "https://api.eu.getlago.com/api/v1"),
        ("https://lago.example.com", "https://lago.example.com/api/v1"),
        ("https://lago.example.com/", "https://lago.example.com/api/v1"),
        ("https://example.com/billing", "https://example.com/billing/api/v1"),
        ("http://localhost:3000", "http://localhost:3000/api/v1"),
        ("http://127.0.0.1:8080/api/v1", "http://127.0.0.1:8080/api/v1"),
        ("http://[::1]:3000", "http://[::1]:3000/api/v1"),
    ])
    func accepted(input: String, apiRoot: String) throws {
        #expect(try LagoBaseURL(input).apiRoot == apiRoot)
    }

    @Test func plainHTTPToARemoteHostIsRefusedUnlessAllowed() throws {
        #expect(throws: LagoAPIError.self) { try LagoBaseURL("http://lago.internal") }
        do {
            _ = try LagoBaseURL("http://lago.internal")
        } catch let error as LagoAPIError {
            #expect(error.kind == .insecureURL)
        }
        #expect(
            try LagoBaseURL("http://lago.internal", allowInsecureHTTP: true).apiRoot == "http://lago.internal/api/v1")
    }

    @Test(arguments: ["", "lago.example.com", "ftp://x.example.com", "https://", "https://x.example.com/?a=1"])
    func invalid(input: String) {
        #expect(throws: LagoAPIError.self) { try LagoBaseURL(input) }
    }
}

@Suite("Rate-limit headers")
struct RateLimitHeadersTests {
    @Test func httpDateRetryAfter() {
        let now = Date(timeIntervalSince1970: 1_700_000_000)
        let headers = RateLimitHeaders(
            headers: [(name: "retry-after", value: "Tue, 14 Nov 2023 22:13:30 GMT")], now: now)
        #expect(headers.retryAfter == 10)
    }
}

/// A transport failure reads as a sentence naming the host and the next step.
@Suite struct TransportMessageTests {
    @Test func aRefusedLoopbackConnectionIsReportedAtOnceInWords() async throws {
        let refusing = RefusingLoopbackPort()
        defer { withExtendedLifetime(refusing) {} }
        let port = refusing.port
        let base = try LagoBaseURL("http://127.0.0.1:\(port)")
        try await withLagoClient(configuration: LagoClientConfiguration(baseURL: base, apiKey: "k")) { client in
            do {
                _ = try await client.subscription(externalID: "sub_1")
                Issue.record("expected a refusal")
            } catch let error as LagoAPIError {
                #expect(error.kind == .connectionRefused)
                let text = "\(error)"
                #expect(
                    text == "GET /subscriptions/sub_1: connection refused by http://127.0.0.1:\(port): nothing listens "
                        + "there; is Lago running, and is lago.api_url right?", "\(text)")
                #expect(!text.contains("errno") && !text.contains("connectionRefused"))
            }
        }
    }
}
