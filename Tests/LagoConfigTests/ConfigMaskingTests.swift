import Foundation
import LagoAPI
import Testing

@testable import LagoConfig

@Suite("Secrets are masked wherever a configuration is shown")
struct ConfigMaskingTests {
    @Test(
        "mask keeps the last four characters of long secrets only",
        arguments: [
            ("sk_live_abcd1234", "••••1234"),
            ("123456789", "••••6789"),
            ("12345678", "••••"),
            ("abc", "••••"),
            ("", "(not set)"),
        ]
    )
    func mask(secret: String, shown: String) {
        #expect(ConfigMasking.mask(secret) == shown)
    }

    @Test("description, debugDescription, dump and sections never show the key or the relay token")
    func descriptionsMask() {
        var configuration = LagoConsoleConfiguration.defaults
        configuration.lago.apiKey = "sk_live_supersecret_abcd1234"
        configuration.relay.token = "relay_supersecret_token_9876"
        var dumped = ""
        dump(configuration, to: &dumped)
        var dumpedLago = ""
        dump(configuration.lago, to: &dumpedLago)
        let renderings = [
            configuration.description,
            configuration.debugDescription,
            "\(configuration)",
            String(reflecting: configuration),
            dumped,
            "\(configuration.lago)",
            String(reflecting: configuration.lago),
            dumpedLago,
            "\(configuration.relay)",
            String(reflecting: configuration.relay),
        ]
        for rendering in renderings {
            #expect(!rendering.contains("supersecret"))
        }
        #expect(configuration.description.contains("lago.api_key = ••••1234"))
        #expect(configuration.description.contains("relay.token = ••••9876"))
        #expect(configuration.displayValue(for: .lagoAPIKey) == "••••1234")
        #expect(LagoConsoleConfiguration.defaults.displayValue(for: .lagoAPIKey) == "(not set)")
        #expect(configuration.displayValue(for: .metricCode(.input)) == "\"llm_input_tokens\"")
    }

    @Test("Errors from a bad secret do not repeat it")
    func errorsDoNotRepeatSecret() async throws {
        try await withTemporaryDirectory { folder in
            let store = try ConfigStore(path: "\(folder)/config.toml", environment: isolatedEnvironment(home: folder))
            let error = try #require(throws: ConfigError.self) {
                try store.set("lago.api_key", to: "sk_live_line1\nsk_live_line2")
            }
            #expect(!error.description.contains("sk_live"))
        }
    }

    @Test(
        "lago.webhook_hmac_key is a secret: masked everywhere, overridden by LAGO_WEBHOOK_HMAC_KEY, never saved from it"
    )
    func webhookHMACKey() async throws {
        #expect(ConfigKey.lagoWebhookHMACKey.isSecret)
        #expect(ConfigKey.lagoWebhookHMACKey.environmentVariable == "LAGO_WEBHOOK_HMAC_KEY")
        var configuration = LagoConsoleConfiguration.defaults
        configuration.lago.webhookHMACKey = "whsec_supersecret_5678"
        var dumped = ""
        dump(configuration, to: &dumped)
        for rendering in [configuration.description, String(reflecting: configuration.lago), dumped] {
            #expect(!rendering.contains("supersecret"))
        }
        #expect(configuration.displayValue(for: .lagoWebhookHMACKey) == "••••5678")
        try await withTemporaryDirectory { folder in
            let path = "\(folder)/config.toml"
            let store = try ConfigStore(
                path: path,
                environment: isolatedEnvironment(home: folder, ["LAGO_WEBHOOK_HMAC_KEY": "env_hmac_key_0000"]))
            #expect(store.configuration.lago.webhookHMACKey == "env_hmac_key_0000")
            #expect(store.snapshot.source(of: .lagoWebhookHMACKey) == .environment(variable: "LAGO_WEBHOOK_HMAC_KEY"))
            try store.set("lago.webhook_hmac_key", to: "file_hmac_key_1111")
            let text = try String(contentsOfFile: path, encoding: .utf8)
            #expect(text.contains("file_hmac_key_1111") && !text.contains("env_hmac_key_0000"))
            #expect(store.configuration.lago.webhookHMACKey == "env_hmac_key_0000", "the environment still wins")
            let error = try #require(throws: ConfigError.self) {
                try store.set("lago.webhook_hmac_key", to: "whsec_line1\nwhsec_line2")
            }
            #expect(!error.description.contains("whsec"))
        }
    }
}
