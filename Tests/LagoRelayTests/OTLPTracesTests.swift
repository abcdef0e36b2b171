import AsyncHTTPClient
import CompressNIO
import Foundation
import LagoAPI
import LagoEngine
import LagoOTLP
import LagoRelay
import LagoSandbox
import LagoUsage
import Logging
import NIOCore
import OTLPProto
import SwiftProtobuf
import Testing

/// Runs a relay (with its OTLP options) in front of an engine delivering to a sandbox; default subscription
/// `sub_sandbox`.
func withOTLPRelay(
    customerSubscription: (@Sendable (String) -> String?)? = nil,
    otlp: OTLPUsageOptions = OTLPUsageOptions(), usageCost: CostEvents = .off, otlpCost: CostEvents = .off,
    _ body: @Sendable (_ root: URL, _ sandbox: Sandbox, _ engine: LagoEngine) async throws -> Void
) async throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("otlp-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    try await Sandbox.withRunning { sandbox in
        var configuration = EngineConfiguration(spoolPath: directory.appendingPathComponent("spool.sqlite").path)
        configuration.flushInterval = .milliseconds(20)
        configuration.defaultSubscription = "sub_sandbox"
        let engine = try LagoEngine(
            configuration: configuration, baseURL: try LagoBaseURL(sandbox.baseURL.absoluteString),
            apiKey: sandbox.apiKey)
        engine.start()
        var options = RelayOptions(host: "127.0.0.1", port: 0, token: "relay-token")
        options.customerSubscription = customerSubscription
        options.otlp = { otlp }
        options.usageCostEvents = { usageCost }
        options.otlpCostEvents = { otlpCost }
        do {
            try await LagoRelay.withRunning(engine: engine, options: options, logger: Logger(label: "otlp-test")) {
                url in
                try await body(URL(string: String(url.absoluteString.dropLast("/api/v1".count)))!, sandbox, engine)
            }
        } catch {
            await engine.shutdown()
            throw error
        }
        await engine.shutdown()
    }
}

/// An OTLP export as an exporter sends it: the answer's status, `Content-Type` and body.
func export(
    _ root: URL, body: [UInt8], contentType: String = "application/json", contentEncoding: String? = nil,
    token: String = "relay-token"
) async throws -> (status: Int, contentType: String, body: [UInt8]) {
    var request = HTTPClientRequest(url: root.absoluteString + "/v1/traces")
    request.method = .POST
    request.headers.add(name: "Authorization", value: "Bearer \(token)")
    request.headers.add(name: "Content-Type", value: contentType)
    if let contentEncoding { request.headers.add(name: "Content-Encoding", value: contentEncoding) }
    request.body = .bytes(ByteBuffer(bytes: body))
    let response = try await HTTPClient.shared.execute(request, timeout: .seconds(20))
    let bytes = try await response.body.collect(upTo: 1 << 24)
    return (
        Int(response.status.code), response.headers.first(name: "Content-Type") ?? "", Array(bytes.readableBytesView)
    )
}

func gzip(_ bytes: [UInt8]) throws -> [UInt8] {
    var buffer = ByteBuffer(bytes: bytes)
    let compressed = try buffer.compress(with: .gzip())
    return Array(compressed.readableBytesView)
}

/// Golden OTLP payloads, written from the GenAI semantic conventions registry (the attributes each instrumentation
/// style sets).
enum OTLPGolden {
    static let anthropicTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
    /// Anthropic-style (an Anthropic SDK instrumentation): cache read and cache creation counted inside
    /// `input_tokens`, the subscription on the resource, 64-bit ints as strings, ids as hex.
    static let anthropicJSON = """
        {"resourceSpans":[{"resource":{"attributes":[
          {"key":"service.name","value":{"stringValue":"support-bot"}},
          {"key":"lago.subscription_id","value":{"stringValue":"sub_anthropic"}}]},
         "scopeSpans":[{"scope":{"name":"opentelemetry.instrumentation.anthropic","version":"0.40.0"},
          "spans":[{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b7",
           "name":"chat claude-sonnet-4",
           "kind":3,"startTimeUnixNano":"1764000000000000000","endTimeUnixNano":"1764000001123456789",
           "attributes":[
            {"key":"gen_ai.operation.name","value":{"stringValue":"chat"}},
            {"key":"gen_ai.provider.name","value":{"stringValue":"anthropic"}},
            {"key":"gen_ai.request.model","value":{"stringValue":"claude-sonnet-4"}},
            {"key":"gen_ai.response.model","value":{"stringValue":"claude-sonnet-4-20250514"}},
            {"key":"gen_ai.response.id","value":{"stringValue":"msg_01XFDUDYJgAACzvnptvVoYEL"}},
            {"key":"gen_ai.usage.input_tokens","value":{"intValue":"1500"}},
            {"key":"gen_ai.usage.cache_read.input_tokens","value":{"intValue":"1000"}},
            {"key":"gen_ai.usage.cache_creation.input_tokens","value":{"intValue":200}},
            {"key":"gen_ai.usage.output_tokens","value":{"intValue":"320"}}],
           "status":{}}]}]}]}
        """

    /// OpenAI-style, protobuf: reasoning tokens, the deprecated `gen_ai.system`, no subscription attribute (the
    /// default subscription applies), built with the generated types.
    static func openAIProtobuf() throws -> [UInt8] {
        var span = Opentelemetry_Proto_Trace_V1_Span()
        span.traceID = Data((0..<16).map { UInt8($0 + 1) })
        span.spanID = Data([0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8])
        span.name = "chat o4-mini"
        span.kind = .client
        span.startTimeUnixNano = 1_764_000_100_000_000_000
        span.endTimeUnixNano = 1_764_000_102_500_000_001
        span.attributes = [
            keyValue("gen_ai.operation.name", .stringValue("chat")),
            keyValue("gen_ai.system", .stringValue("openai")),
            keyValue("gen_ai.request.model", .stringValue("o4-mini")),
            keyValue("gen_ai.response.id", .stringValue("chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG")),
            keyValue("gen_ai.usage.input_tokens", .intValue(900)),
            keyValue("gen_ai.usage.output_tokens", .intValue(1200)),
            keyValue("gen_ai.usage.reasoning.output_tokens", .intValue(1024)),
        ]
        var scope = Opentelemetry_Proto_Trace_V1_ScopeSpans()
        scope.spans = [span]
        var resource = Opentelemetry_Proto_Trace_V1_ResourceSpans()
        resource.resource.attributes = [keyValue("service.name", .stringValue("reasoner"))]
        resource.scopeSpans = [scope]
        var request = Opentelemetry_Proto_Collector_Trace_V1_ExportTraceServiceRequest()
        request.resourceSpans = [resource]
        return try request.serializedBytes()
    }

    static func keyValue(
        _ key: String, _ value: Opentelemetry_Proto_Common_V1_AnyValue.OneOf_Value
    )
        -> Opentelemetry_Proto_Common_V1_KeyValue
    {
        var entry = Opentelemetry_Proto_Common_V1_KeyValue()
        entry.key = key
        entry.value.value = value
        return entry
    }

    static let agentTrace = "0af7651916cd43dd8448eb211c80319c"
    /// An agent trace: `invoke_agent` (no usage) parents two `chat` calls and, between them, two `execute_tool`
    /// spans the first call asked for; a third tool runs inside the second call's span. The customer names the
    /// subscription (span attribute `lago.customer_id`).
    static func agentJSON(customer: String = "cust_acme") -> String {
        func span(
            _ id: String, parent: String, name: String, start: String, end: String, _ attributes: String
        ) -> String {
            #"{"traceId":"\#(agentTrace)","spanId":"\#(id)","parentSpanId":"\#(parent)","name":"\#(name)","#
                + #""startTimeUnixNano":"\#(start)","endTimeUnixNano":"\#(end)","attributes":[\#(attributes)]}"#
        }
        func text(_ key: String, _ value: String) -> String {
            #"{"key":"\#(key)","value":{"stringValue":"\#(value)"}}"#
        }
        func int(_ key: String, _ value: Int) -> String { #"{"key":"\#(key)","value":{"intValue":"\#(value)"}}"# }
        let agent = span(
            "1000000000000001", parent: "", name: "invoke_agent travel", start: "1764000200000000000",
            end: "1764000209000000000", text("gen_ai.operation.name", "invoke_agent"))
        let chat1 = span(
            "1000000000000002", parent: "1000000000000001", name: "chat gpt-4.1", start: "1764000200100000000",
            end: "1764000201000000000",
            [
                text("gen_ai.operation.name", "chat"), text("gen_ai.provider.name", "openai"),
                text("gen_ai.request.model", "gpt-4.1"), text("lago.customer_id", customer),
                int("gen_ai.usage.input_tokens", 400), int("gen_ai.usage.output_tokens", 60),
            ].joined(separator: ","))
        let tool1 = span(
            "1000000000000003", parent: "1000000000000001", name: "execute_tool get_weather",
            start: "1764000201100000000", end: "1764000201300000000",
            [text("gen_ai.operation.name", "execute_tool"), text("gen_ai.tool.name", "get_weather")].joined(
                separator: ","))
        let tool2 = span(
            "1000000000000004", parent: "1000000000000001", name: "execute_tool book_flight",
            start: "1764000201200000000", end: "1764000201900000000",
            [text("gen_ai.operation.name", "execute_tool"), text("gen_ai.tool.name", "book_flight")].joined(
                separator: ","))
        let chat2 = span(
            "1000000000000005", parent: "1000000000000001", name: "chat gpt-4.1", start: "1764000202000000000",
            end: "1764000203000000000",
            [
                text("gen_ai.operation.name", "chat"), text("gen_ai.provider.name", "openai"),
                text("gen_ai.request.model", "gpt-4.1"), text("gen_ai.response.model", "gpt-4.1-2025-04-14"),
                text("lago.customer_id", customer), int("gen_ai.usage.input_tokens", 700),
                int("gen_ai.usage.output_tokens", 90),
            ].joined(separator: ","))
        let tool3 = span(
            "1000000000000006", parent: "1000000000000005", name: "execute_tool send_email",
            start: "1764000202500000000", end: "1764000202600000000", text("gen_ai.operation.name", "execute_tool"))
        return #"{"resourceSpans":[{"resource":{"attributes":[]},"scopeSpans":[{"spans":["#
            + [agent, chat1, tool1, tool2, chat2, tool3].joined(separator: ",") + "]}]}]}"
    }

    /// One span with `attributes` (JSON `KeyValue`s) in trace `trace`.
    static func single(
        span: String, trace: String = "5b8efff798038103d269b633813fc60c", _ attributes: String
    )
        -> String
    {
        #"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"\#(trace)","spanId":"\#(span)","name":"chat","#
            + #""endTimeUnixNano":"1764000300000000000","attributes":[\#(attributes)]}]}]}]}"#
    }
}

@Suite("OTLP traces in (POST /v1/traces)")
struct OTLPTracesTests {
    @Test func anthropicOpenAIAndAgentSpansBecomeTheExactEventsAtLago() async throws {
        try await withOTLPRelay(customerSubscription: { $0 == "cust_acme" ? "sub_acme" : nil }) {
            root, sandbox, engine in
            let anthropic = try await export(root, body: Array(OTLPGolden.anthropicJSON.utf8))
            #expect(anthropic.status == 200)
            #expect(anthropic.contentType == "application/json")
            #expect(String(decoding: anthropic.body, as: UTF8.self) == "{}", "all accepted: no partial_success")

            let openAI = try await export(
                root, body: try OTLPGolden.openAIProtobuf(), contentType: "application/x-protobuf")
            #expect(openAI.status == 200)
            #expect(openAI.contentType == "application/x-protobuf")
            let decoded = try Opentelemetry_Proto_Collector_Trace_V1_ExportTraceServiceResponse(
                serializedBytes: openAI.body)
            #expect(!decoded.hasPartialSuccess)

            let agent = try await export(root, body: Array(OTLPGolden.agentJSON().utf8))
            #expect(agent.status == 200)
            #expect(await engine.flush(deadline: .seconds(20)).pending == 0)

            let events = Dictionary(uniqueKeysWithValues: sandbox.events().map { ($0.transactionID, $0) })
            // Anthropic: input 1500 − 1000 read − 200 written = 300; the resource names the subscription.
            let msg = "msg_01XFDUDYJgAACzvnptvVoYEL"
            let dimensions: [String: JSONValue] = [
                "model": "claude-sonnet-4-20250514", "provider": "anthropic", "operation": "chat",
            ]
            for (field, code, value) in [
                ("input", "llm_input_tokens", 300), ("output", "llm_output_tokens", 320),
                ("cache_read", "llm_cached_input_tokens", 1000), ("cache_write", "llm_cache_creation_tokens", 200),
            ] {
                let event = try #require(events["\(msg):\(field)"], "\(field)")
                #expect(event.code == code)
                #expect(event.externalSubscriptionID == "sub_anthropic")
                #expect(event.timestampMicroseconds == 1_764_000_001_123_456, "the span's end, to the microsecond")
                #expect(event.properties == dimensions.merging(["value": .integer(Int64(value))]) { $1 })
            }
            // OpenAI (protobuf): reasoning as its own field, gen_ai.system as provider, the default subscription.
            let completion = "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG"
            for (field, value) in [("input", 900), ("output", 1200), ("reasoning", 1024)] {
                let event = try #require(events["\(completion):\(field)"], "\(field)")
                #expect(event.externalSubscriptionID == "sub_sandbox")
                #expect(event.timestampMicroseconds == 1_764_000_102_500_000)
                #expect(
                    event.properties == [
                        "value": .integer(Int64(value)), "model": "o4-mini", "provider": "openai", "operation": "chat",
                    ])
            }
            #expect(events["\(completion):reasoning"]?.code == "llm_reasoning_tokens")
            // Agent: no response id, so `<trace>-<span>`; the two tools between the calls belong to the first one,
            // the tool inside the second call's span to it; the customer's one subscription is billed.
            let first = "\(OTLPGolden.agentTrace)-1000000000000002"
            let second = "\(OTLPGolden.agentTrace)-1000000000000005"
            #expect(events["\(first):tool_calls"]?.properties["value"] == 2)
            #expect(events["\(first):tool_calls"]?.code == "llm_tool_calls")
            #expect(events["\(second):tool_calls"]?.properties["value"] == 1)
            #expect(
                events["\(first):input"]?.properties == [
                    "value": 400, "model": "gpt-4.1", "provider": "openai",
                    "operation": "chat",
                ])
            #expect(events["\(second):input"]?.properties["model"] == "gpt-4.1-2025-04-14")
            #expect(events["\(second):output"]?.timestampMicroseconds == 1_764_000_203_000_000)
            #expect(
                Set(
                    events.values.filter { $0.transactionID.hasPrefix(OTLPGolden.agentTrace) }.map {
                        $0.externalSubscriptionID
                    }) == ["sub_acme"])
            #expect(events.count == 4 + 3 + 6, "one event per non-zero field, nothing for spans without usage")
        }
    }

    @Test func aReExportedBatchIsAcceptedWithoutBillingTwiceAndMappingEditsApplyToLaterSpans() async throws {
        try await withOTLPRelay { root, sandbox, engine in
            let body = Array(OTLPGolden.anthropicJSON.utf8)
            #expect(try await export(root, body: body).status == 200)
            #expect(await engine.flush(deadline: .seconds(20)).pending == 0)
            // The exporter retries (it never saw the answer): 200 again, so it stops; nothing new at Lago.
            let again = try await export(root, body: try gzip(body), contentEncoding: "gzip")
            #expect(again.status == 200)
            #expect(String(decoding: again.body, as: UTF8.self) == "{}")
            #expect(await engine.flush(deadline: .seconds(20)).pending == 0)
            #expect(sandbox.events().count == 4)

            // The operator renames the input metric while traffic flows: spans accepted after it use the new code;
            // a batch holding a span seen before and a new one queues only the new one.
            engine.updateMapping([.input: "otel_input_v2"])
            let fresh = OTLPGolden.single(
                span: "0000000000000abc",
                #"{"key":"gen_ai.usage.input_tokens","value":{"intValue":"42"}}"#)
            let mixed =
                #"{"resourceSpans":["#
                + String(OTLPGolden.anthropicJSON.dropFirst(#"{"resourceSpans":["#.count).dropLast(2))
                + "," + String(fresh.dropFirst(#"{"resourceSpans":["#.count))
            let answer = try await export(root, body: Array(mixed.utf8))
            #expect(answer.status == 200, "\(String(decoding: answer.body, as: UTF8.self))")
            #expect(await engine.flush(deadline: .seconds(20)).pending == 0)
            let events = sandbox.events()
            #expect(events.count == 5)
            let renamed = try #require(
                events.first { $0.transactionID == "5b8efff798038103d269b633813fc60c-0000000000000abc:input" })
            #expect(renamed.code == "otel_input_v2" && renamed.properties["value"] == 42)
            #expect(
                events.first { $0.transactionID.hasSuffix(":input") && $0.transactionID.hasPrefix("msg_") }?.code
                    == "llm_input_tokens", "the first copy keeps the code it was accepted with")
        }
    }

    @Test func badPayloadsAreRefusedAsAnOTLPReceiverDoesAndNothingOfThemIsQueued() async throws {
        try await withOTLPRelay(otlp: OTLPUsageOptions(subscriptionAttribute: "tenant.subscription")) {
            root, sandbox, engine in
            // Span by span: wrong type, negative count, cache beyond input; the good span beside them is queued.
            let spans = [
                ("00000000000000a1", #"{"key":"gen_ai.usage.input_tokens","value":{"stringValue":"12"}}"#),
                ("00000000000000a2", #"{"key":"gen_ai.usage.output_tokens","value":{"intValue":"-5"}}"#),
                (
                    "00000000000000a3",
                    #"{"key":"gen_ai.usage.input_tokens","value":{"intValue":"10"}},"#
                        + #"{"key":"gen_ai.usage.cache_read.input_tokens","value":{"intValue":"11"}}"#
                ),
                (
                    "00000000000000a4",
                    #"{"key":"tenant.subscription","value":{"intValue":"7"}}, "#
                        + #"{"key":"gen_ai.usage.output_tokens","value":{"intValue":"5"}}"#
                ),
                ("00000000000000a5", #"{"key":"gen_ai.usage.output_tokens","value":{"intValue":"5"}}"#),
            ]
            let body =
                #"{"resourceSpans":[{"scopeSpans":[{"spans":["#
                + spans.map { id, attributes in
                    #"{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"\#(id)","endTimeUnixNano":"#
                        + #""1764000300000000000","attributes":[\#(attributes)]}"#
                }.joined(separator: ",") + "]}]}]}"
            let partial = try await export(root, body: Array(body.utf8))
            #expect(partial.status == 200)
            let answer = try JSONValue.parse(Data(partial.body))
            #expect(answer["partialSuccess"]?["rejectedSpans"] == "4")
            let message = try #require(answer["partialSuccess"]?["errorMessage"]?.stringValue)
            #expect(
                message.contains(
                    "span 00000000000000a1 of trace 5b8efff798038103d269b633813fc60c: "
                        + "gen_ai.usage.input_tokens must be an intValue"
                ))
            #expect(
                message.contains(
                    "span 00000000000000a2 of trace 5b8efff798038103d269b633813fc60c: gen_ai.usage.output_tokens is -5")
            )
            #expect(message.contains("span 00000000000000a3") && message.contains("(11)"))
            #expect(
                message.contains(
                    "span 00000000000000a4 of trace 5b8efff798038103d269b633813fc60c: "
                        + "tenant.subscription must be a non-empty string"
                ))
            // The same in protobuf: the answer is an ExportTraceServiceResponse in protobuf.
            var span = Opentelemetry_Proto_Trace_V1_Span()
            span.traceID = Data([
                0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03, 0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc6, 0x0c,
            ])
            span.spanID = Data([0, 0, 0, 0, 0, 0, 0, 0xb1])
            span.name = "chat"
            span.endTimeUnixNano = 1_764_000_300_000_000_000
            span.attributes = [OTLPGolden.keyValue("gen_ai.usage.input_tokens", .intValue(-1))]
            var request = Opentelemetry_Proto_Collector_Trace_V1_ExportTraceServiceRequest()
            request.resourceSpans = [.init()]
            request.resourceSpans[0].scopeSpans = [.init()]
            request.resourceSpans[0].scopeSpans[0].spans = [span]
            let refused = try await export(
                root, body: try request.serializedBytes(), contentType: "application/x-protobuf")
            #expect(refused.status == 200)
            let response = try Opentelemetry_Proto_Collector_Trace_V1_ExportTraceServiceResponse(
                serializedBytes: refused.body)
            #expect(response.partialSuccess.rejectedSpans == 1)
            #expect(
                response.partialSuccess.errorMessage.hasPrefix(
                    "span 00000000000000b1 of trace 5b8efff798038103d269b633813fc60c: gen_ai.usage.input_tokens is -1"))

            // Whole requests: 415, 400, 413 (declared too large; a gzip bomb), nothing queued.
            let wrongType = try await export(root, body: Array("{}".utf8), contentType: "text/plain")
            #expect(wrongType.status == 415)
            #expect(String(decoding: wrongType.body, as: UTF8.self).contains("application/x-protobuf"))
            #expect(try await export(root, body: Array(#"{"resourceSpans":[{"#.utf8)).status == 400)
            #expect(try await export(root, body: Array(#"{"resourceSpans":{}}"#.utf8)).status == 400)
            let malformed = try await export(root, body: [0x0a, 0xff, 0x01], contentType: "application/x-protobuf")
            #expect(malformed.status == 400)
            #expect(try await export(root, body: [1, 2, 3], contentEncoding: "gzip").status == 400)
            #expect(try await export(root, body: Array("{}".utf8), contentEncoding: "br").status == 415)
            let tenMegabytes = [UInt8](repeating: UInt8(ascii: " "), count: 10_000_000)
            #expect(try await export(root, body: tenMegabytes).status == 413)
            let bomb = try gzip([UInt8](repeating: UInt8(ascii: " "), count: 64 << 20))
            #expect(bomb.count < 1 << 20, "small on the wire")
            let exploded = try await export(root, body: bomb, contentEncoding: "gzip")
            #expect(exploded.status == 413)
            #expect(String(decoding: exploded.body, as: UTF8.self).contains("inflates to more than"))
            let unauthorized = try await export(root, body: Array(OTLPGolden.anthropicJSON.utf8), token: "wrong")
            #expect(unauthorized.status == 401)

            #expect(await engine.flush(deadline: .seconds(20)).pending == 0)
            #expect(
                sandbox.events().map(\.transactionID) == ["5b8efff798038103d269b633813fc60c-00000000000000a5:output"])
            // Still serving.
            #expect(try await export(root, body: Array(#"{"resourceSpans":[]}"#.utf8)).status == 200)
        }
    }

    @Test func costEventsGoBesideOrInsteadOfTheTokenEventsWithExactNanos() async throws {
        try await withOTLPRelay(
            usageCost: CostEvents(mode: .also), otlpCost: CostEvents(mode: .only, code: "llm_cost")
        ) { root, sandbox, engine in
            // A usage record with a cost, `also`: the token events and one `llm_usage` event.
            let record =
                #"{"id":"rec-1","input":10,"output":2,"model":"gpt-x","cost":{"amount":"0.004215","currency":"USD"}}"#
            let answer = try await post(root, path: "/v1/usage", body: Array(record.utf8), key: "relay-token")
            #expect(answer.status == 200, "\(String(describing: answer.json))")
            #expect(answer.json == ["transaction_ids": ["rec-1:cost", "rec-1:input", "rec-1:output"]])
            let finer = #"{"id":"rec-2","input":1,"cost":{"amount":"0.0000000001","currency":"USD"}}"#
            let refused = try await post(
                root, path: "/v1/usage", body: Array(finer.utf8), key: "relay-token")
            #expect(refused.status == 422)
            #expect(
                refused.json?["error_details"]?["cost.amount"]?.arrayValue?.first?.stringValue?.contains(
                    "finer than a billionth") == true)

            // Spans, `only`: one cost event per span with a cost (no token events); a span without one is refused.
            let spans =
                #"{"resourceSpans":[{"scopeSpans":[{"spans":["#
                + #"{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"00000000000000c1","#
                + #""endTimeUnixNano":"1764000300000000000","attributes":["#
                + #"{"key":"gen_ai.request.model","value":{"stringValue":"gpt-4.1"}},"#
                + #"{"key":"gen_ai.usage.input_tokens","value":{"intValue":"100"}},"#
                + #"{"key":"gen_ai.usage.cost","value":{"stringValue":"1.000000007"}}]},"#
                + #"{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"00000000000000c2","#
                + #""endTimeUnixNano":"1764000300000000000","attributes":["#
                + #"{"key":"gen_ai.usage.input_tokens","value":{"intValue":"100"}}]}]}]}]}"#
            let exported = try await export(root, body: Array(spans.utf8))
            #expect(exported.status == 200)
            let response = try JSONValue.parse(Data(exported.body))
            #expect(response["partialSuccess"]?["rejectedSpans"] == "1")
            #expect(
                response["partialSuccess"]?["errorMessage"]?.stringValue?.hasPrefix(
                    "span 00000000000000c2 of trace 5b8efff798038103d269b633813fc60c: gen_ai.usage.cost is missing")
                    == true)
            #expect(await engine.flush(deadline: .seconds(20)).pending == 0)

            let events = Dictionary(uniqueKeysWithValues: sandbox.events().map { ($0.transactionID, $0) })
            #expect(events.count == 4)
            let recordCost = try #require(events["rec-1:cost"])
            #expect(recordCost.code == "llm_usage")
            #expect(recordCost.properties == ["cost_nanos": 4_215_000, "currency": "USD", "model": "gpt-x"])
            #expect(events["rec-1:input"]?.properties["value"] == 10)
            let spanCost = try #require(events["5b8efff798038103d269b633813fc60c-00000000000000c1:cost"])
            #expect(spanCost.code == "llm_cost")
            #expect(spanCost.properties == ["cost_nanos": 1_000_000_007, "currency": "USD", "model": "gpt-4.1"])
            #expect(spanCost.timestampMicroseconds == 1_764_000_300_000_000)
        }
    }

    @Test func spansNamingACustomerWithoutOneActiveSubscriptionAreRefusedNotBilledToTheDefault() async throws {
        let reading = OTLPUsageMapping.read(
            try OTLPTraceDecoder.spans(
                in: Array(OTLPGolden.agentJSON(customer: "cust_two_subs").utf8), encoding: .json),
            options: OTLPUsageOptions(), customerSubscription: { _ in nil }, defaultSubscription: "sub_default")
        #expect(reading.usage.isEmpty)
        #expect(reading.rejected.count == 2)
        #expect(reading.rejected.first?.field == "lago.customer_id")
        #expect(reading.ignored == 4)
    }

    @Test func oneProviderCallInstrumentedTwiceBillsOnceAndASpanWithoutIdsIsRefused() throws {
        let usage = #"{"key":"gen_ai.usage.input_tokens","value":{"intValue":"5"}}"#
        let response = #"{"key":"gen_ai.response.id","value":{"stringValue":"resp-1"}},"#
        let body =
            #"{"resourceSpans":[{"scopeSpans":[{"spans":["#
            + #"{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"00000000000000d1","#
            + #""endTimeUnixNano":"1","attributes":[\#(response)\#(usage)]},"#
            + #"{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"00000000000000d2","#
            + #""endTimeUnixNano":"2","attributes":[\#(response)\#(usage)]},"#
            + #"{"endTimeUnixNano":"3","attributes":[\#(usage)]}]}]}]}"#
        let reading = OTLPUsageMapping.read(
            try OTLPTraceDecoder.spans(in: Array(body.utf8), encoding: .json), options: OTLPUsageOptions(),
            customerSubscription: nil, defaultSubscription: "sub_default")
        #expect(reading.usage.map(\.spanID) == ["00000000000000d1"])
        #expect(reading.repeated == 1)
        #expect(reading.rejected.map(\.field) == ["traceId"])
    }

    @Test func jsonIdsAreHexInAnyCaseAndSnakeCaseKeysAreRead() throws {
        let body =
            #"{"resource_spans":[{"scope_spans":[{"spans":[{"trace_id":"5B8EFFF798038103D269B633813FC60C","#
            + #""span_id":"00000000000000E1","end_time_unix_nano":"1764000300000000000","attributes":["#
            + #"{"key":"gen_ai.usage.output_tokens","value":{"int_value":"3"}}]}]}]}]}"#
        let spans = try OTLPTraceDecoder.spans(in: Array(body.utf8), encoding: .json)
        #expect(spans.map(\.traceID) == ["5b8efff798038103d269b633813fc60c"])
        #expect(spans.map(\.spanID) == ["00000000000000e1"])
        #expect(spans.first?.attributes["gen_ai.usage.output_tokens"] == .int(3))
        for badID in ["AAAA+/AAAAAAAAAAAAAAAAAAAAAAAAAA", "zz"] {
            let bad = body.replacingOccurrences(of: "5B8EFFF798038103D269B633813FC60C", with: badID)
            #expect(throws: OTLPDecodingError.self) { try OTLPTraceDecoder.spans(in: Array(bad.utf8), encoding: .json) }
        }
    }
}
