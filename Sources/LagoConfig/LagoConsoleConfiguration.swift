public import Foundation
import LagoAPI
public import LagoUsage

/// Everything the console, its delivery engine and its relay can be configured with: the typed form of
/// `config.toml`.
///
/// Each stored property corresponds to one dotted key of the file (see ``ConfigKey``); ``defaults`` holds the value
/// of every key when the file does not set it. A value built in code is not checked until ``validate()`` is called;
/// ``ConfigStore`` only hands out validated values.
///
/// The API key and the relay token are masked in `description`, `debugDescription` and the mirror `dump` uses.
public struct LagoConsoleConfiguration: Sendable, Equatable {
    /// `[lago]`: where events go.
    public struct Lago: Sendable, Equatable {
        /// `lago.api_url`: the Lago API base URL, for example `https://api.getlago.com/api/v1` or a self-hosted
        /// origin such as `http://localhost:3000` (the client appends `/api/v1` when missing). `nil` (empty in the
        /// file) means no Lago is configured and the console uses its embedded sandbox.
        public var apiURL: URL?
        /// `lago.api_key`: the API key sent as a bearer token. Empty when not set. Never log it; show it through
        /// ``ConfigMasking/mask(_:)``.
        public var apiKey: String
        /// `lago.webhook_hmac_key`: the organization's HMAC key, which `hmac`-signed Lago webhooks are verified
        /// with. Empty when not set. A secret: never log it; show it through ``ConfigMasking/mask(_:)``.
        public var webhookHMACKey: String = ""
        /// `lago.default_subscription_id`: the external subscription ID events are sent for when the operator does
        /// not pick one. `nil` (empty in the file) when unset.
        public var defaultSubscriptionID: String?
        /// `lago.allow_insecure_http`: allow a plain `http` API URL to a host that is not a loopback address.
        public var allowInsecureHTTP: Bool

        /// Creates the section; every argument defaults to the built-in default.
        public init(
            apiURL: URL? = nil,
            apiKey: String = "",
            defaultSubscriptionID: String? = nil,
            allowInsecureHTTP: Bool = false
        ) {
            self.apiURL = apiURL
            self.apiKey = apiKey
            self.defaultSubscriptionID = defaultSubscriptionID
            self.allowInsecureHTTP = allowInsecureHTTP
        }
    }

    /// `[metric_codes]`: the Lago billable metric code each ``CanonicalField`` is reported under.
    public struct MetricCodes: Sendable, Equatable {
        private var codes: [CanonicalField: String]

        /// Creates the section with every field mapped to its ``CanonicalField/defaultMetricCode``, then `overrides`
        /// applied.
        public init(_ overrides: [CanonicalField: String] = [:]) {
            var codes: [CanonicalField: String] = [:]
            for field in CanonicalField.allCases {
                codes[field] = overrides[field] ?? field.defaultMetricCode
            }
            self.codes = codes
        }

        /// The metric code for `field`.
        public subscript(field: CanonicalField) -> String {
            get { self.codes[field] ?? field.defaultMetricCode }
            set { self.codes[field] = newValue }
        }

        /// The code of every canonical field, as the engine and the console take a mapping.
        public var byField: [CanonicalField: String] {
            Dictionary(uniqueKeysWithValues: CanonicalField.allCases.map { ($0, self[$0]) })
        }
    }

    /// `[engine]`: how the delivery engine batches, spools and retries events.
    public struct Engine: Sendable, Equatable {
        /// `engine.flush_interval_seconds`: the longest an event waits in memory before its batch is sent.
        public var flushIntervalSeconds: Double
        /// `engine.max_batch_size`: events per batch request (Lago accepts at most 100).
        public var maxBatchSize: Int
        /// `engine.max_batch_bytes`: the largest encoded batch request body, in bytes.
        public var maxBatchBytes: Int
        /// `engine.max_in_flight`: batch requests in flight at once, `auto` (adaptive) or a number.
        public var maxInFlight: InFlightLimit
        /// `engine.min_in_flight`: the floor of the adaptive limit.
        public var minInFlight: Int = DeliveryDefaults.minInFlight
        /// `engine.max_in_flight_limit`: the ceiling of the adaptive limit.
        public var maxInFlightLimit: Int = DeliveryDefaults.maxInFlightLimit
        /// `engine.spool_path`: the SQLite file that holds events until Lago accepts them. Empty means
        /// ``ConfigPaths/defaultSpoolPath(environment:)``; the effective configuration of a ``ConfigStore`` always
        /// holds the resolved, absolute path.
        public var spoolPath: String
        /// `engine.spool_limit`: the most events the spool holds; beyond it new events are refused.
        public var spoolLimit: Int
        /// `engine.request_timeout_seconds`: the deadline of one request to Lago.
        public var requestTimeoutSeconds: Double
        /// `engine.max_retry_backoff_seconds`: the cap of the exponential backoff between retries.
        public var maxRetryBackoffSeconds: Double
        /// `engine.max_event_age_seconds`: events older than this are dead-lettered instead of sent; 0 means they
        /// never expire.
        public var maxEventAgeSeconds: Double
        /// `engine.spool_sync`: `normal` (an acknowledged event survives a crash of the process) or `full` (it also
        /// survives power loss: one fsync per group commit).
        public var spoolSync: String = "normal"

        /// Creates the section; every argument defaults to the delivery engine's own default (``DeliveryDefaults``,
        /// which `EngineConfiguration` uses too).
        public init(
            flushIntervalSeconds: Double = DeliveryDefaults.flushInterval / .seconds(1),
            maxBatchSize: Int = DeliveryDefaults.maxBatchSize,
            maxBatchBytes: Int = DeliveryDefaults.maxBatchBytes,
            maxInFlight: InFlightLimit = DeliveryDefaults.maxInFlight,
            spoolPath: String = "",
            spoolLimit: Int = DeliveryDefaults.spoolLimit,
            requestTimeoutSeconds: Double = DeliveryDefaults.requestTimeout / .seconds(1),
            maxRetryBackoffSeconds: Double = DeliveryDefaults.maxRetryBackoff / .seconds(1),
            maxEventAgeSeconds: Double = 0
        ) {
            self.flushIntervalSeconds = flushIntervalSeconds
            self.maxBatchSize = maxBatchSize
            self.maxBatchBytes = maxBatchBytes
            self.maxInFlight = maxInFlight
            self.spoolPath = spoolPath
            self.spoolLimit = spoolLimit
            self.requestTimeoutSeconds = requestTimeoutSeconds
            self.maxRetryBackoffSeconds = maxRetryBackoffSeconds
            self.maxEventAgeSeconds = maxEventAgeSeconds
        }

        /// ``flushIntervalSeconds`` as a `Duration`.
        public var flushInterval: Duration { .seconds(self.flushIntervalSeconds) }
        /// ``requestTimeoutSeconds`` as a `Duration`.
        public var requestTimeout: Duration { .seconds(self.requestTimeoutSeconds) }
        /// ``maxRetryBackoffSeconds`` as a `Duration`.
        public var maxRetryBackoff: Duration { .seconds(self.maxRetryBackoffSeconds) }
        /// ``maxEventAgeSeconds`` as a `Duration`, or `nil` when events never expire.
        public var maxEventAge: Duration? {
            self.maxEventAgeSeconds > 0 ? .seconds(self.maxEventAgeSeconds) : nil
        }
    }

    /// `[relay]`: the local HTTP endpoint other processes post usage to.
    public struct Relay: Sendable, Equatable {
        /// `relay.listen`: `HOST:PORT` to listen on, for example `127.0.0.1:8787` or `[::1]:8787`.
        public var listen: String
        /// `relay.token`: the bearer token clients must present. Required when ``listen`` is not a loopback address.
        /// Never log it.
        public var token: String
        /// `relay.max_body_bytes`: the largest request body the relay accepts.
        public var maxBodyBytes: Int
        /// `relay.control_listen`: `HOST:PORT` of `lago-console serve`'s control API (which consoles attach to;
        /// every route needs the token serve writes next to its spool) and of its Prometheus `/metrics`.
        public var controlListen: String
        /// `relay.control_allow_remote`: allow a ``controlListen`` that is not a loopback address. The control API
        /// can send, flush and discard events, so it is loopback-only unless this is set; when it is set,
        /// `/metrics` requires the control token as well.
        public var controlAllowRemote: Bool
        /// `relay.dedup_window_seconds`: an event the relay spooled or delivered this recently is refused when a
        /// client sends its (subscription, transaction id) again, with Lago's own 422 `value_already_exist`.
        public var dedupWindowSeconds: Double
        /// `relay.dedup_max_entries`: the most (subscription, transaction id) pairs the dedup index keeps.
        public var dedupMaxEntries: Int

        /// Creates the section; every argument defaults to the built-in default.
        public init(
            listen: String = "127.0.0.1:8787", token: String = "", maxBodyBytes: Int = 1024 * 1024,
            controlListen: String = "127.0.0.1:8788", controlAllowRemote: Bool = false,
            dedupWindowSeconds: Double = 7 * 86_400, dedupMaxEntries: Int = 1_000_000
        ) {
            self.dedupWindowSeconds = dedupWindowSeconds
            self.dedupMaxEntries = dedupMaxEntries
            self.listen = listen
            self.token = token
            self.maxBodyBytes = maxBodyBytes
            self.controlListen = controlListen
            self.controlAllowRemote = controlAllowRemote
        }

        /// The host part of ``listen`` (without brackets for IPv6), or `nil` when ``listen`` is malformed.
        public var host: String? { ListenAddress(self.listen)?.host }
        /// The port part of ``listen``, or `nil` when ``listen`` is malformed.
        public var port: Int? { ListenAddress(self.listen)?.port }
        /// Whether ``listen`` names a loopback address (`localhost`, `127.0.0.0/8`, `::1`).
        public var listensOnLoopback: Bool { ListenAddress(self.listen)?.isLoopback ?? false }
        /// The host part of ``controlListen``, or `nil` when it is malformed.
        public var controlHost: String? { ListenAddress(self.controlListen)?.host }
        /// The port part of ``controlListen``, or `nil` when it is malformed.
        public var controlPort: Int? { ListenAddress(self.controlListen)?.port }
        /// Whether ``controlListen`` names a loopback address (`localhost`, `127.0.0.0/8`, `::1`).
        public var controlListensOnLoopback: Bool { ListenAddress(self.controlListen)?.isLoopback ?? false }

        /// Why the control API must not listen on `address`, or `nil` when it may: an address that is not
        /// loopback is refused unless ``controlAllowRemote`` is set. The reason names the address and the fix;
        /// `serve` applies the same rule to its `--control-listen` option.
        public func controlExposureProblem(_ address: ListenAddress) -> String? {
            guard !address.isLoopback, !self.controlAllowRemote else { return nil }
            let host = address.host.contains(":") ? "[\(address.host)]" : address.host
            let written = "\(host):\(address.port)"
            return "\(written) is not a loopback address, and the control API can send, flush and discard events; "
                + "listen on a loopback address such as 127.0.0.1:\(address.port), or set "
                + "\(ConfigKey.relayControlAllowRemote.name) = true to expose it (then /metrics also needs the "
                + "control token)"
        }
    }

    /// `[billing]`: checking whether Lago will bill each event.
    public struct Billing: Sendable, Equatable {
        /// `billing.refresh_interval_seconds`: how often the catalogue of billable metrics and subscriptions is read
        /// again from Lago (also at start, on demand, and early when an event names something it does not know).
        public var refreshIntervalSeconds: Double
        /// `billing.unbillable`: what happens to an event Lago would accept and never bill: `forward` (deliver it and
        /// flag it, Lago's own behaviour), `hold` (keep it out of delivery for review) or `reject` (the relay answers
        /// 422 naming the reason).
        public var unbillable: String

        /// The values ``unbillable`` may take.
        public static let unbillablePolicies = ["forward", "hold", "reject"]

        /// Creates the section; every argument defaults to the built-in default.
        public init(refreshIntervalSeconds: Double = 60, unbillable: String = "forward") {
            self.refreshIntervalSeconds = refreshIntervalSeconds
            self.unbillable = unbillable
        }
    }

    /// `[usage]`: reading the customer's current usage back from Lago, and the usage sources (`POST /v1/usage`,
    /// OTLP `POST /v1/traces`; issue #16).
    public struct Usage: Sendable, Equatable {
        /// `usage.refresh_interval_seconds`: how often the console reads `current_usage` for the subscription its
        /// Usage pane shows and for the subscriptions of test events not yet counted.
        public var refreshIntervalSeconds: Double
        /// `usage.count_timeout_seconds`: how long after it was sent a test event may take to move its charge on
        /// the customer's usage before the console marks it "not counted".
        public var countTimeoutSeconds: Double
        /// `usage.cost_events`: `off`, `also` (a cost event beside the token events) or `only` (instead of them).
        public var costEvents: String
        /// `usage.cost_code`: the metric code of cost events.
        public var costCode: String
        /// `usage.otel_cost_events`: the mode for OTLP spans; empty: ``costEvents``.
        public var otelCostEvents: String
        /// `usage.otel_subscription_attribute`: the span (then resource) attribute naming the subscription.
        public var otelSubscriptionAttribute: String
        /// `usage.otel_customer_attribute`: the span (then resource) attribute naming the customer, resolved to its
        /// only active subscription when no subscription attribute is set.
        public var otelCustomerAttribute: String
        /// `usage.otel_cost_attribute`: the span attribute holding the call's cost (a decimal amount).
        public var otelCostAttribute: String
        /// `usage.otel_cost_currency`: the currency of that amount.
        public var otelCostCurrency: String

        /// The values ``costEvents`` may take.
        public static let costEventModes = ["off", "also", "only"]

        /// Creates the section; every argument defaults to the built-in default.
        public init(
            refreshIntervalSeconds: Double = 5, countTimeoutSeconds: Double = 60, costEvents: String = "off",
            costCode: String = "llm_usage", otelCostEvents: String = "",
            otelSubscriptionAttribute: String = "lago.subscription_id",
            otelCustomerAttribute: String = "lago.customer_id", otelCostAttribute: String = "gen_ai.usage.cost",
            otelCostCurrency: String = "USD"
        ) {
            self.refreshIntervalSeconds = refreshIntervalSeconds
            self.countTimeoutSeconds = countTimeoutSeconds
            self.costEvents = costEvents
            self.costCode = costCode
            self.otelCostEvents = otelCostEvents
            self.otelSubscriptionAttribute = otelSubscriptionAttribute
            self.otelCustomerAttribute = otelCustomerAttribute
            self.otelCostAttribute = otelCostAttribute
            self.otelCostCurrency = otelCostCurrency
        }
    }

    /// `[ui]`: how the console looks and what it allows.
    public struct UI: Sendable, Equatable {
        /// `ui.no_color`: draw without colours.
        public var noColor: Bool
        /// `ui.readonly`: hide and refuse destructive actions.
        public var readonly: Bool

        /// Creates the section; every argument defaults to the built-in default.
        public init(noColor: Bool = false, readonly: Bool = false) {
            self.noColor = noColor
            self.readonly = readonly
        }
    }

    /// `[lago]`
    public var lago: Lago
    /// `[metric_codes]`
    public var metricCodes: MetricCodes
    /// `[engine]`
    public var engine: Engine
    /// `[relay]`
    public var relay: Relay
    /// `[billing]`
    public var billing: Billing
    /// `[usage]`
    public var usage: Usage
    /// `[ui]`
    public var ui: UI

    /// Creates a configuration; every section defaults to its built-in defaults.
    public init(
        lago: Lago = Lago(),
        metricCodes: MetricCodes = MetricCodes(),
        engine: Engine = Engine(),
        relay: Relay = Relay(),
        billing: Billing = Billing(),
        usage: Usage = Usage(),
        ui: UI = UI()
    ) {
        self.billing = billing
        self.usage = usage
        self.lago = lago
        self.metricCodes = metricCodes
        self.engine = engine
        self.relay = relay
        self.ui = ui
    }

    /// The built-in defaults: what an empty or missing config file means.
    public static let defaults = LagoConsoleConfiguration()

    /// The value of `key`, as it would be written in the file (an unset optional value is an empty string).
    public func value(for key: ConfigKey) -> ConfigValue {
        key.spec.get(self)
    }

    /// The value of `key` for showing to an operator: a TOML literal, or the masked form for a secret.
    public func displayValue(for key: ConfigKey) -> String {
        let value = self.value(for: key)
        if key.isSecret, case .string(let secret) = value {
            return ConfigMasking.mask(secret)
        }
        return value.tomlLiteral
    }

    /// Checks every key's range and format and the rules between keys.
    ///
    /// - Throws: ``ConfigError`` of kind ``ConfigError/Kind/invalidValue`` naming the first key at fault (in
    ///   ``ConfigKey/allCases`` order), without a file or line.
    public func validate() throws(ConfigError) {
        if let problem = self.problems().first {
            throw problem
        }
    }

    /// Every problem ``validate()`` would report, first the per-key ones in key order, then those between keys.
    func problems() -> [ConfigError] {
        var problems: [ConfigError] = []
        for key in ConfigKey.allCases {
            if let reason = key.spec.problem(with: self.value(for: key)) {
                problems.append(ConfigError(kind: .invalidValue, key: key.name, reason: reason))
            }
        }
        if let url = self.lago.apiURL, url.scheme?.lowercased() == "http", !self.lago.allowInsecureHTTP,
            !ListenAddress.isLoopbackHost(url.host ?? "")
        {
            problems.append(
                ConfigError(
                    kind: .invalidValue,
                    key: ConfigKey.lagoAPIURL.name,
                    reason: "plain http is allowed only to a loopback host; use https or set "
                        + "\(ConfigKey.lagoAllowInsecureHTTP.name) = true"
                )
            )
        }
        if self.engine.minInFlight > self.engine.maxInFlightLimit {
            problems.append(
                ConfigError(
                    kind: .invalidValue,
                    key: ConfigKey.engineMinInFlight.name,
                    reason: "\(self.engine.minInFlight) is above \(ConfigKey.engineMaxInFlightLimit.name) "
                        + "(\(self.engine.maxInFlightLimit)): the adaptive limit moves between the two; lower it or "
                        + "raise the ceiling"
                )
            )
        }
        if ListenAddress(self.relay.listen) != nil, !self.relay.listensOnLoopback, self.relay.token.isEmpty {
            problems.append(
                ConfigError(
                    kind: .invalidValue,
                    key: ConfigKey.relayListen.name,
                    reason: "a listen address that is not loopback requires \(ConfigKey.relayToken.name) to be set"
                )
            )
        }
        if let address = ListenAddress(self.relay.controlListen),
            let reason = self.relay.controlExposureProblem(address)
        {
            problems.append(ConfigError(kind: .invalidValue, key: ConfigKey.relayControlListen.name, reason: reason))
        }
        return problems
    }
}

extension LagoConsoleConfiguration: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// Every key as `name = value`, one per line, secrets masked.
    public var description: String {
        ConfigKey.allCases.map { "\($0.name) = \(self.displayValue(for: $0))" }.joined(separator: "\n")
    }

    /// The same as ``description``: secrets masked.
    public var debugDescription: String { self.description }

    /// A mirror whose children are the dotted keys with display values, so `dump` masks secrets too.
    public var customMirror: Mirror {
        Mirror(
            self,
            children: ConfigKey.allCases.map { (label: $0.name, value: self.displayValue(for: $0) as Any) },
            displayStyle: .struct
        )
    }
}

extension LagoConsoleConfiguration.Lago: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The section's keys with the API key masked.
    public var description: String {
        "Lago(apiURL: \(self.apiURL?.absoluteString ?? "(not set)"), apiKey: \(ConfigMasking.mask(self.apiKey)), "
            + "webhookHMACKey: \(ConfigMasking.mask(self.webhookHMACKey)), "
            + "defaultSubscriptionID: \(self.defaultSubscriptionID ?? "(not set)"), "
            + "allowInsecureHTTP: \(self.allowInsecureHTTP))"
    }

    /// The same as ``description``: the API key masked.
    public var debugDescription: String { self.description }

    /// A mirror with the API key masked.
    public var customMirror: Mirror {
        Mirror(
            self,
            children: [
                "apiURL": self.apiURL as Any,
                "apiKey": ConfigMasking.mask(self.apiKey),
                "webhookHMACKey": ConfigMasking.mask(self.webhookHMACKey),
                "defaultSubscriptionID": self.defaultSubscriptionID as Any,
                "allowInsecureHTTP": self.allowInsecureHTTP,
            ],
            displayStyle: .struct
        )
    }
}

extension LagoConsoleConfiguration.Relay: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The section's keys with the token masked.
    public var description: String {
        "Relay(listen: \(self.listen), token: \(ConfigMasking.mask(self.token)), maxBodyBytes: \(self.maxBodyBytes))"
    }

    /// The same as ``description``: the token masked.
    public var debugDescription: String { self.description }

    /// A mirror with the token masked.
    public var customMirror: Mirror {
        Mirror(
            self,
            children: [
                "listen": self.listen,
                "token": ConfigMasking.mask(self.token),
                "maxBodyBytes": self.maxBodyBytes,
            ],
            displayStyle: .struct
        )
    }
}
