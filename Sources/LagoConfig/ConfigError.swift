/// Why the configuration could not be loaded, checked or saved, with where the problem is.
///
/// Like `HTTPClientError` in async-http-client, the kinds are static constants over a private enum, so new kinds
/// can be added without breaking callers that switch over ``kind``. ``description`` is the message for the
/// operator, for example `/home/ops/.config/lago-console/config.toml:12: metric_codes.input: must not be empty`.
/// No error ever carries the value of a secret.
public struct ConfigError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong, independent of where.
    public struct Kind: Sendable, Hashable, CustomStringConvertible {
        private enum Code: Sendable, Hashable {
            case invalidTOML
            case typeMismatch
            case invalidValue
            case unknownKey
            case fileSystem
        }

        private let code: Code

        private init(_ code: Code) {
            self.code = code
        }

        /// The file is not valid TOML.
        public static let invalidTOML = Kind(.invalidTOML)
        /// A key holds a value of the wrong TOML type, for example a string where a number belongs.
        public static let typeMismatch = Kind(.typeMismatch)
        /// A key holds a value of the right type that is not allowed: out of range, malformed, or inconsistent with
        /// another key.
        public static let invalidValue = Kind(.invalidValue)
        /// `ConfigStore.set(_:to:)` was given a key the configuration does not have.
        public static let unknownKey = Kind(.unknownKey)
        /// The file or its folder could not be read or written.
        public static let fileSystem = Kind(.fileSystem)

        public var description: String {
            switch self.code {
            case .invalidTOML: "invalid TOML"
            case .typeMismatch: "type mismatch"
            case .invalidValue: "invalid value"
            case .unknownKey: "unknown key"
            case .fileSystem: "file system error"
            }
        }
    }

    /// What went wrong.
    public let kind: Kind
    /// The path of the config file the problem is in, or `nil` when the value did not come from the file (a
    /// command-line argument, an environment variable).
    public let file: String?
    /// The dotted name of the key at fault, such as `metric_codes.input`, when one is known.
    public let key: String?
    /// The 1-based line in ``file`` where the problem is, when known.
    public let line: Int?
    /// The 1-based column (in characters) on ``line`` where the problem is, when known: set for a byte the file
    /// must not hold and for a TOML syntax error.
    public let column: Int?
    /// The environment variable the faulty value came from, such as `LAGO_API_URL`, if it came from one.
    public let environmentVariable: String?
    /// What is wrong, without the location: `must not be empty`.
    public let reason: String

    init(
        kind: Kind,
        file: String? = nil,
        key: String? = nil,
        line: Int? = nil,
        column: Int? = nil,
        environmentVariable: String? = nil,
        reason: String
    ) {
        self.kind = kind
        self.file = file
        self.key = key
        self.line = line
        self.column = line == nil ? nil : column
        self.environmentVariable = environmentVariable
        self.reason = reason
    }

    /// `file:line: key: reason` (`file:line:column:` when the column is known), leaving out the parts that are not
    /// known.
    public var description: String {
        var parts: [String] = []
        if let file {
            var location = file
            if let line = self.line {
                location += ":\(line)" + (self.column.map { ":\($0)" } ?? "")
            }
            parts.append(location)
        } else if let environmentVariable {
            parts.append("environment variable \(environmentVariable)")
        }
        if let key {
            parts.append(key)
        }
        parts.append(self.reason)
        return parts.joined(separator: ": ")
    }

    /// A copy that points at `file` and `line`, for a problem found in a file's content.
    func located(file: String?, line: Int?) -> ConfigError {
        ConfigError(
            kind: self.kind,
            file: file,
            key: self.key,
            line: line,
            column: line == self.line ? self.column : nil,
            environmentVariable: self.environmentVariable,
            reason: self.reason
        )
    }
}
