#!/usr/bin/env python3
"""The official Lago Python client (lago-python-client 1.55), unmodified, posting to a Lago Console relay.

Usage: relay_client.py RELAY_URL TOKEN PREFIX COUNT
  RELAY_URL: the relay's base URL, e.g. http://127.0.0.1:8787/api/v1 (the origin alone also works).
  TOKEN: the relay token the client sends as its API key.
  PREFIX, COUNT: events PREFIX-0 … PREFIX-(COUNT-1) are sent in batches of 100, the last one alone through
  events.create.

Exits 0 when the client raised no error, 1 with a message otherwise; 2 when the client library is not installed.
"""
import sys

from relay_arguments import relay_arguments

try:
    from lago_python_client.client import Client
    from lago_python_client.models.event import BatchEvent, Event
except ImportError as error:  # pragma: no cover - reported to the Swift test
    print(f"lago_python_client is not importable: {error}")
    sys.exit(2)


def main() -> None:
    origin, token, prefix, count = relay_arguments(__doc__)
    client = Client(api_key=token, api_url=origin + "/", max_retries=0)
    events = [
        Event(
            transaction_id=f"{prefix}-{index}",
            external_subscription_id="sub_sandbox",
            code="llm_input_tokens",
            properties={"value": index + 1},
        )
        for index in range(count)
    ]
    try:
        batched, last = events[:-1], events[-1]
        for start in range(0, len(batched), 100):
            client.events.batch_create(BatchEvent(events=batched[start : start + 100]))
        client.events.create(last)
    except Exception as error:  # the client raises LagoApiError on any non-2xx answer
        print(f"relay client: FAILED: {error}")
        sys.exit(1)
    print(f"relay client: sent {count} events")


if __name__ == "__main__":
    main()
