import TOMLKit

/// What a config file says, typed: the configuration it gives (defaults for what it leaves out), which known keys
/// it sets, and the keys it has that this version does not know.
struct DecodedConfiguration: Sendable, Equatable {
    var configuration: LagoConsoleConfiguration
    var keysInFile: Set<ConfigKey>
    /// Dotted names of keys and tables the file has that no ``ConfigKey`` names, in file order per table.
    var unknownKeys: [String]

    static let empty = DecodedConfiguration(configuration: .defaults, keysInFile: [], unknownKeys: [])
}

/// A config file parsed with TOMLKit, kept whole so that a change to one key writes back everything else, keys
/// this version does not know included.
///
/// TOMLKit (toml++) drops comments and may reorder keys and reformat values when it writes a document back, so a
/// save loses the comments of the file it changes. Not `Sendable`: a document lives inside one call.
///
/// TOMLKit 0.6 never frees the tables it parses, so each document leaks its (small) tree; documents are made only
/// when the file is loaded or saved, which bounds the leak by the number of those.
struct ConfigDocument {
    /// The text the document was parsed from; used to find the line of a key in error messages.
    let text: String
    /// The path named in errors.
    let file: String?
    private let root: TOMLTable
    private var locator: TOMLKeyLocator { TOMLKeyLocator(text: self.text) }

    /// Parses `text`, once ``ConfigFileText/checked(_:file:)`` has made sure TOMLKit will read all of it.
    ///
    /// - Throws: ``ConfigError/Kind/invalidTOML`` with the line and column of the problem and, when that line sets
    ///   a key, the key: a byte TOML does not allow (see ``ConfigFileText``) or a syntax error TOMLKit reports.
    init(text rawText: String, file: String?) throws(ConfigError) {
        let text = try ConfigFileText.checked(rawText, file: file)
        self.text = text
        self.file = file
        do {
            self.root = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            let line = error.source.begin.line
            let column = error.source.begin.column
            let key = TOMLKeyLocator(text: text).key(atLine: line)?.joined(separator: ".")
            let fix = line > 0 ? "fix line \(line) of \(file ?? "the file")" : "fix \(file ?? "the file")"
            throw ConfigError(
                kind: .invalidTOML,
                file: file,
                key: key,
                line: line > 0 ? line : nil,
                column: column > 0 ? column : nil,
                reason: "invalid TOML: \(error.description); \(fix) (until then nothing is loaded from or saved to it)"
            )
        } catch {
            throw ConfigError(kind: .invalidTOML, file: file, reason: "invalid TOML: \(error)")
        }
    }

    /// Reads the known keys into a configuration and checks it.
    ///
    /// - Parameter changedKey: a key whose value did not come from ``text`` (it was just set): errors about it
    ///   carry no file or line.
    /// - Throws: ``ConfigError`` naming the key and its line: a table or value of the wrong type, a value out of
    ///   range or malformed, or keys inconsistent with each other.
    func decode(changedKey: ConfigKey? = nil) throws(ConfigError) -> DecodedConfiguration {
        var decoded = DecodedConfiguration.empty
        var sectionTables: [String: TOMLTable] = [:]
        for name in self.root.keys where !ConfigKey.sections.contains(name) {
            decoded.unknownKeys.append(name)
        }
        for section in ConfigKey.sections {
            guard let node = self.root[section] else { continue }
            guard node.type == .table, let table = node.table else {
                throw self.locate(
                    ConfigError(
                        kind: .typeMismatch,
                        key: section,
                        reason: "must be a table, not \(Self.describe(node.type))"
                    ),
                    changedKey: changedKey
                )
            }
            sectionTables[section] = table
            for field in table.keys where ConfigKey(name: "\(section).\(field)") == nil {
                decoded.unknownKeys.append("\(section).\(field)")
            }
        }
        for spec in KeySpec.all {
            guard let node = sectionTables[spec.key.section]?[spec.key.field] else { continue }
            decoded.keysInFile.insert(spec.key)
            guard let value = Self.value(of: node, as: spec.type) else {
                throw self.locate(
                    ConfigError(
                        kind: .typeMismatch,
                        key: spec.key.name,
                        reason: "must be \(spec.typeName), not \(Self.describe(node.type))"
                    ),
                    changedKey: changedKey
                )
            }
            if let reason = spec.problem(with: value) {
                throw self.locate(
                    ConfigError(kind: .invalidValue, key: spec.key.name, reason: reason),
                    changedKey: changedKey
                )
            }
            spec.set(&decoded.configuration, value)
        }
        if let problem = decoded.configuration.problems().first {
            throw self.locate(problem, changedKey: changedKey)
        }
        return decoded
    }

    /// Sets `key` to `value` in the document, creating its table if needed; everything else is left as it is.
    ///
    /// - Throws: ``ConfigError/Kind/typeMismatch`` when the key's table exists but is not a table.
    func set(_ key: ConfigKey, to value: ConfigValue) throws(ConfigError) {
        if self.root[key.section] == nil {
            self.root[key.section] = TOMLTable()
        }
        guard let node = self.root[key.section], node.type == .table, let table = node.table else {
            throw self.locate(
                ConfigError(kind: .typeMismatch, key: key.section, reason: "must be a table"),
                changedKey: nil
            )
        }
        switch value {
        case .string(let string): table[key.field] = string
        case .bool(let bool): table[key.field] = bool
        case .integer(let integer): table[key.field] = integer
        case .double(let double): table[key.field] = double
        }
    }

    /// The document as TOML text, ending with a newline.
    func serialized() -> String {
        let toml = self.root.convert(to: .toml)
        return toml.hasSuffix("\n") || toml.isEmpty ? toml : toml + "\n"
    }

    /// The value at the key path `path` as a one-key TOML document, or `nil` if there is none. Lets callers compare
    /// parts of documents without depending on TOMLKit.
    func serializedValue(at path: [String]) -> String? {
        guard let last = path.last else { return self.serialized() }
        var table: TOMLTable = self.root
        for key in path.dropLast() {
            guard let node = table[key], node.type == .table, let next = node.table else { return nil }
            table = next
        }
        guard let node = table[last] else { return nil }
        let single = TOMLTable()
        single[last] = node
        return single.convert(to: .toml)
    }

    /// `error` with this document's file and the line of its key (unless the key is `changedKey`).
    private func locate(_ error: ConfigError, changedKey: ConfigKey?) -> ConfigError {
        guard let key = error.key, key != changedKey?.name else {
            return error
        }
        let path = key.split(separator: ".").map(String.init)
        return error.located(file: self.file, line: self.locator.line(of: path))
    }

    /// `node` as a value of `type`: an integer is accepted where a float is expected.
    private static func value(of node: any TOMLValueConvertible, as type: KeySpec.ValueType) -> ConfigValue? {
        switch type {
        case .string: node.string.map(ConfigValue.string)
        case .bool: node.bool.map(ConfigValue.bool)
        case .integer: node.int.map(ConfigValue.integer)
        case .integerOrWord(_, let word):
            node.int.map(ConfigValue.integer) ?? node.string.flatMap { $0 == word ? ConfigValue.string($0) : nil }
        case .double: node.double.map(ConfigValue.double) ?? node.int.map { ConfigValue.double(Double($0)) }
        }
    }

    private static func describe(_ type: TOMLType) -> String {
        switch type {
        case .string: "a string"
        case .int: "an integer"
        case .double: "a float"
        case .bool: "a boolean"
        case .table: "a table"
        case .array: "an array"
        case .date: "a date"
        case .time: "a time"
        case .dateTime: "a date-time"
        }
    }
}
