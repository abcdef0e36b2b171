import AsyncHTTPClient
import Foundation
import IngestConformance
import LagoAPI
import LagoSandbox
import TestSupport
import Testing

/// Every fault mode, from Swift and over the admin API.
@Suite("Sandbox fault injection")
struct FaultInjectionTests {
    let event = #"{"event":{"transaction_id":"t1","code":"llm_input_tokens","external_subscription_id":"sub_sandbox"}}"#

    @Test("failNext: N requests fail with Lago's 5xx body, only under the path prefix, without processing")
    func failNext() async throws {
        try await withSandbox { sandbox, client in
            sandbox.faults.failNext(2, status: 503, pathPrefix: "/api/v1/events")
            #expect(try await client.get("/api/v1/customers").status == 200)
            let first = try await client.post("/api/v1/events", event)
            #expect(first.status == 503)
            #expect(first.json == ["status": 503, "error": "Service Unavailable"])
            #expect(sandbox.storedEventCount == 0)
            #expect(try await client.get("/api/v1/events").status == 503)
            #expect(try await client.post("/api/v1/events", event).status == 200)

            sandbox.faults.failNext(1)
            let internalError = try await client.get("/api/v1/customers")
            #expect(internalError.status == 500)
            #expect(internalError.json == ["status": 500, "error": "Internal Server Error"])
            #expect(sandbox.stats().requests(status: 503) == 2)
            #expect(sandbox.stats().requests(status: 500) == 1)
            #expect(sandbox.stats().faultsInjected == 3)
        }
    }

    @Test("failFraction: a seeded generator gives the same failures every run")
    func failFraction() async throws {
        try await withSandbox { sandbox, client in
            func run() async throws -> [Int] {
                sandbox.faults.failFraction(0.5, status: 502, seed: 42)
                var statuses: [Int] = []
                for _ in 0..<24 { statuses.append(try await client.get("/api/v1/customers").status) }
                sandbox.faults.clear()
                return statuses
            }
            let first = try await run()
            let second = try await run()
            #expect(first == second)
            #expect(first.contains(502) && first.contains(200))
            #expect(Set(first) == [200, 502])
        }
    }

    @Test("outage 503: every request answers 503 until it ends (polled, no fixed sleep)")
    func outage503() async throws {
        try await withSandbox { sandbox, client in
            sandbox.faults.outage(for: .seconds(60), mode: .status503)
            let response = try await client.post("/api/v1/events", event)
            #expect(response.status == 503)
            #expect(response.json == ["status": 503, "error": "Service Unavailable"])
            #expect(try await client.get("/health").status == 503)
            #expect(sandbox.storedEventCount == 0)
            sandbox.faults.outage(for: .milliseconds(200), mode: .status503)
            #expect(try await eventually { try await client.get("/api/v1/customers").status == 200 })
            #expect(sandbox.faults.snapshot.outage == nil)
        }
    }

    @Test("outage refuse: connections are closed without an answer, then service resumes")
    func outageRefuse() async throws {
        try await withSandbox { sandbox, client in
            let port = try #require(sandbox.port)
            sandbox.faults.outage(for: .seconds(60), mode: .refuse)
            let exchange = try await rawExchange(port: port, request: rawRequest("POST", "/api/v1/events", body: event))
            #expect(exchange.closedByPeer)
            #expect(exchange.bytes.isEmpty)
            await #expect(throws: (any Error).self) { try await client.post("/api/v1/events", event) }
            #expect(sandbox.storedEventCount == 0)
            #expect(sandbox.stats().connectionsRefused >= 1)
            sandbox.faults.clear()
            #expect(await eventually { (try? await client.post("/api/v1/events", event))?.status == 200 })
            #expect(sandbox.storedEventCount == 1)
        }
    }

    @Test("rateLimit: 429 with Retry-After and X-RateLimit headers and body")
    func rateLimit() async throws {
        try await withSandbox { sandbox, client in
            sandbox.faults.rateLimit(next: 2, retryAfter: 3)
            for _ in 0..<2 {
                let response = try await client.post("/api/v1/events", event)
                #expect(response.status == 429)
                #expect(response.json == ["status": 429, "error": "Too Many Requests"])
                #expect(response.header("Retry-After") == "3")
                #expect(response.header("X-RateLimit-Limit") == "100")
                #expect(response.header("X-RateLimit-Remaining") == "0")
                #expect(response.header("X-RateLimit-Reset") == "3")
            }
            #expect(sandbox.storedEventCount == 0)
            #expect(try await client.post("/api/v1/events", event).status == 200)
        }
    }

    @Test("latency: requests take at least the configured delay")
    func latency() async throws {
        try await withSandbox { sandbox, client in
            sandbox.faults.latency(.milliseconds(150))
            let start = ContinuousClock.now
            let response = try await client.get("/api/v1/customers")
            #expect(response.status == 200)
            #expect(ContinuousClock.now - start >= .milliseconds(150))
            #expect(sandbox.faults.snapshot.latencyMilliseconds == 150)
            sandbox.faults.latency(.zero)
            #expect(sandbox.faults.snapshot.latencyMilliseconds == 0)
        }
    }

    @Test("latency: a request is served on arrival and answered the latency after it arrived")
    func latencyCountsFromArrival() async throws {
        try await withSandbox { sandbox, client in
            // A far Lago stores an event while its answer travels: the sandbox's own work is inside the delay.
            sandbox.faults.latency(.seconds(2))
            let start = ContinuousClock.now
            async let answer = client.post("/api/v1/events", event)
            #expect(await eventually { sandbox.storedEventCount == 1 })
            let storedAfter = ContinuousClock.now - start
            let status = try await answer.status
            let answeredAfter = ContinuousClock.now - start
            #expect(status == 200)
            #expect(answeredAfter >= .seconds(2))
            #expect(answeredAfter - storedAfter >= .seconds(1), "stored on arrival, not after the delay")
            sandbox.faults.latency(.zero)
        }
    }

    @Test("ackLoss 503: the batch is stored, the answer is 503; a retry sees value_already_exist")
    func ackLoss503() async throws {
        try await withSandbox { sandbox, client in
            sandbox.faults.ackLoss(next: 1, mode: .status503)
            #expect(try await client.get("/api/v1/events").status == 200)  // GETs do not match
            let lost = try await client.post("/api/v1/events", event)
            #expect(lost.status == 503)
            #expect(lost.json == ["status": 503, "error": "Service Unavailable"])
            #expect(sandbox.storedEventCount == 1)
            let retry = try await client.post("/api/v1/events", event)
            #expect(retry.json == validationErrors(["transaction_id": ["value_already_exist"]]))
        }
    }

    @Test("ackLoss dropConnection: the batch is stored and the connection closes without a response")
    func ackLossDrop() async throws {
        try await withSandbox { sandbox, _ in
            let port = try #require(sandbox.port)
            sandbox.faults.ackLoss(next: 1, mode: .dropConnection)
            let batch = #"{"events":[{"transaction_id":"a","code":"c","external_subscription_id":"s"}]}"#
            let exchange = try await rawExchange(
                port: port,
                request: rawRequest("POST", "/api/v1/events/batch", body: batch)
            )
            #expect(exchange.closedByPeer)
            #expect(exchange.bytes.isEmpty)
            #expect(sandbox.storedEventCount == 1)
            #expect(sandbox.stats().batchesAccepted == 1)
            #expect(sandbox.stats().responsesDropped == 1)
        }
    }

    @Test("resetMidResponse: headers and part of the body, then the connection closes")
    func resetMidResponse() async throws {
        try await withSandbox { sandbox, client in
            let port = try #require(sandbox.port)
            sandbox.faults.resetMidResponse(next: 1)
            let exchange = try await rawExchange(port: port, request: rawRequest("POST", "/api/v1/events", body: event))
            #expect(exchange.closedByPeer)
            #expect(exchange.text.hasPrefix("HTTP/1.1 200 OK\r\n"))
            let length = try #require(exchange.header("Content-Length").flatMap { Int($0) })
            #expect(exchange.bodyBytes.count > 0)
            #expect(exchange.bodyBytes.count < length)
            #expect(sandbox.storedEventCount == 1)
            #expect(sandbox.stats().responsesReset == 1)
            // The next request is answered in full.
            #expect(try await client.get("/api/v1/events/t1").status == 200)
        }
    }

    @Test("admin API: set faults, read stats, reset; loopback only, no Lago auth")
    func adminAPI() async throws {
        try await withSandbox { sandbox, client in
            let set = try await client.post(
                "/_sandbox/faults",
                #"{"fail_next":{"count":1,"status":502,"path_prefix":"/api/v1/events"},"latency_ms":0,"rate_limit":{"count":1,"retry_after":2},"ack_loss":{"count":1,"mode":"drop_connection"},"reset_mid_response":{"count":2}}"#,
                auth: .none
            )
            #expect(set.status == 200)
            #expect(
                set.json
                    == [
                        "fail_next": ["remaining": 1, "status": 502, "path_prefix": "/api/v1/events"],
                        "fail_fraction": nil, "outage": nil,
                        "rate_limit": ["remaining": 1, "retry_after": 2, "limit": 100, "path_prefix": nil],
                        "latency_ms": 0, "latency_jitter_ms": 0, "rate_limiter": nil,
                        "ack_loss": ["remaining": 1, "mode": "drop_connection", "path_prefix": "/api/v1/events"],
                        "reset_mid_response": ["remaining": 2, "path_prefix": nil],
                    ]
            )
            let invalid = try await client.post(
                "/_sandbox/faults",
                #"{"fail_next":{"count":"x"},"bogus":1}"#,
                auth: .none
            )
            #expect(invalid.status == 422)
            #expect(
                invalid.json == validationErrors(["bogus": ["value_is_invalid"], "fail_next": ["value_is_invalid"]])
            )

            let reset = try await client.post("/_sandbox/reset", "", auth: .none)
            #expect(reset.status == 200)
            #expect(sandbox.faults.snapshot.isEmpty)

            let outage = try await client.post(
                "/_sandbox/faults",
                #"{"outage":{"seconds":30,"mode":"status_503"}}"#,
                auth: .none
            )
            #expect(outage.json["outage"]?["mode"] == "status_503")
            #expect(try await client.get("/api/v1/customers").status == 503)
            _ = try await client.post("/_sandbox/reset", "", auth: .none)

            _ = try await client.post("/api/v1/events", event)
            _ = try await client.post("/api/v1/events", event)
            let stats = try await client.get("/_sandbox/stats", auth: .none)
            #expect(stats.json["events_stored"] == 1)
            #expect(stats.json["unique_transaction_ids"] == 1)
            #expect(stats.json["duplicate_attempts_rejected"] == 1)
            #expect(stats.json["requests_by_status"]?["200"] == 1)
            #expect(stats.json["requests_by_status"]?["422"] == 1)
            #expect(stats.json["requests_by_status"]?["503"] == 1)
            #expect(stats.json["batches_accepted"] == 0)
            #expect(stats.json["single_events_accepted"] == 1)

            let keys = try await client.send(
                "PUT",
                "/_sandbox/api_keys",
                raw: #"{"api_keys":["new-key"]}"#,
                auth: .none
            )
            #expect(keys.json == ["api_keys": ["new-key"]])
            #expect(sandbox.apiKeys == ["new-key"])
            #expect(try await client.get("/api/v1/events").status == 401)
            sandbox.setAPIKeys([testAPIKey])
            #expect(try await client.get("/api/v1/events").status == 200)
        }
    }

    @Test("stats from Swift count statuses, batches and duplicates; resetStats zeroes counters")
    func swiftStats() async throws {
        try await withSandbox { sandbox, client in
            let batch =
                #"{"events":[{"transaction_id":"a","code":"c","external_subscription_id":"s"},{"transaction_id":"b","code":"c","external_subscription_id":"s"}]}"#
            _ = try await client.post("/api/v1/events/batch", batch)
            _ = try await client.post("/api/v1/events/batch", batch)
            let stats = sandbox.stats()
            #expect(stats.eventsStored == 2)
            #expect(stats.batchesAccepted == 1)
            #expect(stats.duplicateAttemptsRejected == 2)
            #expect(stats.requests(status: 200) == 1)
            #expect(stats.requests(status: 422) == 1)
            #expect(stats.requestsTotal == 2)
            sandbox.resetStats()
            #expect(sandbox.stats().requestsTotal == 0)
            #expect(sandbox.stats().eventsStored == 2)
        }
    }
}
