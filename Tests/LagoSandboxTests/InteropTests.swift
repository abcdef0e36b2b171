import Foundation
import IngestConformance
import LagoAPI
import TestSupport
import Testing

@testable import LagoSandbox

/// Checks against artefacts outside the package: Lago's OpenAPI spec and the official Python client.
@Suite("Sandbox interop")
struct InteropTests {
    static let specPath = packageRoot.appendingPathComponent("../shared/reference/lago-openapi/openapi.yaml")
        .standardizedFileURL.path
    static let interopDirectory = packageRoot.appendingPathComponent("Tests/Interop")
    static let python = which("python3")
    static let specAvailable = FileManager.default.fileExists(atPath: specPath)
    static let validatorAvailable = pythonCan("import yaml, jsonschema")
    static let pythonClientAvailable = pythonCan("import lago_python_client")

    @Test(
        "responses validate against the OpenAPI spec's response schemas",
        .enabled(if: specAvailable, "skipped: ../shared/reference/lago-openapi/openapi.yaml not found")
    )
    func openAPIResponses() async throws {
        try #require(Self.specAvailable, "OpenAPI spec missing at \(Self.specPath)")
        try #require(
            Self.validatorAvailable,
            "python3 with PyYAML and jsonschema is required (pip install pyyaml jsonschema)"
        )
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }

        var captures: [JSONValue] = []
        func capture(_ operationID: String, _ label: String, _ response: TestResponse) {
            captures.append([
                "operation_id": .string(operationID), "status": .integer(Int64(response.status)),
                "label": .string(label), "body": response.json,
            ])
        }
        try await withSandbox { sandbox, client in
            try sandbox.addBillableMetric(code: "calls", aggregationType: .countAgg)
            capture("findAllEvents", "empty", try await client.get("/api/v1/events"))
            capture(
                "createEvent",
                "",
                try await client.post(
                    "/api/v1/events",
                    #"{"event":{"transaction_id":"o1","code":"llm_input_tokens","external_subscription_id":"sub_sandbox","timestamp":1651240791.5,"precise_total_amount_cents":"10.5","properties":{"value":3}}}"#
                )
            )
            capture(
                "createBatchEvents",
                "",
                try await client.post(
                    "/api/v1/events/batch",
                    #"{"events":[{"transaction_id":"o2","code":"calls","external_subscription_id":"sub_sandbox"},{"transaction_id":"o3","code":"llm_output_tokens","external_subscription_id":"sub_sandbox","properties":{"value":"4"}}]}"#
                )
            )
            capture("findEvent", "", try await client.get("/api/v1/events/o1"))
            capture("findEvent", "missing", try await client.get("/api/v1/events/missing"))
            capture("findAllEvents", "", try await client.get("/api/v1/events?per_page=2"))
            capture(
                "createBillableMetric",
                "",
                try await client.post(
                    "/api/v1/billable_metrics",
                    #"{"billable_metric":{"name":"Storage","code":"storage","aggregation_type":"sum_agg","field_name":"gb"}}"#
                )
            )
            capture("findAllBillableMetrics", "", try await client.get("/api/v1/billable_metrics"))
            capture("findBillableMetric", "", try await client.get("/api/v1/billable_metrics/storage"))
            capture("findBillableMetric", "missing", try await client.get("/api/v1/billable_metrics/missing"))
            capture("findAllSubscriptions", "", try await client.get("/api/v1/subscriptions"))
            capture("findAllCustomers", "", try await client.get("/api/v1/customers"))
            capture(
                "findCustomerCurrentUsage",
                "",
                try await client.get("/api/v1/customers/cus_sandbox/current_usage?external_subscription_id=sub_sandbox")
            )
            capture(
                "findCustomerCurrentUsage",
                "missing",
                try await client.get("/api/v1/customers/missing/current_usage?external_subscription_id=sub_sandbox")
            )
            capture(
                "eventEstimateFees",
                "",
                try await client.post(
                    "/api/v1/events/estimate_fees",
                    #"{"event":{"code":"llm_input_tokens","external_subscription_id":"sub_sandbox","properties":{"value":12}}}"#
                )
            )
            capture(
                "eventEstimateFees",
                "missing",
                try await client.post(
                    "/api/v1/events/estimate_fees",
                    #"{"event":{"code":"x","external_subscription_id":"nope"}}"#
                )
            )
            capture("createEvent", "unauthorized", try await client.post("/api/v1/events", "{}", auth: .none))
            capture(
                "createEvent",
                "missing wrapper",
                try await client.post("/api/v1/events", #"{"transaction_id":"x"}"#)
            )
            capture(
                "createEvent",
                "invalid timestamp",
                try await client.post(
                    "/api/v1/events",
                    #"{"event":{"transaction_id":"x","code":"c","timestamp":"abc"}}"#
                )
            )
            capture(
                "createBatchEvents",
                "duplicates",
                try await client.post(
                    "/api/v1/events/batch",
                    #"{"events":[{"transaction_id":"o2","code":"calls","external_subscription_id":"sub_sandbox"}]}"#
                )
            )
            capture("findAllEvents", "invalid date", try await client.get("/api/v1/events?timestamp_from=nope"))
            capture(
                "createCustomer",
                "",
                try await client.post(
                    "/api/v1/customers",
                    #"{"customer":{"external_id":"cus_spec","name":"Spec","email":"spec@example.com","currency":"EUR","timezone":"Europe/Paris"}}"#
                )
            )
            capture(
                "createCustomer",
                "invalid",
                try await client.post("/api/v1/customers", #"{"customer":{"external_id":"","currency":"XX"}}"#)
            )
            capture(
                "createSubscription",
                "",
                try await client.post(
                    "/api/v1/subscriptions",
                    #"{"subscription":{"external_customer_id":"cus_spec","plan_code":"sandbox_plan","external_id":"sub_spec","subscription_at":"2026-01-02T00:00:00Z"}}"#
                )
            )
            capture(
                "createSubscription",
                "unknown plan",
                try await client.post(
                    "/api/v1/subscriptions",
                    #"{"subscription":{"external_customer_id":"cus_spec","plan_code":"nope","external_id":"sub_x"}}"#
                )
            )
            capture(
                "createSubscription",
                "invalid",
                try await client.post(
                    "/api/v1/subscriptions",
                    #"{"subscription":{"external_customer_id":"cus_spec","plan_code":"sandbox_plan","subscription_at":"x"}}"#
                )
            )
            capture("destroySubscription", "", try await client.send("DELETE", "/api/v1/subscriptions/sub_spec"))
            capture("destroySubscription", "missing", try await client.send("DELETE", "/api/v1/subscriptions/sub_spec"))
            capture(
                "createWebhookEndpoint",
                "",
                try await client.post(
                    "/api/v1/webhook_endpoints",
                    #"{"webhook_endpoint":{"webhook_url":"http://127.0.0.1:9/webhooks/lago","signature_algo":"hmac"}}"#
                )
            )
            capture("findAllWebhookEndpoints", "", try await client.get("/api/v1/webhook_endpoints"))
            capture("fetchJsonPublicKey", "", try await client.get("/api/v1/webhooks/json_public_key"))
            // The webhooks the sandbox sends, against the spec's webhook bodies.
            var errors = SandboxWebhooks.EventsErrors()
            errors.invalidCode = ["tx_1"]
            errors.missingAggregationProperty = ["tx_2"]
            let body = SandboxWebhooks.eventsErrorsBody(errors, organizationID: UUID().uuidString.lowercased())
            captures.append([
                "operation_id": "eventsErrors", "status": 200, "label": "webhook body",
                "body": try JSONValue.parse(Data(body)),
            ])
        }
        #expect(captures.count == 32)

        let capturesURL = directory.appendingPathComponent("captures.json")
        try JSONEncoder().encode(JSONValue.array(captures)).write(to: capturesURL)
        let script = Self.interopDirectory.appendingPathComponent("validate_openapi.py").path
        let result = try await runProgram(try #require(Self.python), [script, Self.specPath, capturesURL.path])
        #expect(result.status == 0, "OpenAPI validation failed:\n\(result.output)")
    }

    @Test(
        "the official Python client creates a batch and reads an event back",
        .enabled(
            if: pythonClientAvailable || isCI,
            "skipped: lago_python_client is not importable (pip install lago-python-client==1.55.0; CI=1 makes this a failure)"
        )
    )
    func pythonClientSmoke() async throws {
        try #require(Self.pythonClientAvailable, "lago_python_client is not importable in CI")
        let script = Self.interopDirectory.appendingPathComponent("python_client_smoke.py").path
        try await withSandbox { sandbox, _ in
            let python = try #require(Self.python)
            let baseURL = sandbox.baseURL.absoluteString
            let result = try await runProgram(python, [script, baseURL, testAPIKey])
            #expect(result.status == 0, "python client smoke failed:\n\(result.output)")
            #expect(sandbox.events(subscription: "sub_sandbox").count == 4)
            #expect(sandbox.stats().duplicateAttemptsRejected == 1)
        }
    }
}
