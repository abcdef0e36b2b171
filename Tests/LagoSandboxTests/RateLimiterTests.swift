import AsyncHTTPClient
import Foundation
import IngestConformance
import LagoAPI
import TestSupport
import Testing

@testable import LagoSandbox

/// The sandbox's Lago Cloud-like rate limiter and its latency jitter.
@Suite("Sandbox rate limiter")
struct RateLimiterTests {
    let event = #"{"event":{"transaction_id":"t1","code":"llm_input_tokens","external_subscription_id":"sub_sandbox"}}"#

    @Test("Per 1-second window: the three headers on every answer, 429 beyond the budget, a fresh budget next second")
    func windows() {
        let t0 = ContinuousClock.now
        var limiter = SandboxRateLimiter(limit: 3, pathPrefix: "/api/v1/events", now: t0)
        func header(_ verdict: SandboxRateLimiter.Verdict, _ name: String) -> String? {
            verdict.headers.first { $0.name == name }?.value
        }
        var verdicts: [SandboxRateLimiter.Verdict] = []
        for step in 0..<5 { verdicts.append(limiter.admit(now: t0 + .milliseconds(100 + step * 10))) }
        #expect(verdicts.map(\.admitted) == [true, true, true, false, false])
        #expect(verdicts.map { header($0, "X-RateLimit-Remaining") } == ["2", "1", "0", "0", "0"])
        #expect(verdicts.allSatisfy { header($0, "X-RateLimit-Limit") == "3" })
        // 0.86 to 0.9 s left in the window: whole seconds, rounded up.
        #expect(verdicts.allSatisfy { header($0, "X-RateLimit-Reset") == "1" })
        #expect(verdicts.allSatisfy { header($0, "Retry-After") == nil })
        // The next window starts with the full budget.
        let next = limiter.admit(now: t0 + .milliseconds(1_000))
        #expect(next.admitted && header(next, "X-RateLimit-Remaining") == "2")
        // A window skipped entirely changes nothing.
        let later = limiter.admit(now: t0 + .milliseconds(3_500))
        #expect(later.admitted && header(later, "X-RateLimit-Remaining") == "2")
    }

    @Test("Over HTTP: event requests share one budget across API keys; others are not limited")
    func overHTTP() async throws {
        try await withSandbox { sandbox, client in
            sandbox.faults.rateLimiter(requestsPerSecond: 3)
            var statuses: [Int] = []
            let start = ContinuousClock.now
            for _ in 0..<20 {
                let response = try await client.post("/api/v1/events", event)
                statuses.append(response.status)
                #expect(response.header("X-RateLimit-Limit") == "3")
                #expect(response.header("X-RateLimit-Remaining") != nil)
                #expect(response.header("X-RateLimit-Reset") != nil)
                if response.status == 429 {
                    #expect(response.json == ["status": 429, "error": "Too Many Requests"])
                    #expect(response.header("X-RateLimit-Remaining") == "0")
                }
            }
            let elapsed = ContinuousClock.now - start
            // At most 3 taken per window the requests spanned (however slow the machine).
            let windows = Int(elapsed / .seconds(1)) + 2
            // Taken: the first stored, the rest Lago's duplicate 422 (the same transaction id); refused: 429.
            #expect(statuses.count { $0 != 429 } <= 3 * windows)
            #expect(statuses.allSatisfy { $0 == 200 || $0 == 422 || $0 == 429 })
            // 20 requests within fewer than 6 windows cannot all be taken at 3 per window.
            if elapsed < .seconds(5) { #expect(statuses.contains(429)) }
            #expect(sandbox.storedEventCount == 1)
            #expect(try await client.get("/api/v1/customers").header("X-RateLimit-Limit") == nil)
            sandbox.faults.rateLimiter(requestsPerSecond: nil)
            #expect(sandbox.faults.snapshot.rateLimiter == nil)
        }
    }

    @Test("Admin API: rate_limiter and latency_jitter_ms are set, shown and cleared")
    func adminAPI() async throws {
        try await withSandbox { sandbox, client in
            let set = try await client.post(
                "/_sandbox/faults",
                #"{"rate_limiter":{"requests_per_second":500},"latency_ms":5,"latency_jitter_ms":7}"#,
                auth: .none)
            #expect(set.status == 200)
            #expect(set.json["rate_limiter"] == ["requests_per_second": 500, "path_prefix": "/api/v1/events"])
            #expect(set.json["latency_ms"] == 5)
            #expect(set.json["latency_jitter_ms"] == 7)
            #expect(sandbox.faults.snapshot.rateLimiter?.requestsPerSecond == 500)
            let invalid = try await client.post(
                "/_sandbox/faults", #"{"rate_limiter":{"requests_per_second":"many"},"latency_jitter_ms":-1}"#,
                auth: .none)
            #expect(invalid.status == 422)
            #expect(
                invalid.json
                    == validationErrors([
                        "latency_jitter_ms": ["value_is_invalid"], "rate_limiter": ["value_is_invalid"],
                    ]))
            let off = try await client.post(
                "/_sandbox/faults", #"{"rate_limiter":null,"latency_ms":0,"latency_jitter_ms":0}"#, auth: .none)
            #expect(off.json["rate_limiter"] == .null)
            #expect(sandbox.faults.snapshot.isEmpty)
        }
    }

    @Test("Latency with jitter: each request takes the base delay plus at most the jitter, drawn from the seed")
    func jitter() {
        let faults = SandboxFaults()
        faults.latency(.milliseconds(100), jitter: .milliseconds(50), seed: 7)
        let latencies = (0..<200).compactMap { _ in faults.plan(method: "POST", path: "/api/v1/events/batch").latency }
        #expect(latencies.count == 200)
        #expect(latencies.allSatisfy { $0 >= .milliseconds(100) && $0 <= .milliseconds(150) })
        // Spread over the range, not one value.
        #expect(latencies.min()! < .milliseconds(110) && latencies.max()! > .milliseconds(140))
        let again = SandboxFaults()
        again.latency(.milliseconds(100), jitter: .milliseconds(50), seed: 7)
        #expect((0..<200).compactMap { _ in again.plan(method: "GET", path: "/x").latency } == latencies)
    }
}
