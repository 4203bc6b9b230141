"""Tracing through nginx: workers started with OTEL_EXPORTER_OTLP_ENDPOINT export their spans over OTLP/HTTP (JSON)
to a tiny receiver in this test. A W3C `traceparent` sent to nginx becomes the parent of the worker's HTTP span,
whose child is the JSON-RPC span; a `traceparent` in a tools/call's `_meta` becomes the tool span's parent; and
the worker's log line for the request carries the trace id (swift-otel's logging metadata provider).
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import Stack, wait_until
from mcphttp import PROTOCOL_VERSION, initialize_params, rpc_request


class OTLPReceiver:
    """POST /v1/traces (OTLP/HTTP, JSON encoding) on 127.0.0.1; keeps every span it receives."""

    def __init__(self):
        self.spans: list[dict] = []
        self.requests: list[str] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    receiver.requests.append(f"{self.path} {self.headers.get('Content-Type')}")
                if self.path == "/v1/traces" and (self.headers.get("Content-Type") or "").startswith(
                        "application/json"):
                    payload = json.loads(body)
                    with receiver.lock:
                        for resource in payload.get("resourceSpans", []):
                            for scope in resource.get("scopeSpans", []):
                                receiver.spans.extend(normalize(s) for s in scope.get("spans", []))
                    answer = b"{}"
                    self.send_response(200)
                else:
                    answer = b'{"error":"unsupported"}'
                    self.send_response(415)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):  # keep pytest's output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "OTLPReceiver":
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def of_trace(self, trace_id: str) -> list[dict]:
        with self.lock:
            return [s for s in self.spans if s["traceId"] == trace_id]

    def wait_for(self, trace_id: str, predicate, timeout: float = 10.0) -> list[dict]:
        return wait_until(lambda: (lambda spans: spans if predicate(spans) else None)(self.of_trace(trace_id)),
                          timeout, interval=0.05, what=f"spans of trace {trace_id} (received: {self.summary()})")

    def summary(self) -> str:
        with self.lock:
            return f"{len(self.spans)} spans, requests {self.requests[-3:]}, names {[s['name'] for s in self.spans][-8:]}"


def hex_id(value: str, length: int) -> str:
    """OTLP/JSON writes trace and span ids in hex; accept base64 (the generic protobuf JSON mapping) too."""
    if not value:
        return ""
    if re.fullmatch(rf"[0-9a-fA-F]{{{length}}}", value):
        return value.lower()
    return base64.b64decode(value).hex()


def normalize(span: dict) -> dict:
    span = dict(span)
    span["traceId"] = hex_id(span.get("traceId", ""), 32)
    span["spanId"] = hex_id(span.get("spanId", ""), 16)
    span["parentSpanId"] = hex_id(span.get("parentSpanId", ""), 16)
    return span


def attributes(span: dict) -> dict:
    out = {}
    for a in span.get("attributes", []):
        v = a.get("value", {})
        out[a["key"]] = next(iter(v.values()), None) if v else None
    return out


def traced_stack(receiver: OTLPReceiver, workers: int, batch_delay_ms: int, **env: str) -> Stack:
    """A stack whose workers export their spans as OTLP/HTTP JSON to `receiver`, batched every `batch_delay_ms`."""
    return Stack(workers=workers, extra_env={
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{receiver.port}",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json",
        "OTEL_BSP_SCHEDULE_DELAY": str(batch_delay_ms),
        **env,
    })


@pytest.fixture(scope="module")
def traced():
    with OTLPReceiver() as receiver:
        # OTEL_SDK_DISABLED=false: a valid setting that once made swift-otel bootstrap logging a second time (the
        # worker stopped).
        s = traced_stack(receiver, workers=2, batch_delay_ms=100, OTEL_SDK_DISABLED="false", LOG_LEVEL="debug")
        try:
            s.start()
            yield s, receiver
        finally:
            s.cleanup()


def traceparent() -> tuple[str, str, str]:
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return f"00-{trace_id}-{span_id}-01", trace_id, span_id


def test_traceparent_from_the_request_is_the_parent_of_the_http_span(traced):
    stack, receiver = traced
    header, trace_id, parent = traceparent()
    r = stack.mcp().post(rpc_request("initialize", initialize_params()), extra_headers={"traceparent": header})
    assert r.status == 200, r
    spans = receiver.wait_for(trace_id, lambda spans: {"POST /mcp", "initialize"} <= {s["name"] for s in spans})
    http_span = next(s for s in spans if s["name"] == "POST /mcp")
    assert http_span["parentSpanId"] == parent, http_span
    assert http_span.get("kind") in (2, "SPAN_KIND_SERVER"), http_span
    http_attributes = attributes(http_span)
    assert http_attributes["http.request.method"] == "POST"
    assert http_attributes["http.route"] == "/mcp"
    assert str(http_attributes["http.response.status_code"]) == "200"
    assert re.fullmatch(r"[0-9a-f]{32}", http_attributes["http.request.id"]), http_attributes  # nginx's $request_id
    rpc = next(s for s in spans if s["name"] == "initialize")
    assert rpc["parentSpanId"] == http_span["spanId"], (rpc, http_span)
    assert attributes(rpc)["mcp.method.name"] == "initialize"
    sid = r.header("Mcp-Session-Id")
    assert stack.mcp().delete(sid).status == 200


def test_traceparent_in_meta_is_the_parent_of_the_tool_span(traced):
    stack, receiver = traced
    mcp = stack.mcp()
    sid = mcp.open_session()
    meta_header, meta_trace, meta_parent = traceparent()
    http_header, http_trace, _ = traceparent()
    r = mcp.post(rpc_request("tools/call", {"name": "echo", "arguments": {"text": "traced"},
                                            "_meta": {"traceparent": meta_header}}, 7),
                 session_id=sid, protocol_version=PROTOCOL_VERSION, extra_headers={"traceparent": http_header})
    assert r.status == 200 and r.json()["result"]["content"][0]["text"] == "traced", r
    spans = receiver.wait_for(meta_trace, lambda spans: any(s["name"] == "tools/call echo" for s in spans))
    tool = next(s for s in spans if s["name"] == "tools/call echo")
    assert tool["parentSpanId"] == meta_parent, tool
    assert attributes(tool)["gen_ai.tool.name"] == "echo"
    # The HTTP span stays in the trace of the request's header.
    receiver.wait_for(http_trace, lambda spans: any(s["name"] == "POST /mcp" for s in spans))
    assert mcp.delete(sid).status == 200


def test_the_log_line_of_the_request_carries_the_trace_id(traced):
    stack, receiver = traced
    header, trace_id, _ = traceparent()
    r = stack.get("/health", headers={"traceparent": header})
    assert r.status == 200, r
    # LOG_LEVEL=debug: the worker logs "GET /health → 200" inside the request's span.
    wait_until(lambda: any(trace_id in line and "/health" in line for line in stack.log().splitlines()), 10,
               interval=0.05, what="a log line with the trace id")
    line = next(line for line in stack.log().splitlines() if trace_id in line and "/health" in line)
    assert f"trace_id={trace_id}" in line and "http.request.id=" in line, line
    receiver.wait_for(trace_id, lambda spans: any(s["name"] == "GET /health" for s in spans))


def test_tracing_is_off_without_an_endpoint(traced, stack):
    # The default stack has no OTEL_* variables: nothing is bootstrapped (the traced stack says it is on).
    traced_stack, _ = traced
    assert "tracing on: spans exported over OTLP" in traced_stack.log()
    assert stack.get("/health").status == 200
    assert "tracing on" not in stack.log()


def test_spans_still_buffered_when_a_worker_stops_are_flushed():
    # A batch delay of 10 minutes: nothing is exported while the stack runs; the spans of the request reach the
    # receiver only because the worker flushes its exporter when it drains (SIGTERM from run.sh's stop).
    with OTLPReceiver() as receiver:
        s = traced_stack(receiver, workers=1, batch_delay_ms=600_000)
        try:
            s.start()
            header, trace_id, parent = traceparent()
            assert s.get("/health", headers={"traceparent": header}).status == 200
            # Give a mistaken exporter time to send early: it must not have.
            time.sleep(1.0)
            assert receiver.of_trace(trace_id) == [], receiver.summary()
            s.stop()
            spans = receiver.wait_for(trace_id, lambda spans: any(x["name"] == "GET /health" for x in spans))
            assert next(x for x in spans if x["name"] == "GET /health")["parentSpanId"] == parent
        finally:
            s.cleanup()
