import Foundation
import LagoUsage
import Testing

@testable import LagoConfig

@Suite("[usage]: cost events and the OTLP attributes")
struct UsageSourcesConfigTests {
    @Test("Defaults, a save and a reload")
    func defaultsAndReload() async throws {
        try await withTemporaryDirectory { folder in
            let path = "\(folder)/config.toml"
            let store = try ConfigStore(path: path, environment: isolatedEnvironment(home: folder))
            let defaults = store.configuration.usage
            #expect(defaults.costEvents == "off" && defaults.costCode == "llm_usage" && defaults.otelCostEvents == "")
            #expect(defaults.otelSubscriptionAttribute == "lago.subscription_id")
            #expect(defaults.otelCustomerAttribute == "lago.customer_id")
            #expect(defaults.otelCostAttribute == "gen_ai.usage.cost" && defaults.otelCostCurrency == "USD")
            try store.set("usage.cost_events", to: "also")
            try store.set("usage.otel_cost_events", to: "only")
            try store.set("usage.otel_subscription_attribute", to: "tenant.subscription")
            try store.set("usage.otel_cost_currency", to: "EUR")
            #expect(try String(contentsOfFile: path, encoding: .utf8).contains("[usage]"))
            let reloaded = try ConfigStore(path: path, environment: isolatedEnvironment(home: folder))
            #expect(reloaded.configuration.usage.costEvents == "also")
            #expect(reloaded.configuration.usage.otelCostEvents == "only")
            #expect(reloaded.configuration.usage.otelSubscriptionAttribute == "tenant.subscription")
            #expect(reloaded.configuration.usage.otelCostCurrency == "EUR")
        }
    }

    @Test("A bad value is refused naming the key and what it must be")
    func refused() async throws {
        try await withTemporaryDirectory { folder in
            let store = try ConfigStore(path: "\(folder)/config.toml", environment: isolatedEnvironment(home: folder))
            for (key, text, reason) in [
                ("usage.cost_events", "sometimes", "must be off, also or only"),
                ("usage.otel_cost_events", "never", "must be off, also or only"),
                ("usage.cost_code", "llm usage", "must contain only letters"),
                ("usage.otel_customer_attribute", "", "must be an attribute name"),
                ("usage.otel_cost_currency", "usd", "must be a code such as USD"),
            ] {
                let error = try #require(throws: ConfigError.self) { try store.set(key, to: text) }
                #expect(error.key == key)
                #expect(error.reason.contains(reason), "\(error.reason)")
            }
            #expect(store.configuration.usage == LagoConsoleConfiguration.Usage())
        }
    }
}
