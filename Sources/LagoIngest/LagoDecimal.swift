public import Foundation
public import LagoAPI

/// An exact decimal number as Ruby's `BigDecimal` holds it: sign, decimal digits and a power of ten.
///
/// Lago parses event timestamps with `BigDecimal(value.to_s)` and casts `precise_total_amount_cents` to
/// `decimal(40,15)`; this type reproduces both parsers and Rails' plain `to_s` ("1234.56", "100.0", "-5.0").
public struct LagoDecimal: Sendable, Hashable {
    /// True for values below zero (never set for zero).
    var isNegative: Bool
    /// Significant digits, most significant first, without leading zeros; empty for zero.
    var digits: [UInt8]
    /// The value is `digits × 10^exponent`.
    var exponent: Int

    static let zero = LagoDecimal(isNegative: false, digits: [], exponent: 0)

    init(isNegative: Bool, digits: [UInt8], exponent: Int) {
        var digits = digits
        var exponent = exponent
        let leading = digits.firstIndex(where: { $0 != 0 }) ?? digits.count
        digits.removeFirst(leading)
        while let last = digits.last, last == 0 {
            digits.removeLast()
            exponent += 1
        }
        if digits.isEmpty { exponent = 0 }
        self.isNegative = digits.isEmpty ? false : isNegative
        self.digits = digits
        self.exponent = exponent
    }

    init(_ integer: Int64) {
        let magnitude = integer.magnitude
        self.init(isNegative: integer < 0, digits: String(magnitude).utf8.map { $0 - 48 }, exponent: 0)
    }

    /// Ruby's `Float#to_s` is the shortest round-trip form, like Swift's `description`.
    public init(_ double: Double) {
        self = LagoDecimal(bigDecimal: double.description) ?? .zero
    }

    var isZero: Bool { digits.isEmpty }

    /// Parses what Ruby's `BigDecimal(string)` accepts: optional surrounding whitespace, a sign, digits (single
    /// underscores allowed between digits), an optional fraction and an optional exponent (`e`, `E`, `d`, `D`).
    ///
    /// Returns nil for anything else (`""`, `"abc"`, `"123abc"`, ISO-8601 dates), and also for `Infinity`/`NaN`,
    /// which BigDecimal accepts but no timestamp can hold.
    public init?(bigDecimal text: String) {
        let bytes = Array(text.utf8)
        var index = 0
        func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || (0x09...0x0D).contains(byte) }
        while index < bytes.count, isSpace(bytes[index]) { index += 1 }
        var end = bytes.count
        while end > index, isSpace(bytes[end - 1]) { end -= 1 }
        guard index < end else { return nil }
        var negative = false
        if bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
            negative = bytes[index] == UInt8(ascii: "-")
            index += 1
        }
        func readDigits(_ output: inout [UInt8]) -> Bool {
            var sawDigit = false
            while index < end {
                let byte = bytes[index]
                if (48...57).contains(byte) {
                    output.append(byte - 48)
                    sawDigit = true
                    index += 1
                } else if byte == UInt8(ascii: "_"), sawDigit, index + 1 < end, (48...57).contains(bytes[index + 1]) {
                    index += 1
                } else {
                    break
                }
            }
            return sawDigit
        }
        var integerDigits: [UInt8] = []
        let hasInteger = readDigits(&integerDigits)
        var fractionDigits: [UInt8] = []
        var hasFraction = false
        if index < end, bytes[index] == UInt8(ascii: ".") {
            index += 1
            hasFraction = readDigits(&fractionDigits)
            if !hasFraction, !hasInteger { return nil }
        }
        guard hasInteger || hasFraction else { return nil }
        var exponent = 0
        if index < end,
            [UInt8(ascii: "e"), UInt8(ascii: "E"), UInt8(ascii: "d"), UInt8(ascii: "D")].contains(bytes[index])
        {
            index += 1
            var exponentNegative = false
            if index < end, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                exponentNegative = bytes[index] == UInt8(ascii: "-")
                index += 1
            }
            var exponentDigits: [UInt8] = []
            guard readDigits(&exponentDigits) else { return nil }
            guard exponentDigits.count <= 9 else { return nil }
            exponent = exponentDigits.reduce(0) { $0 * 10 + Int($1) }
            if exponentNegative { exponent = -exponent }
        }
        guard index == end else { return nil }
        self.init(
            isNegative: negative,
            digits: integerDigits + fractionDigits,
            exponent: exponent - fractionDigits.count
        )
    }

    /// Parses like Ruby's `String#to_d` (what ActiveRecord's decimal cast uses): the longest numeric prefix after
    /// leading whitespace, or zero when there is none (`"asdfa"` → 0).
    init(lenient text: String) {
        let bytes = Array(text.utf8)
        var start = 0
        while start < bytes.count, bytes[start] == 0x20 || (0x09...0x0D).contains(bytes[start]) { start += 1 }
        // Try ever shorter prefixes; inputs are short, so this stays cheap.
        var end = bytes.count
        while end > start {
            if let value = LagoDecimal(bigDecimal: String(decoding: bytes[start..<end], as: UTF8.self)) {
                self = value
                return
            }
            end -= 1
        }
        self = .zero
    }

    /// The value rounded half-up (BigDecimal's default) to `scale` fractional digits.
    func rounded(scale: Int) -> LagoDecimal {
        guard exponent < -scale else { return self }
        let drop = -scale - exponent  // digits to remove from the right
        if drop > digits.count {
            return .zero
        }
        var kept = Array(digits.prefix(digits.count - drop))
        let roundUp = digits[digits.count - drop] >= 5
        if roundUp {
            var position = kept.count - 1
            var carry = true
            while carry, position >= 0 {
                if kept[position] == 9 {
                    kept[position] = 0
                    position -= 1
                } else {
                    kept[position] += 1
                    carry = false
                }
            }
            if carry { kept.insert(1, at: 0) }
        }
        return LagoDecimal(isNegative: isNegative, digits: kept, exponent: -scale)
    }

    /// Rails' `BigDecimal#to_s`: plain notation, at least one fractional digit (`"100.0"`, `"0.0"`, `"-0.5"`).
    public var plainString: String {
        if digits.isEmpty { return "0.0" }
        var text = isNegative ? "-" : ""
        let characters = digits.map { Character(Unicode.Scalar($0 + 48)) }
        if exponent >= 0 {
            text += String(characters) + String(repeating: "0", count: exponent) + ".0"
        } else {
            let fractionCount = -exponent
            if fractionCount >= characters.count {
                text += "0." + String(repeating: "0", count: fractionCount - characters.count) + String(characters)
            } else {
                text +=
                    String(characters[..<(characters.count - fractionCount)]) + "."
                    + String(characters[(characters.count - fractionCount)...])
            }
        }
        return text
    }

    /// Number of digits before the decimal point (0 for values below 1).
    var integerDigitCount: Int {
        max(0, digits.count + exponent)
    }

    /// `floor(value × 10^power)` as an Int64, or nil when it does not fit.
    func floorScaled(byPowerOfTen power: Int) -> Int64? {
        if digits.isEmpty { return 0 }
        let shifted = exponent + power
        let keep = shifted >= 0 ? digits.count : digits.count + shifted
        var magnitude: Int64 = 0
        func push(_ digit: Int64) -> Bool {
            let multiplied = magnitude.multipliedReportingOverflow(by: 10)
            let added = multiplied.partialValue.addingReportingOverflow(digit)
            guard !multiplied.overflow, !added.overflow else { return false }
            magnitude = added.partialValue
            return true
        }
        for digit in digits.prefix(max(0, keep)) {
            guard push(Int64(digit)) else { return nil }
        }
        if shifted > 0 {
            for _ in 0..<shifted {
                guard push(0) else { return nil }
            }
        }
        let remainderNonZero = keep < digits.count && digits[max(0, keep)...].contains { $0 != 0 }
        if isNegative {
            return -magnitude - (remainderNonZero ? 1 : 0)
        }
        return magnitude
    }

    /// The value as Foundation's `Decimal` (exact up to 38 significant digits), for aggregation.
    public var foundationDecimal: Decimal {
        Decimal(string: scientificString, locale: Locale(identifier: "en_US_POSIX")) ?? 0
    }

    /// `[-]digitsE<exponent>`, a form Foundation parses exactly.
    var scientificString: String {
        if digits.isEmpty { return "0" }
        return (isNegative ? "-" : "") + String(digits.map { Character(Unicode.Scalar($0 + 48)) }) + "E\(exponent)"
    }

    /// Converts Foundation's `Decimal` back (through its plain description).
    public init(_ decimal: Decimal) {
        self = LagoDecimal(bigDecimal: decimal.description) ?? .zero
    }

    /// The numeric value of a JSON property as Postgres' `(properties->>'field')::numeric` would read it:
    /// integers, numbers and numeric strings; nil for anything else.
    public init?(property value: JSONValue) {
        switch value {
        case .integer(let integer): self.init(integer)
        case .bigInteger(let digits):
            guard let decimal = LagoDecimal(bigDecimal: digits) else { return nil }
            self = decimal
        case .number(let number): self.init(number)
        case .string(let string):
            guard let decimal = LagoDecimal(bigDecimal: string) else { return nil }
            self = decimal
        default: return nil
        }
    }
}
