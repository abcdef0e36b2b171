/// How Lago's Postgres store reads an event's properties: `properties->>'key'` text, and the numeral test its
/// aggregations and post-validation apply (`lago-api-facts.md` §8.2, §8.5). One definition for the billing check and
/// the sandbox, which must agree on what Lago bills.
public enum LagoPropertyText {
    /// A property as Postgres's `properties->>'key'` reads it: a string as it is, a number in plain digits (no
    /// exponent), `true`/`false`, an object or array as JSON; nil for JSON `null`.
    public static func text(_ value: JSONValue) -> String? {
        switch value {
        case .null: nil
        case .string(let text): text
        case .integer(let integer): String(integer)
        case .bigInteger(let digits): digits
        case .number(let number): plainDigits(number)
        case .bool(let flag): flag ? "true" : "false"
        case .array, .object: value.jsonText
        }
    }

    /// Lago's numeral test, `^-?\d+(\.\d+)?$` with ASCII digits: no sign but `-`, no spaces, no exponent.
    public static func isNumeral(_ text: String) -> Bool {
        var bytes = Substring(text).utf8[...]
        if bytes.first == UInt8(ascii: "-") { bytes = bytes.dropFirst() }
        func digits() -> Int {
            let count = bytes.prefix { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }.count
            bytes = bytes.dropFirst(count)
            return count
        }
        guard digits() > 0 else { return false }
        if bytes.isEmpty { return true }
        guard bytes.first == UInt8(ascii: ".") else { return false }
        bytes = bytes.dropFirst()
        return digits() > 0 && bytes.isEmpty
    }

    /// A finite double in the plain digits Postgres's `numeric` prints for the numeral Rails wrote (`1e20` →
    /// `100000000000000000000`, `1.5e-7` → `0.00000015`, `2.5` → `2.5`).
    public static func plainDigits(_ number: Double) -> String {
        guard number.isFinite else { return "NaN" }
        let shortest = "\(number)"
        guard let exponentIndex = shortest.firstIndex(where: { $0 == "e" || $0 == "E" }),
            let exponent = Int(shortest[shortest.index(after: exponentIndex)...])
        else { return shortest }
        let mantissa = shortest[..<exponentIndex]
        let negative = mantissa.hasPrefix("-")
        let parts = (negative ? mantissa.dropFirst() : mantissa).split(separator: ".", omittingEmptySubsequences: false)
        var digits = String(parts[0]) + (parts.count > 1 ? String(parts[1]) : "")
        var point = parts[0].count + exponent
        if point <= 0 {
            digits = String(repeating: "0", count: 1 - point) + digits
            point = 1
        } else if point > digits.count {
            digits += String(repeating: "0", count: point - digits.count)
        }
        var fraction = digits.dropFirst(point)
        while fraction.last == "0" { fraction = fraction.dropLast() }
        return (negative ? "-" : "") + digits.prefix(point) + (fraction.isEmpty ? "" : "." + fraction)
    }
}
