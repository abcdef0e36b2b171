public import LagoAPI

/// A JSON value with ordered object keys, used to write responses in the key order of Lago's serializers.
///
/// Key order is not significant in JSON, but keeping Lago's order makes captured bodies easy to compare by eye.
public enum JSONOutput: Sendable {
    /// `null`.
    case null
    /// `true` or `false`.
    case bool(Bool)
    /// An integer, written in full.
    case integer(Int64)
    /// A double in its shortest round-trip form; a non-finite value is written `null`.
    case number(Double)
    /// A string, escaped.
    case string(String)
    /// An array, in order.
    case array([JSONOutput])
    /// An object whose members are written in this order.
    case object([(String, JSONOutput)])
    /// A decoded request value echoed back (object keys are written sorted).
    case value(JSONValue)

    /// A string, or `null` when `nil`.
    public static func string(_ value: String?) -> JSONOutput {
        value.map { .string($0) } ?? .null
    }

    /// An integer from an `Int`.
    public static func int(_ value: Int) -> JSONOutput {
        .integer(Int64(value))
    }

    /// The compact UTF-8 encoding of the value.
    public var bytes: [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(256)
        write(into: &output)
        return output
    }

    /// The compact encoding as a string (for logs and tests).
    public var text: String {
        String(decoding: bytes, as: UTF8.self)
    }

    func write(into output: inout [UInt8]) {
        switch self {
        case .null: output.append(contentsOf: "null".utf8)
        case .bool(let value): output.append(contentsOf: (value ? "true" : "false").utf8)
        case .integer(let value): output.append(contentsOf: String(value).utf8)
        case .number(let value): Self.writeNumber(value, into: &output)
        case .string(let value): Self.writeString(value, into: &output)
        case .array(let elements):
            output.append(UInt8(ascii: "["))
            for (offset, element) in elements.enumerated() {
                if offset > 0 { output.append(UInt8(ascii: ",")) }
                element.write(into: &output)
            }
            output.append(UInt8(ascii: "]"))
        case .object(let members):
            output.append(UInt8(ascii: "{"))
            for (offset, member) in members.enumerated() {
                if offset > 0 { output.append(UInt8(ascii: ",")) }
                Self.writeString(member.0, into: &output)
                output.append(UInt8(ascii: ":"))
                member.1.write(into: &output)
            }
            output.append(UInt8(ascii: "}"))
        case .value(let value): Self.write(value, into: &output)
        }
    }

    /// Appends the compact encoding of a decoded value to `output` (object keys sorted, doubles as in
    /// ``number(_:)``), through the package's one writer, ``LagoAPI/JSONWriter``.
    public static func write(_ value: JSONValue, into output: inout [UInt8]) {
        JSONWriter.appendValue(value, to: &output, number: writeNumber)
    }

    /// Writes a finite double in the shortest round-trip form (`1.5`, `1e-05`); non-finite values become `null`.
    static func writeNumber(_ value: Double, into output: inout [UInt8]) {
        guard value.isFinite else {
            output.append(contentsOf: "null".utf8)
            return
        }
        output.append(contentsOf: value.description.utf8)
    }

    static func writeString(_ value: String, into output: inout [UInt8]) {
        JSONWriter.appendString(value, to: &output)
    }
}
