import Foundation
import TOMLKit
import Testing

@testable import LagoConfig

/// A file TOMLKit would read only in part is refused, at load, at `config check` and at `set`, and never rewritten.
@Suite("Config file text: NUL, invalid UTF-8, control characters, truncation")
struct ConfigFileTextTests {
    /// A valid file whose relay token comes after line 7, so that a NUL on line 7 would hide it.
    static let goodFile = """
        [lago]
        api_url = "https://api.getlago.com/api/v1"
        default_subscription_id = "sub_1"

        [metric_codes]
        input = "in_tokens"
        output = "out_tokens"

        [relay]
        token = "relay-secret-token"

        """

    /// `goodFile` with `insert` put just before the 1-based `column` of `line`.
    static func goodFile(inserting insert: [UInt8], line: Int, column: Int) -> [UInt8] {
        var lines = goodFile.split(separator: "\n", omittingEmptySubsequences: false).map { Array($0.utf8) }
        lines[line - 1].insert(contentsOf: insert, at: column - 1)
        return Array(lines.joined(separator: [UInt8(ascii: "\n")]))
    }

    private func write(_ bytes: [UInt8], to path: String) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    /// Checks that a file holding `bytes` cannot be loaded and cannot be changed by a set (through a new store, as
    /// `config set` makes one, or through a store made before the file went bad), byte for byte; returns the error.
    private func refused(_ bytes: [UInt8], in folder: String) throws -> ConfigError {
        let path = "\(folder)/config.toml"
        let environment = isolatedEnvironment(home: folder)
        try writeFile(path, Self.goodFile)
        let earlier = try ConfigStore(path: path, environment: environment)
        try self.write(bytes, to: path)

        let loadError = try #require(throws: ConfigError.self) {
            try ConfigStore(path: path, environment: environment)
        }
        let setError = try #require(throws: ConfigError.self) {
            try earlier.set("metric_codes.input", to: "changed")
        }
        let reloadError = try #require(throws: ConfigError.self) { try earlier.reload() }
        #expect(setError == loadError && reloadError == loadError, "set, reload and load give the same error")
        #expect(try [UInt8](fileBytes(path)) == bytes, "the file is left byte for byte")
        #expect(earlier.configuration.relay.token == "relay-secret-token", "the store keeps what it had")
        #expect(loadError.kind == .invalidTOML)
        #expect(loadError.file == path)
        return loadError
    }

    @Test("A NUL byte: the file, line, column and key are named with the fix; set leaves the file as it was")
    func nulByte() async throws {
        try await withTemporaryDirectory { folder in
            let bytes = Self.goodFile(inserting: [0], line: 7, column: 12)
            let error = try self.refused(bytes, in: folder)
            let path = "\(folder)/config.toml"
            #expect(error.line == 7)
            #expect(error.column == 12)
            #expect(error.key == "metric_codes.output")
            #expect(error.description.hasPrefix("\(path):7:12: metric_codes.output: the file holds a NUL byte"))
            #expect(error.description.contains("remove the NUL byte at line 7 of \(path)"))
            #expect(error.description.contains("byte offset 131"))
            #expect(!error.description.contains("relay-secret-token"))
        }
    }

    @Test("A NUL byte at the very start, and one in the secret it would cut short")
    func nulBytesElsewhere() async throws {
        try await withTemporaryDirectory { folder in
            let atStart = try self.refused([0] + Array(Self.goodFile.utf8), in: folder)
            #expect(atStart.line == 1 && atStart.column == 1)
            let inToken = try self.refused(Self.goodFile(inserting: [0], line: 10, column: 15), in: folder)
            #expect(inToken.line == 10 && inToken.key == "relay.token")
            #expect(!inToken.description.contains("relay-secret"), "no error repeats the secret")
        }
    }

    @Test(
        "Invalid UTF-8: the line, column and byte are named",
        arguments: [
            ([0xFF] as [UInt8], "0xFF"),  // never valid in UTF-8
            ([0xC3], "0xC3"),  // a sequence cut short
            ([0xED, 0xA0, 0x80], "0xED"),  // an encoded surrogate
            ([0xC0, 0xAF], "0xC0"),  // an overlong encoding
        ]
    )
    func invalidUTF8(bytes: [UInt8], shown: String) async throws {
        try await withTemporaryDirectory { folder in
            let error = try self.refused(Self.goodFile(inserting: bytes, line: 6, column: 10), in: folder)
            let path = "\(folder)/config.toml"
            #expect(error.line == 6)
            #expect(error.column == 10)
            #expect(
                error.description.hasPrefix("\(path):6:10: metric_codes.input: the file holds a byte that is not UTF-8")
            )
            #expect(error.description.contains("(\(shown), byte offset 109)"))
            #expect(error.description.contains("save \(path) as UTF-8"))
        }
    }

    @Test(
        "Control characters TOML does not allow, inside strings or not, and a lone carriage return",
        arguments: [
            ([0x0C] as [UInt8], 7, 1, "U+000C (form feed)"),  // before a key
            ([0x0C], 7, 12, "U+000C (form feed)"),  // inside a string
            ([0x0B], 5, 1, "U+000B (vertical tab)"),
            ([0x1B], 2, 12, "U+001B (escape)"),
            ([0x7F], 3, 27, "U+007F (delete)"),
            ([0x01], 4, 1, "U+0001"),
            ([0x0D], 7, 1, "a carriage return not followed by a line feed"),
            ([0x0D], 7, 21, "a carriage return not followed by a line feed"),
        ]
    )
    func controlCharacters(bytes: [UInt8], line: Int, column: Int, shown: String) async throws {
        try await withTemporaryDirectory { folder in
            let error = try self.refused(Self.goodFile(inserting: bytes, line: line, column: column), in: folder)
            #expect(error.line == line)
            #expect(error.column == column)
            #expect(error.reason.contains(shown), "\(error)")
            #expect(error.reason.contains("remove it from line \(line) of \(folder)/config.toml"))
        }
    }

    @Test("A \\u0000 escape, which TOMLKit would read as the end of its string, is refused")
    func escapedNUL() async throws {
        try await withTemporaryDirectory { folder in
            for escape in ["\\u0000", "\\U00000000"] {
                let bytes = Self.goodFile(inserting: Array(escape.utf8), line: 10, column: 15)
                let error = try self.refused(bytes, in: folder)
                #expect(error.line == 10 && error.column == 15 && error.key == "relay.token")
                #expect(error.reason.contains("the escape \(escape) (a NUL character)"))
            }
            // An escaped backslash followed by u0000 is two plain characters, not an escape.
            let path = "\(folder)/config.toml"
            try writeFile(path, "[relay]\ntoken = \"a\\\\u0000b\"\n")
            let store = try ConfigStore(path: path, environment: isolatedEnvironment(home: folder))
            #expect(store.configuration.relay.token == "a\\u0000b")
        }
    }

    @Test(
        "A file cut short inside a string, a table header, an array or an inline table is refused with its line",
        arguments: [
            ("[lago]\napi_key = \"abc", 2),
            ("[lago]\napi_key = \"\"\"abc\n", 2),
            ("[lago]\napi_key = 'abc", 2),
            ("[lago]\napi_url = \"https://api.getlago.com/api/v1\"\n[rel", 3),
            ("[lago]\napi_url = \"https://api.getlago.com/api/v1\"\n[relay", 3),
            ("[relay]\nextra = [1, 2", 2),
            ("[relay]\nextra = { a = 1", 2),
            ("[relay]\ntoken =", 2),
            ("[relay]\ntoken", 2),
        ]
    )
    func truncated(text: String, line: Int) async throws {
        try await withTemporaryDirectory { folder in
            let error = try self.refused(Array(text.utf8), in: folder)
            let reportedLine = try #require(error.line, "\(error)")
            // toml++ reports where it noticed: the line cut short, or the end of the file just after it.
            #expect(reportedLine == line || reportedLine == line + 1, "\(error)")
            #expect(error.description.hasPrefix("\(folder)/config.toml:\(reportedLine):"))
            #expect(error.reason.hasPrefix("invalid TOML: "))
            #expect(error.reason.contains("fix line \(reportedLine) of \(folder)/config.toml"))
        }
    }

    @Test("A good file still loads, with a byte order mark, CRLF line endings, tabs and non-ASCII text")
    func goodFiles() async throws {
        try await withTemporaryDirectory { folder in
            let path = "\(folder)/config.toml"
            let environment = isolatedEnvironment(home: folder)
            let variants: [[UInt8]] = [
                Array(Self.goodFile.utf8),
                [0xEF, 0xBB, 0xBF] + Array(Self.goodFile.utf8),
                Array(Self.goodFile.replacingOccurrences(of: "\n", with: "\r\n").utf8),
                Array(Self.goodFile.replacingOccurrences(of: "token = ", with: "token =\t").utf8),
                Array((Self.goodFile + "# café ☕ \t comment\nnote = \"naïve \\u00e9\"\n").utf8),
            ]
            for bytes in variants {
                try self.write(bytes, to: path)
                let store = try ConfigStore(path: path, environment: environment)
                #expect(store.configuration.relay.token == "relay-secret-token")
                #expect(store.configuration.metricCodes[.output] == "out_tokens")
                #expect(store.configuration.lago.defaultSubscriptionID == "sub_1")
                try store.set("metric_codes.input", to: "changed")
                let reloaded = try ConfigStore(path: path, environment: environment)
                #expect(reloaded.configuration.metricCodes[.input] == "changed")
                #expect(reloaded.configuration.relay.token == "relay-secret-token", "a save keeps the rest")
            }
        }
    }

    @Test("A line number the byte checks give is the line TOMLKeyLocator gives for the key on it")
    func linesAgreeWithTheLocator() throws {
        let error = try #require(throws: ConfigError.self) {
            try ConfigDocument(text: "[a]\nb = 1\r\nc = \"x\u{0C}\"\n", file: "/f.toml")
        }
        #expect(error.line == 3 && error.column == 7 && error.key == "a.c")
        #expect(error.description.hasPrefix("/f.toml:3:7: a.c: the file holds the control character U+000C"))
    }

    /// What TOMLKit 0.6 does on its own, the reason for the checks: it reads up to a NUL byte and stops without an
    /// error, and reads a string or key with a `\u0000` escape only up to it. Every other control character is a
    /// parse error in toml++ too, so the checks refuse nothing toml++ accepts but the NUL byte and the escape.
    @Test("TOMLKit alone: a NUL ends the document silently, other control characters are parse errors")
    func tomlKitAlone() throws {
        let cutShort = try TOMLTable(string: "a = 1\n\u{0}b = 2\n")
        #expect(cutShort.keys == ["a"], "if this fails, TOMLKit no longer stops at a NUL byte")
        let escaped = try TOMLTable(string: "a = \"x\\u0000y\"\n")
        #expect(escaped["a"]?.string == "x", "if this fails, TOMLKit reads a \\u0000 escape whole")
        let refused = [
            "a = 1\rb = 2\n", "a = 1\n\u{0C}b = 2\n", "a = \"x\u{0B}\"\n", "a = 1 # \u{7F}\n", "a = \"\u{1B}\"\n",
        ]
        for text in refused {
            #expect(throws: TOMLParseError.self, "\(text.debugDescription)") { try TOMLTable(string: text) }
        }
        #expect(try TOMLTable(string: "\u{FEFF}a = 1\n").keys == ["a"], "toml++ skips a leading byte order mark")
    }
}

@Suite("Values with control characters")
struct ControlCharacterValueTests {
    @Test("A value with a NUL or another control character is refused before TOMLKit could cut it short")
    func setRefusesControlCharacters() async throws {
        try await withTemporaryDirectory { folder in
            let path = "\(folder)/config.toml"
            try writeFile(path, "[relay]\ntoken = \"before\"\n")
            let store = try ConfigStore(path: path, environment: isolatedEnvironment(home: folder))
            let before = try fileBytes(path)
            for value in ["after\u{0}hidden", "a\u{1B}b", "a\u{7F}"] {
                let error = try #require(throws: ConfigError.self) { try store.set("relay.token", to: value) }
                #expect(error.kind == .invalidValue && error.key == "relay.token")
                #expect(error.reason == "must not contain control characters")
                #expect(!error.description.contains("hidden"))
            }
            #expect(try fileBytes(path) == before)
            let tab = try ConfigStore(path: path, environment: isolatedEnvironment(home: folder))
            try tab.set("relay.token", to: "with\ttab")
            #expect(tab.configuration.relay.token == "with\ttab")
        }
    }

    @Test("An escaped control character in the file is refused naming its key and line")
    func escapedControlCharacterInFile() async throws {
        try await withTemporaryDirectory { folder in
            let path = "\(folder)/config.toml"
            try writeFile(path, "[relay]\nlisten = \"127.0.0.1:8787\"\ntoken = \"a\\u001bb\"\n")
            let error = try #require(throws: ConfigError.self) {
                try ConfigStore(path: path, environment: isolatedEnvironment(home: folder))
            }
            #expect(error.description == "\(path):3: relay.token: must not contain control characters")
        }
    }
}
