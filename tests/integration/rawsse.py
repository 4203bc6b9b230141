"""Incremental raw-socket HTTP/1.1 client for Server-Sent Events through nginx.

``http.client`` reads a response as a whole (or hides the socket); the streaming tests need to see each
event the moment it arrives, to cut the connection at a chosen point, and to hold hundreds of streams
open at once. ``SSEStream`` speaks just enough HTTP/1.1 for that: it sends one request, parses the head,
decodes a chunked (or length-delimited, or close-delimited) body as it arrives and splits it into SSE
events, each stamped with its arrival time (time.monotonic()).
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
from email.message import Message
from pathlib import Path
from typing import Any

from mcphttp import ACCEPT_BOTH, HOST, MCPHTTP, PROTOCOL_VERSION, initialize_params, rpc_request


class StreamClosed(Exception):
    """The body ended (or the connection closed) before the awaited event."""


class SSEStream:
    """One HTTP request on its own TCP connection whose response is read incrementally."""

    def __init__(self, port: int, method: str, path: str = "/mcp", headers: dict[str, str] | None = None,
                 body: bytes | str | None = None, timeout: float = 10.0, connect: bool = True):
        self.port = port
        self.method = method
        self.path = path
        self.headers = dict(headers or {})
        self.body = body.encode() if isinstance(body, str) else (body or b"")
        self.timeout = timeout
        self.sock: socket.socket | None = None
        self.status: int | None = None
        self.response_headers = Message()
        self.sent_at: float | None = None
        self.head_at: float | None = None
        self._raw = b""          # bytes received but not yet decoded
        self._body = b""         # decoded body bytes not yet split into events
        self._mode = "?"         # "chunked", "length", "close"
        self._remaining = 0      # bytes left of the current chunk / of a Content-Length body
        self._chunk_state = "size"
        self.body_done = False   # the body's end was seen (last chunk, Content-Length reached, or EOF)
        self.eof = False         # the peer closed the connection
        self.comments: list[tuple[str, float]] = []
        if connect:
            self.open()

    # -- sending ---------------------------------------------------------------------------------------
    def open(self) -> "SSEStream":
        self.sock = socket.create_connection((HOST, self.port), timeout=self.timeout)
        lines = [f"{self.method} {self.path} HTTP/1.1", f"Host: {HOST}:{self.port}"]
        for name, value in self.headers.items():
            lines.append(f"{name}: {value}")
        if self.body or self.method in ("POST", "PUT"):
            lines.append(f"Content-Length: {len(self.body)}")
        data = ("\r\n".join(lines) + "\r\n\r\n").encode() + self.body
        self.sent_at = time.monotonic()
        self.sock.sendall(data)
        return self

    # -- receiving -------------------------------------------------------------------------------------
    def _recv(self, deadline: float) -> bool:
        """Reads more bytes; False at EOF. Raises TimeoutError past the deadline."""
        assert self.sock is not None
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"{self.method} {self.path}: nothing more within the time limit")
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError(f"{self.method} {self.path}: nothing more within the time limit") from None
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
            return False
        self._raw += data
        return True

    def read_head(self, timeout: float | None = None) -> "SSEStream":
        if self.status is not None:
            return self
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while b"\r\n\r\n" not in self._raw:
            if not self._recv(deadline):
                raise StreamClosed(f"connection closed before the response head: {self._raw[:200]!r}")
        self.head_at = time.monotonic()
        head, self._raw = self._raw.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        for line in lines[1:]:
            name, _, value = line.partition(":")
            self.response_headers[name.strip()] = value.strip()
        te = (self.response_headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            self._mode = "chunked"
        elif self.response_headers.get("Content-Length") is not None:
            self._mode = "length"
            self._remaining = int(self.response_headers["Content-Length"])
            if self._remaining == 0:
                self.body_done = True
        else:
            self._mode = "close"
        self._decode()
        return self

    def header(self, name: str) -> str | None:
        return self.response_headers.get(name)

    def header_values(self, name: str) -> list[str]:
        return self.response_headers.get_all(name) or []

    def _decode(self) -> None:
        if self._mode == "close":
            self._body += self._raw
            self._raw = b""
            return
        if self._mode == "length":
            take = self._raw[: self._remaining]
            self._body += take
            self._raw = self._raw[len(take):]
            self._remaining -= len(take)
            if self._remaining == 0:
                self.body_done = True
            return
        while not self.body_done:
            if self._chunk_state == "size":
                if b"\r\n" not in self._raw:
                    return
                line, self._raw = self._raw.split(b"\r\n", 1)
                size = int(line.split(b";")[0].strip(), 16)
                if size == 0:
                    self._chunk_state = "trailer"
                else:
                    self._remaining = size
                    self._chunk_state = "data"
            elif self._chunk_state == "data":
                take = self._raw[: self._remaining]
                self._body += take
                self._raw = self._raw[len(take):]
                self._remaining -= len(take)
                if self._remaining:
                    return
                self._chunk_state = "crlf"
            elif self._chunk_state == "crlf":
                if len(self._raw) < 2:
                    return
                assert self._raw[:2] == b"\r\n", f"bad chunk framing: {self._raw[:20]!r}"
                self._raw = self._raw[2:]
                self._chunk_state = "size"
            elif self._chunk_state == "trailer":
                if not self._raw.startswith(b"\r\n") and b"\r\n\r\n" not in self._raw:
                    return
                self.body_done = True

    def _more(self, deadline: float) -> bool:
        """Decodes more body; False when the body (or the connection) ended."""
        if self.body_done:
            return False
        if not self._recv(deadline):
            if self._mode == "close":
                self.body_done = True
            return False
        self._decode()
        return True

    def next_event(self, timeout: float | None = None, comments: bool = False) -> dict:
        """The next SSE event: {"id", "retry", "data" (parsed JSON, None when empty), "t"} (and
        {"comment": text, "t"} for comment lines when ``comments``). Raises StreamClosed at the end of
        the body, TimeoutError when nothing arrives in time."""
        self.read_head(timeout)
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            normalized = self._body.replace(b"\r\n", b"\n")
            if b"\n\n" in normalized:
                block, rest = normalized.split(b"\n\n", 1)
                self._body = rest
                event = self._parse_block(block.decode())
                if event is None:
                    continue
                if "comment" in event and not comments:
                    continue
                return event
            if not self._more(deadline):
                raise StreamClosed(
                    f"the stream ended (eof={self.eof}, body_done={self.body_done}); left over: {self._body[:200]!r}")

    def _parse_block(self, block: str) -> dict | None:
        now = time.monotonic()
        event: dict[str, Any] = {}
        data_lines = []
        comment_lines = []
        for line in block.split("\n"):
            if not line:
                continue
            if line.startswith(":"):
                comment_lines.append(line[1:].strip())
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "data":
                data_lines.append(value)
            else:
                event[name] = value
        for c in comment_lines:
            self.comments.append((c, now))
        if not event and not data_lines:
            return {"comment": "\n".join(comment_lines), "t": now} if comment_lines else None
        if data_lines:
            data = "\n".join(data_lines)
            event["data"] = json.loads(data) if data else None
        else:
            event["data"] = None
        event["t"] = now
        return event

    def events_until_end(self, timeout: float | None = None) -> list[dict]:
        """Every remaining event until the body ends (raises TimeoutError when it does not end in time)."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        out = []
        while True:
            try:
                out.append(self.next_event(timeout=max(0.001, deadline - time.monotonic())))
            except StreamClosed:
                return out

    def read_body(self, timeout: float | None = None) -> bytes:
        """The rest of the body as bytes (for non-SSE answers)."""
        self.read_head(timeout)
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while self._more(deadline):
            pass
        body, self._body = self._body, b""
        return body

    def json(self, timeout: float | None = None) -> Any:
        return json.loads(self.read_body(timeout))

    def wait_closed(self, timeout: float) -> float:
        """Waits until the server ends the body or closes the connection; returns when (monotonic).
        Data events arriving meanwhile are an error."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                event = self.next_event(timeout=max(0.001, deadline - time.monotonic()))
            except StreamClosed:
                return time.monotonic()
            raise AssertionError(f"unexpected event while waiting for the stream to end: {event}")

    def close(self) -> None:
        """Drops the connection at once (as a client that goes away does)."""
        if self.sock is not None:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.sock.close()
            self.sock = None

    def __enter__(self) -> "SSEStream":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def mcp_headers(session_id: str | None = None, accept: str = ACCEPT_BOTH, protocol_version: str | None = PROTOCOL_VERSION,
                extra: dict[str, str] | None = None) -> dict[str, str]:
    h = {"Accept": accept}
    if session_id is not None:
        h["Mcp-Session-Id"] = session_id
    if protocol_version is not None and session_id is not None:
        h["MCP-Protocol-Version"] = protocol_version
    h.update(extra or {})
    return h


def post_stream(port: int, session_id: str, message: Any, accept: str = ACCEPT_BOTH, timeout: float = 10.0,
                extra: dict[str, str] | None = None) -> SSEStream:
    """POSTs one JSON-RPC message and returns the response, ready to be read incrementally."""
    headers = mcp_headers(session_id, accept, extra=extra)
    headers["Content-Type"] = "application/json"
    return SSEStream(port, "POST", "/mcp", headers, json.dumps(message, ensure_ascii=False), timeout=timeout)


def call_tool_stream(port: int, session_id: str, name: str, arguments: dict | None = None, id: Any = 1,
                     **kw: Any) -> SSEStream:
    return post_stream(port, session_id, rpc_request("tools/call", {"name": name, "arguments": arguments or {}}, id),
                       **kw)


def get_stream(port: int, session_id: str | None, last_event_id: str | None = None, accept: str = "text/event-stream",
               timeout: float = 10.0, extra: dict[str, str] | None = None) -> SSEStream:
    """GET /mcp: a standalone stream, or the resumption of a stream with Last-Event-ID."""
    headers = mcp_headers(session_id, accept, extra=extra)
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    return SSEStream(port, "GET", "/mcp", headers, timeout=timeout)


def is_priming(event: dict, stream: int | None = None, sequence: int | None = None) -> bool:
    """An event with an id and retry: 1000 and empty data."""
    if event.get("data") is not None or event.get("retry") != "1000" or "id" not in event:
        return False
    s, _, n = event["id"].partition("-")
    if stream is not None and s != str(stream):
        return False
    return sequence is None or n == str(sequence)


def event_id(event: dict) -> tuple[int, int]:
    """(stream, sequence) of an event id ``<stream>-<n>``."""
    s, sep, n = event["id"].partition("-")
    assert sep and s.isdigit() and n.isdigit(), event
    return int(s), int(n)


def socket_connections(sock: Path) -> int:
    """Connections the worker has accepted on its unix socket (ESTAB, local address = the socket path)."""
    out = subprocess.run(["ss", "-xanH"], capture_output=True, text=True, timeout=5).stdout
    n = 0
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 5 and f[4] == str(sock) and f[1] == "ESTAB":
            n += 1
    return n


# -- MCP-level helpers -----------------------------------------------------------------------------


def open_session(mcp: MCPHTTP, capabilities: dict | None = None, version: str = PROTOCOL_VERSION) -> str:
    params = initialize_params(version)
    params["capabilities"] = capabilities or {}
    r = mcp.post(rpc_request("initialize", params, 1))
    assert r.status == 200, r
    sid = r.header("Mcp-Session-Id")
    assert sid, r
    n = mcp.post({"jsonrpc": "2.0", "method": "notifications/initialized"}, session_id=sid,
                 protocol_version=version)
    assert n.status == 202, n
    return sid


def node_of(sid: str) -> int:
    return int(sid.split(".", 1)[0][1:])


def sampling_answer(request_id, text: str) -> dict:
    return {"jsonrpc": "2.0", "id": request_id,
            "result": {"role": "assistant", "content": {"type": "text", "text": text}, "model": "m",
                       "stopReason": "endTurn"}}


def log_data(event: dict) -> str:
    d = event["data"]
    assert d["method"] == "notifications/message" and d["params"]["level"] == "info", event
    return d["params"]["data"]


def result_text(event: dict, rid) -> str:
    d = event["data"]
    assert d.get("id") == rid and "result" in d, event
    content = d["result"]["content"]
    assert len(content) == 1 and content[0]["type"] == "text", d
    return content[0]["text"]
