import Foundation
import Testing

@testable import LagoAPI

/// The typed fields of the models: aggregation type, subscription status and dates.
struct ModelTests {
    static let subscription = """
        {"lago_id":"b7ab2926-1de8-4428-9bcd-779314ac129b","external_id":"sub_1","lago_customer_id":null,
        "external_customer_id":"cus_1","name":"Pro","plan_code":"pro","plan_amount_cents":0,"status":"active",
        "billing_time":"calendar","subscription_at":"2024-01-01T00:00:00Z","started_at":"2024-01-01T00:00:00.000Z",
        "ending_at":null,"terminated_at":null,"canceled_at":null,"created_at":"2024-01-01T00:00:00Z"}
        """

    static func decode<T: Decodable>(_ type: T.Type, _ json: String) throws -> T {
        try JSONDecoder().decode(type, from: Data(json.utf8))
    }

    /// Encodes `value` and decodes the result as a JSON object, to compare with what was decoded.
    static func object<T: Encodable>(_ value: T) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: JSONEncoder().encode(value))
    }

    @Test func everyKnownAggregationTypeReadsAsItsCase() throws {
        let wire = [
            "count_agg", "sum_agg", "max_agg", "unique_count_agg", "weighted_sum_agg", "latest_agg", "custom_agg",
        ]
        #expect(wire.map(AggregationType.init(rawValue:)) == AggregationType.known)
        #expect(AggregationType.known.map(\.rawValue) == wire)
        #expect(try Self.decode([AggregationType].self, #"["max_agg"]"#) == [.maxAgg])
        #expect("\(AggregationType.uniqueCountAgg)" == "unique_count_agg")
    }

    @Test func aNewerLagosAggregationTypeDecodesAndEncodesUnchanged() throws {
        let json = #"{"lago_id":null,"name":"P","code":"p","aggregation_type":"percentile_agg"}"#
        let metric = try Self.decode(BillableMetric.self, json)
        #expect(metric.aggregationType == .unknown("percentile_agg"))
        #expect("\(metric.aggregationType)" == "percentile_agg")
        #expect(try Self.object(metric)["aggregation_type"] == "percentile_agg")
        let usage = try Self.decode(
            MetricReference.self, #"{"lago_id":"x","name":"P","code":"p","aggregation_type":"percentile_agg"}"#)
        #expect(usage.aggregationType.rawValue == "percentile_agg")
    }

    @Test func subscriptionStatusIsTypedAndAnUnknownOneSurvives() throws {
        let active = try Self.decode(Subscription.self, Self.subscription)
        #expect(active.status == .active)
        #expect(SubscriptionStatus.known.map(\.rawValue) == ["active", "pending", "canceled", "terminated"])
        let paused = try Self.decode(
            Subscription.self, Self.subscription.replacingOccurrences(of: #""active""#, with: #""paused""#))
        #expect(paused.status == .unknown("paused"))
        #expect("\(paused.status)" == "paused")
        #expect(try Self.object(paused)["status"] == "paused")
    }

    @Test func datesParseWithAndWithoutFractionalSecondsAndKeepTheirText() throws {
        let subscription = try Self.decode(Subscription.self, Self.subscription)
        let midnight = Date(timeIntervalSince1970: 1_704_067_200)
        #expect(subscription.startedAt?.date == midnight)
        #expect(subscription.subscriptionAt?.date == midnight)
        #expect(subscription.createdAt?.date == midnight)
        #expect(subscription.endingAt == nil)
        #expect(subscription.startedAt?.text == "2024-01-01T00:00:00.000Z")
        #expect(subscription.subscriptionAt?.text == "2024-01-01T00:00:00Z")
        #expect("\(try #require(subscription.startedAt))" == "2024-01-01T00:00:00.000Z")

        let event = try Self.decode(LagoEvent.self, LagoBodies.eventObject)
        #expect(abs(event.timestamp.date.timeIntervalSince1970 - 1_651_222_791.123) < 0.0005)
        #expect(event.createdAt?.date == Date(timeIntervalSince1970: 1_651_222_791))
    }

    @Test func encodingWritesTheExactWireStrings() throws {
        let original = try Self.decode(JSONValue.self, Self.subscription)
        let subscription = try Self.decode(Subscription.self, Self.subscription)
        let encoded = try Self.object(subscription)
        for key in ["status", "subscription_at", "started_at", "created_at"] {
            #expect(encoded[key] == original[key], "\(key)")
        }
        let event = try Self.decode(LagoEvent.self, LagoBodies.eventObject)
        #expect(try Self.object(event) == Self.decode(JSONValue.self, LagoBodies.eventObject))
        // Trailing zeros and other fraction lengths are kept as sent, not reformatted.
        for text in ["2026-06-04T15:23:54.100Z", "2026-06-04T15:23:54.100000Z", "2026-06-04T15:23:54Z"] {
            let date = try #require(LagoDate(text))
            #expect(String(decoding: try JSONEncoder().encode(date), as: UTF8.self) == "\"\(text)\"")
            #expect(abs(date.date.timeIntervalSince1970 - 1_780_586_634.1) < 0.2)
        }
    }

    @Test func datesMadeHereAreFormattedAsLagoDoes() {
        let date = Date(timeIntervalSince1970: 1_651_222_791.5)
        #expect(LagoDate(date).text == "2022-04-29T08:59:51Z")
        #expect(LagoDate(date, fractionalSeconds: true).text == "2022-04-29T08:59:51.500Z")
        #expect(LagoDate(date, fractionalSeconds: true).date == date)
    }

    @Test func textThatIsNotADateFailsDecodingWithAClearError() {
        #expect(LagoDate("yesterday") == nil)
        #expect(LagoDate("") == nil)
        let json = Self.subscription.replacingOccurrences(of: "2024-01-01T00:00:00Z", with: "soon")
        #expect(throws: DecodingError.self) { try Self.decode(Subscription.self, json) }
    }

    /// Every millisecond of a second survives parse then format (Foundation's style alone printed `.123` as `.122`,
    /// one millisecond early, which moves an event across a `timestamp_to` filter).
    @Test func millisecondTimestampsRoundTripExactly() throws {
        for millisecond in 0..<1000 {
            let fraction = String(String(millisecond + 1000).dropFirst())
            for second in ["2022-04-29T08:59:51", "1969-12-31T23:59:59", "2038-01-19T03:14:08"] {
                let text = "\(second).\(fraction)Z"
                let date = try #require(LagoDateFormat.parse(text))
                #expect(LagoDateFormat.milliseconds(date) == text)
            }
        }
        let justBefore = Date(timeIntervalSince1970: 1_651_222_791.1236)
        #expect(LagoDateFormat.milliseconds(justBefore) == "2022-04-29T08:59:51.124Z")
        let almostNext = Date(timeIntervalSince1970: 1_651_222_791.9996)
        #expect(LagoDateFormat.milliseconds(almostNext) == "2022-04-29T08:59:52.000Z")
    }
}
