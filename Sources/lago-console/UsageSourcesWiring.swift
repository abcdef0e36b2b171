import LagoConfig
import LagoOTLP
import LagoRelay
import LagoUsage

extension RelayOptions {
    /// The relay's usage sources follow the config's `[usage]` keys, read per request (so an edit applies at once).
    mutating func setUsageSources(_ keys: @escaping @Sendable () -> LagoConsoleConfiguration.Usage) {
        otlp = {
            let keys = keys()
            return OTLPUsageOptions(
                subscriptionAttribute: keys.otelSubscriptionAttribute, customerAttribute: keys.otelCustomerAttribute,
                costAttribute: keys.otelCostAttribute, costCurrency: keys.otelCostCurrency)
        }
        usageCostEvents = {
            let keys = keys()
            return CostEvents(mode: CostEventMode(rawValue: keys.costEvents) ?? .off, code: keys.costCode)
        }
        otlpCostEvents = {
            let keys = keys()
            let mode = keys.otelCostEvents.isEmpty ? keys.costEvents : keys.otelCostEvents
            return CostEvents(mode: CostEventMode(rawValue: mode) ?? .off, code: keys.costCode)
        }
    }
}
