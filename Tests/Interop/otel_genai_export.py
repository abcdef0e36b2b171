#!/usr/bin/env python3
"""An app instrumented with the OpenTelemetry Python SDK, unmodified, exporting GenAI spans to a Lago Console relay.

Usage: otel_genai_export.py RELAY_URL TOKEN PREFIX COUNT
  RELAY_URL: the relay's base URL, e.g. http://127.0.0.1:8787/api/v1 (the origin alone also works); the SDK's
  OTLP/HTTP protobuf exporter posts to its /v1/traces.
  TOKEN: the relay token, sent as `Authorization: Bearer TOKEN` (OTEL_EXPORTER_OTLP_HEADERS would do the same).
  PREFIX, COUNT: COUNT Anthropic-style chat spans with the response ids PREFIX-0 … PREFIX-(COUNT-1), each with
  one `execute_tool` child span, ending at 1764000000 s + index ms. Usage per chat span, in the attributes of the
  semantic-conventions registry v1.44.0 (as the README gives): input_tokens 1500, of which cache_read 1000 and
  cache_creation 200; output_tokens 320.

Exits 0 when every span was exported (the relay answered 200), 1 otherwise; 2 when the SDK is not installed.
"""
import sys

from relay_arguments import relay_arguments

try:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExportResult
    from opentelemetry.trace import SpanKind, set_span_in_context
except ImportError as error:  # pragma: no cover - reported to the Swift test
    print(f"the OpenTelemetry SDK is not importable: {error}")
    sys.exit(2)


class RecordingExporter(OTLPSpanExporter):
    """The SDK's exporter, remembering whether every export succeeded."""

    failures = 0

    def export(self, spans):
        result = super().export(spans)
        if result is not SpanExportResult.SUCCESS:
            RecordingExporter.failures += 1
        return result


def main() -> None:
    origin, token, prefix, count = relay_arguments(__doc__)
    exporter = RecordingExporter(
        endpoint=origin + "/v1/traces", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    provider = TracerProvider(resource=Resource.create({"service.name": "otel-genai-interop"}))
    # One export of everything at the end (the batch processor's default would split at 512 spans).
    provider.add_span_processor(
        BatchSpanProcessor(exporter, max_queue_size=4096, max_export_batch_size=4096, schedule_delay_millis=60_000)
    )
    tracer = provider.get_tracer("otel-genai-interop")
    base = 1_764_000_000 * 10**9
    for index in range(count):
        end = base + index * 10**6
        chat = tracer.start_span(
            "chat claude-sonnet-4-20250514",
            kind=SpanKind.CLIENT,
            start_time=end - 900 * 10**6,
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "anthropic",
                "gen_ai.request.model": "claude-sonnet-4",
                "gen_ai.response.model": "claude-sonnet-4-20250514",
                "gen_ai.response.id": f"{prefix}-{index}",
                "gen_ai.usage.input_tokens": 1500,
                "gen_ai.usage.cache_read.input_tokens": 1000,
                "gen_ai.usage.cache_creation.input_tokens": 200,
                "gen_ai.usage.output_tokens": 320,
            },
        )
        tool = tracer.start_span(
            "execute_tool get_weather",
            context=set_span_in_context(chat),
            kind=SpanKind.INTERNAL,
            start_time=end - 500 * 10**6,
            attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "get_weather"},
        )
        tool.end(end_time=end - 400 * 10**6)
        chat.end(end_time=end)
    flushed = provider.force_flush(timeout_millis=60_000)
    provider.shutdown()
    if not flushed or RecordingExporter.failures:
        print(f"otel export: FAILED (flushed={flushed}, failed exports={RecordingExporter.failures})")
        sys.exit(1)
    print(f"otel export: exported {count} chat spans and {count} tool spans")


if __name__ == "__main__":
    main()
