/// Compact JSON text written byte by byte, without Foundation: the one string escaping and value writer of the
/// package (the sandbox's and the relay's answers, the engine's event bodies).
public enum JSONWriter {
    /// Appends `text` as a JSON string: `"` and `\` escaped, line feed, carriage return, tab, backspace and form feed
    /// as `\n` `\r` `\t` `\b` `\f`, the other control characters as `\u00XX`; everything else (any non-ASCII text)
    /// as its UTF-8 bytes.
    public static func appendString(_ text: String, to output: inout [UInt8]) {
        output.append(UInt8(ascii: "\""))
        // Most strings need no escape: copy them whole.
        let copied: Bool? = text.utf8.withContiguousStorageIfAvailable { bytes in
            guard !bytes.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) else {
                return false
            }
            output.append(contentsOf: bytes)
            return true
        }
        if copied == true {
            output.append(UInt8(ascii: "\""))
            return
        }
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): output.append(contentsOf: [0x5C, 0x22])
            case UInt8(ascii: "\\"): output.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: output.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case 0x0D: output.append(contentsOf: [0x5C, UInt8(ascii: "r")])
            case 0x09: output.append(contentsOf: [0x5C, UInt8(ascii: "t")])
            case 0x08: output.append(contentsOf: [0x5C, UInt8(ascii: "b")])
            case 0x0C: output.append(contentsOf: [0x5C, UInt8(ascii: "f")])
            case 0x00..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                output.append(contentsOf: [0x5C, UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0")])
                output.append(hex[Int(byte >> 4)])
                output.append(hex[Int(byte & 0x0F)])
            default: output.append(byte)
            }
        }
        output.append(UInt8(ascii: "\""))
    }

    /// Appends `value`: object keys sorted, integers (of any size) in full, strings by ``appendString(_:to:)``,
    /// doubles by `number`, the caller's policy (which may throw, e.g. for a non-finite value).
    /// - Throws: what `number` throws; `output` then holds a partial value.
    public static func appendValue(
        _ value: JSONValue, to output: inout [UInt8], number: (Double, inout [UInt8]) throws -> Void
    ) rethrows {
        switch value {
        case .null: output.append(contentsOf: "null".utf8)
        case .bool(let flag): output.append(contentsOf: (flag ? "true" : "false").utf8)
        case .integer(let integer): output.append(contentsOf: String(integer).utf8)
        case .bigInteger(let digits): output.append(contentsOf: digits.utf8)
        case .number(let double): try number(double, &output)
        case .string(let text): appendString(text, to: &output)
        case .array(let elements):
            output.append(UInt8(ascii: "["))
            for (offset, element) in elements.enumerated() {
                if offset > 0 { output.append(UInt8(ascii: ",")) }
                try appendValue(element, to: &output, number: number)
            }
            output.append(UInt8(ascii: "]"))
        case .object(let members):
            output.append(UInt8(ascii: "{"))
            for (offset, key) in members.keys.sorted().enumerated() {
                if offset > 0 { output.append(UInt8(ascii: ",")) }
                appendString(key, to: &output)
                output.append(UInt8(ascii: ":"))
                try appendValue(members[key]!, to: &output, number: number)
            }
            output.append(UInt8(ascii: "}"))
        }
    }
}
