/// One key's value, typed as in the TOML file.
public enum ConfigValue: Sendable, Hashable, CustomStringConvertible, Encodable {
    /// A TOML string.
    case string(String)
    /// A TOML boolean.
    case bool(Bool)
    /// A TOML integer.
    case integer(Int)
    /// A TOML float.
    case double(Double)

    /// The value written as a TOML literal: `"text"`, `true`, `100`, `1.0`.
    public var tomlLiteral: String {
        switch self {
        case .string(let string): Self.quoted(string)
        case .bool(let bool): String(bool)
        case .integer(let integer): String(integer)
        case .double(let double): String(double)
        }
    }

    /// The same as ``tomlLiteral``. Mask secrets before showing a value: see
    /// ``LagoConsoleConfiguration/displayValue(for:)``.
    public var description: String { self.tomlLiteral }

    /// Encodes the bare value (a JSON string, boolean or number).
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .string(let string): try container.encode(string)
        case .bool(let bool): try container.encode(bool)
        case .integer(let integer): try container.encode(integer)
        case .double(let double): try container.encode(double)
        }
    }

    /// A TOML basic string literal of `string`, escaping what TOML requires.
    static func quoted(_ string: String) -> String {
        var result = "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\t": result += "\\t"
            case "\r": result += "\\r"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                let hex = String(scalar.value, radix: 16, uppercase: true)
                result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }
}

/// Where the effective value of a key came from.
public enum ConfigValueSource: Sendable, Hashable {
    /// The key is not in the file: the built-in default applies.
    case `default`
    /// The file sets the key.
    case file
    /// The named environment variable overrides the file.
    case environment(variable: String)
}
