import Foundation
import IngestConformance
import LagoAPI
import LagoBilling
import LagoSandbox
import Logging
import Testing

/// The sandbox's `current_usage` counts an event exactly when the console's billing check calls it billable.
///
/// 1,000 seeded random events over a catalogue built through the sandbox's own API (every aggregation type,
/// filters, subscriptions active from various starts, pending, terminated, unknown; events naming only a customer;
/// numerals and non-numerals of every JSON kind) are sent one by one. After each, the usage of every active
/// subscription, every charge's `units` and `events_count`, must equal what the billable events sent so far add up
/// to: one event counted where the check said unbillable, or missed where it said billable, fails at that event.
@Suite("Sandbox bills what the billing check calls billable")
struct BillingPropertyTests {
    static let monthStart = 1_767_225_600.0  // 2026-01-01T00:00:00Z; fixedNow is 2026-01-15T10:00:00Z

    struct Metric {
        var code: String
        var aggregation: String
        var field: String?
        var filters: [(key: String, values: [String])] = []
    }

    static let metrics: [Metric] = [
        Metric(code: "calls", aggregation: "count_agg", filters: [("region", ["eu", "us"])]),
        Metric(code: "tokens", aggregation: "sum_agg", field: "value"),
        Metric(
            code: "regional_tokens", aggregation: "sum_agg", field: "value",
            filters: [("region", ["eu", "us"]), ("tier", ["free", "pro"])]),
        Metric(code: "peak", aggregation: "max_agg", field: "value"),
        Metric(code: "users", aggregation: "unique_count_agg", field: "user", filters: [("tier", ["free", "pro"])]),
        Metric(code: "seats", aggregation: "weighted_sum_agg", field: "value"),
        Metric(code: "last_value", aggregation: "latest_agg", field: "value", filters: [("region", ["eu"])]),
    ]

    /// Subscriptions by external id: customer, `subscription_at`, and whether it ends terminated.
    static let subscriptions: [(id: String, customer: String, at: String, terminate: Bool)] = [
        ("sub_a1", "cus_a", "2026-01-01T00:00:00Z", false),
        ("sub_a2", "cus_a", "2026-01-10T12:00:00Z", false),
        ("sub_b1", "cus_b", "2026-01-14T08:30:00Z", false),
        ("sub_b2", "cus_b", "2026-02-01T00:00:00Z", false),  // pending: starts next month
        ("sub_c1", "cus_c", "2025-12-01T00:00:00Z", true),  // terminated before any event is sent
        ("sub_c2", "cus_c", "2026-01-05T06:00:00Z", false),
    ]

    /// Property values: about half are numerals as Lago reads them, the rest every way of not being one.
    static let values: [JSONValue?] = [
        "12", "1.5", "-3", "0.25", "100", "-8.125", 7, -2, 40, 11, 2.5, -0.75, 0.5, 1e20,
        "1e3", " 4", "abc", "", "-", "5.", "+2", true, false, .null, nil, ["a": 1], [1, 2],
    ]
    static let users: [JSONValue?] = ["u1", "u2", "u3", "1", 1, 2, "", .null, nil, false]
    static let regions: [JSONValue?] = [nil, nil, nil, nil, nil, "eu", "eu", "us", "ap", "EU", .null, 1]
    static let tiers: [JSONValue?] = [nil, nil, nil, nil, "free", "pro", "gold", .null]
    static let subscriptionChoices: [String?] = [
        "sub_a1", "sub_a1", "sub_a1", "sub_a2", "sub_a2", "sub_b1", "sub_b1", "sub_b2", "sub_c1", "sub_c2", "sub_c2",
        "sub_c2", "sub_ghost", nil, nil,
    ]
    /// For events without a subscription: a customer with two active subscriptions, one, none, or nobody.
    static let customerChoices: [String?] = ["cus_a", "cus_b", "cus_d", nil]

    struct Expected: Hashable {
        var units: Decimal
        var eventsCount: Int
    }

    @Test("1,000 seeded random events: current_usage per active subscription and charge equals the billable events")
    func usageCountsExactlyTheBillableEvents() async throws {
        try await withSandbox(testOptions(seed: false)) { sandbox, client in
            let catalogue = try await Self.buildCatalogue(sandbox, client)
            #expect(catalogue.metrics.count == Self.metrics.count)
            #expect(catalogue.subscriptionCount == Self.subscriptions.count)

            var random = SplitMix64(seed: 0x5EED_0013)
            let starts = Dictionary(
                uniqueKeysWithValues: Self.subscriptions.map {
                    ($0.id, ISO8601DateFormatter().date(from: $0.at)!.timeIntervalSince1970)
                })
            var sent: [(event: BillingEvent, verdict: BillingVerdict)] = []
            var billed: [String: [BillingEvent]] = [:]
            var reasons: [BillingReason: Int] = [:]
            var observed = try await Self.usage(client, catalogue)
            #expect(observed.values.allSatisfy { $0 == Expected(units: 0, eventsCount: 0) })

            for index in 0..<1000 {
                let event = Self.randomEvent(index, &random, starts: starts)
                let verdict = BillingCheck.check(event, against: catalogue)
                sent.append((event, verdict))
                for reason in verdict.reasons { reasons[reason, default: 0] += 1 }
                if verdict.status == .billable, let subscription = event.externalSubscriptionID {
                    billed["\(subscription)/\(event.code)", default: []].append(event)
                }

                let response = try await client.post("/api/v1/events", json: ["event": Self.body(event)])
                try #require(response.status == 200, "event \(index): \(response.text)")
                #expect(
                    response.json["event"]?["external_subscription_id"] == event.externalSubscriptionID.map {
                        .string($0)
                    } ?? .null)

                let expected = Self.expectedUsage(billed, catalogue)
                observed = try await Self.usage(client, catalogue)
                if observed != expected {
                    let differing = expected.keys.filter { observed[$0] != expected[$0] }.sorted()
                    Issue.record(
                        """
                        event \(index) \(event.code) \(event.externalSubscriptionID ?? "-") at \(event.timestamp) \
                        \(event.properties) is \(verdict.status) \(verdict.reasons.map(\.rawValue)); usage differs at \
                        \(differing.map { "\($0): sandbox \(observed[$0].map { "\($0)" } ?? "nil"), check \(expected[$0]!)" })
                        """)
                    return
                }
            }
            #expect(sandbox.storedEventCount == 1000, "Lago accepts every event, billable or not")
            // Lago drops external_customer_id: an event naming only its customer is stored with no subscription.
            #expect(
                sandbox.events().filter { $0.externalSubscriptionID == nil }.count
                    == sent.filter { $0.event.externalSubscriptionID == nil }.count)

            // Every reason occurs often enough for the comparison to mean something.
            let billable = sent.filter { $0.verdict.status == .billable }.count
            #expect(billable >= 150, "billable: \(billable)")
            for reason in BillingReason.allCases {
                #expect((reasons[reason] ?? 0) >= 15, "\(reason.rawValue): \(reasons[reason] ?? 0) of 1,000")
            }
            for metric in Self.metrics {
                let counted = sent.filter { $0.verdict.status == .billable && $0.event.code == metric.code }.count
                #expect(counted >= 10, "\(metric.code): \(counted) billable")
            }
            // Pending and terminated subscriptions bill nothing: Lago answers 405 for their usage.
            for id in ["sub_b2", "sub_c1"] {
                let customer = Self.subscriptions.first { $0.id == id }!.customer
                let answer = try await client.get(
                    "/api/v1/customers/\(customer)/current_usage?external_subscription_id=\(id)")
                #expect(answer.status == 405 && answer.json["code"] == "no_active_subscription", "\(id)")
                #expect(!sent.contains { $0.event.externalSubscriptionID == id && $0.verdict.status == .billable })
            }
        }
    }

    /// Metrics through `POST /billable_metrics`, the plan through the Swift API (the sandbox has no plan route),
    /// customers through `POST /customers`, subscriptions through `POST /subscriptions` (`cus_c` created by it),
    /// the termination through `DELETE /subscriptions/{id}`; then the catalogue as the console loads it.
    static func buildCatalogue(_ sandbox: Sandbox, _ client: TestClient) async throws -> BillingCatalogue {
        for metric in metrics {
            var body: [String: JSONValue] = [
                "name": .string(metric.code), "code": .string(metric.code),
                "aggregation_type": .string(metric.aggregation),
                "filters": .array(
                    metric.filters.map { ["key": .string($0.key), "values": .array($0.values.map { .string($0) })] }),
            ]
            if let field = metric.field { body["field_name"] = .string(field) }
            let answer = try await client.post("/api/v1/billable_metrics", json: ["billable_metric": .object(body)])
            try #require(answer.status == 200, "\(metric.code): \(answer.text)")
        }
        try sandbox.addPlan(code: "pro")
        for (customer, timezone) in [("cus_a", "Europe/Paris"), ("cus_b", "UTC"), ("cus_d", "America/New_York")] {
            let answer = try await client.post(
                "/api/v1/customers",
                json: [
                    "customer": ["external_id": .string(customer), "name": "Customer", "timezone": .string(timezone)]
                ])
            try #require(answer.status == 200, "\(customer): \(answer.text)")
        }
        for subscription in subscriptions {
            let answer = try await client.post(
                "/api/v1/subscriptions",
                json: [
                    "subscription": [
                        "external_customer_id": .string(subscription.customer), "plan_code": "pro",
                        "external_id": .string(subscription.id), "subscription_at": .string(subscription.at),
                    ]
                ])
            try #require(answer.status == 200, "\(subscription.id): \(answer.text)")
            if subscription.terminate {
                let ended = try await client.send("DELETE", "/api/v1/subscriptions/\(subscription.id)")
                try #require(ended.json["subscription"]?["status"] == "terminated", "\(ended.text)")
            }
        }
        let configuration = LagoClientConfiguration(
            baseURL: try LagoBaseURL(sandbox.baseURL.absoluteString), apiKey: testAPIKey)
        return try await withLagoClient(configuration: configuration, logger: quietLogger) { lago in
            try await BillingCatalogueService.load(client: lago)
        }
    }

    /// The next random event; its timestamp is within this month, up to now, often next to a subscription's start.
    static func randomEvent(_ index: Int, _ random: inout SplitMix64, starts: [String: Double]) -> BillingEvent {
        func pick<T>(_ choices: [T]) -> T { choices[Int(random.next() % UInt64(choices.count))] }
        let code = random.next() % 10 == 0 ? "unknown_code" : pick(metrics).code
        let subscription = pick(subscriptionChoices)
        let customer = subscription == nil ? pick(customerChoices) : nil
        var timestamp = monthStart + Double(random.next() % 1_245_600)  // up to 2026-01-15T10:00:00Z
        if let subscription, let start = starts[subscription], random.next() % 4 == 0 {
            timestamp = start + pick([-1, -0.001, 0, 0.001, 1])
        }
        var properties: [String: JSONValue] = [:]
        for (key, choices) in [("value", values), ("user", users), ("region", regions), ("tier", tiers)] {
            if let value = pick(choices) { properties[key] = value }
        }
        return BillingEvent(
            transactionID: "tx-\(index)", code: code, externalSubscriptionID: subscription,
            externalCustomerID: customer, timestamp: Date(timeIntervalSince1970: timestamp), properties: properties)
    }

    /// The event as a client sends it (the customer id too, which Lago drops).
    static func body(_ event: BillingEvent) -> JSONValue {
        var body: [String: JSONValue] = [
            "transaction_id": .string(event.transactionID), "code": .string(event.code),
            "timestamp": .number(event.timestamp.timeIntervalSince1970), "properties": .object(event.properties),
        ]
        if let subscription = event.externalSubscriptionID { body["external_subscription_id"] = .string(subscription) }
        if let customer = event.externalCustomerID { body["external_customer_id"] = .string(customer) }
        return .object(body)
    }

    /// `"sub_a1/tokens"` keys: every active subscription × every metric.
    static func usage(_ client: TestClient, _ catalogue: BillingCatalogue) async throws -> [String: Expected] {
        var usage: [String: Expected] = [:]
        for subscription in subscriptions where catalogue.subscriptions[subscription.id]?.first?.status == .active {
            let answer = try await client.get(
                "/api/v1/customers/\(subscription.customer)/current_usage?external_subscription_id=\(subscription.id)")
            try #require(answer.status == 200, "\(subscription.id): \(answer.text)")
            for charge in answer.json["customer_usage"]?["charges_usage"]?.arrayValue ?? [] {
                let code = try #require(charge["billable_metric"]?["code"]?.stringValue)
                let units = try #require(charge["units"]?.stringValue.flatMap { Decimal(string: $0) })
                let count = try #require(charge["events_count"]?.doubleValue)
                usage["\(subscription.id)/\(code)"] = Expected(units: units, eventsCount: Int(count))
            }
        }
        return usage
    }

    /// What the billable events add up to, per active subscription and metric, by each metric's aggregation.
    static func expectedUsage(_ billed: [String: [BillingEvent]], _ catalogue: BillingCatalogue) -> [String: Expected] {
        var usage: [String: Expected] = [:]
        for subscription in subscriptions where catalogue.subscriptions[subscription.id]?.first?.status == .active {
            for metric in metrics {
                let key = "\(subscription.id)/\(metric.code)"
                let events = billed[key] ?? []
                usage[key] = Expected(units: units(metric, events), eventsCount: events.count)
            }
        }
        return usage
    }

    static func units(_ metric: Metric, _ billed: [BillingEvent]) -> Decimal {
        func text(_ event: BillingEvent) -> String? {
            switch event.properties[metric.field ?? ""] {
            case .string(let text)?: text
            case .integer(let integer)?: String(integer)
            case .number(let number)?: "\(number)"
            case .bool(let flag)?: flag ? "true" : "false"
            case nil, .null?: nil
            case let other?: other.jsonText
            }
        }
        let numbers = billed.compactMap { text($0).flatMap { Decimal(string: $0) } }
        switch metric.aggregation {
        case "count_agg": return Decimal(billed.count)
        case "sum_agg", "weighted_sum_agg": return numbers.reduce(0, +)
        case "max_agg": return numbers.max() ?? 0
        case "unique_count_agg": return Decimal(Set(billed.compactMap(text)).count)
        default:  // latest_agg: the latest event's value; of equal timestamps the first sent, as the sandbox picks
            return billed.max { $0.timestamp < $1.timestamp }.flatMap { text($0).flatMap { Decimal(string: $0) } } ?? 0
        }
    }
}
