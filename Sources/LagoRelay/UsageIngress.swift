import Foundation
import LagoAPI
import LagoIngest
import LagoUsage

/// The relay's usage endpoint (`POST /v1/usage`): usage records in the shape of Lago's Agent SDK
/// (`CanonicalUsage`), one record or `{"records":[…]}`, read and checked before anything is spooled.
///
/// A record holds the canonical fields (`input`, `output`, `cache_read`, `cache_write`, `cache_write_5m`,
/// `cache_write_1h`, `reasoning`, `tool_calls`, `image_input`, `audio_input`) as whole numbers ≥ 0, `dimensions`
/// (strings, numbers, booleans), `model`/`provider`/`api` (strings, kept as dimensions), and optionally
/// `subscription`, `id` (the transaction-id base: the same `id` sent again is refused, never billed twice) and
/// `timestamp` (Unix seconds; the time of reception otherwise) and `cost` (`{"amount": "0.0123", "currency": "USD"}`,
/// the amount read exactly into nanos when it is a string, for the cost events of `usage.cost_events`). `extras` is
/// ignored (nothing in it is billed); any other key is refused, so that no usage is dropped unseen.
struct UsageIngress: Sendable {
    /// The most records one request may carry.
    static let maxRecords = 1_000

    /// What reading a request gave.
    enum Reading: Sendable {
        case records([UsageRecord], batch: Bool)
        case refused(LagoEventIngress.Response)
    }

    static let dimensionKeys = UsageRecord.dimensionKeys

    /// Reads `body`: JSON (`application/json`), one record or `{"records":[…]}`; every problem of every record in
    /// one 422, keyed by record index (by field for a single record), nothing spooled.
    static func read(body: [UInt8], contentType: String?, defaultSubscription: String?) -> Reading {
        guard LagoEventIngress.isJSONContentType(contentType) else {
            return .refused(
                answer(.validationErrors(.object([("content_type", .array([.string("must be application/json")]))]))))
        }
        guard let parsed = try? JSONParser.parse(body), let root = parsed.objectValue else {
            return .refused(LagoEventIngress.badRequest)
        }
        let batch = root["records"] != nil
        let items: [JSONValue]
        if batch {
            guard case .array(let values)? = root["records"], !values.isEmpty else {
                return .refused(
                    answer(.validationErrors(.object([("records", .array([.string("must be a non-empty array")]))]))))
            }
            guard values.count <= maxRecords else {
                return .refused(
                    answer(
                        .validationErrors(
                            .object([("records", .array([.string("at most \(maxRecords) records per request")]))]))))
            }
            items = values
        } else {
            items = [parsed]
        }
        var records: [UsageRecord] = []
        var errors: [(String, JSONOutput)] = []
        for (index, item) in items.enumerated() {
            switch record(item, defaultSubscription: defaultSubscription) {
            case .success(let record): records.append(record)
            case .failure(let problems):
                let entry = JSONOutput.object(problems.list.map { ($0.field, .array([.string($0.problem)])) })
                if !batch { return .refused(answer(.validationErrors(entry))) }
                errors.append((String(index), entry))
            }
        }
        if !errors.isEmpty { return .refused(answer(.validationErrors(.object(errors)))) }
        return .records(records, batch: batch)
    }

    typealias Problems = UsageRecord.Problems

    /// One record, or every problem it has (``UsageRecord/read(agentSDK:defaultSubscription:)``).
    static func record(_ value: JSONValue, defaultSubscription: String?) -> Result<UsageRecord, Problems> {
        UsageRecord.read(agentSDK: value, defaultSubscription: defaultSubscription)
    }

    /// The answer once the records are spooled: each record's index and the transaction ids of its events.
    static func accepted(_ ids: [[String]], batch: Bool) -> LagoEventIngress.Response {
        let records = ids.map { JSONOutput.object([("transaction_ids", .array($0.map { .string($0) }))]) }
        let body: JSONOutput = batch ? .object([("records", .array(records))]) : records[0]
        return LagoEventIngress.Response(status: 200, body: body.bytes)
    }

    /// 422 for records sent before (the same `id`): keyed by index, as Lago's duplicates are.
    static func duplicates(_ indices: [Int], batch: Bool) -> LagoEventIngress.Response {
        let entry: JSONOutput = .object([("id", .array([.string("value_already_exist")]))])
        if !batch { return answer(.validationErrors(entry)) }
        return answer(.validationErrors(.object(indices.map { (String($0), entry) })))
    }

    static func answer(_ response: APIResponse) -> LagoEventIngress.Response {
        LagoEventIngress.Response(status: response.status, body: response.body.bytes)
    }
}
