import Foundation
import LagoAPI
import Testing

@testable import LagoSandbox

/// The sandbox's expression language.
@Suite("Sandbox expressions")
struct ExpressionTests {
    @Test("expressions: arithmetic, functions, missing variables")
    func expressions() throws {
        let expression = try SandboxExpression("round((event.properties.a + event.properties.b) * 2 / 3, 2)")
        #expect(try expression.evaluate(code: "c", timestamp: 0, properties: ["a": 1, "b": "2"]) == "2")
        #expect(
            try SandboxExpression("ceil(event.properties.a / 4)").evaluate(
                code: "c",
                timestamp: 0,
                properties: ["a": 5]
            ) == "2"
        )
        #expect(
            try SandboxExpression("concat(event.code, '-', event.properties.region)")
                .evaluate(code: "api", timestamp: 0, properties: ["region": "eu"]) == "api-eu"
        )
        #expect(throws: SandboxExpression.Failure(message: "Variable: b not found")) {
            try expression.evaluate(code: "c", timestamp: 0, properties: ["a": 1])
        }
        #expect(throws: SandboxExpression.Failure.self) { try SandboxExpression("event.properties.a +") }
        #expect(throws: SandboxExpression.Failure.self) { try SandboxExpression("sqrt(4)") }
    }
}

/// Lago decodes properties with Ruby's JSON (integers exact at any size, decimals as IEEE doubles written back in
/// shortest round-trip form) and stores them in Postgres `jsonb`: the sandbox keeps and answers them the same way.
@Suite struct PropertyNumberTests {
    @Test func numbersAreStoredAsLagosRailsAppStoresThem() async throws {
        try await withSandbox { _, client in
            let properties =
                #"{"big":12345678901234567890123,"u64":12345678901234567890,"neg":-98765432109876543210,"#
                + #""short":0.30000000000000004,"long":0.123456789012345678901234,"zero":-0.0,"i":42,"x":1.5}"#
            let created = try await client.post(
                "/api/v1/events",
                #"{"event":{"transaction_id":"num-1","external_subscription_id":"sub_sandbox","code":"llm_input_tokens","properties":\#(properties)}}"#)
            #expect(created.status == 200)
            let shown = try await client.get("/api/v1/events/num-1")
            let text = String(decoding: shown.body, as: UTF8.self)
            for expected in [
                #""big":12345678901234567890123"#, #""u64":12345678901234567890"#, #""neg":-98765432109876543210"#,
                #""short":0.30000000000000004"#, #""long":0.12345678901234568"#, #""zero":-0.0"#, #""i":42"#,
                #""x":1.5"#,
            ] {
                #expect(text.contains(expected), "\(expected) in \(text)")
            }
        }
    }

    @Test func aBigIntegerSurvivesTheCodableRoundTripAndComparesByItsDigits() throws {
        let value = try JSONValue.parse(Data("[12345678901234567890123, 12345678901234567890124]".utf8))
        #expect(value == .array([.bigInteger("12345678901234567890123"), .bigInteger("12345678901234567890124")]))
        let encoded = try JSONEncoder().encode(value)
        #expect(String(decoding: encoded, as: UTF8.self) == "[12345678901234567890123,12345678901234567890124]")
        #expect(try JSONDecoder().decode(JSONValue.self, from: encoded) == value)
    }
}
