public import LagoAPI

extension UsageRecord {
    /// Every problem of a record, by field.
    public struct Problems: Error, Sendable, CustomStringConvertible {
        /// The field at fault (`input`, `dimensions.model`…) and what is wrong with it.
        public var list: [(field: String, problem: String)] = []
        mutating func add(_ field: String, _ problem: String) { list.append((field, problem)) }

        /// `input: must be a whole number of 0 or more; subscription: missing: …`.
        public var description: String { list.map { "\($0.field): \($0.problem)" }.joined(separator: "; ") }
    }

    /// The top-level keys kept as dimensions.
    public static let dimensionKeys = ["model", "provider", "api"]
    /// The other keys a record may have besides the canonical fields.
    public static let otherKeys: Set<String> = ["dimensions", "subscription", "id", "timestamp", "extras", "cost"]

    /// Reads one record in the shape of Lago's Agent SDK (`CanonicalUsage`), as the relay's `POST /v1/usage` and
    /// `send --file` take it: the canonical fields as whole numbers ≥ 0, `dimensions` (strings, numbers, booleans),
    /// `model`/`provider`/`api` (kept as dimensions), optional `subscription` (else `defaultSubscription`, which
    /// must then be set), `id` (the transaction-id base) and `timestamp` (Unix seconds); `extras` is ignored; any
    /// other key is a problem, so that no usage is dropped unseen.
    public static func read(agentSDK value: JSONValue, defaultSubscription: String?) -> Result<UsageRecord, Problems> {
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
}
