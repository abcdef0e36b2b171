/// The checks a config file's text passes before TOMLKit parses it, so that what TOMLKit reads is the whole file.
///
/// TOMLKit hands the text to toml++ as a C string and reads strings back the same way, so a NUL byte in the file
/// would silently end the document there (and the next save would write the file without what followed), and a
/// `\u0000` escape would cut its string short. Both are refused here, with invalid UTF-8 and every control
/// character TOML does not allow unescaped: anything below U+0020 but tab, line feed and a carriage return
/// directly before a line feed, and U+007F. TOML allows none of them anywhere in a document, so a file with one is
/// not valid TOML. A UTF-8 byte order mark at the very start is accepted and dropped, as most TOML readers do.
///
/// A `\u0000` (or `\U00000000`) escape is refused wherever it is written, in a comment or a literal string too:
/// telling those apart would mean parsing TOML here.
enum ConfigFileText {
    /// The UTF-8 byte order mark.
    private static let byteOrderMark: [UInt8] = [0xEF, 0xBB, 0xBF]

    /// `bytes` as text, or an error naming the line, column and byte offset of the first byte that is not UTF-8.
    ///
    /// - Throws: ``ConfigError/Kind/invalidTOML`` naming `file`, the line and the column.
    static func decode(_ bytes: [UInt8], file: String?) throws(ConfigError) -> String {
        if let text = String(validating: bytes, as: UTF8.self) {
            return text
        }
        var decoder = UTF8()
        var iterator = bytes.makeIterator()
        var position = Position()
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar):
                position.advance(past: scalar)
            case .emptyInput:
                // Unreachable: the bytes did not validate, so the decoder meets an error before their end.
                return String(decoding: bytes, as: UTF8.self)
            case .error:
                let byte = bytes[position.byteOffset]
                let text = String(decoding: bytes, as: UTF8.self)
                throw self.error(
                    in: text,
                    file: file,
                    at: position,
                    what: "a byte that is not UTF-8 (0x\(String(byte, radix: 16, uppercase: true)), byte offset "
                        + "\(position.byteOffset))",
                    fix: "save \(file ?? "the file") as UTF-8, or remove the byte at line \(position.line), column "
                        + "\(position.column)"
                )
            }
        }
    }

    /// `text` without a leading byte order mark, once it is known to hold nothing TOMLKit would read short.
    ///
    /// - Throws: ``ConfigError/Kind/invalidTOML`` naming `file`, the line, the column and, when that line sets
    ///   one, the key: a NUL character, another control character TOML does not allow, a carriage return not
    ///   followed by a line feed, or a `\u0000` escape.
    static func checked(_ text: String, file: String?) throws(ConfigError) -> String {
        let scalars = Array(text.unicodeScalars)
        var position = Position()
        var start = 0
        if scalars.first == "\u{FEFF}" {
            position.advance(past: "\u{FEFF}")
            start = 1
        }
        var backslashes = 0
        var index = start
        while index < scalars.count {
            let scalar = scalars[index]
            let value = scalar.value
            if value == 0 {
                throw self.error(
                    in: text,
                    file: file,
                    at: position,
                    what: "a NUL byte (byte offset \(position.byteOffset)), which would cut the file short there",
                    fix: "remove the NUL byte at line \(position.line) of \(file ?? "the file")"
                )
            }
            if value == 0x0D, index + 1 >= scalars.count || scalars[index + 1] != "\n" {
                throw self.error(
                    in: text,
                    file: file,
                    at: position,
                    what: "a carriage return not followed by a line feed (byte offset \(position.byteOffset)), "
                        + "which TOML does not allow",
                    fix: "remove it from line \(position.line) of \(file ?? "the file"), or end the line with a "
                        + "line feed"
                )
            }
            if (value < 0x20 && value != 0x09 && value != 0x0A && value != 0x0D) || value == 0x7F {
                let code = "U+" + String(repeating: "0", count: value < 0x10 ? 3 : 2)
                    + String(value, radix: 16, uppercase: true)
                let name = Self.controlNames[value].map { " (\($0))" } ?? ""
                throw self.error(
                    in: text,
                    file: file,
                    at: position,
                    what: "the control character \(code)\(name) (byte offset \(position.byteOffset)), which TOML "
                        + "does not allow unescaped",
                    fix: "remove it from line \(position.line) of \(file ?? "the file") (inside a quoted string, "
                        + "write it as \\u\(code.dropFirst(2)))"
                )
            }
            if (scalar == "u" || scalar == "U"), backslashes % 2 == 1 {
                let digits = scalar == "u" ? 4 : 8
                let escape = scalars[(index + 1)...].prefix(digits)
                if escape.count == digits, escape.allSatisfy({ $0 == "0" }) {
                    var backslash = position
                    backslash.byteOffset -= 1
                    backslash.column -= 1
                    throw self.error(
                        in: text,
                        file: file,
                        at: backslash,
                        what: "the escape \\\(scalar)\(String(repeating: "0", count: digits)) (a NUL character), "
                            + "which cannot be read without cutting the value short there",
                        fix: "remove the escape from line \(position.line) of \(file ?? "the file")"
                    )
                }
            }
            backslashes = scalar == "\\" ? backslashes + 1 : 0
            position.advance(past: scalar)
            index += 1
        }
        return start == 0 ? text : String(String.UnicodeScalarView(scalars[start...]))
    }

    /// Where a scalar starts: 1-based line and column (in Unicode scalars), 0-based byte offset.
    private struct Position {
        var line = 1
        var column = 1
        var byteOffset = 0

        mutating func advance(past scalar: Unicode.Scalar) {
            self.byteOffset += UTF8.width(scalar)
            if scalar == "\n" {
                self.line += 1
                self.column = 1
            } else {
                self.column += 1
            }
        }
    }

    private static let controlNames: [UInt32: String] = [
        0x07: "bell", 0x08: "backspace", 0x0B: "vertical tab", 0x0C: "form feed", 0x1B: "escape", 0x7F: "delete",
    ]

    private static func error(
        in text: String,
        file: String?,
        at position: Position,
        what: String,
        fix: String
    ) -> ConfigError {
        ConfigError(
            kind: .invalidTOML,
            file: file,
            key: TOMLKeyLocator(text: text).key(atLine: position.line)?.joined(separator: "."),
            line: position.line,
            column: position.column,
            reason: "the file holds \(what): \(fix); until then nothing is loaded from or saved to it"
        )
    }
}
