import Foundation
import LagoAPI
import LagoBilling
import Testing

@testable import LagoSession

/// `check`'s input: Lago's three shapes of an event, and errors that name the file and line.
struct HeadlessCheckTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func readsAnEventAWrappedEventAndABatchLineByLine() throws {
        let file = """
            {"transaction_id":"a","external_subscription_id":"sub_1","code":"c","properties":{"value":1}}

            {"event":{"transaction_id":"b","external_customer_id":"cus_1","code":"llm_usage","timestamp":1700000000}}
            {"events":[{"transaction_id":"c","code":"x"},{"transaction_id":"d","code":"y"}]}
            """
        let inputs = try HeadlessCheck.inputs(eventJSON: nil, fileText: file, fileName: "events.ndjson", now: Self.now)
        #expect(
            inputs.map(\.source) == [
                "events.ndjson:1", "events.ndjson:3", "events.ndjson:4 (event 0)", "events.ndjson:4 (event 1)",
            ])
        #expect(inputs[0].event.timestamp == Self.now, "no timestamp: checked at the time Lago would stamp it")
        #expect(inputs[1].event.externalCustomerID == "cus_1" && inputs[1].event.externalSubscriptionID == nil)
        #expect(inputs[1].event.timestamp == Date(timeIntervalSince1970: 1_700_000_000))
        #expect(inputs[0].event.properties["value"] == .integer(1))
    }

    @Test func aBadLineIsNamedByFileAndLineAndField() {
        let file = """
            {"transaction_id":"a","code":"c"}
            {"transaction_id":"b"}
            """
        let badLine = #expect(throws: HeadlessCheck.InputProblem.self) {
            try HeadlessCheck.inputs(eventJSON: nil, fileText: file, fileName: "events.ndjson")
        }
        #expect(
            badLine?.description.hasPrefix("events.ndjson:2: not a Lago event") == true,
            "\(String(describing: badLine))")
        #expect(badLine?.description.contains("code is missing") == true)
        let notJSON = #expect(throws: HeadlessCheck.InputProblem.self) {
            try HeadlessCheck.inputs(eventJSON: "{nope", fileText: nil)
        }
        #expect(notJSON?.description.hasPrefix("--event: not JSON") == true)
        let nothing = #expect(throws: HeadlessCheck.InputProblem.self) {
            try HeadlessCheck.inputs(eventJSON: nil, fileText: "\n\n")
        }
        #expect(nothing?.description.contains("give --event JSON or --file") == true)
    }

    @Test func theReportCountsAndExplains() throws {
        let catalogue = BillingCatalogue(
            metrics: [BillableMetric(name: "In", code: "in", aggregationType: .sumAgg, fieldName: "value")],
            subscriptions: [
                Subscription(externalID: "sub_1", externalCustomerID: "cus_1", planCode: "p", status: .active)
            ],
            loadedAt: Self.now)
        let inputs = try HeadlessCheck.inputs(
            eventJSON: #"{"events":[{"transaction_id":"ok","external_subscription_id":"sub_1","code":"in","#
                + #""properties":{"value":2}},{"transaction_id":"bad","external_subscription_id":"sub_9","code":"nope"}]}"#,
            fileText: nil, now: Self.now)
        let report = HeadlessCheck.report(inputs, catalogue: catalogue)
        #expect(report.billable == 1 && report.unbillable == 1)
        // Sent to Lago as it is, an event naming only its customer is never billed (Lago drops the field); the fix
        // is named.
        let customerOnly = try HeadlessCheck.inputs(
            eventJSON: #"{"transaction_id":"c1","external_customer_id":"cus_1","code":"in","properties":{"value":1}}"#,
            fileText: nil, now: Self.now)
        let direct = HeadlessCheck.report(customerOnly, catalogue: catalogue)
        #expect(direct.events[0].reasons == [.subscriptionMissing] && direct.events[0].resolvedSubscriptionID == "sub_1")
        #expect(direct.lines.contains("      Customer cus_1's only active subscription is sub_1: send it as external_subscription_id."))
        #expect(report.events[1].reasons == [.subscriptionNotFound, .invalidCode])
        let text = report.lines.joined(separator: "\n")
        #expect(
            text.contains("⚠ unbillable  --event (event 1)  bad  nope → sub_9: subscription_not_found, invalid_code"))
        #expect(text.contains(BillingReason.invalidCode.explanation))
        let json = String(decoding: try JSONEncoder().encode(report), as: UTF8.self)
        #expect(json.contains(#""reasons":["subscription_not_found","invalid_code"]"#))
    }
}
