import Foundation
import LagoAPI
import LagoEngine
import LagoSandbox
import Testing

/// What the relay must never change, re-date or let through twice (issue: money-grade correctness).
@Suite("Relay keeps the client's events as written")
struct MoneyGradeRelayTests {
    @Test func tenThousandNumeralsReachLagoExactlyAsTheClientWroteThem() async throws {
        try await withRelay { relayURL, sandbox, engine in
            sandbox.recordEventRequestBodies()
            var random = SplitMix64(seed: 20_261_201)
            var numerals: [String: String] = [:]
            for batch in 0..<100 {
                var events: [String] = []
                for index in 0..<100 {
                    let id = "num-\(batch)-\(index)"
                    let numeral = randomNumeral(&random)
                    numerals[id] = numeral
                    events.append(
                        #"{"transaction_id":"\#(id)","external_subscription_id":"sub_sandbox","#
                            + #""code":"llm_input_tokens","timestamp":1764000000,"properties":{"value":\#(numeral)}}"#)
                }
                let body = #"{"events":[\#(events.joined(separator: ","))]}"#
                let answer = try await post(relayURL, path: "/events/batch", body: Array(body.utf8))
                try #require(answer.status == 200, "batch \(batch): \(String(describing: answer.json))")
            }
            let result = await engine.flush(deadline: .seconds(60))
            #expect(result.pending == 0 && result.dead == 0)

            var matched = 0
            var changed: [String] = []
            for body in sandbox.eventRequestBodies() {
                for text in try RawEventJSON.events(in: body, batch: true) {
                    let event = try JSONValue.parse(Data(text))
                    let id = try #require(event["transaction_id"]?.stringValue)
                    let numeral = try #require(numerals[id])
                    if String(decoding: text, as: UTF8.self).contains(#""properties":{"value":\#(numeral)}"#) {
                        matched += 1
                    } else if changed.count < 5 {
                        changed.append("\(numeral) → \(String(decoding: text, as: UTF8.self))")
                    }
                }
            }
            #expect(matched == 10_000, "numerals changed on the way, e.g. \(changed)")
        }
    }

    @Test func aRelayedEventWithoutTimestampCarriesItsTimeOfReceptionEvenWhenDeliveredLater() async throws {
        let reception = Date(timeIntervalSince1970: 1_764_000_123.456789)
        try await withRelay(now: { reception }) { relayURL, sandbox, engine in
            engine.pause()
            let body = #"{"event":{"transaction_id":"late-1","code":"llm_input_tokens","properties":{"value":3}}}"#
            let answer = try await post(relayURL, path: "/events", body: Array(body.utf8))
            #expect(answer.status == 200)
            engine.resume()
            let result = await engine.flush(deadline: .seconds(20))
            #expect(result.pending == 0 && result.dead == 0)
            let stored = try #require(sandbox.events().first { $0.transactionID == "late-1" })
            #expect(stored.timestampMicroseconds == 1_764_000_123_456_789)
            #expect(stored.externalSubscriptionID == "sub_sandbox", "the default subscription is added")
        }
    }

    @Test func aBatchSentAgainIsRefusedAsLagoRefusesItAndNothingIsDeadLettered() async throws {
        try await withRelay { relayURL, sandbox, engine in
            let events = (0..<100).map {
                #"{"transaction_id":"again-\#($0)","external_subscription_id":"sub_sandbox","code":"llm_input_tokens","properties":{"value":1}}"#
            }
            let body = Array(#"{"events":[\#(events.joined(separator: ","))]}"#.utf8)
            let first = try await post(relayURL, path: "/events/batch", body: body)
            #expect(first.status == 200)
            // The client timed out and sends the same batch again, before or after delivery.
            let second = try await post(relayURL, path: "/events/batch", body: body)
            #expect(second.status == 422)
            #expect(second.json?["code"] == "validation_errors")
            let details = try #require(second.json?["error_details"]?.objectValue)
            #expect(details.count == 100)
            #expect(details["0"] == ["transaction_id": ["value_already_exist"]])
            #expect(details["99"] == ["transaction_id": ["value_already_exist"]])

            var result = await engine.flush(deadline: .seconds(20))
            #expect(result.pending == 0 && result.dead == 0)
            let third = try await post(relayURL, path: "/events/batch", body: body)
            #expect(third.status == 422, "delivered events stay in the index")

            // One new event beside one already sent: the batch is refused whole, the new one is not spooled.
            let mixed = Array(
                (#"{"events":[{"transaction_id":"fresh-1","external_subscription_id":"sub_sandbox","code":"c"},"#
                    + events[7] + "]}").utf8)
            let refused = try await post(relayURL, path: "/events/batch", body: mixed)
            #expect(refused.status == 422)
            #expect(refused.json?["error_details"] == ["1": ["transaction_id": ["value_already_exist"]]])
            // A single event answers by field, as Lago's POST /events does.
            let single = try await post(
                relayURL, path: "/events", body: Array(#"{"event":\#(events[3])}"#.utf8))
            #expect(single.status == 422)
            #expect(single.json?["error_details"] == ["transaction_id": ["value_already_exist"]])

            result = await engine.flush(deadline: .seconds(20))
            let stats = await engine.stats()
            #expect(stats.dead == 0 && stats.queued == 0)
            #expect(sandbox.storedEventCount == 100)
            #expect(!sandbox.events().contains { $0.transactionID == "fresh-1" })
        }
    }

    @Test func anEventLagoRefusedMayBeSentAgain() async throws {
        try await withRelay { relayURL, sandbox, engine in
            // Lago already holds this id (sent there directly): the relayed copy is refused by Lago, dead-lettered.
            let direct = LagoClient(
                configuration: LagoClientConfiguration(
                    baseURL: try LagoBaseURL(sandbox.baseURL.absoluteString), apiKey: sandbox.apiKey))
            _ = try await direct.createEvent(
                EventInput(transactionID: "held-1", externalSubscriptionID: "sub_sandbox", code: "llm_input_tokens"))
            try await direct.shutdown()
            let body = Array(
                #"{"event":{"transaction_id":"held-1","external_subscription_id":"sub_sandbox","code":"llm_input_tokens"}}"#
                    .utf8)
            #expect(try await post(relayURL, path: "/events", body: body).status == 200)
            let result = await engine.flush(deadline: .seconds(20))
            #expect(result.dead == 1)
            // Dead-lettered: not in Lago by our doing, so the client may send it again (Lago decides).
            #expect(try await post(relayURL, path: "/events", body: body).status == 200)
        }
    }
}

/// A JSON numeral of one of the shapes clients send: shortest round-trip doubles, decimals of 17 and more
/// significant digits, integers beyond 64 bits, negative zero, exponents.
func randomNumeral(_ random: inout SplitMix64) -> String {
    func digits(_ count: Int) -> String {
        String((0..<count).map { _ in Character(String(Int.random(in: 0...9, using: &random))) })
    }
    func nonZeroDigit() -> String { String(Int.random(in: 1...9, using: &random)) }
    let sign = Bool.random(using: &random) ? "-" : ""
    switch Int.random(in: 0..<7, using: &random) {
    case 0: return Double.random(in: -1e6...1e6, using: &random).description
    case 1: return "\(sign)0.\(digits(Int.random(in: 17...30, using: &random)))"
    case 2: return "\(sign)\(nonZeroDigit())\(digits(Int.random(in: 19...30, using: &random)))"
    case 3: return ["-0.0", "-0", "0.0", "0", "-0e0", "0.30000000000000004"].randomElement(using: &random)!
    case 4:
        let exponent = Int.random(in: 0...300, using: &random)
        let mark = ["e", "E", "e+", "E-", "e-"].randomElement(using: &random)!
        return "\(sign)\(nonZeroDigit()).\(digits(Int.random(in: 1...16, using: &random)))\(mark)\(exponent)"
    case 5: return String(Int64.random(in: .min ... .max, using: &random))
    default:
        return "\(sign)\(nonZeroDigit())\(digits(Int.random(in: 0...8, using: &random))).\(digits(Int.random(in: 1...20, using: &random)))"
    }
}
