import Foundation
import LagoUsage
import Testing

@testable import LagoConfig

@Suite("ConfigStore: load, set, save")
struct ConfigStoreTests {
    @Test("A missing file means the defaults, and a set creates it")
    func missingFileMeansDefaults() async throws {
        try await withTemporaryDirectory { folder in
            let path = "\(folder)/nested/deeper/config.toml"
            let store = try ConfigStore(path: path, environment: isolatedEnvironment(home: folder))
            let snapshot = store.snapshot
            #expect(!snapshot.fileExists)
            #expect(snapshot.fileConfiguration == .defaults)
            #expect(ConfigKey.allCases.allSatisfy { snapshot.source(of: $0) == .default })
            #expect(!FileManager.default.fileExists(atPath: path))

            try store.set("metric_codes.input", to: "my_input")
            #expect(store.snapshot.fileExists)
            #expect(store.configuration.metricCodes[.input] == "my_input")
            #expect(try permissions(path) == 0o600)
            #expect(try permissions("\(folder)/nested/deeper") == 0o700)
            #expect(try permissions("\(folder)/nested") == 0o700)
        }
    }

    @Test("Values of every type survive a save and a fresh load")
    func roundTrip() async throws {
        try await withTemporaryDirectory { folder in
            let path = "\(folder)/config.toml"
            let environment = isolatedEnvironment(home: folder)
            let store = try ConfigStore(path: path, environment: environment)
            try store.set("lago.api_url", to: "https://lago.example.com")
            try store.set("lago.api_key", to: "sk_live_abcd1234")
            try store.set("lago.default_subscription_id", to: "sub_42")
            try store.set("lago.allow_insecure_http", to: "true")
            try store.set("metric_codes.tool_calls", to: "tools.v2-calls")
            try store.set("engine.flush_interval_seconds", to: "2.5")
            try store.set("engine.max_batch_size", to: "50")
            try store.set("engine.max_batch_bytes", to: "1_048_576")
            try store.set("engine.request_timeout_seconds", to: "15")
            try store.set("engine.spool_path", to: "/var/lib/lago/spool.sqlite")
            // A listen address that is not loopback needs the token first.
            #expect(throws: ConfigError.self) { try store.set("relay.listen", to: "0.0.0.0:9000") }
            try store.set("relay.token", to: "relay-token-123456")
            try store.set("relay.listen", to: "0.0.0.0:9000")
            try store.set("ui.readonly", to: "true")

            var expected = LagoConsoleConfiguration.defaults
            expected.lago = .init(
                apiURL: URL(string: "https://lago.example.com"),
                apiKey: "sk_live_abcd1234",
                defaultSubscriptionID: "sub_42",
                allowInsecureHTTP: true
            )
            expected.metricCodes[.toolCalls] = "tools.v2-calls"
            expected.engine.flushIntervalSeconds = 2.5
            expected.engine.maxBatchSize = 50
            expected.engine.maxBatchBytes = 1_048_576
            expected.engine.requestTimeoutSeconds = 15
            expected.engine.spoolPath = "/var/lib/lago/spool.sqlite"
            expected.relay = .init(listen: "0.0.0.0:9000", token: "relay-token-123456")
            expected.ui.readonly = true

            #expect(store.snapshot.fileConfiguration == expected)
            #expect(store.configuration == expected)

            let reloaded = try ConfigStore(path: path, environment: environment)
            #expect(reloaded.snapshot.fileConfiguration == expected)
            #expect(reloaded.configuration == expected)
            #expect(reloaded.snapshot.source(of: .engineMaxBatchSize) == .file)
            #expect(reloaded.snapshot.source(of: .engineMaxInFlight) == .default)
            #expect(try permissions(path) == 0o600)
        }
    }

    @Test("An empty value unsets the optional keys")
    func emptyUnsets() async throws {
        try await withTemporaryDirectory { folder in
            let path = "\(folder)/config.toml"
            let store = try ConfigStore(path: path, environment: isolatedEnvironment(home: folder))
            try store.set("lago.api_url", to: "https://lago.example.com")
            try store.set("lago.default_subscription_id", to: "sub_1")
            try store.set("lago.api_url", to: "")
            try store.set("lago.default_subscription_id", to: "")
            let reloaded = try ConfigStore(path: path, environment: isolatedEnvironment(home: folder))
            #expect(reloaded.configuration.lago.apiURL == nil)
            #expect(reloaded.configuration.lago.defaultSubscriptionID == nil)
        }
    }

    @Test("LAGO_API_KEY and LAGO_API_URL override the file in the effective config and are never saved")
    func environmentOverrides() async throws {
        try await withTemporaryDirectory { folder in
            let path = "\(folder)/config.toml"
            try writeFile(
                path,
                """
                [lago]
                api_url = "https://file.example.com"
                api_key = "sk_file_0000aaaa"

                """
            )
            let environment = isolatedEnvironment(
                home: folder,
                ["LAGO_API_KEY": "sk_env_1111bbbb", "LAGO_API_URL": "https://env.example.com"]
            )
            let store = try ConfigStore(path: path, environment: environment)
            let snapshot = store.snapshot
            #expect(snapshot.configuration.lago.apiKey == "sk_env_1111bbbb")
            #expect(snapshot.configuration.lago.apiURL == URL(string: "https://env.example.com"))
            #expect(snapshot.fileConfiguration.lago.apiKey == "sk_file_0000aaaa")
            #expect(snapshot.source(of: .lagoAPIKey) == .environment(variable: "LAGO_API_KEY"))
            #expect(snapshot.source(of: .lagoAPIURL) == .environment(variable: "LAGO_API_URL"))

            try store.set("metric_codes.output", to: "out")
            try store.set("lago.api_key", to: "sk_file_2222cccc")
            let text = try fileText(path)
            #expect(!text.contains("sk_env_1111bbbb"))
            #expect(!text.contains("env.example.com"))
            #expect(text.contains("sk_file_2222cccc"))
            #expect(store.configuration.lago.apiKey == "sk_env_1111bbbb", "the environment still wins")

            let withoutEnvironment = try ConfigStore(path: path, environment: isolatedEnvironment(home: folder))
            #expect(withoutEnvironment.configuration.lago.apiKey == "sk_file_2222cccc")
            #expect(withoutEnvironment.configuration.lago.apiURL == URL(string: "https://file.example.com"))
        }
    }

    @Test("An empty environment variable does not override")
    func emptyEnvironmentVariableIgnored() async throws {
        try await withTemporaryDirectory { folder in
            let path = "\(folder)/config.toml"
            try writeFile(path, "[lago]\napi_key = \"sk_file_0000aaaa\"\n")
            let store = try ConfigStore(
                path: path,
                environment: isolatedEnvironment(home: folder, ["LAGO_API_KEY": ""])
            )
            #expect(store.configuration.lago.apiKey == "sk_file_0000aaaa")
            #expect(store.snapshot.source(of: .lagoAPIKey) == .file)
        }
    }

    @Test("An invalid override is an error naming the variable and the key")
    func invalidEnvironmentOverride() async throws {
        try await withTemporaryDirectory { folder in
            let path = "\(folder)/config.toml"
            let error = try #require(throws: ConfigError.self) {
                try ConfigStore(
                    path: path,
                    environment: isolatedEnvironment(home: folder, ["LAGO_API_URL": "http://lago.example.com"])
                )
            }
            #expect(error.environmentVariable == "LAGO_API_URL")
            #expect(error.key == "lago.api_url")
            #expect(error.file == nil)
            #expect(error.description.hasPrefix("environment variable LAGO_API_URL: lago.api_url: plain http"))

            // Loopback http is fine without allow_insecure_http.
            let store = try ConfigStore(
                path: path,
                environment: isolatedEnvironment(home: folder, ["LAGO_API_URL": "http://localhost:3000"])
            )
            #expect(store.configuration.lago.apiURL == URL(string: "http://localhost:3000"))
        }
    }

    @Test("Keys and tables the store does not know survive a save")
    func unknownContentKept() async throws {
        try await withTemporaryDirectory { folder in
            let path = "\(folder)/config.toml"
            try writeFile(
                path,
                """
                top_level_flag = true

                [lago]
                api_key = "sk_live_abcd1234"
                future_option = "keep me"

                [metric_codes]
                input = "custom_input"
                video_input = "llm_video_tokens"

                [plugins.alerts]
                thresholds = [1, 2, 3]
                webhook = { url = "https://hooks.example.com", retries = 3 }

                [[plugins.sinks]]
                name = "first"

                [[plugins.sinks]]
                name = "second"

                """
            )
            let environment = isolatedEnvironment(home: folder)
            let store = try ConfigStore(path: path, environment: environment)
            #expect(
                Set(store.snapshot.unknownKeys) == [
                    "top_level_flag", "plugins", "lago.future_option", "metric_codes.video_input",
                ]
            )

            try store.set("engine.max_in_flight", to: "8")

            let reloaded = try ConfigStore(path: path, environment: environment)
            #expect(Set(reloaded.snapshot.unknownKeys) == Set(store.snapshot.unknownKeys))
            #expect(reloaded.configuration.engine.maxInFlight == 8)
            #expect(reloaded.configuration.metricCodes[.input] == "custom_input")
            #expect(reloaded.configuration.lago.apiKey == "sk_live_abcd1234")

            // The unknown content itself, compared as parsed TOML rather than as text.
            let saved = try ConfigDocument(text: try fileText(path), file: nil)
            let original = try ConfigDocument(
                text: """
                    top_level_flag = true
                    [lago]
                    future_option = "keep me"
                    [metric_codes]
                    video_input = "llm_video_tokens"
                    [plugins.alerts]
                    thresholds = [1, 2, 3]
                    webhook = { url = "https://hooks.example.com", retries = 3 }
                    [[plugins.sinks]]
                    name = "first"
                    [[plugins.sinks]]
                    name = "second"
                    """,
                file: nil
            )
            #expect(saved.subtree("plugins") == original.subtree("plugins"))
            #expect(saved.subtree("top_level_flag") == original.subtree("top_level_flag"))
            #expect(saved.subtree("lago", "future_option") == original.subtree("lago", "future_option"))
            #expect(saved.subtree("metric_codes", "video_input") == original.subtree("metric_codes", "video_input"))
        }
    }

    @Test("A save removes temp files left by a killed save, and they never confuse a load")
    func staleTemporaryFiles() async throws {
        try await withTemporaryDirectory { folder in
            let path = "\(folder)/config.toml"
            let environment = isolatedEnvironment(home: folder)
            let store = try ConfigStore(path: path, environment: environment)
            try store.set("metric_codes.input", to: "before")
            let stale = "\(folder)/.config.toml.tmp-99999-deadbeef"
            try writeFile(stale, "[metric_codes]\ninput = \"half-writ")

            #expect(try ConfigStore(path: path, environment: environment).configuration.metricCodes[.input] == "before")
            try store.set("metric_codes.input", to: "after")
            #expect(!FileManager.default.fileExists(atPath: stale))
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.contains(".tmp-") }
            #expect(leftovers.isEmpty)
        }
    }

    @Test("A save of an existing world-readable file makes it 0600")
    func saveTightensMode() async throws {
        try await withTemporaryDirectory { folder in
            let path = "\(folder)/config.toml"
            try writeFile(path, "[ui]\nno_color = true\n")
            chmod(path, 0o644)
            let store = try ConfigStore(path: path, environment: isolatedEnvironment(home: folder))
            try store.set("ui.readonly", to: "true")
            #expect(try permissions(path) == 0o600)
            #expect(store.configuration.ui == .init(noColor: true, readonly: true))
        }
    }

    @Test("A symbolic link to the config file stays a link after a save")
    func symbolicLinkKept() async throws {
        try await withTemporaryDirectory { folder in
            let real = "\(folder)/real.toml"
            let link = "\(folder)/config.toml"
            try writeFile(real, "[ui]\nno_color = true\n")
            try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: real)
            let store = try ConfigStore(path: link, environment: isolatedEnvironment(home: folder))
            try store.set("ui.readonly", to: "true")
            let destination = try FileManager.default.destinationOfSymbolicLink(atPath: link)
            #expect(destination == real)
            #expect(try fileText(real).contains("readonly = true"))
        }
    }

    @Test("Concurrent sets from several stores on one file all land")
    func concurrentSets() async throws {
        try await withTemporaryDirectory { folder in
            let path = "\(folder)/config.toml"
            let environment = isolatedEnvironment(home: folder)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for field in CanonicalField.allCases {
                    group.addTask {
                        let store = try ConfigStore(path: path, environment: environment)
                        try store.set("metric_codes.\(field.rawValue)", to: "concurrent_\(field.rawValue)")
                    }
                }
                try await group.waitForAll()
            }
            let store = try ConfigStore(path: path, environment: environment)
            for field in CanonicalField.allCases {
                #expect(store.configuration.metricCodes[field] == "concurrent_\(field.rawValue)")
            }
        }
    }

    @Test("The effective spool path is resolved from XDG_STATE_HOME, and the file keeps it empty")
    func spoolPathResolution() async throws {
        try await withTemporaryDirectory { folder in
            let path = "\(folder)/config.toml"
            let store = try ConfigStore(
                path: path,
                environment: isolatedEnvironment(home: folder, ["XDG_STATE_HOME": "\(folder)/state"])
            )
            #expect(store.configuration.engine.spoolPath == "\(folder)/state/lago-console/spool.sqlite")
            #expect(store.snapshot.fileConfiguration.engine.spoolPath == "")

            try store.set("engine.spool_path", to: "~/spool/events.sqlite")
            #expect(store.configuration.engine.spoolPath == "\(folder)/spool/events.sqlite")
        }
    }

    @Test("reload() picks up changes made by another store")
    func reload() async throws {
        try await withTemporaryDirectory { folder in
            let path = "\(folder)/config.toml"
            let environment = isolatedEnvironment(home: folder)
            let first = try ConfigStore(path: path, environment: environment)
            let second = try ConfigStore(path: path, environment: environment)
            try second.set("engine.max_in_flight", to: "16")
            #expect(first.configuration.engine.maxInFlight == .auto)
            try first.reload()
            #expect(first.configuration.engine.maxInFlight == 16)
        }
    }
}

extension ConfigDocument {
    /// The TOML text of the value at `path` (a one-key document), for comparing documents in tests.
    func subtree(_ path: String...) -> String? {
        self.serializedValue(at: path)
    }
}
