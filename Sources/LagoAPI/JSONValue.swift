public import Foundation

/// Any JSON value, decoded without loss.
///
/// Lago's `error_details` can be a field-keyed object of arrays, an index-keyed object of objects, an object of
/// strings or a plain string; event `properties` hold strings, integers, numbers and booleans. Numbers keep their
/// integer-ness: `1` stays `.integer(1)`, `1.5` becomes `.number(1.5)`, and an integer beyond 64 bits keeps every
/// digit (`.bigInteger("12345678901234567890")`), as Lago (Ruby's JSON, Postgres `jsonb`) keeps any integer exactly.
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case integer(Int64)
    /// An integer outside Int64's range, as its exact decimal digits (`-` and digits, no leading zeros).
    case bigInteger(String)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// The value as a string if it is one.
    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// The value as an object if it is one.
    public var objectValue: [String: JSONValue]? {
        if case .object(let value) = self { return value }
        return nil
    }

    /// The value as an array if it is one.
    public var arrayValue: [JSONValue]? {
        if case .array(let value) = self { return value }
        return nil
    }

    /// The value as a Double when it is a JSON number (integer or not).
    public var doubleValue: Double? {
        switch self {
        case .integer(let value): Double(value)
        case .bigInteger(let digits): Double(digits)
        case .number(let value): value
        default: nil
        }
    }

    /// Looks up a key when the value is an object.
    public subscript(key: String) -> JSONValue? {
        objectValue?[key]
    }

    /// Compact JSON text with sorted keys, for display and logs.
    public var jsonText: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(self) else { return "null" }
        return String(decoding: data, as: UTF8.self)
    }

    /// Parses JSON text (any top-level value) with Foundation's `JSONSerialization`, keeping integers apart from
    /// numbers with a fraction or exponent (`1` → `.integer`, `1.0` → `.number`) and booleans apart from numbers.
    /// - Throws: Foundation's error when the text is not exactly one JSON value.
    public static func parse(_ data: Data) throws -> JSONValue {
        let object = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        return JSONValue(foundationObject: object)
    }

    /// Converts what `JSONSerialization` produced.
    public init(foundationObject object: Any) {
        // JSONSerialization hands out exactly these Swift types on Linux: comparing the dynamic type first makes
        // each cast below one that succeeds (a failing cast to a generic collection type is what costs most).
        let type = ObjectIdentifier(Swift.type(of: object))
        if type == Self.stringType {
            self = .string(object as! String)
            return
        }
        if type == Self.dictionaryType {
            self = .object((object as! [String: Any]).mapValues(JSONValue.init(foundationObject:)))
            return
        }
        if type == Self.arrayType {
            self = .array((object as! [Any]).map(JSONValue.init(foundationObject:)))
            return
        }
        switch object {
        case let dictionary as [String: Any]:
            self = .object(dictionary.mapValues(JSONValue.init(foundationObject:)))
        case let array as [Any]:
            self = .array(array.map(JSONValue.init(foundationObject:)))
        case let string as String:
            self = .string(string)
        case let number as NSNumber:
            self = JSONValue(number: number)
        case is NSNull:
            self = .null
        default:
            self = .null
        }
    }

    /// An integral `Decimal` as `.integer` or `.bigInteger`; `nil` when it has a fraction.
    init?(integral decimal: Decimal) {
        guard decimal.isFinite, decimal == decimal.rounded(toPlaces: 0) else { return nil }
        var text = decimal.description
        if text.contains("e") || text.contains("E") || text.contains(".") { return nil }
        if text == "-0" { text = "0" }
        if let value = Int64(text) { self = .integer(value) } else { self = .bigInteger(text) }
    }

    private static let stringType = ObjectIdentifier(String.self)
    private static let dictionaryType = ObjectIdentifier([String: Any].self)
    private static let arrayType = ObjectIdentifier([Any].self)

    private init(number: NSNumber) {
        if type(of: number) != NSNumber.self, String(describing: type(of: number)).contains("Boolean") {
            self = .bool(number.boolValue)
            return
        }
        switch UInt8(bitPattern: number.objCType.pointee) {
        case UInt8(ascii: "c"), UInt8(ascii: "B"):
            self = .bool(number.boolValue)
        case UInt8(ascii: "d"), UInt8(ascii: "f"):
            // JSONSerialization hands out an NSDecimalNumber for numerals a Double cannot hold exactly (integers
            // beyond 64 bits among them): an integer keeps every digit, as Ruby's JSON keeps it.
            // A decimal goes to the nearest Double through its digits (`NSDecimalNumber.doubleValue` rounds badly:
            // 0.30000000000000004 came out 0.3000000000000001).
            if let decimal = number as? NSDecimalNumber {
                let value = decimal.decimalValue
                if let integer = JSONValue(integral: value) {
                    self = integer
                } else {
                    self = .number(Double(value.description) ?? number.doubleValue)
                }
            } else {
                self = .number(number.doubleValue)
            }
        case UInt8(ascii: "Q"):
            let value = number.uint64Value
            self = value <= UInt64(Int64.max) ? .integer(Int64(value)) : .bigInteger(String(value))
        default:
            self = .integer(number.int64Value)
        }
    }
}

extension Decimal {
    /// Rounded to `places` decimal places (plain rounding).
    fileprivate func rounded(toPlaces places: Int) -> Decimal {
        var value = self
        var result = Decimal()
        NSDecimalRound(&result, &value, places, .plain)
        return result
    }
}

extension JSONValue: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .integer(value)
        } else if let value = try? container.decode(Decimal.self), let integer = JSONValue(integral: value),
            case .bigInteger = integer
        {
            self = integer
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else if let value = try? container.decode([String: JSONValue].self) {
            self = .object(value)
        } else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "Not a JSON value")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .integer(let value): try container.encode(value)
        case .bigInteger(let digits): try container.encode(Decimal(string: digits) ?? 0)
        case .number(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral,
    ExpressibleByBooleanLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .integer(value) }
    public init(floatLiteral value: Double) { self = .number(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
    public init(nilLiteral: ()) { self = .null }
}
