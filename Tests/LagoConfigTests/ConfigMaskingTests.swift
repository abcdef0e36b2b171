import Foundation
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
}
