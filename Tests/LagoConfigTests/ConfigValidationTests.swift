import Foundation
import Testing

@testable import LagoConfig

@Suite("Validation: errors name the file, the key and the line")
struct ConfigValidationTests {
    /// Loads `text` as a config file and returns the error it must give.
    private func loadError(_ text: String, in folder: String) throws -> (ConfigError, path: String) {
        let path = "\(folder)/config.toml"
        try writeFile(path, text)
        let error = try #require(throws: ConfigError.self) {
            try ConfigStore(path: path, environment: isolatedEnvironment(home: folder))
        }
        return (error, path)
    }

    @Test("Invalid TOML: the file and line of the parse error; set leaves the file byte for byte")
    func invalidTOML() async throws {
        try await withTemporaryDirectory { folder in
            let text = "# comment\n[lago]\napi_url = \"https://lago.example.com\"\napi_key = \"unterminated\n[ui]\n"
            let (error, path) = try self.loadError(text, in: folder)
            #expect(error.kind == .invalidTOML)
            #expect(error.file == path)
            #expect(error.line == 4)
            #expect(error.key == "lago.api_key")
            let column = try #require(error.column, "toml++ reports the column")
            #expect(error.description.hasPrefix("\(path):4:\(column): lago.api_key: invalid TOML"))
            #expect(
                error.description.hasSuffix("fix line 4 of \(path) (until then nothing is loaded from or saved to it)")
            )

            let before = try fileBytes(path)
            let store = try ConfigStore(path: "\(folder)/other.toml", environment: isolatedEnvironment(home: folder))
            _ = store
            // A store cannot be made for the broken file, so `config set` (which makes one) cannot touch it; a
            // store made before the file broke re-reads it under the lock and refuses too.
            try writeFile(path, "[ui]\nreadonly = true\n")
            let earlier = try ConfigStore(path: path, environment: isolatedEnvironment(home: folder))
            try writeFile(path, text)
            let setError = try #require(throws: ConfigError.self) {
                try earlier.set("metric_codes.input", to: "fine")
            }
            #expect(setError.kind == .invalidTOML)
            #expect(setError.line == 4)
            #expect(try fileBytes(path) == before)
        }
    }

    @Test("An unquoted value is a parse error naming its key")
    func unquotedValue() async throws {
        try await withTemporaryDirectory { folder in
            let (error, path) = try self.loadError("[engine]\nmax_batch_size = 10\nmax_in_flight = four\n", in: folder)
            #expect(error.kind == .invalidTOML)
            #expect(error.line == 3)
            #expect(error.key == "engine.max_in_flight")
            #expect(error.file == path)
        }
    }

    @Test("An empty metric code names the key and its line")
    func emptyMetricCode() async throws {
        try await withTemporaryDirectory { folder in
            let text = """
                [lago]
                api_url = "https://api.getlago.com"

                # Custom codes
                [metric_codes]
                output = "out"
                input = ""

                """
            let (error, path) = try self.loadError(text, in: folder)
            #expect(error.kind == .invalidValue)
            #expect(error.key == "metric_codes.input")
            #expect(error.line == 7)
            #expect(error.description == "\(path):7: metric_codes.input: must not be empty")
        }
    }

    @Test(
        "Type mismatches name the key and line",
        arguments: [
            (
                "[engine]\n\nmax_in_flight = \"four\"\n", "engine.max_in_flight", 3,
                "must be \"auto\" or an integer between 1 and 64, not a string"
            ),
            ("[ui]\nno_color = \"yes\"\n", "ui.no_color", 2, "must be true or false, not a string"),
            ("[engine]\nmax_batch_size = 10.5\n", "engine.max_batch_size", 2, "must be an integer, not a float"),
            ("[lago]\napi_key = 1234\n", "lago.api_key", 2, "must be a string, not an integer"),
            ("x = 1\nlago = 5\n", "lago", 2, "must be a table, not an integer"),
            (
                "engine.max_in_flight = \"4\"\n", "engine.max_in_flight", 1,
                "must be \"auto\" or an integer between 1 and 64, not a string"
            ),
            ("[engine]\nmin_in_flight = \"auto\"\n", "engine.min_in_flight", 2, "must be an integer, not a string"),
        ]
    )
    func typeMismatch(text: String, key: String, line: Int, reason: String) async throws {
        try await withTemporaryDirectory { folder in
            let (error, path) = try self.loadError(text, in: folder)
            #expect(error.kind == .typeMismatch)
            #expect(error.key == key)
            #expect(error.line == line)
            #expect(error.reason == reason)
            #expect(error.description == "\(path):\(line): \(key): \(reason)")
        }
    }

    @Test(
        "Out-of-range and malformed values name the key and line",
        arguments: [
            ("[engine]\nmax_batch_size = 101\n", "engine.max_batch_size", 2),
            ("[engine]\nmax_batch_size = 0\n", "engine.max_batch_size", 2),
            ("[engine]\nmax_in_flight = 65\n", "engine.max_in_flight", 2),
            ("[engine]\nmax_batch_bytes = 10\n", "engine.max_batch_bytes", 2),
            ("[engine]\nflush_interval_seconds = -1.0\n", "engine.flush_interval_seconds", 2),
            ("[engine]\nmax_event_age_seconds = -5\n", "engine.max_event_age_seconds", 2),
            ("[engine]\nspool_limit = 0\n", "engine.spool_limit", 2),
            ("[engine]\nspool_path = \"relative/spool.sqlite\"\n", "engine.spool_path", 2),
            ("[metric_codes]\ninput = \"has space\"\n", "metric_codes.input", 2),
            ("[metric_codes]\ncache_read = \"ünïcode\"\n", "metric_codes.cache_read", 2),
            ("[lago]\ndefault_subscription_id = \"   \"\n", "lago.default_subscription_id", 2),
            ("[lago]\napi_url = \"ftp://lago.example.com\"\n", "lago.api_url", 2),
            ("[lago]\napi_url = \"not a url\"\n", "lago.api_url", 2),
            ("[lago]\napi_url = \"https://\"\n", "lago.api_url", 2),
            ("[lago]\napi_url = \"http://lago.example.com\"\n", "lago.api_url", 2),
            ("[relay]\nlisten = \"8787\"\n", "relay.listen", 2),
            ("[relay]\nlisten = \"127.0.0.1:70000\"\n", "relay.listen", 2),
            ("[relay]\nlisten = \"0.0.0.0:8787\"\n", "relay.listen", 2),
            ("[relay]\nmax_body_bytes = 0\n", "relay.max_body_bytes", 2),
            ("[relay]\ncontrol_listen = \"0.0.0.0:8788\"\n", "relay.control_listen", 2),
            (
                "[relay]\ncontrol_allow_remote = false\ncontrol_listen = \"[2001:db8::1]:0\"\n",
                "relay.control_listen", 3
            ),
            ("[relay]\ncontrol_listen = \"lago.example.com:8788\"\n", "relay.control_listen", 2),
            ("[engine]\nmin_in_flight = 20\nmax_in_flight_limit = 8\n", "engine.min_in_flight", 2),
        ]
    )
    func invalidValue(text: String, key: String, line: Int) async throws {
        try await withTemporaryDirectory { folder in
            let (error, path) = try self.loadError(text, in: folder)
            #expect(error.kind == .invalidValue)
            #expect(error.key == key)
            #expect(error.line == line)
            #expect(error.file == path)
            #expect(error.description.hasPrefix("\(path):\(line): \(key): "))
        }
    }

    @Test(
        "Rules between keys: insecure http, a public relay, a public control API",
        arguments: [
            "[lago]\napi_url = \"http://lago.internal:3000\"\nallow_insecure_http = true\n",
            "[lago]\napi_url = \"http://127.0.0.1:3000\"\n",
            "[lago]\napi_url = \"http://[::1]:3000\"\n",
            "[relay]\nlisten = \"0.0.0.0:8787\"\ntoken = \"secret-token\"\n",
            "[relay]\nlisten = \"[::1]:8787\"\n",
            "[relay]\nlisten = \"localhost:0\"\n",
            "[relay]\ncontrol_listen = \"0.0.0.0:8788\"\ncontrol_allow_remote = true\n",
            "[relay]\ncontrol_listen = \"[::1]:0\"\n",
            "[relay]\ncontrol_listen = \"127.0.0.2:8788\"\n",
        ]
    )
    func validCombinations(text: String) async throws {
        try await withTemporaryDirectory { folder in
            let path = "\(folder)/config.toml"
            try writeFile(path, text)
            _ = try ConfigStore(path: path, environment: isolatedEnvironment(home: folder))
        }
    }

    @Test("A control API beyond loopback is refused naming the key, the address and the fix, at load and at set")
    func remoteControlAPI() async throws {
        try await withTemporaryDirectory { folder in
            let (error, path) = try self.loadError("[relay]\ncontrol_listen = \"0.0.0.0:8788\"\n", in: folder)
            #expect(
                error.description
                    == "\(path):2: relay.control_listen: 0.0.0.0:8788 is not a loopback address, and the control API "
                    + "can send, flush and discard events; listen on a loopback address such as 127.0.0.1:8788, or set "
                    + "relay.control_allow_remote = true to expose it (then /metrics also needs the control token)"
            )

            try writeFile(path, "[relay]\ntoken = \"t\"\n")
            let store = try ConfigStore(path: path, environment: isolatedEnvironment(home: folder))
            let before = try fileBytes(path)
            let setError = try #require(throws: ConfigError.self) {
                try store.set("relay.control_listen", to: "0.0.0.0:8788")
            }
            #expect(setError.key == "relay.control_listen")
            #expect(setError.reason.contains("relay.control_allow_remote = true"))
            #expect(try fileBytes(path) == before)
            try store.set("relay.control_allow_remote", to: "true")
            try store.set("relay.control_listen", to: "0.0.0.0:8788")
            #expect(store.configuration.relay.controlAllowRemote)
            #expect(!store.configuration.relay.controlListensOnLoopback)
            // Taking the permission back while the address is public is refused too.
            #expect(throws: ConfigError.self) { try store.set("relay.control_allow_remote", to: "false") }
            #expect(
                try ConfigStore(path: path, environment: isolatedEnvironment(home: folder)).configuration.relay
                    .controlAllowRemote)
        }
    }

    @Test("Integers are accepted where a number is expected")
    func integerForDouble() async throws {
        try await withTemporaryDirectory { folder in
            let path = "\(folder)/config.toml"
            try writeFile(path, "[engine]\nflush_interval_seconds = 2\n")
            let store = try ConfigStore(path: path, environment: isolatedEnvironment(home: folder))
            #expect(store.configuration.engine.flushIntervalSeconds == 2.0)
        }
    }

    @Test("Dotted keys, quoted keys and inline tables are read and located")
    func otherKeyForms() async throws {
        try await withTemporaryDirectory { folder in
            let path = "\(folder)/config.toml"
            try writeFile(
                path,
                "engine.max_in_flight = 8\n\"ui\".'readonly' = true\nrelay = { listen = \"[::1]:9\" }\n"
            )
            let store = try ConfigStore(path: path, environment: isolatedEnvironment(home: folder))
            #expect(store.configuration.engine.maxInFlight == 8)
            #expect(store.configuration.ui.readonly)
            #expect(store.configuration.relay.listen == "[::1]:9")

            let (error, _) = try self.loadError("# x\nrelay = { listen = \"0.0.0.0:1\" }\n", in: folder)
            #expect(error.key == "relay.listen")
            #expect(error.line == 2)
        }
    }

    @Test("set with an invalid value names the key and leaves the file byte for byte")
    func setInvalidLeavesFileUntouched() async throws {
        try await withTemporaryDirectory { folder in
            let path = "\(folder)/config.toml"
            let original = "# My settings\n[metric_codes]\ninput = \"mine\"\n\n[lago]\napi_key = \"sk_live_abcd1234\"\n"
            try writeFile(path, original)
            let before = try fileBytes(path)
            let store = try ConfigStore(path: path, environment: isolatedEnvironment(home: folder))
            let attempts: [(String, String, ConfigError.Kind)] = [
                ("metric_codes.input", "", .invalidValue),
                ("metric_codes.input", "has space", .invalidValue),
                ("engine.max_in_flight", "four", .typeMismatch),
                ("engine.max_in_flight", "0", .invalidValue),
                ("engine.max_batch_size", "1000", .invalidValue),
                ("engine.flush_interval_seconds", "nan", .typeMismatch),
                ("ui.no_color", "yes", .typeMismatch),
                ("lago.api_url", "http://lago.example.com", .invalidValue),
                ("lago.default_subscription_id", " ", .invalidValue),
                ("relay.listen", "0.0.0.0:8787", .invalidValue),
                ("relay.listen", "nonsense", .invalidValue),
            ]
            for (key, value, kind) in attempts {
                let error = try #require(throws: ConfigError.self) { try store.set(key, to: value) }
                #expect(error.kind == kind, "\(key) = \(value)")
                #expect(error.key == key)
                #expect(error.line == nil, "the value came from the command line, not the file")
                #expect(error.description.hasPrefix("\(key): "))
                #expect(try fileBytes(path) == before)
            }
            #expect(store.configuration.metricCodes[.input] == "mine")
        }
    }

    @Test("set of an unknown key lists the known keys and nothing secret")
    func setUnknownKey() async throws {
        try await withTemporaryDirectory { folder in
            let path = "\(folder)/config.toml"
            try writeFile(path, "[lago]\napi_key = \"sk_live_abcd1234\"\n")
            let before = try fileBytes(path)
            let store = try ConfigStore(
                path: path,
                environment: isolatedEnvironment(home: folder, ["LAGO_API_KEY": "sk_env_9999zzzz"])
            )
            let error = try #require(throws: ConfigError.self) {
                try store.set("lago.apikey", to: "sk_live_new_secret_5678")
            }
            #expect(error.kind == .unknownKey)
            #expect(error.key == "lago.apikey")
            #expect(error.description.contains("lago.api_key"))
            #expect(error.description.contains("metric_codes.audio_input"))
            for secret in ["sk_live_new_secret_5678", "sk_live_abcd1234", "sk_env_9999zzzz", "5678", "1234"] {
                #expect(!error.description.contains(secret))
            }
            #expect(try fileBytes(path) == before)
        }
    }

    @Test("set refuses to save over a file whose other keys are invalid, naming that key's line")
    func setRefusesInvalidFile() async throws {
        try await withTemporaryDirectory { folder in
            let path = "\(folder)/config.toml"
            try writeFile(path, "[ui]\nreadonly = true\n")
            let store = try ConfigStore(path: path, environment: isolatedEnvironment(home: folder))
            let broken = "[ui]\nreadonly = true\n[engine]\nmax_in_flight = 1000\n"
            try writeFile(path, broken)
            let error = try #require(throws: ConfigError.self) { try store.set("ui.no_color", to: "true") }
            #expect(error.key == "engine.max_in_flight")
            #expect(error.line == 4)
            #expect(error.file == path)
            #expect(try fileText(path) == broken)

            // Setting the faulty key itself repairs the file.
            try store.set("engine.max_in_flight", to: "8")
            #expect(store.configuration.engine.maxInFlight == 8)
        }
    }

    @Test("validate() on a value built in code")
    func validateInCode() throws {
        var configuration = LagoConsoleConfiguration.defaults
        try configuration.validate()
        configuration.metricCodes[.reasoning] = "bad code"
        let error = try #require(throws: ConfigError.self) { try configuration.validate() }
        #expect(error.key == "metric_codes.reasoning")
        #expect(error.description == "metric_codes.reasoning: must contain only letters, digits, '_', '-' and '.'")
    }
}

@Suite("engine.spool_sync")
struct SpoolSyncKeyTests {
    @Test("normal or full; anything else names the key and line")
    func spoolSync() async throws {
        try await withTemporaryDirectory { folder in
            let path = "\(folder)/config.toml"
            try writeFile(path, "[engine]\nspool_sync = \"full\"\n")
            let store = try ConfigStore(path: path, environment: isolatedEnvironment(home: folder))
            #expect(store.configuration.engine.spoolSync == "full")
            try writeFile(path, "[engine]\nspool_sync = \"always\"\n")
            let error = try #require(throws: ConfigError.self) {
                try ConfigStore(path: path, environment: isolatedEnvironment(home: folder))
            }
            #expect(error.key == "engine.spool_sync" && error.line == 2)
            #expect(error.description.contains("must be normal or full"))
        }
    }
}
