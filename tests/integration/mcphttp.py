"""Small raw-HTTP helpers for the integration tests (stdlib http.client, no hidden headers or retries).

Everything goes through nginx on 127.0.0.1, exactly as a client on the network would see it.
"""

from __future__ import annotations

import http.client
import json
import re
import ssl
from dataclasses import dataclass
from typing import Any

HOST = "127.0.0.1"
ACCEPT_BOTH = "application/json, text/event-stream"
PROTOCOL_VERSION = "2025-11-25"
SESSION_ID_RE = re.compile(r"^w(?P<node>[0-9]+)\.(?P<rand>[A-Za-z0-9_-]{8,})$")

#: The fixture constants of /work/shared/FIXTURES.md.
IMG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
WAV = "UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA="

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def header_values(self, name: str) -> list[str]:
        return self.headers.get_all(name) or []

    def json(self) -> Any:
        """The JSON body, or for an SSE answer the JSON-RPC response it ends with."""
        assert self.body, f"expected a JSON body, got an empty body (status {self.status})"
        if (self.header("Content-Type") or "").startswith("text/event-stream"):
            return rpc_response_from_sse(self.body)
        return json.loads(self.body)

    def events(self) -> list[dict]:
        """The SSE events of the body: [{"id": …, "retry": …, "data": <parsed JSON or None>}]."""
        return parse_sse(self.body)

    def __repr__(self) -> str:  # readable assertion messages
        return f"<HTTP {self.status} {dict(self.headers.items())} {self.body[:300]!r}>"


def parse_sse(body: bytes) -> list[dict]:
    """Splits a text/event-stream body into events; comments (': ping') are skipped."""
    events = []
    for block in body.decode().split("\n\n"):
        event: dict = {}
        data_lines = []
        for line in block.split("\n"):
            if not line or line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "data":
                data_lines.append(value)
            else:
                event[name] = value
        if data_lines:
            data = "\n".join(data_lines)
            event["data"] = json.loads(data) if data else None
        if event:
            events.append(event)
    return events


def rpc_response_from_sse(body: bytes | str) -> Any:
    """The JSON-RPC response (a message with "result" or "error") an SSE answer ends with."""
    raw = body.encode() if isinstance(body, str) else body
    responses = [e["data"] for e in parse_sse(raw)
                 if isinstance(e.get("data"), dict) and ("result" in e["data"] or "error" in e["data"])]
    assert responses, f"no JSON-RPC response in the event stream: {raw[:300]!r}"
    return responses[-1]


def request(
    port: int,
    method: str,
    path: str,
    body: bytes | str | None = None,
    headers: dict[str, str] | None = None,
    tls: bool = False,
    timeout: float = 15,
) -> Response:
    """One request on a fresh connection; returns status, headers and the whole body."""
    if tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE  # run.sh makes a self-signed pair
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(HOST, port, timeout=timeout, context=ctx)
    else:
        conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        if isinstance(body, str):
            body = body.encode()
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        return Response(r.status, r.headers, data)
    finally:
        conn.close()


def rpc_request(method: str, params: dict | None = None, id: Any = 1) -> dict:
    msg: dict[str, Any] = {"jsonrpc": "2.0", "id": id, "method": method}
    if params is not None:
        msg["params"] = params
    return msg


def initialize_params(protocol_version: str = PROTOCOL_VERSION) -> dict:
    return {
        "protocolVersion": protocol_version,
        "capabilities": {},
        "clientInfo": {"name": "mcpfcgi-integration-tests", "version": "1.0"},
    }


class MCPHTTP:
    """Raw Streamable HTTP client for POST/DELETE /mcp through nginx."""

    def __init__(self, port: int, tls: bool = False):
        self.port = port
        self.tls = tls

    def post(
        self,
        message: Any = None,
        *,
        raw: bytes | str | None = None,
        session_id: str | None = None,
        content_type: str | None = "application/json",
        accept: str | None = ACCEPT_BOTH,
        protocol_version: str | None = None,
        extra_headers: dict[str, str] | None = None,
        timeout: float = 15,
    ) -> Response:
        headers: dict[str, str] = {}
        if content_type is not None:
            headers["Content-Type"] = content_type
        if accept is not None:
            headers["Accept"] = accept
        if session_id is not None:
            headers["Mcp-Session-Id"] = session_id
        if protocol_version is not None:
            headers["MCP-Protocol-Version"] = protocol_version
        headers.update(extra_headers or {})
        body = raw if raw is not None else json.dumps(message, ensure_ascii=False).encode()
        return request(self.port, "POST", "/mcp", body, headers, tls=self.tls, timeout=timeout)

    def delete(self, session_id: str | None, extra_headers: dict[str, str] | None = None) -> Response:
        headers = dict(extra_headers or {})
        if session_id is not None:
            headers["Mcp-Session-Id"] = session_id
        return request(self.port, "DELETE", "/mcp", None, headers, tls=self.tls)

    def initialize(self, protocol_version: str = PROTOCOL_VERSION, id: Any = 1) -> Response:
        return self.post(rpc_request("initialize", initialize_params(protocol_version), id))

    def open_session(self) -> str:
        """initialize + notifications/initialized; returns the Mcp-Session-Id."""
        r = self.initialize()
        assert r.status == 200, r
        sid = r.header("Mcp-Session-Id")
        assert sid and SESSION_ID_RE.match(sid), r
        n = self.post({"jsonrpc": "2.0", "method": "notifications/initialized"}, session_id=sid,
                      protocol_version=PROTOCOL_VERSION)
        assert n.status == 202, n
        return sid

    def call(self, session_id: str, method: str, params: dict | None = None, id: Any = 1, **kw: Any) -> Response:
        kw.setdefault("protocol_version", PROTOCOL_VERSION)
        return self.post(rpc_request(method, params, id), session_id=session_id, **kw)

    def call_tool(self, session_id: str, name: str, arguments: dict | None = None, id: Any = 1,
                  **kw: Any) -> Response:
        return self.call(session_id, "tools/call", {"name": name, "arguments": arguments or {}}, id, **kw)
