#!/usr/bin/env python3
"""Smoke test of the official Lago Python client (lago-python-client 1.55) against a running Lago Console sandbox.

Usage: python_client_smoke.py BASE_URL API_KEY
  BASE_URL: the sandbox's base URL, e.g. http://127.0.0.1:3000/api/v1 (the origin alone also works).

Creates a batch, reads an event back, creates a single event, checks that a replay is rejected with 422
value_already_exist, and reads a billable metric and the current usage through the client's models.
Exits 0 on success, 1 with a message otherwise; 2 when the client library is not installed.
"""
import sys
import uuid

try:
    from lago_python_client.client import Client
    from lago_python_client.exceptions import LagoApiError
    from lago_python_client.models.event import BatchEvent, Event
except ImportError as error:  # pragma: no cover - reported to the Swift test
    print(f"lago_python_client is not importable: {error}")
    sys.exit(2)


def fail(message: str) -> None:
    print(f"python-client smoke: FAILED: {message}")
    sys.exit(1)


def main() -> None:
    if len(sys.argv) != 3:
        print(__doc__)
        sys.exit(64)
    base_url, api_key = sys.argv[1], sys.argv[2]
    origin = base_url.rstrip("/")
    if origin.endswith("/api/v1"):
        origin = origin[: -len("/api/v1")]
    client = Client(api_key=api_key, api_url=origin + "/", max_retries=0)
    run = uuid.uuid4().hex[:8]
    subscription = "sub_sandbox"

    events = [
        Event(
            transaction_id=f"py-{run}-{index}",
            external_subscription_id=subscription,
            code="llm_input_tokens",
            timestamp=1651240791 + index,
            properties={"value": 10 * (index + 1)},
        )
        for index in range(3)
    ]
    client.events.batch_create(BatchEvent(events=events))  # returns None; raises on a non-2xx answer

    found = client.events.find(f"py-{run}-1")
    if found.transaction_id != f"py-{run}-1" or found.code != "llm_input_tokens":
        fail(f"unexpected event read back: {found}")
    if found.timestamp != "2022-04-29T13:59:52.000Z":
        fail(f"unexpected timestamp {found.timestamp!r}")
    if found.properties != {"value": 20} or found.external_subscription_id != subscription:
        fail(f"unexpected properties or subscription: {found}")
    if found.lago_customer_id is not None or found.lago_subscription_id is not None:
        fail("lago_customer_id / lago_subscription_id should be null")

    single = Event(
        transaction_id=f"py-{run}-single",
        external_subscription_id=subscription,
        code="llm_output_tokens",
        timestamp="1651240791.5",
        precise_total_amount_cents="12.30",
        properties={"value": 7},
    )
    created = client.events.create(single)
    if created is None or created.timestamp != "2022-04-29T13:59:51.500Z" or created.precise_total_amount_cents != "12.3":
        fail(f"unexpected created event: {created}")

    try:
        client.events.create(single)
        fail("a replayed transaction_id was accepted")
    except LagoApiError as error:
        if error.status_code != 422 or "value_already_exist" not in str(error.response):
            fail(f"unexpected replay error: {error.status_code} {error.response}")

    metric = client.billable_metrics.find("llm_input_tokens")
    if metric.code != "llm_input_tokens" or metric.aggregation_type != "sum_agg" or metric.field_name != "value":
        fail(f"unexpected billable metric: {metric}")

    usage = client.customers.current_usage("cus_sandbox", subscription)
    codes = [charge.billable_metric.code for charge in usage.charges_usage]
    if "llm_input_tokens" not in codes:
        fail(f"current usage lacks llm_input_tokens: {codes}")

    print(f"python-client smoke: ok (batch of {len(events)}, find, create, 422 replay, metric, current usage)")


if __name__ == "__main__":
    main()
