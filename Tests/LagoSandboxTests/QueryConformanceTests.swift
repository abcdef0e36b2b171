import Foundation
import IngestConformance
import LagoAPI
import LagoSandbox
import Testing

/// Conformance with `lago-api-facts.md` §3, §4 and §6.5: lists, pagination, metrics, subscriptions, customers,
/// current usage and fee estimates.
@Suite("Lago query API conformance")
struct QueryConformanceTests {
    private func ingest(_ client: TestClient, _ events: [JSONValue]) async throws {
        let response = try await client.post("/api/v1/events/batch", json: ["events": .array(events)])
        #expect(response.status == 200, "\(response.text)")
    }

    @Test("§6.5/§4 GET /events pagination: exact meta of Lago's request spec, zeroed empty meta, page past the end")
    func pagination() async throws {
        try await withSandbox { _, client in
            let empty = try await client.get("/api/v1/events")
            #expect(
                empty.json
                    == [
                        "events": [],
                        "meta": [
                            "current_page": 0, "next_page": nil, "prev_page": nil, "total_pages": 0, "total_count": 0,
                        ],
                    ]
            )
            try await ingest(
                client,
                [
                    ["transaction_id": "t1", "code": "c", "external_subscription_id": "s", "timestamp": 1_651_240_791],
                    ["transaction_id": "t2", "code": "c", "external_subscription_id": "s", "timestamp": 1_651_240_792],
                ]
            )
            let first = try await client.get("/api/v1/events?page=1&per_page=1")
            #expect(
                first.json["meta"]
                    == ["current_page": 1, "next_page": 2, "prev_page": nil, "total_pages": 2, "total_count": 2]
            )
            #expect(first.json["events"]?.arrayValue?.first?["transaction_id"] == "t2")
            let past = try await client.get("/api/v1/events?page=5&per_page=1")
            #expect(past.json["events"] == [])
            #expect(
                past.json["meta"]
                    == ["current_page": 5, "next_page": nil, "prev_page": 4, "total_pages": 2, "total_count": 2]
            )
            let defaults = try await client.get("/api/v1/events?page=abc&per_page=x")
            #expect(
                defaults.json["meta"]
                    == ["current_page": 1, "next_page": nil, "prev_page": nil, "total_pages": 1, "total_count": 2]
            )
        }
    }

    @Test("§3.2 GET /events filters, inclusive ISO-8601 range, order timestamp DESC then transaction_id ASC")
    func listFilters() async throws {
        try await withSandbox { _, client in
            try await ingest(
                client,
                [
                    ["transaction_id": "b", "code": "x", "external_subscription_id": "s1", "timestamp": 1_651_240_800],
                    ["transaction_id": "a", "code": "x", "external_subscription_id": "s1", "timestamp": 1_651_240_800],
                    ["transaction_id": "c", "code": "y", "external_subscription_id": "s1", "timestamp": 1_651_240_700],
                    ["transaction_id": "d", "code": "x", "external_subscription_id": "s2", "timestamp": 1_651_240_900],
                ]
            )
            func ids(_ query: String) async throws -> [String] {
                try await client.get("/api/v1/events?\(query)").json["events"]?.arrayValue?.compactMap {
                    $0["transaction_id"]?.stringValue
                } ?? []
            }
            #expect(try await ids("") == ["d", "a", "b", "c"])
            #expect(try await ids("code=x") == ["d", "a", "b"])
            #expect(try await ids("external_subscription_id=s1") == ["a", "b", "c"])
            // 1651240800 = 2022-04-29T14:00:00Z
            #expect(try await ids("timestamp_from=2022-04-29T14:00:00Z") == ["d", "a", "b"])
            #expect(try await ids("timestamp_to=2022-04-29T14:00:00Z") == ["a", "b", "c"])
            #expect(
                try await ids("timestamp_from=2022-04-29T16:00:00%2B02:00&timestamp_to=2022-04-29T14:00:00") == [
                    "a", "b",
                ]
            )
            #expect(try await ids("timestamp_to=2022-04-29") == [])
        }
    }

    @Test("§3.2 invalid dates are 422 invalid_date (the first invalid filter)")
    func invalidDate() async throws {
        try await withSandbox { _, client in
            let from = try await client.get("/api/v1/events?timestamp_from=yesterday&timestamp_to=nope")
            #expect(from.status == 422)
            #expect(from.json == validationErrors(["timestamp_from": ["invalid_date"]]))
            let to = try await client.get("/api/v1/events?timestamp_to=2022-13-01")
            #expect(to.json == validationErrors(["timestamp_to": ["invalid_date"]]))
        }
    }

    @Test("§3.3 billable metrics: seeded list, show, create, duplicate code, 404")
    func billableMetrics() async throws {
        try await withSandbox { sandbox, client in
            let list = try await client.get("/api/v1/billable_metrics")
            let metrics = list.json["billable_metrics"]?.arrayValue ?? []
            #expect(Set(metrics.compactMap { $0["code"]?.stringValue }) == Set(SandboxSeed.metricCodes))
            #expect(metrics.allSatisfy { $0["aggregation_type"] == "sum_agg" && $0["field_name"] == "value" })
            #expect(metrics.first?["plans_count"] == 0)
            #expect(list.json["meta"]?["total_count"] == 10)

            let show = try await client.get("/api/v1/billable_metrics/llm_input_tokens")
            let seeded = show.json["billable_metric"]
            #expect(seeded?["active_subscriptions_count"] == nil)
            #expect(
                seeded
                    == [
                        "lago_id": seeded?["lago_id"] ?? nil, "name": "LLM input tokens", "code": "llm_input_tokens",
                        "description": "Seeded by the Lago Console sandbox: sum of properties.value",
                        "aggregation_type": "sum_agg", "weighted_interval": nil, "recurring": false,
                        "rounding_function": nil, "rounding_precision": nil, "created_at": "2026-01-15T10:00:00Z",
                        "field_name": "value", "expression": nil, "filters": [],
                    ]
            )

            let created = try await client.post(
                "/api/v1/billable_metrics",
                #"{"billable_metric":{"name":"Storage","code":"storage","description":"GB of storage","aggregation_type":"max_agg","field_name":"gb","filters":[{"key":"region","values":["eu","us"]}]}}"#
            )
            #expect(created.status == 200)
            let metric = created.json["billable_metric"]
            #expect(isUUID(metric?["lago_id"]))
            #expect(
                metric
                    == [
                        "lago_id": metric?["lago_id"] ?? nil, "name": "Storage", "code": "storage",
                        "description": "GB of storage", "aggregation_type": "max_agg", "weighted_interval": nil,
                        "recurring": false, "rounding_function": nil, "rounding_precision": nil,
                        "created_at": "2026-01-15T10:00:00Z", "field_name": "gb", "expression": nil,
                        "filters": [["key": "region", "values": ["eu", "us"]]],
                    ]
            )
            #expect(sandbox.billableMetrics().contains { $0.code == "storage" })

            let duplicate = try await client.post(
                "/api/v1/billable_metrics",
                #"{"billable_metric":{"name":"Storage","code":"storage","aggregation_type":"sum_agg","field_name":"gb"}}"#
            )
            #expect(duplicate.status == 422)
            #expect(duplicate.json == validationErrors(["code": ["value_already_exist"]]))

            let invalid = try await client.post(
                "/api/v1/billable_metrics",
                #"{"billable_metric":{"code":"x","aggregation_type":"median_agg"}}"#
            )
            #expect(
                invalid.json
                    == validationErrors(["name": ["value_is_mandatory"], "aggregation_type": ["value_is_invalid"]])
            )
            let missing = try await client.post("/api/v1/billable_metrics", #"{"name":"x"}"#)
            #expect(
                missing.json
                    == [
                        "status": 400,
                        "error": "BadRequest: param is missing or the value is empty or invalid: billable_metric",
                    ]
            )
            let notFound = try await client.get("/api/v1/billable_metrics/nope")
            #expect(notFound.status == 404)
            #expect(notFound.json == ["status": 404, "error": "Not Found", "code": "billable_metric_not_found"])

            #expect(try sandbox.removeBillableMetric(code: "storage"))
            #expect(try sandbox.removeBillableMetric(code: "storage") == false)
            #expect(try await client.get("/api/v1/billable_metrics/storage").status == 404)
        }
    }

    @Test("§3.4 subscriptions: default status active, status[] filter, customer and plan filters")
    func subscriptions() async throws {
        try await withSandbox { sandbox, client in
            try sandbox.addSubscription(
                SandboxSubscription(
                    externalID: "sub_old",
                    externalCustomerID: "cus_other",
                    planCode: "legacy",
                    status: .terminated
                )
            )
            func ids(_ query: String) async throws -> [String] {
                try await client.get("/api/v1/subscriptions\(query)").json["subscriptions"]?.arrayValue?.compactMap {
                    $0["external_id"]?.stringValue
                } ?? []
            }
            #expect(try await ids("") == ["sub_sandbox"])
            #expect(try await ids("?status[]=terminated") == ["sub_old"])
            #expect(try await ids("?status%5B%5D=active&status%5B%5D=terminated") == ["sub_sandbox", "sub_old"])
            #expect(try await ids("?external_customer_id=cus_sandbox") == ["sub_sandbox"])
            #expect(try await ids("?plan_code=legacy") == [])
            let seeded = try await client.get("/api/v1/subscriptions").json["subscriptions"]?.arrayValue?.first
            #expect(seeded?["plan_code"] == "sandbox_plan")
            #expect(seeded?["external_customer_id"] == "cus_sandbox")
            #expect(seeded?["status"] == "active")
            #expect(seeded?["started_at"] == "2024-01-01T00:00:00.000Z")
            #expect(seeded?["current_billing_period_started_at"] == "2026-01-01T00:00:00Z")
            #expect(seeded?["current_billing_period_ending_at"] == "2026-01-31T23:59:59Z")
            #expect(isUUID(seeded?["lago_customer_id"]))
        }
    }

    @Test("§3.5 customers list and show")
    func customers() async throws {
        try await withSandbox { _, client in
            let list = try await client.get("/api/v1/customers")
            let customer = list.json["customers"]?.arrayValue?.first
            #expect(customer?["external_id"] == "cus_sandbox")
            #expect(customer?["sequential_id"] == 1)
            #expect(customer?["applicable_timezone"] == "UTC")
            #expect(list.json["meta"]?["total_count"] == 1)
            #expect(
                try await client.get("/api/v1/customers/cus_sandbox").json["customer"]?["external_id"] == "cus_sandbox"
            )
            let missing = try await client.get("/api/v1/customers/nope")
            #expect(missing.json == ["status": 404, "error": "Not Found", "code": "customer_not_found"])
        }
    }

    @Test("§3.6 current_usage aggregates sum/count/max per metric; units are decimal strings")
    func currentUsage() async throws {
        try await withSandbox { sandbox, client in
            try sandbox.addBillableMetric(code: "calls", aggregationType: .countAgg)
            try sandbox.addBillableMetric(code: "peak", aggregationType: .maxAgg, fieldName: "gb")
            try await ingest(
                client,
                [
                    [
                        "transaction_id": "1", "code": "llm_input_tokens", "external_subscription_id": "sub_sandbox",
                        "properties": ["value": 40],
                    ],
                    [
                        "transaction_id": "2", "code": "llm_input_tokens", "external_subscription_id": "sub_sandbox",
                        "properties": ["value": "2"],
                    ],
                    [
                        "transaction_id": "3", "code": "llm_input_tokens", "external_subscription_id": "sub_sandbox",
                        "properties": ["value": 0.1],
                    ],
                    [
                        "transaction_id": "4", "code": "llm_input_tokens", "external_subscription_id": "other",
                        "properties": ["value": 1000],
                    ],
                    [
                        "transaction_id": "5", "code": "llm_input_tokens", "external_subscription_id": "sub_sandbox",
                        "properties": ["value": 5], "timestamp": 1_651_240_791,
                    ],
                    ["transaction_id": "6", "code": "calls", "external_subscription_id": "sub_sandbox"],
                    ["transaction_id": "7", "code": "calls", "external_subscription_id": "sub_sandbox"],
                    [
                        "transaction_id": "8", "code": "peak", "external_subscription_id": "sub_sandbox",
                        "properties": ["gb": 7],
                    ],
                    [
                        "transaction_id": "9", "code": "peak", "external_subscription_id": "sub_sandbox",
                        "properties": ["gb": 3.5],
                    ],
                ]
            )
            let response = try await client.get(
                "/api/v1/customers/cus_sandbox/current_usage?external_subscription_id=sub_sandbox"
            )
            #expect(response.status == 200)
            let usage = response.json["customer_usage"]
            #expect(usage?["from_datetime"] == "2026-01-01T00:00:00Z")
            #expect(usage?["to_datetime"] == "2026-01-31T23:59:59Z")
            #expect(usage?["issuing_date"] == "2026-02-01")
            #expect(usage?["currency"] == "USD")
            let charges = usage?["charges_usage"]?.arrayValue ?? []
            func charge(_ code: String) -> JSONValue? {
                charges.first { $0["billable_metric"]?["code"] == .string(code) }
            }
            #expect(charges.count == 12)
            #expect(charge("llm_input_tokens")?["units"] == "42.1")
            #expect(charge("llm_input_tokens")?["total_aggregated_units"] == "42.1")
            #expect(charge("llm_input_tokens")?["events_count"] == 3)
            #expect(charge("llm_input_tokens")?["amount_cents"] == 4)
            #expect(charge("llm_output_tokens")?["units"] == "0.0")
            #expect(charge("calls")?["units"] == "2.0")
            #expect(charge("peak")?["units"] == "7.0")
            #expect(charge("peak")?["billable_metric"]?["aggregation_type"] == "max_agg")
            #expect(charge("peak")?["charge"]?["charge_model"] == "standard")
            #expect(charge("peak")?["amount_cents"] == 1)  // 7 × 0.1 cent, rounded half-up
            #expect(usage?["amount_cents"] == 5)

            let noCustomer = try await client.get(
                "/api/v1/customers/nope/current_usage?external_subscription_id=sub_sandbox"
            )
            #expect(noCustomer.status == 404)
            #expect(noCustomer.json == ["status": 404, "error": "Not Found", "code": "customer_not_found"])
            for query in ["?external_subscription_id=nope", ""] {
                let noSubscription = try await client.get("/api/v1/customers/cus_sandbox/current_usage\(query)")
                #expect(noSubscription.status == 405)
                #expect(
                    noSubscription.json == [
                        "status": 405, "error": "Method Not Allowed", "code": "no_active_subscription",
                    ]
                )
            }
        }
    }

    @Test("§3.7 estimate_fees: 404 subscription/metric, 422 number and timestamp, fee for one event")
    func estimateFees() async throws {
        try await withSandbox { _, client in
            let noSubscription = try await client.post(
                "/api/v1/events/estimate_fees",
                #"{"event":{"code":"llm_input_tokens","external_subscription_id":"nope"}}"#
            )
            #expect(noSubscription.json == ["status": 404, "error": "Not Found", "code": "subscription_not_found"])
            let noMetric = try await client.post(
                "/api/v1/events/estimate_fees",
                #"{"event":{"code":"nope","external_subscription_id":"sub_sandbox"}}"#
            )
            #expect(noMetric.json == ["status": 404, "error": "Not Found", "code": "billable_metric_not_found"])
            let notNumber = try await client.post(
                "/api/v1/events/estimate_fees",
                #"{"event":{"code":"llm_input_tokens","external_subscription_id":"sub_sandbox","properties":{"value":"lots"}}}"#
            )
            #expect(notNumber.json == validationErrors(["properties": ["value_is_not_valid_number"]]))
            let badTimestamp = try await client.post(
                "/api/v1/events/estimate_fees",
                #"{"event":{"code":"llm_input_tokens","external_subscription_id":"sub_sandbox","timestamp":"abc"}}"#
            )
            #expect(badTimestamp.json == validationErrors(["timestamp": ["invalid_format"]]))
            let fee = try await client.post(
                "/api/v1/events/estimate_fees",
                #"{"event":{"code":"llm_input_tokens","external_subscription_id":"sub_sandbox","transaction_id":"t","properties":{"value":2500}}}"#
            )
            #expect(fee.status == 200)
            let first = fee.json["fees"]?.arrayValue?.first
            #expect(first?["lago_id"] == .null)
            #expect(first?["pay_in_advance"] == true)
            #expect(first?["units"] == "2500.0")
            #expect(first?["events_count"] == 1)
            #expect(first?["amount_cents"] == 250)
            #expect(first?["amount_currency"] == "USD")
            #expect(first?["item"]?["type"] == "charge")
            #expect(first?["item"]?["code"] == "llm_input_tokens")
            #expect(first?["applied_taxes"] == [])
        }
    }
}
