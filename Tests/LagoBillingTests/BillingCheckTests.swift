import Foundation
import LagoAPI
import Testing

@testable import LagoBilling

/// The billing check's table: every aggregation type, every reason, against one catalogue.
struct BillingCheckTests {
    static let start = Date(timeIntervalSince1970: 1_704_067_200)  // 2024-01-01T00:00:00Z
    static let later = start.addingTimeInterval(86_400)

    static func subscription(
        _ id: String, _ status: SubscriptionStatus, customer: String?, startedAt: Date? = start
    ) -> Subscription {
        Subscription(
            externalID: id, externalCustomerID: customer, planCode: "pro", status: status,
            startedAt: startedAt.map { LagoDate($0, fractionalSeconds: true) })
    }

    static let catalogue = BillingCatalogue(
        metrics: [
            BillableMetric(name: "Requests", code: "requests", aggregationType: .countAgg),
            BillableMetric(name: "Input", code: "input_tokens", aggregationType: .sumAgg, fieldName: "value"),
            BillableMetric(name: "Peak", code: "peak", aggregationType: .maxAgg, fieldName: "value"),
            BillableMetric(name: "Users", code: "users", aggregationType: .uniqueCountAgg, fieldName: "user"),
            BillableMetric(name: "Seats", code: "seats", aggregationType: .weightedSumAgg, fieldName: "value"),
            BillableMetric(name: "Last", code: "last", aggregationType: .latestAgg, fieldName: "value"),
            BillableMetric(name: "Custom", code: "custom", aggregationType: .customAgg),
            BillableMetric(
                name: "Doubled", code: "doubled", aggregationType: .sumAgg, fieldName: "value",
                expression: "event.properties.x * 2"),
            BillableMetric(
                name: "Regional", code: "regional", aggregationType: .sumAgg, fieldName: "value",
                filters: [BillableMetricFilter(key: "region", values: ["eu", "us"])]),
        ],
        subscriptions: [
            subscription("sub_active", .active, customer: "cus_one"),
            subscription("sub_pending", .pending, customer: "cus_pending", startedAt: nil),
            subscription("sub_terminated", .terminated, customer: "cus_gone"),
            subscription("sub_canceled", .canceled, customer: "cus_gone", startedAt: nil),
            // An upgrade: the old plan terminated, the new one active, under the same external id.
            subscription("sub_upgraded", .terminated, customer: "cus_up"),
            subscription("sub_upgraded", .active, customer: "cus_up", startedAt: later),
            subscription("sub_a", .active, customer: "cus_two"),
            subscription("sub_b", .active, customer: "cus_two"),
        ],
        loadedAt: later)

    static func event(
        code: String = "input_tokens", subscription: String? = "sub_active", customer: String? = nil,
        at timestamp: Date = later, _ properties: [String: JSONValue] = ["value": 10]
    ) -> BillingEvent {
        BillingEvent(
            transactionID: "tx", code: code, externalSubscriptionID: subscription, externalCustomerID: customer,
            timestamp: timestamp, properties: properties)
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var event: BillingEvent
        var expected: BillingVerdict
        /// Checked as the relay will (adding the subscription resolved from the customer), or as sent to Lago.
        var resolvesCustomers = true
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "billable", event: event(), expected: .billable()),
        Case(name: "unknown code", event: event(code: "nope"), expected: .unbillable([.invalidCode])),
        Case(
            name: "no subscription, no customer", event: event(subscription: nil),
            expected: .unbillable([.subscriptionMissing])),
        Case(name: "empty subscription", event: event(subscription: ""), expected: .unbillable([.subscriptionMissing])),
        Case(
            name: "unknown subscription", event: event(subscription: "sub_zzz"),
            expected: .unbillable([.subscriptionNotFound])),
        Case(
            name: "pending", event: event(subscription: "sub_pending"),
            expected: .unbillable([.subscriptionNotActive])),
        Case(
            name: "terminated", event: event(subscription: "sub_terminated"),
            expected: .unbillable([.subscriptionNotActive])),
        Case(
            name: "canceled", event: event(subscription: "sub_canceled"),
            expected: .unbillable([.subscriptionNotActive])),
        Case(
            name: "before the start", event: event(at: start.addingTimeInterval(-1)),
            expected: .unbillable([.beforeSubscriptionStart])),
        Case(name: "at the start", event: event(at: start), expected: .billable()),
        Case(
            name: "upgraded: the active one counts", event: event(subscription: "sub_upgraded"), expected: .billable()),
        Case(
            name: "upgraded: before the new plan's start", event: event(subscription: "sub_upgraded", at: start),
            expected: .unbillable([.beforeSubscriptionStart])),
        Case(
            name: "customer with one active subscription", event: event(subscription: nil, customer: "cus_one"),
            expected: .billable(resolvedSubscriptionID: "sub_active")),
        Case(
            name: "customer with none active", event: event(subscription: nil, customer: "cus_gone"),
            expected: .unbillable([.customerHasNoActiveSubscription])),
        Case(
            name: "unknown customer", event: event(subscription: nil, customer: "cus_zzz"),
            expected: .unbillable([.customerHasNoActiveSubscription])),
        Case(
            name: "customer with two active", event: event(subscription: nil, customer: "cus_two"),
            expected: .unbillable([.ambiguousCustomerSubscription])),
        Case(
            name: "the subscription wins over the customer", event: event(subscription: "sub_a", customer: "cus_zzz"),
            expected: .billable()),
        Case(
            name: "resolved, but before its start",
            event: event(subscription: nil, customer: "cus_one", at: start.addingTimeInterval(-60)),
            expected: .unbillable([.beforeSubscriptionStart], resolvedSubscriptionID: "sub_active")),
        Case(
            name: "sent to Lago as it is, a customer-only event names no subscription (Lago drops the customer)",
            event: event(subscription: nil, customer: "cus_one"),
            expected: .unbillable([.subscriptionMissing], resolvedSubscriptionID: "sub_active"),
            resolvesCustomers: false),
        Case(
            name: "sent as it is, and before the resolved subscription's start",
            event: event(subscription: nil, customer: "cus_one", at: start.addingTimeInterval(-60)),
            expected: .unbillable(
                [.subscriptionMissing, .beforeSubscriptionStart], resolvedSubscriptionID: "sub_active"),
            resolvesCustomers: false),
        Case(
            name: "every reason at once, in order", event: event(code: "nope", subscription: "sub_zzz"),
            expected: .unbillable([.subscriptionNotFound, .invalidCode])),
        Case(
            name: "unknown subscription and missing property",
            event: event(subscription: "sub_pending", ["other": 1]),
            expected: .unbillable([.subscriptionNotActive, .missingAggregationProperty])),
        Case(
            name: "filter value in the list", event: event(code: "regional", ["value": 1, "region": "eu"]),
            expected: .billable()),
        Case(name: "filter key absent", event: event(code: "regional", ["value": 1]), expected: .billable()),
        Case(
            name: "filter value outside the list", event: event(code: "regional", ["value": 1, "region": "apac"]),
            expected: .unbillable([.invalidFilterValues])),
        Case(
            name: "filter value of another type", event: event(code: "regional", ["value": 1, "region": 3]),
            expected: .unbillable([.invalidFilterValues])),
        Case(
            name: "filter value null", event: event(code: "regional", ["value": 1, "region": .null]),
            expected: .billable()),
        Case(name: "count needs no property", event: event(code: "requests", [:]), expected: .billable()),
        Case(name: "custom needs no property", event: event(code: "custom", [:]), expected: .billable()),
        Case(name: "an expression computes it", event: event(code: "doubled", ["x": 2]), expected: .billable()),
    ]

    @Test(arguments: cases) func verdict(_ testCase: Case) {
        #expect(
            BillingCheck.check(testCase.event, against: Self.catalogue, resolvesCustomers: testCase.resolvesCustomers)
                == testCase.expected)
    }

    /// The property under the metric's `field_name`, for every aggregation type that reads one.
    @Test(
        arguments: [
            // (code, value, billable)
            ("input_tokens", JSONValue.integer(12), true), ("input_tokens", .number(0.5), true),
            ("input_tokens", .number(-1e-7), true), ("input_tokens", .number(1e21), true),
            ("input_tokens", .bigInteger("123456789012345678901234567890"), true),
            ("input_tokens", .string("12"), true), ("input_tokens", .string("-1.50"), true),
            ("input_tokens", .string("1e5"), false), ("input_tokens", .string(".5"), false),
            ("input_tokens", .string("5."), false), ("input_tokens", .string(" 5"), false),
            ("input_tokens", .string("+5"), false), ("input_tokens", .string("٣"), false),
            ("input_tokens", .string(""), false), ("input_tokens", .bool(true), false),
            ("input_tokens", .null, false), ("input_tokens", .object(["a": 1]), false),
            ("input_tokens", .array([1]), false),
            ("peak", .integer(3), true), ("peak", .string("x"), false), ("peak", .null, false),
            ("seats", .number(2.5), true), ("seats", .string("abc"), false),
            ("last", .integer(-4), true), ("last", .bool(false), false),
            // unique_count: any value but null counts.
            ("users", .string("alice"), true), ("users", .integer(5), true), ("users", .bool(true), true),
            ("users", .object([:]), true), ("users", .null, false),
        ] as [(String, JSONValue, Bool)])
    func aggregationProperty(code: String, value: JSONValue, billable: Bool) {
        let field = code == "users" ? "user" : "value"
        let verdict = BillingCheck.check(Self.event(code: code, [field: value]), against: Self.catalogue)
        #expect(verdict == (billable ? .billable() : .unbillable([.missingAggregationProperty])))
    }

    @Test(arguments: ["input_tokens", "peak", "users", "seats", "last"])
    func anAbsentPropertyIsMissing(code: String) {
        let verdict = BillingCheck.check(Self.event(code: code, ["unrelated": 1]), against: Self.catalogue)
        #expect(verdict == .unbillable([.missingAggregationProperty]))
    }

    @Test func withoutACatalogueNothingIsUnbillable() {
        #expect(BillingCheck.check(Self.event(code: "nope", subscription: nil), against: nil) == .unchecked)
    }

    @Test func everyReasonHasASentence() {
        for reason in BillingReason.allCases {
            #expect(reason.explanation.hasSuffix(".") && !reason.explanation.contains("\n"))
        }
        #expect(BillingReason.allCases.map(\.rawValue).contains("invalid_code"))
    }

    @Test(arguments: [
        (1e21, "1000000000000000000000"), (1.5e-7, "0.00000015"), (-2.5e-3, "-0.0025"), (0.1, "0.1"),
        (123.0, "123.0"), (1.2345e25, "12345000000000000000000000"),
    ])
    func numbersReadAsPostgresPrintsThem(number: Double, text: String) {
        #expect(LagoPropertyText.plainDigits(number) == text)
    }

    @Test func theVerdictRoundTripsAsJSON() throws {
        let verdict = BillingVerdict.unbillable([.invalidCode, .subscriptionNotFound], resolvedSubscriptionID: "s")
        let data = try JSONEncoder().encode(verdict)
        #expect(try JSONDecoder().decode(BillingVerdict.self, from: data) == verdict)
        #expect(verdict.reasons == [.subscriptionNotFound, .invalidCode])
        #expect(String(decoding: data, as: UTF8.self).contains("\"invalid_code\""))
    }
}
