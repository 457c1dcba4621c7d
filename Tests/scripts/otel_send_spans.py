"""Sends spans with the real OpenTelemetry Python SDK and its OTLP/HTTP protobuf exporter (gzip) to ENDPOINT, then
prints the spans it sent as JSON (ids in hex, times in ns, status, attributes) for the test to compare.

Usage: otel_send_spans.py ENDPOINT [TOKEN]   (ENDPOINT like http://127.0.0.1:4318/v1/traces)
Exit 0 when the exporter reported success, 1 when it did not.
"""
import json
import sys

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

endpoint = sys.argv[1]
headers = {"Authorization": "Bearer " + sys.argv[2]} if len(sys.argv) > 2 else None

memory = InMemorySpanExporter()
provider = TracerProvider(resource=Resource.create({"service.name": "python-peer", "service.version": "1.2.3"}))
provider.add_span_processor(SimpleSpanProcessor(memory))
tracer = provider.get_tracer("peer.scope", "0.9.1")

with tracer.start_as_current_span("invoke_agent helpdesk", kind=trace.SpanKind.INTERNAL) as root:
    root.set_attribute("gen_ai.operation.name", "invoke_agent")
    root.set_attribute("gen_ai.agent.name", "helpdesk")
    root.set_attribute("flag", True)
    root.set_attribute("ratio", 0.25)
    root.set_attribute("tags", ["a", "b"])
    with tracer.start_as_current_span("chat gpt-4o-mini", kind=trace.SpanKind.CLIENT) as chat:
        chat.set_attribute("gen_ai.operation.name", "chat")
        chat.set_attribute("gen_ai.request.model", "gpt-4o-mini")
        chat.set_attribute("gen_ai.usage.input_tokens", 321)
        chat.set_attribute("gen_ai.usage.output_tokens", 45)
        chat.add_event("first_token", {"latency_ms": 120})
        chat.set_status(Status(StatusCode.OK))
    with tracer.start_as_current_span("execute_tool reset_password") as tool:
        tool.set_attribute("gen_ai.operation.name", "execute_tool")
        tool.set_attribute("gen_ai.tool.name", "reset_password")
        tool.set_attribute("attempts", 3)
        tool.set_status(Status(StatusCode.ERROR, "user not found"))

spans = memory.get_finished_spans()
exporter = OTLPSpanExporter(endpoint=endpoint, compression=Compression.Gzip, headers=headers, timeout=10)
result = exporter.export(spans)
out = []
for s in spans:
    out.append({
        "trace_id": format(s.context.trace_id, "032x"),
        "span_id": format(s.context.span_id, "016x"),
        "parent_span_id": format(s.parent.span_id, "016x") if s.parent else "",
        "name": s.name,
        "start": s.start_time,
        "end": s.end_time,
        "status": s.status.status_code.name,
        "status_message": s.status.description or "",
        "attributes": {k: (list(v) if isinstance(v, tuple) else v) for k, v in s.attributes.items()},
    })
print(json.dumps({"result": result.name, "spans": out}))
sys.exit(0 if result == SpanExportResult.SUCCESS else 1)
