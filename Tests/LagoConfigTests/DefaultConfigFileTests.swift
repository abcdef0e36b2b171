import Foundation
import LagoUsage
import TestSupport
import Testing

@testable import LagoConfig

@Suite("The documented default config file")
struct DefaultConfigFileTests {
    let path = packageRoot.appendingPathComponent("config/lago-console.toml").path

    @Test("config/lago-console.toml parses, sets every key, and equals the built-in defaults")
    func defaultFileEqualsDefaults() throws {
        try #require(FileManager.default.fileExists(atPath: self.path), "missing \(self.path)")
        let store = try ConfigStore(path: self.path, environment: ["HOME": "/nonexistent-home"])
        let snapshot = store.snapshot
        #expect(snapshot.fileConfiguration == .defaults)
        #expect(snapshot.unknownKeys.isEmpty)
        for key in ConfigKey.allCases {
            #expect(snapshot.source(of: key) == .file, "\(key.name) is missing from the documented file")
        }
    }

    @Test("Every key in the documented file has a comment above it")
    func everyKeyDocumented() throws {
        let lines = try fileText(self.path).split(separator: "\n", omittingEmptySubsequences: false)
        let locator = TOMLKeyLocator(text: try fileText(self.path))
        for key in ConfigKey.allCases {
            let line = try #require(locator.line(of: key.name.split(separator: ".").map(String.init)))
            #expect(lines[line - 2].hasPrefix("#"), "\(key.name) on line \(line) has no comment above it")
        }
    }

    @Test("Defaults match the documented values")
    func defaults() {
        let defaults = LagoConsoleConfiguration.defaults
        #expect(defaults.lago.apiURL == nil)
        #expect(defaults.lago.apiKey == "")
        #expect(defaults.lago.defaultSubscriptionID == nil)
        #expect(defaults.lago.allowInsecureHTTP == false)
        #expect(
            CanonicalField.allCases.map(\.rawValue) == [
                "input", "output", "cache_read", "cache_write", "cache_write_5m", "cache_write_1h", "reasoning",
                "tool_calls", "image_input", "audio_input",
            ]
        )
        #expect(
            CanonicalField.allCases.map { defaults.metricCodes[$0] } == [
                "llm_input_tokens", "llm_output_tokens", "llm_cached_input_tokens", "llm_cache_creation_tokens",
                "llm_cache_write_5m_tokens", "llm_cache_write_1h_tokens", "llm_reasoning_tokens", "llm_tool_calls",
                "llm_image_input_tokens", "llm_audio_input_tokens",
            ]
        )
        #expect(
            defaults.engine
                == .init(
                    flushIntervalSeconds: 1.0,
                    maxBatchSize: 100,
                    maxBatchBytes: 1_048_576,
                    maxInFlight: .auto,
                    spoolPath: "",
                    spoolLimit: 10_000_000,
                    requestTimeoutSeconds: 10,
                    maxRetryBackoffSeconds: 30,
                    maxEventAgeSeconds: 0
                )
        )
        #expect(defaults.engine.maxEventAge == nil)
        #expect(defaults.relay == .init(listen: "127.0.0.1:8787", token: "", maxBodyBytes: 1_048_576))
        #expect(defaults.relay.host == "127.0.0.1")
        #expect(defaults.relay.port == 8787)
        #expect(defaults.relay.listensOnLoopback)
        #expect(defaults.ui == .init(noColor: false, readonly: false))
    }
}

@Suite("Default file locations")
struct ConfigPathsTests {
    @Test("XDG_CONFIG_HOME, else ~/.config; --config wins")
    func configPath() {
        #expect(
            ConfigPaths.configFilePath(explicitPath: nil, environment: ["HOME": "/h", "XDG_CONFIG_HOME": "/x"])
                == "/x/lago-console/config.toml"
        )
        #expect(
            ConfigPaths.configFilePath(explicitPath: nil, environment: ["HOME": "/h"])
                == "/h/.config/lago-console/config.toml"
        )
        #expect(
            ConfigPaths.configFilePath(explicitPath: nil, environment: ["HOME": "/h", "XDG_CONFIG_HOME": "relative"])
                == "/h/.config/lago-console/config.toml",
            "a relative XDG path is ignored, as the specification says"
        )
        #expect(
            ConfigPaths.configFilePath(explicitPath: "/etc/lago.toml", environment: ["HOME": "/h"]) == "/etc/lago.toml"
        )
        #expect(ConfigPaths.configFilePath(explicitPath: "~/lago.toml", environment: ["HOME": "/h"]) == "/h/lago.toml")
    }

    @Test("XDG_STATE_HOME, else ~/.local/state")
    func spoolPath() {
        #expect(
            ConfigPaths.defaultSpoolPath(environment: ["HOME": "/h", "XDG_STATE_HOME": "/s"])
                == "/s/lago-console/spool.sqlite"
        )
        #expect(
            ConfigPaths.defaultSpoolPath(environment: ["HOME": "/h"]) == "/h/.local/state/lago-console/spool.sqlite"
        )
    }
}
