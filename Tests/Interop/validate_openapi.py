#!/usr/bin/env python3
"""Validate captured Lago Console sandbox responses against Lago's OpenAPI spec (response schemas).

Usage: validate_openapi.py SPEC_YAML CAPTURES_JSON

CAPTURES_JSON is a list of {"operation_id": "createEvent", "status": 200, "label": "...", "body": {...}} written
by the Swift test. For each capture the response schema of (operationId, status) is looked up in the spec (for a
webhook's operationId, such as eventsErrors, the schema of the body Lago posts)
(following $refs into components/responses and components/schemas) and the body is validated with
openapi-schema-validator (OpenAPI 3.1) when installed, else jsonschema's Draft 2020-12 validator.

Known differences between the spec and the real server are listed in KNOWN_SPEC_DEVIATIONS; errors matching one
are reported but do not fail. Exit 0 when every capture validates, 1 otherwise, 2 on a usage error.
The spec is read from where it lies; nothing of it is copied.
"""
import json
import re
import sys

import yaml

try:
    from openapi_schema_validator import OAS31Validator as Validator
except ImportError:  # pragma: no cover
    from jsonschema import Draft202012Validator as Validator

# (operationId regex, instance path regex, reason). Paths are "/"-joined JSON paths of the failing value.
KNOWN_SPEC_DEVIATIONS = [
    (
        r".*BillableMetric.*",
        r"^(billable_metric|billable_metrics/\d+)/expression$",
        "Lago's BillableMetricSerializer returns expression: null when unset (facts §3.3); the spec says string",
    ),
    (
        r"findAllSubscriptions|createSubscription|destroySubscription",
        r"^(subscription|subscriptions/\d+)/payment_method/payment_method_id$",
        "SubscriptionSerializer returns payment_method_id: null without a payment method; the spec says string",
    ),
    (
        r"findAllSubscriptions|createSubscription|destroySubscription",
        r"^(subscription|subscriptions/\d+)/(on_termination_credit_note|cancellation_reason)$",
        "the spec types these [string, null] but its enum omits null, which Lago returns when they are unset",
    ),
    (
        r"createEvent|createBatchEvents|findEvent|findAllEvents",
        r"^(event|events/\d+)/properties/.+$",
        "the spec's oneOf [string, integer, number] matches an integer twice (so every integer property fails "
        "oneOf); also, properties are echoed as sent and may hold nested objects or booleans",
    ),
]


def fail_usage(message):
    print(message)
    sys.exit(2)


def response_schema(spec, operation_id, status):
    for path_item in spec.get("paths", {}).values():
        for method, operation in path_item.items():
            if not isinstance(operation, dict) or operation.get("operationId") != operation_id:
                continue
            responses = operation.get("responses", {})
            response = responses.get(str(status)) or responses.get(status)
            if response is None:
                return None, f"{operation_id} documents no {status} response"
            while "$ref" in response:
                name = response["$ref"].split("/")[-1]
                response = spec["components"]["responses"][name]
            schema = response.get("content", {}).get("application/json", {}).get("schema")
            if schema is None:
                return None, f"{operation_id} {status} has no JSON schema"
            return schema, None
    # A webhook Lago sends (the spec's `webhooks`): its request body is what is validated.
    for path_item in spec.get("webhooks", {}).values():
        for method, operation in path_item.items():
            if not isinstance(operation, dict) or operation.get("operationId") != operation_id:
                continue
            schema = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            if schema is None:
                return None, f"webhook {operation_id} has no JSON body schema"
            return schema, None
    return None, f"operationId {operation_id} not in the spec"


def main():
    if len(sys.argv) != 3:
        fail_usage(__doc__)
    with open(sys.argv[1], encoding="utf-8") as handle:
        spec = yaml.safe_load(handle)
    with open(sys.argv[2], encoding="utf-8") as handle:
        captures = json.load(handle)

    failures = 0
    for capture in captures:
        operation_id, status = capture["operation_id"], capture["status"]
        label = f"{operation_id} {status} {capture.get('label', '')}".strip()
        schema, problem = response_schema(spec, operation_id, status)
        if schema is None:
            print(f"FAIL {label}: {problem}")
            failures += 1
            continue
        # Put the spec's components beside the schema so '#/components/...' refs resolve in one document.
        root = dict(schema)
        root["components"] = spec["components"]
        validator = Validator(root)
        real_errors = []
        for error in validator.iter_errors(capture["body"]):
            path = "/".join(str(part) for part in error.absolute_path)
            known = next(
                (reason for op, pattern, reason in KNOWN_SPEC_DEVIATIONS
                 if re.fullmatch(op, operation_id) and re.match(pattern, path)),
                None,
            )
            if known:
                print(f"note {label}: {path}: {error.message} (known deviation: {known})")
            else:
                real_errors.append(f"{path or '<root>'}: {error.message}")
        if real_errors:
            failures += 1
            print(f"FAIL {label}")
            for line in real_errors[:20]:
                print(f"    {line}")
        else:
            print(f"ok   {label}")
    print(f"openapi validation: {len(captures) - failures} ok, {failures} failing")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
