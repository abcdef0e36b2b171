import Foundation
import LagoAPI
import LagoEngine
import LagoUsage
import Testing

/// Issue #16, point 4: every event keeps where it came from and what coded it, from the request that brought it to
/// the request that delivers it (read back from the spool).
@Suite("Each event's source and mapping")
struct EventOriginTests {
    @Test func relayUsageOTLPAndConsoleEventsCarryTheirSourceAndMappedFieldIntoDelivery() async throws {
        try await withOTLPRelay(usageCost: CostEvents(mode: .also, code: "llm_usage")) { root, sandbox, engine in
            engine.pause()
            let changes = engine.lifecycleEvents(bufferSize: 1_000)
            let collected = Task {
                var queued: [String: EventOrigin?] = [:]
                var inFlight: [String: EventOrigin?] = [:]
                for await change in changes {
                    switch change.stage {
                    case .queued: queued[change.transactionID] = change.origin
                    case .inFlight: inFlight[change.transactionID] = change.origin
                    default: break
                    }
                    if inFlight.count == 5 { break }
                }
                return (queued, inFlight)
            }
            // A Lago client's event through the relay: its code is the client's.
            let relayed = try await post(
                root, path: "/api/v1/events",
                body: Array(
                    #"{"event":{"transaction_id":"relay-1","external_subscription_id":"sub_sandbox","code":"llm_input_tokens","properties":{"value":5}}}"#
                        .utf8), key: "relay-token")
            #expect(relayed.status == 200)
            // A usage record with a cost: its input event coded by the mapping, its cost event by usage.cost_code.
            let usage = try await post(
                root, path: "/v1/usage",
                body: Array(#"{"id":"rec-1","input":12,"cost":{"amount":"0.25","currency":"USD"}}"#.utf8),
                key: "relay-token")
            #expect(usage.status == 200, "\(String(describing: usage.json))")
            // An OTLP span, and a console test record.
            let span = OTLPGolden.single(
                span: "00000000000000f1", #"{"key":"gen_ai.usage.input_tokens","value":{"intValue":"7"}}"#)
            #expect(try await export(root, body: Array(span.utf8)).status == 200)
            let console = try await engine.enqueue(UsageRecord(values: [.output: 3], idBase: "console-1"))
            #expect(console == ["console-1:output"])

            engine.resume()
            #expect(await engine.flush(deadline: .seconds(20)).pending == 0)
            let (queued, inFlight) = await collected.value
            let expected: [String: EventOrigin] = [
                "relay-1": EventOrigin(source: .relay),
                "rec-1:input": EventOrigin(source: .usage, coding: .field(.input)),
                "rec-1:cost": EventOrigin(source: .usage, coding: .cost),
                "5b8efff798038103d269b633813fc60c-00000000000000f1:input": EventOrigin(
                    source: .otlp, coding: .field(.input)),
                "console-1:output": EventOrigin(source: .console, coding: .field(.output)),
            ]
            for (transactionID, origin) in expected {
                #expect(queued[transactionID] == origin, "queued \(transactionID)")
                #expect(inFlight[transactionID] == origin, "in flight \(transactionID): read back from the spool")
            }
            #expect(sandbox.events().count == 5)
        }
    }
}
