import Foundation
import LagoAPI
public import LagoUsage

/// The dotted name of one setting in `config.toml`, such as `lago.api_url` or `metric_codes.input`.
///
/// Only the keys listed in ``allCases`` exist; ``init(name:)`` returns `nil` for any other name.
public struct ConfigKey: Sendable, Hashable, CustomStringConvertible {
    /// The dotted name: `section.field`.
    public let name: String

    fileprivate init(_ name: String) {
        self.name = name
    }

    /// The key called `name`, or `nil` if the configuration has no such key.
    public init?(name: String) {
        guard KeySpec.byName[name] != nil else { return nil }
        self.name = name
    }

    public var description: String { self.name }

    /// The table the key lives in: `lago` for `lago.api_url`.
    public var section: String { String(self.name.prefix { $0 != "." }) }

    /// The key's name inside its table: `api_url` for `lago.api_url`.
    public var field: String { String(self.name.drop { $0 != "." }.dropFirst()) }

    /// Whether the value is a secret that is shown only through ``ConfigMasking/mask(_:)``.
    public var isSecret: Bool { self.spec.isSecret }

    /// The environment variable that overrides the key in the effective configuration, if any.
    public var environmentVariable: String? { self.spec.environmentVariable }

    /// One line saying what the key does, for help text.
    public var summary: String { self.spec.summary }

    /// The value the key has when the file does not set it (before the spool path is resolved).
    public var defaultValue: ConfigValue { self.spec.get(.defaults) }

    /// Every key, in the order of the documented config file.
    public static var allCases: [ConfigKey] { KeySpec.all.map(\.key) }

    /// `lago.api_url`
    public static let lagoAPIURL = ConfigKey("lago.api_url")
    /// `lago.api_key`
    public static let lagoAPIKey = ConfigKey("lago.api_key")
    /// `lago.webhook_hmac_key`
    public static let lagoWebhookHMACKey = ConfigKey("lago.webhook_hmac_key")
    /// `lago.default_subscription_id`
    public static let lagoDefaultSubscriptionID = ConfigKey("lago.default_subscription_id")
    /// `lago.allow_insecure_http`
    public static let lagoAllowInsecureHTTP = ConfigKey("lago.allow_insecure_http")
    /// `metric_codes.<field>`
    public static func metricCode(_ field: CanonicalField) -> ConfigKey {
        ConfigKey("metric_codes.\(field.rawValue)")
    }
    /// `engine.flush_interval_seconds`
    public static let engineFlushIntervalSeconds = ConfigKey("engine.flush_interval_seconds")
    /// `engine.max_batch_size`
    public static let engineMaxBatchSize = ConfigKey("engine.max_batch_size")
    /// `engine.max_batch_bytes`
    public static let engineMaxBatchBytes = ConfigKey("engine.max_batch_bytes")
    /// `engine.max_in_flight`
    public static let engineMaxInFlight = ConfigKey("engine.max_in_flight")
    /// `engine.min_in_flight`
    public static let engineMinInFlight = ConfigKey("engine.min_in_flight")
    /// `engine.max_in_flight_limit`
    public static let engineMaxInFlightLimit = ConfigKey("engine.max_in_flight_limit")
    /// `engine.spool_path`
    public static let engineSpoolPath = ConfigKey("engine.spool_path")
    /// `engine.spool_limit`
    public static let engineSpoolLimit = ConfigKey("engine.spool_limit")
    /// `engine.request_timeout_seconds`
    public static let engineRequestTimeoutSeconds = ConfigKey("engine.request_timeout_seconds")
    /// `engine.max_retry_backoff_seconds`
    public static let engineMaxRetryBackoffSeconds = ConfigKey("engine.max_retry_backoff_seconds")
    /// `engine.max_event_age_seconds`
    public static let engineMaxEventAgeSeconds = ConfigKey("engine.max_event_age_seconds")
    /// `engine.spool_sync`
    public static let engineSpoolSync = ConfigKey("engine.spool_sync")
    /// `relay.listen`
    public static let relayListen = ConfigKey("relay.listen")
    /// `relay.token`
    public static let relayToken = ConfigKey("relay.token")
    /// `relay.max_body_bytes`
    public static let relayMaxBodyBytes = ConfigKey("relay.max_body_bytes")
    /// `relay.control_listen`
    public static let relayControlListen = ConfigKey("relay.control_listen")
    /// `relay.control_allow_remote`
    public static let relayControlAllowRemote = ConfigKey("relay.control_allow_remote")
    /// `relay.dedup_window_seconds`
    public static let relayDedupWindowSeconds = ConfigKey("relay.dedup_window_seconds")
    /// `relay.dedup_max_entries`
    public static let relayDedupMaxEntries = ConfigKey("relay.dedup_max_entries")
    /// `billing.refresh_interval_seconds`
    public static let billingRefreshIntervalSeconds = ConfigKey("billing.refresh_interval_seconds")
    /// `billing.unbillable`
    public static let billingUnbillable = ConfigKey("billing.unbillable")
    /// `usage.refresh_interval_seconds`
    public static let usageRefreshIntervalSeconds = ConfigKey("usage.refresh_interval_seconds")
    /// `usage.count_timeout_seconds`
    public static let usageCountTimeoutSeconds = ConfigKey("usage.count_timeout_seconds")
    /// `ui.no_color`
    public static let uiNoColor = ConfigKey("ui.no_color")
    /// `ui.readonly`
    public static let uiReadonly = ConfigKey("ui.readonly")

    // Usage sources (issue #16): `[usage]` keys of `POST /v1/usage` and `POST /v1/traces`.
    /// `usage.cost_events`
    public static let usageCostEvents = ConfigKey("usage.cost_events")
    /// `usage.cost_code`
    public static let usageCostCode = ConfigKey("usage.cost_code")
    /// `usage.otel_cost_events`
    public static let usageOTelCostEvents = ConfigKey("usage.otel_cost_events")
    /// `usage.otel_subscription_attribute`
    public static let usageOTelSubscriptionAttribute = ConfigKey("usage.otel_subscription_attribute")
    /// `usage.otel_customer_attribute`
    public static let usageOTelCustomerAttribute = ConfigKey("usage.otel_customer_attribute")
    /// `usage.otel_cost_attribute`
    public static let usageOTelCostAttribute = ConfigKey("usage.otel_cost_attribute")
    /// `usage.otel_cost_currency`
    public static let usageOTelCostCurrency = ConfigKey("usage.otel_cost_currency")

    /// The names of the tables the configuration reads.
    static let sections = ["lago", "metric_codes", "engine", "relay", "billing", "usage", "ui"]

    var spec: KeySpec {
        guard let spec = KeySpec.byName[self.name] else {
            preconditionFailure("ConfigKey \(self.name) has no KeySpec")
        }
        return spec
    }
}

/// How one key is typed, checked, read from and written to a ``LagoConsoleConfiguration``.
struct KeySpec: Sendable {
    enum ValueType: Sendable {
        case string
        case bool
        case integer(ClosedRange<Int>)
        case double(ClosedRange<Double>)
        /// An integer in the range, or the one word (a string), such as `engine.max_in_flight = "auto"`.
        case integerOrWord(ClosedRange<Int>, String)
    }

    typealias Path<Value> = any WritableKeyPath<LagoConsoleConfiguration, Value> & Sendable

    let key: ConfigKey
    let type: ValueType
    let summary: String
    var isSecret = false
    var environmentVariable: String? = nil
    let get: @Sendable (LagoConsoleConfiguration) -> ConfigValue
    /// Stores a value of the key's type; values of another type are ignored (callers convert first).
    let set: @Sendable (inout LagoConsoleConfiguration, ConfigValue) -> Void
    /// Extra rules for a string value: the reason it is invalid, or `nil`.
    var checkString: @Sendable (String) -> String? = { _ in nil }

    /// The reason `value` is not allowed for this key, or `nil` when it is.
    func problem(with value: ConfigValue) -> String? {
        switch (self.type, value) {
        case (.string, .string(let string)):
            // TOMLKit passes strings to toml++ as C strings, so a NUL would cut the value short when saved.
            let control = string.unicodeScalars.contains { scalar in
                (scalar.value < 0x20 && scalar != "\t" && scalar != "\n" && scalar != "\r") || scalar.value == 0x7F
            }
            return control ? "must not contain control characters" : self.checkString(string)
        case (.bool, .bool):
            return nil
        case (.integer(let range), .integer(let integer)):
            return range.contains(integer) ? nil : "must be between \(range.lowerBound) and \(range.upperBound)"
        case (.integerOrWord(let range, let word), .integer(let integer)):
            return range.contains(integer)
                ? nil : "must be \"\(word)\" or between \(range.lowerBound) and \(range.upperBound)"
        case (.integerOrWord(_, let word), .string(let string)):
            return string == word ? nil : "must be \(self.typeName)"
        case (.double(let range), .double(let double)):
            guard double.isFinite, range.contains(double) else {
                return "must be between \(Self.format(range.lowerBound)) and \(Self.format(range.upperBound))"
            }
            return nil
        default:
            return "must be \(self.typeName)"
        }
    }

    /// "a string", "an integer", … for messages.
    var typeName: String {
        switch self.type {
        case .string: "a string"
        case .bool: "true or false"
        case .integer: "an integer"
        case .double: "a number"
        case .integerOrWord(let range, let word):
            "\"\(word)\" or an integer between \(range.lowerBound) and \(range.upperBound)"
        }
    }

    /// Parses a value typed on a command line into the key's type (without range or format checks).
    ///
    /// - Returns: the value, or the reason it cannot be parsed. The reason never repeats the input.
    func parse(_ text: String) -> Result<ConfigValue, ConfigError> {
        let failure = ConfigError(kind: .typeMismatch, key: self.key.name, reason: "must be \(self.typeName)")
        switch self.type {
        case .string:
            return .success(.string(text))
        case .bool:
            switch text.trimmingCharacters(in: .whitespaces) {
            case "true": return .success(.bool(true))
            case "false": return .success(.bool(false))
            default: return .failure(failure)
            }
        case .integer:
            let digits = text.trimmingCharacters(in: .whitespaces)
            guard let integer = Int(Self.removingDigitSeparators(digits)) else { return .failure(failure) }
            return .success(.integer(integer))
        case .integerOrWord(_, let word):
            let trimmed = text.trimmingCharacters(in: .whitespaces)
            if trimmed == word { return .success(.string(word)) }
            guard let integer = Int(Self.removingDigitSeparators(trimmed)) else { return .failure(failure) }
            return .success(.integer(integer))
        case .double:
            let digits = text.trimmingCharacters(in: .whitespaces)
            guard let double = Double(Self.removingDigitSeparators(digits)), double.isFinite else {
                return .failure(failure)
            }
            return .success(.double(double))
        }
    }

    /// `1_000` → `1000`, as TOML allows; underscores elsewhere are left for `Int`/`Double` to reject.
    private static func removingDigitSeparators(_ text: String) -> String {
        let characters = Array(text)
        var result = ""
        for (index, character) in characters.enumerated() {
            if character == "_", index > 0, index < characters.count - 1, characters[index - 1].isNumber,
                characters[index + 1].isNumber
            {
                continue
            }
            result.append(character)
        }
        return result
    }

    private static func format(_ double: Double) -> String {
        double == double.rounded() && abs(double) < 1e15 ? String(Int(double)) : String(double)
    }
}

extension KeySpec {
    static let all: [KeySpec] =
        lagoSpecs + metricCodeSpecs + engineSpecs + relaySpecs + billingSpecs + usageSpecs + otelUsageSpecs + uiSpecs

    static let byName: [String: KeySpec] = Dictionary(uniqueKeysWithValues: all.map { ($0.key.name, $0) })

    private static func string(
        _ key: ConfigKey,
        _ path: Path<String>,
        _ summary: String,
        isSecret: Bool = false,
        environmentVariable: String? = nil,
        check: @escaping @Sendable (String) -> String? = { _ in nil }
    ) -> KeySpec {
        KeySpec(
            key: key,
            type: .string,
            summary: summary,
            isSecret: isSecret,
            environmentVariable: environmentVariable,
            get: { .string($0[keyPath: path]) },
            set: { configuration, value in
                if case .string(let string) = value { configuration[keyPath: path] = string }
            },
            checkString: check
        )
    }

    private static func bool(_ key: ConfigKey, _ path: Path<Bool>, _ summary: String) -> KeySpec {
        KeySpec(
            key: key,
            type: .bool,
            summary: summary,
            get: { .bool($0[keyPath: path]) },
            set: { configuration, value in
                if case .bool(let bool) = value { configuration[keyPath: path] = bool }
            }
        )
    }

    private static func integer(
        _ key: ConfigKey,
        _ path: Path<Int>,
        _ range: ClosedRange<Int>,
        _ summary: String
    ) -> KeySpec {
        KeySpec(
            key: key,
            type: .integer(range),
            summary: summary,
            get: { .integer($0[keyPath: path]) },
            set: { configuration, value in
                if case .integer(let integer) = value { configuration[keyPath: path] = integer }
            }
        )
    }

    private static func double(
        _ key: ConfigKey,
        _ path: Path<Double>,
        _ range: ClosedRange<Double>,
        _ summary: String
    ) -> KeySpec {
        KeySpec(
            key: key,
            type: .double(range),
            summary: summary,
            get: { .double($0[keyPath: path]) },
            set: { configuration, value in
                switch value {
                case .double(let double): configuration[keyPath: path] = double
                case .integer(let integer): configuration[keyPath: path] = Double(integer)
                default: break
                }
            }
        )
    }

    private static let lagoSpecs: [KeySpec] = [
        KeySpec(
            key: .lagoAPIURL,
            type: .string,
            summary: "Lago API base URL; empty means no Lago is configured and the embedded sandbox is used.",
            environmentVariable: "LAGO_API_URL",
            get: { .string($0.lago.apiURL?.absoluteString ?? "") },
            set: { configuration, value in
                if case .string(let string) = value {
                    configuration.lago.apiURL = string.isEmpty ? nil : URL(string: string)
                }
            },
            checkString: checkAPIURL
        ),
        string(
            .lagoAPIKey,
            \.lago.apiKey,
            "Lago API key (shown masked); the LAGO_API_KEY environment variable overrides it.",
            isSecret: true,
            environmentVariable: "LAGO_API_KEY",
            check: { $0.contains(where: \.isNewline) ? "must be a single line" : nil }
        ),
        string(
            .lagoWebhookHMACKey,
            \.lago.webhookHMACKey,
            "Lago's webhook HMAC key (shown masked), to verify hmac-signed webhooks on POST /webhooks/lago; the "
                + "LAGO_WEBHOOK_HMAC_KEY environment variable overrides it.",
            isSecret: true,
            environmentVariable: "LAGO_WEBHOOK_HMAC_KEY",
            check: { $0.contains(where: \.isNewline) ? "must be a single line" : nil }
        ),
        KeySpec(
            key: .lagoDefaultSubscriptionID,
            type: .string,
            summary: "External subscription ID used when none is chosen; empty means unset.",
            get: { .string($0.lago.defaultSubscriptionID ?? "") },
            set: { configuration, value in
                if case .string(let string) = value {
                    configuration.lago.defaultSubscriptionID = string.isEmpty ? nil : string
                }
            },
            checkString: { id in
                !id.isEmpty && id.allSatisfy({ $0.isWhitespace }) ? "must not be blank" : nil
            }
        ),
        bool(
            .lagoAllowInsecureHTTP,
            \.lago.allowInsecureHTTP,
            "Allow a plain http API URL to a host that is not loopback."
        ),
    ]

    private static let metricCodeSpecs: [KeySpec] = CanonicalField.allCases.map { field in
        string(
            .metricCode(field),
            \.metricCodes[field],
            "Billable metric code for \(field.rawValue.replacingOccurrences(of: "_", with: " ")) usage.",
            check: checkMetricCode
        )
    }

    private static let engineSpecs: [KeySpec] = [
        double(
            .engineFlushIntervalSeconds,
            \.engine.flushIntervalSeconds,
            0.01...3_600,
            "Longest time an event waits before its batch is sent."
        ),
        integer(.engineMaxBatchSize, \.engine.maxBatchSize, 1...100, "Events per batch request (Lago's limit is 100)."),
        integer(
            .engineMaxBatchBytes,
            \.engine.maxBatchBytes,
            1_024...(16 * 1_024 * 1_024),
            "Largest batch request body, in bytes."
        ),
        KeySpec(
            key: .engineMaxInFlight,
            type: .integerOrWord(1...64, "auto"),
            summary: "Batch requests in flight at once: auto finds Lago's limit by itself; a number fixes it.",
            get: { configuration in
                switch configuration.engine.maxInFlight {
                case .auto: .string("auto")
                case .fixed(let count): .integer(count)
                }
            },
            set: { configuration, value in
                switch value {
                case .string("auto"): configuration.engine.maxInFlight = .auto
                case .integer(let count): configuration.engine.maxInFlight = .fixed(count)
                default: break
                }
            }
        ),
        integer(
            .engineMinInFlight,
            \.engine.minInFlight,
            1...64,
            "With max_in_flight = auto: the fewest batch requests in flight."
        ),
        integer(
            .engineMaxInFlightLimit,
            \.engine.maxInFlightLimit,
            1...64,
            "With max_in_flight = auto: the most batch requests in flight (and connections to Lago)."
        ),
        string(
            .engineSpoolPath,
            \.engine.spoolPath,
            "SQLite spool file; empty means $XDG_STATE_HOME/lago-console/spool.sqlite.",
            check: { path in
                path.isEmpty || path.hasPrefix("/") || path.hasPrefix("~/")
                    ? nil : "must be an absolute path (or start with ~/), or empty for the default"
            }
        ),
        integer(
            .engineSpoolLimit,
            \.engine.spoolLimit,
            1...1_000_000_000,
            "Most events the spool holds before new events are refused."
        ),
        double(
            .engineRequestTimeoutSeconds,
            \.engine.requestTimeoutSeconds,
            0.1...600,
            "Deadline of one request to Lago."
        ),
        double(
            .engineMaxRetryBackoffSeconds,
            \.engine.maxRetryBackoffSeconds,
            0.1...3_600,
            "Cap of the exponential backoff between retries."
        ),
        double(
            .engineMaxEventAgeSeconds,
            \.engine.maxEventAgeSeconds,
            0...(366 * 86_400),
            "Events older than this are dead-lettered; 0 means they never expire."
        ),
        string(
            .engineSpoolSync,
            \.engine.spoolSync,
            "normal: an acknowledged event survives a crash of the process; full: it also survives power loss.",
            check: { ["normal", "full"].contains($0) ? nil : "must be normal or full" }
        ),
    ]

    private static let relaySpecs: [KeySpec] = [
        string(
            .relayListen,
            \.relay.listen,
            "HOST:PORT the relay listens on; an address that is not loopback requires relay.token.",
            check: { ListenAddress.problem($0, example: "127.0.0.1:8787 or [::1]:8787") }
        ),
        string(
            .relayToken,
            \.relay.token,
            "Bearer token relay clients must present (shown masked); empty means none.",
            isSecret: true,
            check: { $0.contains(where: \.isNewline) ? "must be a single line" : nil }
        ),
        integer(
            .relayMaxBodyBytes,
            \.relay.maxBodyBytes,
            1_024...(64 * 1_024 * 1_024),
            "Largest request body the relay accepts, in bytes."
        ),
        string(
            .relayControlListen,
            \.relay.controlListen,
            "HOST:PORT of serve's control API and Prometheus /metrics; loopback unless control_allow_remote.",
            check: { ListenAddress.problem($0, example: "127.0.0.1:8788") }
        ),
        bool(
            .relayControlAllowRemote,
            \.relay.controlAllowRemote,
            "Allow a control_listen that is not loopback; /metrics then needs the control token too."
        ),
        double(
            .relayDedupWindowSeconds,
            \.relay.dedupWindowSeconds,
            0...(366 * 86_400),
            "How long the relay remembers an event's (subscription, transaction id) to refuse a re-sent copy."
        ),
        integer(
            .relayDedupMaxEntries,
            \.relay.dedupMaxEntries,
            1_000...100_000_000,
            "The most ids the relay's dedup index keeps (about 100 bytes of spool each); the oldest go first."
        ),
    ]

    private static let billingSpecs: [KeySpec] = [
        double(
            .billingRefreshIntervalSeconds,
            \.billing.refreshIntervalSeconds,
            5...86_400,
            "How often the catalogue of billable metrics and subscriptions is read again from Lago."
        ),
        string(
            .billingUnbillable,
            \.billing.unbillable,
            "An event Lago would never bill: forward (deliver, flagged), hold (keep for review) or reject (relay 422).",
            check: {
                LagoConsoleConfiguration.Billing.unbillablePolicies.contains($0)
                    ? nil : "must be forward, hold or reject"
            }
        ),
    ]

    private static let usageSpecs: [KeySpec] = [
        double(
            .usageRefreshIntervalSeconds,
            \.usage.refreshIntervalSeconds,
            1...3_600,
            "How often the console reads the customer's current usage from Lago (at most once a second)."
        ),
        double(
            .usageCountTimeoutSeconds,
            \.usage.countTimeoutSeconds,
            5...3_600,
            "How long a test event may take to show on the customer's usage before it is marked not counted."
        ),
    ]

    private static let uiSpecs: [KeySpec] = [
        bool(.uiNoColor, \.ui.noColor, "Draw without colours."),
        bool(.uiReadonly, \.ui.readonly, "Hide and refuse destructive actions."),
    ]

    // Usage sources (issue #16).
    private static let otelUsageSpecs: [KeySpec] = [
        string(
            .usageCostEvents,
            \.usage.costEvents,
            "Cost events of usage records: off, also (beside the token events) or only (instead of them).",
            check: checkCostEvents
        ),
        string(
            .usageCostCode,
            \.usage.costCode,
            "Billable metric code of cost events (properties cost_nanos and currency).",
            check: checkMetricCode
        ),
        string(
            .usageOTelCostEvents,
            \.usage.otelCostEvents,
            "Cost events of OTLP spans: off, also or only; empty means as usage.cost_events.",
            check: { $0.isEmpty ? nil : checkCostEvents($0) }
        ),
        string(
            .usageOTelSubscriptionAttribute,
            \.usage.otelSubscriptionAttribute,
            "OTLP span (then resource) attribute holding the subscription's external id.",
            check: checkAttributeName
        ),
        string(
            .usageOTelCustomerAttribute,
            \.usage.otelCustomerAttribute,
            "OTLP span (then resource) attribute holding the customer's id, used when no subscription is named.",
            check: checkAttributeName
        ),
        string(
            .usageOTelCostAttribute,
            \.usage.otelCostAttribute,
            "OTLP span attribute holding the call's cost, a decimal amount.",
            check: checkAttributeName
        ),
        string(
            .usageOTelCostCurrency,
            \.usage.otelCostCurrency,
            "Currency (ISO 4217) of the OTLP cost attribute.",
            check: {
                $0.count == 3 && $0.allSatisfy { $0.isASCII && $0.isUppercase } ? nil : "must be a code such as USD"
            }
        ),
    ]

    @Sendable private static func checkCostEvents(_ mode: String) -> String? {
        LagoConsoleConfiguration.Usage.costEventModes.contains(mode) ? nil : "must be off, also or only"
    }

    @Sendable private static func checkAttributeName(_ name: String) -> String? {
        name.isEmpty || name.contains(where: { $0.isWhitespace })
            ? "must be an attribute name without spaces, such as lago.subscription_id" : nil
    }

    /// The API client's own rules (``LagoAPI/LagoBaseURL``); whether plain http is allowed depends on
    /// `lago.allow_insecure_http` and is checked with the whole configuration.
    @Sendable private static func checkAPIURL(_ text: String) -> String? {
        guard !text.isEmpty else { return nil }
        guard !text.contains(where: { $0.isWhitespace }) else {
            return "must be an http or https URL, such as https://api.getlago.com/api/v1"
        }
        do {
            _ = try LagoBaseURL(text, allowInsecureHTTP: true)
            return nil
        } catch let error as LagoAPIError {
            return "must be an http or https URL with a host and no query or fragment, such as "
                + "https://api.getlago.com/api/v1 (\(error.detail ?? "\(error)"))"
        } catch {
            return "\(error)"
        }
    }

    @Sendable private static func checkMetricCode(_ code: String) -> String? {
        if code.isEmpty {
            return "must not be empty"
        }
        let allowed = code.unicodeScalars.allSatisfy { scalar in
            scalar.isASCII
                && (("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar)
                    || scalar == "_" || scalar == "-" || scalar == ".")
        }
        return allowed ? nil : "must contain only letters, digits, '_', '-' and '.'"
    }
}
