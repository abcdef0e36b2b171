import Foundation
import IngestConformance
import LagoAPI
import LagoSandbox
import Testing

/// The sandbox's answers decode into `LagoAPI`'s typed models with known values, and re-encode to the same text.
struct TypedModelTests {
    @Test func everySandboxStatusAndAggregationIsAKnownLagoValue() {
        for status in SandboxSubscriptionStatus.allCases {
            #expect(SubscriptionStatus.known.contains(SubscriptionStatus(rawValue: status.rawValue)), "\(status)")
        }
        for aggregation in SandboxAggregationType.allCases {
            #expect(AggregationType.known.contains(AggregationType(rawValue: aggregation.rawValue)), "\(aggregation)")
        }
    }

    @Test func subscriptionsAndMetricsDecodeTypedAndEncodeBackTheWireText() async throws {
        try await withSandbox { sandbox, client in
            for status in SandboxSubscriptionStatus.allCases where status != .active {
                try sandbox.addSubscription(
                    SandboxSubscription(externalID: "sub_\(status)", externalCustomerID: "cus_sandbox", status: status))
            }
            try sandbox.addBillableMetric(code: "calls", aggregationType: .countAgg)

            let query = SubscriptionStatus.known.map { "status%5B%5D=\($0)" }.joined(separator: "&")
            let answer = try await client.get("/api/v1/subscriptions?\(query)")
            let wire = try #require(answer.json["subscriptions"]?.arrayValue)
            struct Subscriptions: Decodable { var subscriptions: [Subscription] }
            let typed = try JSONDecoder().decode(Subscriptions.self, from: Data(answer.body)).subscriptions
            #expect(Set(typed.map(\.status)) == Set(SubscriptionStatus.known))
            for (subscription, raw) in zip(typed, wire) {
                #expect(subscription.createdAt != nil && subscription.subscriptionAt != nil)
                // A canceled subscription was pending until canceled: neither has started.
                #expect((subscription.startedAt == nil) == [.pending, .canceled].contains(subscription.status))
                let encoded = try JSONDecoder().decode(JSONValue.self, from: JSONEncoder().encode(subscription))
                for key in ["status", "subscription_at", "started_at", "terminated_at", "canceled_at", "created_at"]
                where raw[key] != .null {
                    #expect(encoded[key] == raw[key], "\(subscription.externalID) \(key)")
                }
            }

            let metrics = try await client.get("/api/v1/billable_metrics")
            struct Metrics: Decodable {
                var metrics: [BillableMetric]
                enum CodingKeys: String, CodingKey { case metrics = "billable_metrics" }
            }
            let decoded = try JSONDecoder().decode(Metrics.self, from: Data(metrics.body)).metrics
            #expect(decoded.first { $0.code == "calls" }?.aggregationType == .countAgg)
            #expect(decoded.allSatisfy { AggregationType.known.contains($0.aggregationType) && $0.createdAt != nil })
        }
    }
}
