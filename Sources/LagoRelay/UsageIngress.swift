import Foundation
import LagoAPI
import LagoIngest
import LagoUsage

/// The relay's usage endpoint (`POST /v1/usage`): usage records in the shape of Lago's Agent SDK
/// (`CanonicalUsage`), one record or `{"records":[…]}`, read and checked before anything is spooled.
///
/// A record holds the canonical fields (`input`, `output`, `cache_read`, `cache_write`, `cache_write_5m`,
/// `cache_write_1h`, `reasoning`, `tool_calls`, `image_input`, `audio_input`) as whole numbers ≥ 0, `dimensions`
/// (strings, numbers, booleans), `model`/`provider`/`api` (strings, kept as dimensions), and optionally
/// `subscription`, `id` (the transaction-id base: the same `id` sent again is refused, never billed twice) and
/// `timestamp` (Unix seconds; the time of reception otherwise) and `cost` (`{"amount": "0.0123", "currency": "USD"}`,
/// the amount read exactly into nanos when it is a string, for the cost events of `usage.cost_events`). `extras` is
/// ignored (nothing in it is billed); any other key is refused, so that no usage is dropped unseen.
struct UsageIngress: Sendable {
    /// The most records one request may carry.
    static let maxRecords = 1_000

    /// What reading a request gave.
    enum Reading: Sendable {
        case records([UsageRecord], batch: Bool)
        case refused(LagoEventIngress.Response)
    }

    static let dimensionKeys = ["model", "provider", "api"]
    static let otherKeys: Set<String> = ["dimensions", "subscription", "id", "timestamp", "extras", "cost"]

    /// Reads `body`: JSON (`application/json`), one record or `{"records":[…]}`; every problem of every record in
    /// one 422, keyed by record index (by field for a single record), nothing spooled.
    static func read(body: [UInt8], contentType: String?, defaultSubscription: String?) -> Reading {
        guard LagoEventIngress.isJSONContentType(contentType) else {
            return .refused(
                answer(.validationErrors(.object([("content_type", .array([.string("must be application/json")]))]))))
        }
        guard let parsed = try? JSONParser.parse(body), let root = parsed.objectValue else {
            return .refused(LagoEventIngress.badRequest)
        }
        let batch = root["records"] != nil
        let items: [JSONValue]
        if batch {
            guard case .array(let values)? = root["records"], !values.isEmpty else {
                return .refused(
                    answer(.validationErrors(.object([("records", .array([.string("must be a non-empty array")]))]))))
            }
            guard values.count <= maxRecords else {
                return .refused(
                    answer(
                        .validationErrors(
                            .object([("records", .array([.string("at most \(maxRecords) records per request")]))]))))
            }
            items = values
        } else {
            items = [parsed]
        }
        var records: [UsageRecord] = []
        var errors: [(String, JSONOutput)] = []
        for (index, item) in items.enumerated() {
            switch record(item, defaultSubscription: defaultSubscription) {
            case .success(let record): records.append(record)
            case .failure(let problems):
                let entry = JSONOutput.object(problems.list.map { ($0.field, .array([.string($0.problem)])) })
                if !batch { return .refused(answer(.validationErrors(entry))) }
                errors.append((String(index), entry))
            }
        }
        if !errors.isEmpty { return .refused(answer(.validationErrors(.object(errors)))) }
        return .records(records, batch: batch)
    }

    struct Problems: Error {
        var list: [(field: String, problem: String)] = []
        mutating func add(_ field: String, _ problem: String) { list.append((field, problem)) }
    }

    /// One record, or every problem it has.
    static func record(_ value: JSONValue, defaultSubscription: String?) -> Result<UsageRecord, Problems> {
        var problems = Problems()
        guard let object = value.objectValue else {
            problems.add("record", "must be a JSON object")
            return .failure(problems)
        }
        var values: [CanonicalField: Double] = [:]
        var dimensions: [String: JSONValue] = [:]
        var subscription: String?
        var id: String?
        var timestamp: Double?
        var cost: UsageCost?
        for key in object.keys.sorted() {
            let field = object[key]!
            if let canonical = CanonicalField(rawValue: key) {
                switch field {
                case .integer(let count) where count >= 0: values[canonical] = Double(count)
                case .number(let count) where count >= 0 && count == count.rounded() && count < 9e15:
                    values[canonical] = count
                case .null: break
                default: problems.add(key, "must be a whole number of 0 or more")
                }
            } else if dimensionKeys.contains(key) {
                switch field {
                case .string(let text): if !text.isEmpty { dimensions[key] = .string(text) }
                case .null: break
                default: problems.add(key, "must be a string")
                }
            } else if key == "dimensions" {
                guard case .object(let entries) = field else {
                    if field != .null { problems.add(key, "must be an object of strings, numbers or booleans") }
                    continue
                }
                for (name, entry) in entries {
                    switch entry {
                    case _ where name == "value":
                        problems.add("dimensions.value", "the name 'value' is reserved for the field's value")
                    case .string, .integer, .bigInteger, .bool: dimensions[name] = entry
                    case .number(let number) where number.isFinite: dimensions[name] = entry
                    case .null: break
                    default: problems.add("dimensions.\(name)", "must be a string, a number or a boolean")
                    }
                }
            } else if key == "subscription" {
                switch field {
                case .string(let text) where !text.trimmingCharacters(in: .whitespaces).isEmpty: subscription = text
                case .null: break
                default: problems.add(key, "must be a non-empty string (the subscription's external id)")
                }
            } else if key == "id" {
                switch field {
                case .string(let text) where !text.isEmpty && text.count <= 200: id = text
                case .null: break
                default: problems.add(key, "must be a string of 1 to 200 characters")
                }
            } else if key == "timestamp" {
                switch field {
                case .integer(let seconds): timestamp = Double(seconds)
                case .number(let seconds) where seconds.isFinite: timestamp = seconds
                case .string(let text) where Double(text)?.isFinite == true: timestamp = Double(text)
                case .null: break
                default: problems.add(key, "must be Unix seconds (a number)")
                }
            } else if key == "cost" {
                guard case .object(let entries) = field else {
                    if field != .null {
                        problems.add(key, "must be an object {\"amount\": \"0.0123\", \"currency\": \"USD\"}")
                    }
                    continue
                }
                let amount: String? =
                    switch entries["amount"] {
                    case .string(let text)?: text
                    case .integer(let number)?: String(number)
                    case .number(let number)? where number.isFinite: number.description
                    default: nil
                    }
                guard let amount, case .string(let currency)? = entries["currency"] else {
                    problems.add(key, "must hold amount (a decimal string) and currency (such as USD)")
                    continue
                }
                switch UsageCost.parse(amount: amount, currency: currency) {
                case .success(let parsed): cost = parsed
                case .failure(let error): problems.add("cost.amount", error.description)
                }
            } else if key != "extras" {
                let known = CanonicalField.allCases.map(\.rawValue) + dimensionKeys + otherKeys.sorted()
                problems.add(key, "unknown field; a record has " + known.joined(separator: ", "))
            }
        }
        for key in dimensionKeys where object[key] != nil && (object["dimensions"]?.objectValue?[key] != nil) {
            problems.add(key, "given twice: at the top and in dimensions")
        }
        if subscription == nil && (defaultSubscription ?? "").isEmpty {
            problems.add(
                "subscription", "missing: send the subscription's external id, or set lago.default_subscription_id")
        }
        guard problems.list.isEmpty else { return .failure(problems) }
        return .success(
            UsageRecord(
                values: values, dimensions: dimensions, externalSubscriptionID: subscription, idBase: id,
                timestamp: timestamp, cost: cost))
    }

    /// The answer once the records are spooled: each record's index and the transaction ids of its events.
    static func accepted(_ ids: [[String]], batch: Bool) -> LagoEventIngress.Response {
        let records = ids.map { JSONOutput.object([("transaction_ids", .array($0.map { .string($0) }))]) }
        let body: JSONOutput = batch ? .object([("records", .array(records))]) : records[0]
        return LagoEventIngress.Response(status: 200, body: body.bytes)
    }

    /// 422 for records sent before (the same `id`): keyed by index, as Lago's duplicates are.
    static func duplicates(_ indices: [Int], batch: Bool) -> LagoEventIngress.Response {
        let entry: JSONOutput = .object([("id", .array([.string("value_already_exist")]))])
        if !batch { return answer(.validationErrors(entry)) }
        return answer(.validationErrors(.object(indices.map { (String($0), entry) })))
    }

    static func answer(_ response: APIResponse) -> LagoEventIngress.Response {
        LagoEventIngress.Response(status: response.status, body: response.body.bytes)
    }
}
