import Foundation
import IngestConformance
import LagoAPI
import LagoSandbox
import Testing

/// `POST /customers`, `POST /subscriptions`, `DELETE /subscriptions/{external_id}` in Lago's shapes, and what
/// `current_usage` counts.
@Suite("Customer and subscription endpoints")
struct SubscriptionEndpointTests {
    static let notFoundPlan: JSONValue = ["status": 404, "error": "Not Found", "code": "plan_not_found"]

    func subscribe(_ client: TestClient, _ fields: [String: JSONValue]) async throws -> TestResponse {
        try await client.post("/api/v1/subscriptions", json: ["subscription": .object(fields)])
    }

    @Test("POST /customers creates, then upserts on external_id changing only the fields sent")
    func customerUpsert() async throws {
        try await withSandbox { _, client in
            let created = try await client.post(
                "/api/v1/customers",
                json: [
                    "customer": [
                        "external_id": "cus_new", "name": "Acme", "email": "billing@acme.example", "currency": "EUR",
                        "timezone": "Europe/Paris", "country": "FR",
                    ]
                ])
            #expect(created.status == 200, "\(created.text)")
            let customer = try #require(created.json["customer"])
            #expect(customer["external_id"] == "cus_new")
            #expect(customer["name"] == "Acme")
            #expect(customer["email"] == "billing@acme.example")
            #expect(customer["currency"] == "EUR")
            #expect(customer["timezone"] == "Europe/Paris")
            #expect(customer["applicable_timezone"] == "Europe/Paris")
            #expect(customer["sequential_id"] == 2, "the seeded customer is 1")
            #expect(isUUID(customer["lago_id"]))

            let updated = try await client.post(
                "/api/v1/customers", json: ["customer": ["external_id": "cus_new", "name": "Acme Ltd"]])
            #expect(updated.status == 200)
            #expect(updated.json["customer"]?["lago_id"] == customer["lago_id"])
            #expect(updated.json["customer"]?["sequential_id"] == 2)
            #expect(updated.json["customer"]?["name"] == "Acme Ltd")
            #expect(updated.json["customer"]?["email"] == "billing@acme.example", "a field not sent is kept")
            #expect(try await client.get("/api/v1/customers").json["meta"]?["total_count"] == 2)
            #expect(try await client.get("/api/v1/customers/cus_new").json["customer"]?["name"] == "Acme Ltd")

            let bare = try await client.post("/api/v1/customers", json: ["customer": ["external_id": "cus_bare"]])
            #expect(bare.json["customer"]?["currency"] == .null, "no currency until a subscription gives one")
            #expect(bare.json["customer"]?["applicable_timezone"] == "UTC")
        }
    }

    @Test("POST /customers errors: 400 without the wrapper, one 422 naming every failing field")
    func customerErrors() async throws {
        try await withSandbox { _, client in
            let missing = try await client.post("/api/v1/customers", json: ["external_id": "x"])
            #expect(missing.status == 400)
            #expect(
                missing.json == [
                    "status": 400, "error": "BadRequest: param is missing or the value is empty or invalid: customer",
                ])
            let invalid = try await client.post(
                "/api/v1/customers",
                json: [
                    "customer": [
                        "external_id": " ", "currency": "DOLLARS", "timezone": "Mars/Olympus", "email": "not-an-email",
                        "name": .string(String(repeating: "n", count: 256)),
                    ]
                ])
            #expect(invalid.status == 422)
            #expect(
                invalid.json
                    == validationErrors([
                        "currency": ["value_is_invalid"], "name": ["value_is_too_long"],
                        "external_id": ["value_is_mandatory"], "timezone": ["invalid_timezone"],
                        "email": ["invalid_email_format"],
                    ]))
            let emails = try await client.post(
                "/api/v1/customers",
                json: [
                    "customer": ["external_id": "cus_mail", "email": "a@b.example, c.d@e.example", "timezone": "UTC"]
                ]
            )
            #expect(emails.status == 200, "comma-separated addresses are one valid email field: \(emails.text)")
            #expect(try await client.get("/api/v1/customers/cus_x").status == 404, "nothing stored by a 422")
        }
    }

    @Test("POST /subscriptions: creates the unknown customer, active from subscription_at or now, in Lago's shape")
    func createSubscription() async throws {
        try await withSandbox { sandbox, client in
            let created = try await subscribe(
                client,
                [
                    "external_customer_id": " cus_auto ", "plan_code": "sandbox_plan", "external_id": "sub_auto",
                    "name": "Auto", "subscription_at": "2026-01-03T08:00:00Z", "billing_time": "anniversary",
                ])
            #expect(created.status == 200, "\(created.text)")
            let subscription = try #require(created.json["subscription"])
            #expect(subscription["external_id"] == "sub_auto")
            #expect(subscription["external_customer_id"] == "cus_auto", "Lago strips the customer id")
            #expect(subscription["plan_code"] == "sandbox_plan")
            #expect(subscription["name"] == "Auto")
            #expect(subscription["status"] == "active")
            #expect(subscription["billing_time"] == "anniversary")
            #expect(subscription["subscription_at"] == "2026-01-03T08:00:00Z")
            #expect(subscription["started_at"] == "2026-01-03T08:00:00.000Z")
            #expect(subscription["terminated_at"] == .null)
            #expect(subscription["created_at"] == "2026-01-15T10:00:00Z")
            let customer = try await client.get("/api/v1/customers/cus_auto")
            #expect(customer.status == 200, "Lago creates the customer a subscription names")
            #expect(customer.json["customer"]?["lago_id"] == subscription["lago_customer_id"])
            #expect(customer.json["customer"]?["currency"] == "USD", "the plan's currency")

            let now = try await subscribe(
                client, ["external_customer_id": "cus_auto", "plan_code": "sandbox_plan", "external_id": "sub_now"])
            #expect(now.json["subscription"]?["status"] == "active")
            #expect(now.json["subscription"]?["started_at"] == "2026-01-15T10:00:00.000Z", "no subscription_at: now")

            let again = try await subscribe(
                client,
                ["external_customer_id": "cus_auto", "plan_code": "sandbox_plan", "external_id": "sub_auto"])
            #expect(again.status == 200)
            #expect(again.json["subscription"]?["lago_id"] == subscription["lago_id"], "the same again changes nothing")
            #expect(sandbox.subscriptions().filter { $0.externalID == "sub_auto" }.count == 1)
            let listed = try await client.get("/api/v1/subscriptions?external_customer_id=cus_auto")
            #expect(listed.json["meta"]?["total_count"] == 2)
        }
    }

    @Test("POST /subscriptions: pending when subscription_at falls on a later day in the customer's time zone")
    func pendingByCustomerDay() async throws {
        try await withSandbox { _, client in
            // 16:00Z on the 15th is the 15th in UTC (today: active) and the 16th in Tokyo (tomorrow: pending).
            _ = try await client.post(
                "/api/v1/customers", json: ["customer": ["external_id": "cus_tokyo", "timezone": "Asia/Tokyo"]])
            for (customer, status) in [("cus_sandbox", "active"), ("cus_tokyo", "pending")] {
                let answer = try await subscribe(
                    client,
                    [
                        "external_customer_id": .string(customer), "plan_code": "sandbox_plan",
                        "external_id": .string("sub_\(customer)"), "subscription_at": "2026-01-15T16:00:00Z",
                    ])
                #expect(answer.json["subscription"]?["status"] == .string(status), "\(customer): \(answer.text)")
                #expect(answer.json["subscription"]?["subscription_at"] == "2026-01-15T16:00:00Z")
                #expect(
                    answer.json["subscription"]?["started_at"]
                        == (status == "active" ? "2026-01-15T16:00:00.000Z" : .null))
            }
            let future = try await subscribe(
                client,
                [
                    "external_customer_id": "cus_sandbox", "plan_code": "sandbox_plan", "external_id": "sub_next",
                    "subscription_at": "2026-02-01",
                ])
            #expect(future.json["subscription"]?["status"] == "pending")
            let pending = try await client.get(
                "/api/v1/customers/cus_tokyo/current_usage?external_subscription_id=sub_cus_tokyo")
            #expect(pending.status == 405 && pending.json["code"] == "no_active_subscription")
        }
    }

    @Test("POST /subscriptions errors: 400, 404 plan_not_found, 422 in Lago's order and shape")
    func subscriptionErrors() async throws {
        try await withSandbox { sandbox, client in
            try sandbox.addPlan(code: "other_plan")  // so the plan change, not the plan, is what is refused
            let valid: [String: JSONValue] = [
                "external_customer_id": "cus_sandbox", "plan_code": "sandbox_plan", "external_id": "sub_x",
            ]
            func with(_ changes: [String: JSONValue?]) -> [String: JSONValue] {
                var fields = valid
                for (key, value) in changes { fields[key] = value }
                return fields
            }
            let missing = try await client.post("/api/v1/subscriptions", json: ["plan_code": "sandbox_plan"])
            #expect(missing.status == 400)
            #expect(
                missing.json == [
                    "status": 400,
                    "error": "BadRequest: param is missing or the value is empty or invalid: subscription",
                ])
            for fields in [
                with(["plan_code": "nope"]), with(["plan_code": nil]), with(["plan_code": "nope", "external_id": nil]),
            ] {
                let answer = try await subscribe(client, fields)
                #expect(answer.status == 404)
                #expect(answer.json == Self.notFoundPlan, "\(fields)")
            }
            let cases: [([String: JSONValue?], JSONValue)] = [
                (["subscription_at": "yesterday"], ["subscription_at": ["invalid_date"]]),
                (["subscription_at": 1_768_471_200], ["subscription_at": ["invalid_date"]]),
                (["subscription_at": "yesterday", "external_customer_id": nil], ["subscription_at": ["invalid_date"]]),
                (["external_customer_id": "  "], ["external_customer_id": ["value_is_mandatory"]]),
                (["external_customer_id": nil, "external_id": nil], ["external_customer_id": ["value_is_mandatory"]]),
                (["external_id": nil], ["external_id": ["value_is_mandatory"]]),
                (["billing_time": "weekly"], ["billing_time": ["value_is_invalid"]]),
                (
                    ["external_id": "sub_sandbox", "external_customer_id": "cus_other"],
                    ["external_id": ["value_already_exist"]]
                ),
                (
                    ["external_id": "sub_sandbox", "plan_code": "other_plan"],
                    ["plan_code": ["sandbox_plan_change_unsupported_terminate_first"]]
                ),
            ]
            for (changes, details) in cases {
                let answer = try await subscribe(client, with(changes))
                #expect(answer.status == 422, "\(changes)")
                #expect(answer.json == validationErrors(details), "\(changes)")
            }
            // Lago saves the customer before it checks the subscription's own fields, so a taken external_id
            // still leaves the new customer behind; an unknown plan or a bad date does not.
            #expect(try await client.get("/api/v1/customers/cus_other").status == 200)
            #expect(try await client.get("/api/v1/subscriptions/sub_x").status == 404, "no subscription stored")
            let refused = try await subscribe(
                client, ["external_customer_id": "cus_never", "plan_code": "nope", "external_id": "sub_never"])
            #expect(refused.status == 404)
            #expect(try await client.get("/api/v1/customers/cus_never").status == 404)
        }
    }

    @Test("DELETE /subscriptions/{id}: terminates the active one now, cancels a pending one with status=pending")
    func terminate() async throws {
        try await withSandbox { sandbox, client in
            try sandbox.addBillableMetric(code: "calls", aggregationType: .countAgg)
            let ended = try await client.send("DELETE", "/api/v1/subscriptions/sub_sandbox")
            #expect(ended.status == 200, "\(ended.text)")
            #expect(ended.json["subscription"]?["status"] == "terminated")
            #expect(ended.json["subscription"]?["terminated_at"] == "2026-01-15T10:00:00Z")
            #expect(ended.json["subscription"]?["started_at"] == "2024-01-01T00:00:00.000Z")
            let again = try await client.send("DELETE", "/api/v1/subscriptions/sub_sandbox")
            #expect(again.json == ["status": 404, "error": "Not Found", "code": "subscription_not_found"])
            let usage = try await client.get(
                "/api/v1/customers/cus_sandbox/current_usage?external_subscription_id=sub_sandbox")
            #expect(usage.status == 405, "a terminated subscription has no current usage")
            let terminated = try await client.get("/api/v1/subscriptions?status[]=terminated")
            #expect(terminated.json["subscriptions"]?.arrayValue?.map { $0["external_id"] } == ["sub_sandbox"])

            _ = try await subscribe(
                client,
                [
                    "external_customer_id": "cus_sandbox", "plan_code": "sandbox_plan", "external_id": "sub_later",
                    "subscription_at": "2026-03-01T00:00:00Z",
                ])
            let notActive = try await client.send("DELETE", "/api/v1/subscriptions/sub_later")
            #expect(notActive.status == 404, "without status=pending only an active one is terminated")
            let canceled = try await client.send("DELETE", "/api/v1/subscriptions/sub_later?status=pending")
            #expect(canceled.json["subscription"]?["status"] == "canceled")
            #expect(canceled.json["subscription"]?["canceled_at"] == "2026-01-15T10:00:00Z")
            #expect(canceled.json["subscription"]?["started_at"] == .null)
            #expect(try await client.send("DELETE", "/api/v1/subscriptions/nope").status == 404)
            #expect(try await client.send("DELETE", "/api/v1/subscriptions/x", auth: .none).status == 401)
        }
    }

    @Test("current_usage counts what Lago bills: numerals for sum, started subscriptions, values in the filters")
    func usageRules() async throws {
        try await withSandbox { sandbox, client in
            let created = try await client.post(
                "/api/v1/billable_metrics",
                json: [
                    "billable_metric": [
                        "name": "Regional", "code": "regional", "aggregation_type": "sum_agg", "field_name": "value",
                        "filters": [["key": "region", "values": ["eu", "us"]]],
                    ]
                ])
            #expect(created.status == 200)
            try sandbox.addBillableMetric(code: "visitors", aggregationType: .uniqueCountAgg, fieldName: "user")
            _ = try await subscribe(
                client,
                [
                    "external_customer_id": "cus_sandbox", "plan_code": "sandbox_plan", "external_id": "sub_mid",
                    "subscription_at": "2026-01-10T00:00:00Z",
                ])
            let before = 1_768_003_199  // 2026-01-09T23:59:59Z
            let after = 1_768_003_200  // 2026-01-10T00:00:00Z, the start itself
            let events: [JSONValue] = [
                ["value": "12"], ["value": 1.5], ["value": -3], ["value": "1e3"], ["value": " 4"], ["value": "abc"],
                ["value": true], ["value": nil], [:], ["value": 2, "region": "eu"], ["value": 2, "region": "ap"],
                ["value": 2, "region": nil],
            ].enumerated().map { index, properties in
                [
                    "transaction_id": .string("r\(index)"), "code": "regional", "external_subscription_id": "sub_mid",
                    "timestamp": .integer(Int64(after + index)), "properties": properties,
                ]
            }
            let others: [JSONValue] = [
                [
                    "transaction_id": "early", "code": "regional", "external_subscription_id": "sub_mid",
                    "timestamp": .integer(Int64(before)), "properties": ["value": 100],
                ],
                [
                    "transaction_id": "customer_only", "code": "regional", "external_customer_id": "cus_sandbox",
                    "timestamp": .integer(Int64(after)), "properties": ["value": 100],
                ],
                [
                    "transaction_id": "v1", "code": "visitors", "external_subscription_id": "sub_mid",
                    "timestamp": .integer(Int64(after)), "properties": ["user": 1],
                ],
                [
                    "transaction_id": "v2", "code": "visitors", "external_subscription_id": "sub_mid",
                    "timestamp": .integer(Int64(after)), "properties": ["user": "1"],
                ],
                [
                    "transaction_id": "v3", "code": "visitors", "external_subscription_id": "sub_mid",
                    "timestamp": .integer(Int64(after)), "properties": ["user": nil],
                ],
            ]
            let ingested = try await client.post("/api/v1/events/batch", json: ["events": .array(events + others)])
            #expect(ingested.status == 200, "\(ingested.text)")
            #expect(sandbox.events().first { $0.transactionID == "customer_only" }?.externalSubscriptionID == nil)
            let usage = try await client.get(
                "/api/v1/customers/cus_sandbox/current_usage?external_subscription_id=sub_mid")
            let charges = usage.json["customer_usage"]?["charges_usage"]?.arrayValue ?? []
            func charge(_ code: String) -> JSONValue? {
                charges.first { $0["billable_metric"]?["code"] == .string(code) }
            }
            // 12 + 1.5 - 3 + 2 (eu) + 2 (null region): not "1e3", " 4", "abc", true, null, absent, "ap", nor the
            // event before the start or the one naming only its customer.
            #expect(charge("regional")?["units"] == "14.5")
            #expect(charge("regional")?["events_count"] == 5)
            // 1 and "1" are one value as Postgres reads them; null is no value.
            #expect(charge("visitors")?["units"] == "1.0")
            #expect(charge("visitors")?["events_count"] == 2)
            #expect(usage.json["customer_usage"]?["from_datetime"] == "2026-01-10T00:00:00Z")
        }
    }

    @Test("--data: plans, created subscriptions and termination dates survive a restart")
    func persistence() async throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("sandbox.sqlite").path
        try await withSandbox(testOptions(dataPath: path)) { sandbox, client in
            try sandbox.addPlan(code: "pro", name: "Pro")
            let created = try await subscribe(
                client, ["external_customer_id": "cus_pro", "plan_code": "pro", "external_id": "sub_pro"])
            #expect(created.status == 200)
            #expect(try await client.send("DELETE", "/api/v1/subscriptions/sub_pro").status == 200)
        }
        try await withSandbox(testOptions(dataPath: path)) { sandbox, client in
            #expect(sandbox.plans().map(\.code).sorted() == ["pro", "sandbox_plan"])
            #expect(sandbox.plans().first { $0.code == "pro" }?.name == "Pro")
            let stored = try await client.get("/api/v1/subscriptions?status[]=terminated")
            #expect(stored.json["subscriptions"]?.arrayValue?.first?["terminated_at"] == "2026-01-15T10:00:00Z")
            #expect(try await client.get("/api/v1/customers/cus_pro").status == 200)
            let again = try await subscribe(
                client, ["external_customer_id": "cus_pro", "plan_code": "pro", "external_id": "sub_pro_2"])
            #expect(again.json["subscription"]?["status"] == "active", "the plan is still known: \(again.text)")
        }
    }
}
