import LagoAPI
public import LagoUsage

/// Which span or resource attributes name who is billed (config `[usage.otel]`).
public struct OTLPUsageOptions: Sendable, Hashable {
    /// The attribute holding the subscription's external id (span first, then resource); `lago.subscription_id`.
    public var subscriptionAttribute: String
    /// The attribute holding the customer's external id, resolved to the customer's only active subscription when
    /// no subscription attribute is set (span first, then resource); `lago.customer_id`.
    public var customerAttribute: String
    /// The span attribute holding the call's cost, a decimal amount (a string, read exactly, or a number);
    /// `gen_ai.usage.cost` (no registry attribute exists for it).
    public var costAttribute: String
    /// The currency of that amount (ISO 4217); `USD`.
    public var costCurrency: String

    /// Creates options; the defaults are those of the config file.
    public init(
        subscriptionAttribute: String = "lago.subscription_id", customerAttribute: String = "lago.customer_id",
        costAttribute: String = "gen_ai.usage.cost", costCurrency: String = "USD"
    ) {
        self.subscriptionAttribute = subscriptionAttribute
        self.customerAttribute = customerAttribute
        self.costAttribute = costAttribute
        self.costCurrency = costCurrency
    }
}

/// A span the mapping refused, and why (an `Error` only to be a `Result`'s failure): it is counted in
/// `partial_success.rejected_spans`, nothing of it queued.
public struct OTLPRejectedSpan: Error, Sendable, Hashable, CustomStringConvertible {
    /// The span's trace id (hex).
    public var traceID: String
    /// The span's id (hex).
    public var spanID: String
    /// The attribute or field at fault (`gen_ai.usage.input_tokens`, `endTimeUnixNano`, …).
    public var field: String
    /// What is wrong and what to do.
    public var reason: String

    /// Creates a rejection.
    public init(traceID: String, spanID: String, field: String, reason: String) {
        self.traceID = traceID
        self.spanID = spanID
        self.field = field
        self.reason = reason
    }

    /// `span <id> of trace <id>: <field> <reason>`.
    public var description: String { "span \(spanID) of trace \(traceID): \(field) \(reason)" }
}

/// A usage record read from one span.
public struct OTLPSpanUsage: Sendable, Hashable {
    /// The record: the canonical fields, dimensions, subscription (`nil`: the engine's default), transaction-id base
    /// and the span's end as its timestamp.
    public var record: UsageRecord
    /// The span's trace id (hex).
    public var traceID: String
    /// The span's id (hex).
    public var spanID: String
}

/// What the spans of one request gave.
public struct OTLPUsageReading: Sendable, Hashable {
    /// One record per span with usage, in the order the spans came.
    public var usage: [OTLPSpanUsage]
    /// Spans with usage that were refused, with the reason.
    public var rejected: [OTLPRejectedSpan]
    /// Spans without usage (counted, not billed; an `execute_tool` span counts here and in its record's
    /// `tool_calls`).
    public var ignored: Int
    /// Usage spans with the transaction-id base of an earlier span of the request (the same `gen_ai.response.id`:
    /// one provider call instrumented twice): accepted, billed once.
    public var repeated: Int = 0
}

/// Turns OpenTelemetry GenAI spans into usage records, following the GenAI attributes of the semantic-conventions
/// registry v1.44.0 (as swift-otel-semantic-conventions 1.44.0 generates it; stability `development`, marked there
/// as moved to open-telemetry/semantic-conventions-genai under the same names): `gen_ai.usage.input_tokens`
/// counts every input token, cached ones included ("SHOULD include all types of input tokens"), so the billed
/// `input` is what remains once `gen_ai.usage.cache_read.input_tokens` and
/// `gen_ai.usage.cache_creation.input_tokens` are taken out.
///
/// | field | attribute |
/// | --- | --- |
/// | `input` | `gen_ai.usage.input_tokens` (else the deprecated `prompt_tokens`) − cache read − cache creation |
/// | `output` | `gen_ai.usage.output_tokens` (else the deprecated `gen_ai.usage.completion_tokens`) |
/// | `cache_read` | `gen_ai.usage.cache_read.input_tokens` |
/// | `cache_write` | `gen_ai.usage.cache_creation.input_tokens` |
/// | `reasoning` | `gen_ai.usage.reasoning.output_tokens` (the registry counts them inside `output_tokens` too) |
/// | `tool_calls` | the `execute_tool` spans (`gen_ai.operation.name`) of the same trace in the same request |
/// | `image_input`, `audio_input` | none: the registry defines no per-modality token counts |
/// | cost (`cost_nanos`, `currency`) | ``OTLPUsageOptions/costAttribute``, in ``OTLPUsageOptions/costCurrency`` |
///
/// Dimensions: `model` (`gen_ai.response.model`, else `gen_ai.request.model`), `provider` (`gen_ai.provider.name`,
/// else the deprecated `gen_ai.system`), `operation` (`gen_ai.operation.name`). The transaction-id base is
/// `gen_ai.response.id`, else `<trace id>-<span id>`, so a span exported again is never billed twice. The
/// timestamp is the span's end, to the microsecond.
public enum OTLPUsageMapping {
    /// The usage attributes read, by canonical field (input is computed).
    static let inputTokens = "gen_ai.usage.input_tokens"
    static let promptTokens = "gen_ai.usage.prompt_tokens"
    static let outputTokens = "gen_ai.usage.output_tokens"
    static let completionTokens = "gen_ai.usage.completion_tokens"
    static let cacheRead = "gen_ai.usage.cache_read.input_tokens"
    static let cacheCreation = "gen_ai.usage.cache_creation.input_tokens"
    static let reasoning = "gen_ai.usage.reasoning.output_tokens"
    static let usageAttributes = [
        inputTokens, promptTokens, outputTokens, completionTokens, cacheRead, cacheCreation, reasoning,
    ]
    static let operationName = "gen_ai.operation.name"

    /// Reads the usage of `spans` (all the spans of one request).
    /// - Parameters:
    ///   - customerSubscription: the customer's only active subscription (the relay's
    ///     `RelayOptions.customerSubscription`); `nil` resolves no customer and applies the default subscription.
    ///   - defaultSubscription: the engine's default subscription now; a span that names none is refused when it
    ///     is `nil` too.
    public static func read(
        _ spans: [OTLPSpan], options: OTLPUsageOptions, customerSubscription: (@Sendable (String) -> String?)?,
        defaultSubscription: String?
    ) -> OTLPUsageReading {
        var usageSpans: [Int] = []
        var toolSpans: [Int] = []
        usageSpans.reserveCapacity(spans.count)
        for index in spans.indices {
            let attributes = spans[index].attributes
            if usageAttributes.contains(where: { attributes[$0] != nil }) || attributes[options.costAttribute] != nil {
                usageSpans.append(index)
            } else if case .string("execute_tool")? = attributes[operationName] {
                toolSpans.append(index)
            }
        }
        let toolCalls = toolCallOwners(spans, usageSpans: usageSpans, toolSpans: toolSpans)
        var reading = OTLPUsageReading(usage: [], rejected: [], ignored: spans.count - usageSpans.count)
        var bases: Set<String> = []
        bases.reserveCapacity(usageSpans.count)
        reading.usage.reserveCapacity(usageSpans.count)
        for index in usageSpans {
            switch record(
                spans[index], toolCalls: toolCalls[index, default: 0], options: options,
                customerSubscription: customerSubscription, defaultSubscription: defaultSubscription)
            {
            case .success(let record):
                guard bases.insert(record.idBase ?? "").inserted else {
                    reading.repeated += 1
                    continue
                }
                reading.usage.append(
                    OTLPSpanUsage(record: record, traceID: spans[index].traceID, spanID: spans[index].spanID))
            case .failure(let rejection):
                reading.rejected.append(rejection)
            }
        }
        return reading
    }

    /// For each usage span, how many `execute_tool` spans belong to it: a tool span belongs to its nearest ancestor
    /// with usage in the request; without one, to the usage span of its trace that ended last before the tool
    /// started (the model call that asked for it), else to the trace's first usage span. A trace without usage
    /// bills no tool call.
    static func toolCallOwners(_ spans: [OTLPSpan], usageSpans: [Int], toolSpans: [Int]) -> [Int: Int] {
        guard !toolSpans.isEmpty, !usageSpans.isEmpty else { return [:] }
        var byID: [String: Int] = [:]
        for (index, span) in spans.enumerated() { byID[span.traceID + "/" + span.spanID] = index }
        let usage = Set(usageSpans)
        var owners: [Int: Int] = [:]
        for tool in toolSpans {
            let span = spans[tool]
            var owner: Int?
            var parent = span.parentSpanID
            var steps = 0
            while !parent.isEmpty, let index = byID[span.traceID + "/" + parent], steps < spans.count {
                if usage.contains(index) {
                    owner = index
                    break
                }
                parent = spans[index].parentSpanID
                steps += 1
            }
            if owner == nil {
                let sameTrace = usageSpans.filter { spans[$0].traceID == span.traceID }
                owner =
                    sameTrace.filter { spans[$0].endTimeUnixNano <= span.startTimeUnixNano }
                    .max { spans[$0].endTimeUnixNano < spans[$1].endTimeUnixNano } ?? sameTrace.first
            }
            if let owner { owners[owner, default: 0] += 1 }
        }
        return owners
    }

    static func record(
        _ span: OTLPSpan, toolCalls: Int, options: OTLPUsageOptions,
        customerSubscription: (@Sendable (String) -> String?)?, defaultSubscription: String?
    ) -> Result<UsageRecord, OTLPRejectedSpan> {
        func refuse(_ field: String, _ reason: String) -> Result<UsageRecord, OTLPRejectedSpan> {
            .failure(OTLPRejectedSpan(traceID: span.traceID, spanID: span.spanID, field: field, reason: reason))
        }
        // The counts of `usageAttributes`, by position.
        var counts = [Int64?](repeating: nil, count: usageAttributes.count)
        for (position, key) in usageAttributes.enumerated() {
            guard let value = span.attributes[key] else { continue }
            switch value {
            case .int(let count) where count >= 0: counts[position] = count
            case .double(let count) where count >= 0 && count == count.rounded() && count < 9e15:
                counts[position] = Int64(count)
            case .int, .double: return refuse(key, "is \(value.number), not a whole number of 0 or more")
            default: return refuse(key, "must be an intValue (a token count), not \(value.kind)")
            }
        }
        let (
            inputCount, promptCount, outputCount, completionCount, cacheReadCount, cacheCreationCount, reasoningCount
        ) =
            (counts[0], counts[1], counts[2], counts[3], counts[4], counts[5], counts[6])
        let input = inputCount ?? promptCount ?? 0
        let cached = (cacheReadCount ?? 0) + (cacheCreationCount ?? 0)
        guard cached <= input else {
            return refuse(
                inputTokens,
                "is \(input), less than cache_read.input_tokens + cache_creation.input_tokens (\(cached)): the "
                    + "semantic conventions count cached tokens inside input_tokens, so the input billed would be "
                    + "negative; export input_tokens with the cached tokens included")
        }
        guard span.endTimeUnixNano > 0 else {
            return refuse("endTimeUnixNano", "is missing: the span's end is the usage's timestamp")
        }
        var values: [CanonicalField: Double] = [:]
        func set(_ field: CanonicalField, _ count: Int64?) {
            if let count, count > 0 { values[field] = Double(count) }
        }
        set(.input, input - cached)
        set(.output, outputCount ?? completionCount)
        set(.cacheRead, cacheReadCount)
        set(.cacheWrite, cacheCreationCount)
        set(.reasoning, reasoningCount)
        set(.toolCalls, Int64(toolCalls))

        var dimensions: [String: JSONValue] = [:]
        if let model = text(span, "gen_ai.response.model") ?? text(span, "gen_ai.request.model") {
            dimensions["model"] = .string(model)
        }
        if let provider = text(span, "gen_ai.provider.name") ?? text(span, "gen_ai.system") {
            dimensions["provider"] = .string(provider)
        }
        if let operation = text(span, operationName) { dimensions["operation"] = .string(operation) }

        var subscription: String?
        if let named = attribute(span, options.subscriptionAttribute) {
            guard case .string(let text) = named, !text.isEmpty else {
                return refuse(
                    options.subscriptionAttribute, "must be a non-empty string (a subscription's external id)")
            }
            subscription = text
        } else if let customer = attribute(span, options.customerAttribute), let customerSubscription {
            guard case .string(let customerID) = customer, !customerID.isEmpty else {
                return refuse(options.customerAttribute, "must be a non-empty string (a customer's external id)")
            }
            guard let resolved = customerSubscription(customerID) else {
                return refuse(
                    options.customerAttribute,
                    "is '\(customerID)', which has no single active subscription in Lago (or Lago's subscriptions are "
                        + "not read yet): set \(options.subscriptionAttribute) on the span or its resource")
            }
            subscription = resolved
        } else if (defaultSubscription ?? "").isEmpty {
            return refuse(
                options.subscriptionAttribute,
                "is missing and no default subscription is set: set it on the span or its resource, or set "
                    + "lago.default_subscription_id")
        }

        var cost: UsageCost?
        if let amount = span.attributes[options.costAttribute] {
            let text: String? =
                switch amount {
                case .string(let text): text
                case .int(let number): String(number)
                case .double(let number) where number.isFinite: number.description
                default: nil
                }
            guard let text else {
                return refuse(
                    options.costAttribute, "must be a decimal amount (a string such as \"0.0123\"), not \(amount.kind)")
            }
            switch UsageCost.parse(amount: text, currency: options.costCurrency) {
            case .success(let parsed): cost = parsed
            case .failure(let error): return refuse(options.costAttribute, error.description)
            }
        }

        let idBase: String
        if let responseID = text(span, "gen_ai.response.id") {
            idBase = responseID
        } else {
            // Without a response id the span's ids are the usage's identity: they must be real ones.
            guard span.traceID.utf8.count == 32, span.traceID.utf8.contains(where: { $0 != UInt8(ascii: "0") }) else {
                return refuse(
                    "traceId", "must be 16 bytes, not all zero (it names the usage when gen_ai.response.id is absent)")
            }
            guard span.spanID.utf8.count == 16, span.spanID.utf8.contains(where: { $0 != UInt8(ascii: "0") }) else {
                return refuse(
                    "spanId", "must be 8 bytes, not all zero (it names the usage when gen_ai.response.id is absent)")
            }
            idBase = "\(span.traceID)-\(span.spanID)"
        }
        // Whole microseconds first: the nearest Double to them prints back exactly.
        let timestamp = Double(span.endTimeUnixNano / 1_000) / 1_000_000
        return .success(
            UsageRecord(
                values: values, dimensions: dimensions, externalSubscriptionID: subscription, idBase: idBase,
                timestamp: timestamp, cost: cost))
    }

    /// A span attribute, else the resource's.
    static func attribute(_ span: OTLPSpan, _ key: String) -> OTLPValue? {
        span.attributes[key] ?? span.resourceAttributes[key]
    }

    /// A non-empty string attribute of the span.
    static func text(_ span: OTLPSpan, _ key: String) -> String? {
        if case .string(let value)? = span.attributes[key], !value.isEmpty { return value }
        return nil
    }
}

extension OTLPValue {
    fileprivate var number: String {
        switch self {
        case .int(let value): String(value)
        case .double(let value): String(value)
        default: kind
        }
    }
}
