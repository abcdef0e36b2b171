public import LagoAPI

/// An event that passed phase 1 (field validation): what Lago would store, before deduplication and insert.
public struct EventDraft: Sendable {
    /// The client's `transaction_id` (cast to a string, never blank).
    public var transactionID: String
    /// The `external_subscription_id`, if the event names one.
    public var externalSubscriptionID: String?
    /// The billable metric code (never blank).
    public var code: String
    /// The event time in Unix microseconds (the time of reception when the event carries none).
    public var timestampMicroseconds: Int64
    /// `precise_total_amount_cents` as `decimal(40,15)` writes it, if sent.
    public var preciseTotalAmountCents: String?
    /// The properties, with any expression result filled in.
    public var properties: [String: JSONValue]
}

/// A billable metric's `expression`, evaluated at ingestion for each event of its code.
public protocol EventExpression: Sendable {
    /// The value stored in the metric's `field_name` property.
    /// - Throws: with Lago's message (e.g. `Variable: b not found`); the event is refused
    ///   `expression_evaluation_failed: <message>`.
    func evaluate(code: String, timestamp: Int64, properties: [String: JSONValue]) throws -> JSONValue
}

/// Phase 1 of Lago's event ingestion (`Events::CreateService` / `CreateBatchService`): casts and validates one
/// event's params the way Rails strong params, ActiveRecord casts and Lago's services do.
public struct EventValidation: Sendable {
    /// Why one event was rejected.
    public enum Problem: Error, Sendable {
        /// Field-keyed errors, e.g. `{"timestamp":["invalid_format"]}`.
        case fields(JSONOutput)
        /// An expression failure; Lago reports it as a plain string.
        case expression(String)
        /// A value Postgres cannot store (timestamp or amount out of range): Lago fails with a 500.
        case outOfRange
    }

    /// An expression and the property it fills.
    public struct ExpressionRule: Sendable {
        /// The property that receives the result (the metric's `field_name`).
        public var fieldName: String
        /// The metric's expression.
        public var expression: any EventExpression

        /// Creates a rule.
        public init(fieldName: String, expression: any EventExpression) {
            self.fieldName = fieldName
            self.expression = expression
        }
    }

    /// Expression rules by metric code, snapshotted once per request.
    public let expressionRules: [String: ExpressionRule]

    /// Creates a validation; `expressionRules` by metric code (none where no billable metrics are known).
    public init(expressionRules: [String: ExpressionRule]) {
        self.expressionRules = expressionRules
    }

    /// Validates one event's params; `receivedAt` is the request's reception time (the default timestamp).
    public func validate(_ params: [String: JSONValue], receivedAt: Int64) -> Result<EventDraft, Problem> {
        // Timestamp: BigDecimal(value.to_s), else `invalid_format`; absent/null → reception time.
        let timestamp: Int64
        switch Self.timestamp(params["timestamp"], receivedAt: receivedAt) {
        case .success(let value): timestamp = value
        case .failure(let problem): return .failure(problem)
        }
        let transactionID = Self.castString(params["transaction_id"])
        let code = Self.castString(params["code"])
        let externalSubscriptionID = Self.castString(params["external_subscription_id"])
        var properties = params["properties"]?.objectValue ?? [:]

        if let code, let rule = expressionRules[code] {
            do {
                properties[rule.fieldName] = try rule.expression.evaluate(
                    code: code,
                    timestamp: timestamp,
                    properties: properties
                )
            } catch {
                return .failure(.expression("expression_evaluation_failed: \(error)"))
            }
        }

        var errors: [(String, JSONOutput)] = []
        if Self.isBlank(transactionID) { errors.append(("transaction_id", .array([.string("value_is_mandatory")]))) }
        if Self.isBlank(code) { errors.append(("code", .array([.string("value_is_mandatory")]))) }
        guard errors.isEmpty, let transactionID, let code else { return .failure(.fields(.object(errors))) }

        let preciseTotalAmountCents: String?
        switch Self.preciseAmount(params["precise_total_amount_cents"]) {
        case .success(let value): preciseTotalAmountCents = value
        case .failure(let problem): return .failure(problem)
        }
        return .success(
            EventDraft(
                transactionID: transactionID,
                externalSubscriptionID: externalSubscriptionID,
                code: code,
                timestampMicroseconds: timestamp,
                preciseTotalAmountCents: preciseTotalAmountCents,
                properties: properties
            )
        )
    }

    /// Rails' `blank?` for a string attribute: nil, empty or whitespace only.
    public static func isBlank(_ value: String?) -> Bool {
        guard let value else { return true }
        return value.allSatisfy(\.isWhitespace)
    }

    /// A permitted scalar cast to an ActiveRecord string: numbers by `to_s`, `true`/`false` → `"t"`/`"f"`;
    /// arrays and objects are dropped by strong params (nil).
    public static func castString(_ value: JSONValue?) -> String? {
        switch value {
        case .string(let text)?: text
        case .integer(let integer)?: String(integer)
        case .bigInteger(let digits)?: digits
        case .number(let number)?: rubyFloatString(number)
        case .bool(let flag)?: flag ? "t" : "f"
        default: nil
        }
    }

    /// Ruby's `Float#to_s` for the usual range: Swift's shortest form, with `.0` added to a bare mantissa
    /// (`1e+20` → `1.0e+20`).
    static func rubyFloatString(_ value: Double) -> String {
        let text = value.description
        guard let exponentIndex = text.firstIndex(where: { $0 == "e" || $0 == "E" }) else { return text }
        let mantissa = text[..<exponentIndex]
        return mantissa.contains(".") ? text : String(mantissa) + ".0" + String(text[exponentIndex...])
    }

    /// The event time in microseconds (truncated, as ActiveRecord does for `timestamp(6)`); absent, `null`, an
    /// array or an object is `receivedAt`.
    public static func timestamp(_ value: JSONValue?, receivedAt: Int64) -> Result<Int64, Problem> {
        let decimal: LagoDecimal?
        switch value {
        case nil, .null?, .array?, .object?:
            return .success(receivedAt)
        case .integer(let integer)?:
            decimal = LagoDecimal(integer)
        case .bigInteger(let digits)?:
            decimal = LagoDecimal(bigDecimal: digits)
        case .number(let number)?:
            decimal = LagoDecimal(bigDecimal: rubyFloatString(number))
        case .string(let text)?:
            decimal = LagoDecimal(bigDecimal: text)
        case .bool?:
            decimal = nil
        }
        guard let decimal else {
            return .failure(.fields(.object([("timestamp", .array([.string("invalid_format")]))])))
        }
        guard let microseconds = decimal.floorScaled(byPowerOfTen: 6), microseconds >= LagoTime.minimumMicroseconds
        else { return .failure(.outOfRange) }
        return .success(microseconds)
    }

    /// `precise_total_amount_cents` cast to `decimal(40,15)`: numeric strings exactly, other strings by `to_d`
    /// (`"asdfa"` → 0), blank → nil; more than 25 integer digits overflow the column.
    static func preciseAmount(_ value: JSONValue?) -> Result<String?, Problem> {
        let decimal: LagoDecimal
        switch value {
        case .string(let text)?:
            if isBlank(text) { return .success(nil) }
            decimal = LagoDecimal(lenient: text)
        case .integer(let integer)?:
            decimal = LagoDecimal(integer)
        case .bigInteger(let digits)?:
            decimal = LagoDecimal(bigDecimal: digits) ?? .zero
        case .number(let number)?:
            decimal = LagoDecimal(number)
        case .bool(let flag)?:
            decimal = LagoDecimal(Int64(flag ? 1 : 0))
        default:
            return .success(nil)
        }
        let rounded = decimal.rounded(scale: 15)
        guard rounded.integerDigitCount <= 25 else { return .failure(.outOfRange) }
        return .success(rounded.plainString)
    }
}
