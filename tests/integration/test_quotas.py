"""Session quotas and stream limits per client address, through nginx (issue #14, items 5 and 6).

A private stack (WORKERS=2, SESSIONS_PER_ADDRESS=5, STREAMS_PER_ADDRESS=3). Two client addresses on one machine:
127.0.0.1 and 127.0.0.2 (the client socket is bound to the second before it connects to nginx on 127.0.0.1);
nginx passes each as REMOTE_ADDR.

* One address floods initialize: beyond 5 live sessions per worker it gets 429 with Retry-After and a JSON-RPC
  error naming the quota, while the other address still initializes on every worker.
* GET streams past STREAMS_PER_ADDRESS from one address get 429 from nginx (limit_conn); POSTs from that
  address and streams from the other address are not affected; a closed stream frees its place.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
from typing import Any

import pytest

from conftest import Stack, wait_until
from mcphttp import ACCEPT_BOTH, HOST, PROTOCOL_VERSION, Response, initialize_params, rpc_request
from rawsse import SSEStream, is_priming, mcp_headers, node_of

WORKERS = 2
SESSIONS_PER_ADDRESS = 5
STREAMS_PER_ADDRESS = 3
OTHER_ADDRESS = "127.0.0.2"


@pytest.fixture(scope="module")
def quota_stack():
    s = Stack(workers=WORKERS, extra_env={
        "SESSIONS_PER_ADDRESS": str(SESSIONS_PER_ADDRESS), "STREAMS_PER_ADDRESS": str(STREAMS_PER_ADDRESS)})
    try:
        s.start()
        yield s
    finally:
        s.cleanup()


def post_from(source: str, port: int, message: Any, session_id: str | None = None) -> Response:
    """POST /mcp on a connection whose client end is bound to `source` (nginx sees it as REMOTE_ADDR)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=15, source_address=(source, 0))
    headers = {"Content-Type": "application/json", "Accept": ACCEPT_BOTH}
    if session_id is not None:
        headers.update({"Mcp-Session-Id": session_id, "MCP-Protocol-Version": PROTOCOL_VERSION})
    try:
        conn.request("POST", "/mcp", body=json.dumps(message).encode(), headers=headers)
        r = conn.getresponse()
        return Response(r.status, r.headers, r.read())
    finally:
        conn.close()


def initialize_from(source: str, port: int) -> Response:
    return post_from(source, port, rpc_request("initialize", initialize_params(), 1))


class BoundSSEStream(SSEStream):
    """An SSE request whose client socket is bound to another loopback address before it connects."""

    def __init__(self, source: str, *args: Any, **kw: Any):
        self.source = source
        super().__init__(*args, **kw)

    def open(self) -> "SSEStream":
        # SSEStream.open with a source address.
        self.sock = socket.create_connection((HOST, self.port), timeout=self.timeout, source_address=(self.source, 0))
        head = [f"{self.method} {self.path} HTTP/1.1", f"Host: {HOST}:{self.port}"]
        head += [f"{name}: {value}" for name, value in self.headers.items()]
        self.sent_at = time.monotonic()
        self.sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        return self


def get_stream(port: int, session_id: str, source: str | None = None) -> SSEStream:
    headers = mcp_headers(session_id, "text/event-stream")
    if source is None:
        return SSEStream(port, "GET", "/mcp", headers, timeout=10)
    return BoundSSEStream(source, port, "GET", "/mcp", headers, timeout=10)


def test_one_address_flooding_initialize_gets_quota_errors_while_another_address_initializes(quota_stack):
    port = quota_stack.port
    answers = [initialize_from(HOST, port) for _ in range(8 * SESSIONS_PER_ADDRESS)]
    accepted = [r for r in answers if r.status == 200]
    refused = [r for r in answers if r.status != 200]
    # Exactly the quota on each worker (nginx spreads 8 × the quota of initialize over both), the rest refused.
    assert len(accepted) == WORKERS * SESSIONS_PER_ADDRESS, [r.status for r in answers]
    assert len(refused) >= len(answers) - WORKERS * SESSIONS_PER_ADDRESS
    per_worker: dict[int, int] = {}
    for r in accepted:
        node = node_of(r.header("Mcp-Session-Id"))
        per_worker[node] = per_worker.get(node, 0) + 1
    assert all(n <= SESSIONS_PER_ADDRESS for n in per_worker.values()), per_worker
    for r in refused:
        assert r.status == 429, r
        assert r.header("Retry-After") == "60", r
        assert r.header("Mcp-Session-Id") is None, r
        body = r.json()
        assert body["jsonrpc"] == "2.0" and body["id"] == 1, body
        assert body["error"]["code"] == -32000, body
        assert f"at most {SESSIONS_PER_ADDRESS} may be live" in body["error"]["message"], body

    # Another address is not locked out, on any worker.
    others = [initialize_from(OTHER_ADDRESS, port) for _ in range(2 * WORKERS)]
    assert all(r.status == 200 and r.header("Mcp-Session-Id") for r in others), others
    assert {node_of(r.header("Mcp-Session-Id")) for r in others} == set(range(1, WORKERS + 1))
    # And its sessions work.
    sid = others[0].header("Mcp-Session-Id")
    ping = post_from(OTHER_ADDRESS, port, rpc_request("ping", None, 5), session_id=sid)
    assert ping.status == 200 and ping.json() == {"jsonrpc": "2.0", "id": 5, "result": {}}, ping

    # Ending the flooder's sessions gives its quota back.
    for r in accepted:
        conn = http.client.HTTPConnection(HOST, port, timeout=15)
        conn.request("DELETE", "/mcp", headers={"Mcp-Session-Id": r.header("Mcp-Session-Id")})
        assert conn.getresponse().status == 200
        conn.close()
    again = [initialize_from(HOST, port) for _ in range(WORKERS)]
    assert all(r.status == 200 for r in again), again


def open_stream(port: int, sid: str, source: str | None = None) -> SSEStream:
    s = get_stream(port, sid, source)
    s.read_head(timeout=10)
    return s


def test_get_streams_past_the_per_address_limit_get_429_from_nginx(quota_stack):
    port = quota_stack.port
    sid = initialize_from(OTHER_ADDRESS, port).header("Mcp-Session-Id")
    assert sid
    # The streams are held from 127.0.0.2 (the flood test above may have used up 127.0.0.1's session quota).
    held = []
    try:
        for _ in range(STREAMS_PER_ADDRESS):
            s = open_stream(port, sid, OTHER_ADDRESS)
            assert s.status == 200, s.status
            assert is_priming(s.next_event(timeout=5))
            held.append(s)
        over = open_stream(port, sid, OTHER_ADDRESS)
        try:
            assert over.status == 429, over.status
            # nginx's own answer: the worker never saw the request.
            assert "text/event-stream" not in (over.header("Content-Type") or "")
        finally:
            over.close()
        # POSTs from the same address are not counted.
        ping = post_from(OTHER_ADDRESS, port, rpc_request("ping", None, 6), session_id=sid)
        assert ping.status == 200, ping
        # Another address has its own allowance.
        mine = initialize_from(HOST, port)
        assert mine.status == 200, mine
        other_stream = open_stream(port, mine.header("Mcp-Session-Id"))
        try:
            assert other_stream.status == 200, other_stream.status
        finally:
            other_stream.close()
        # A closed stream frees its place (nginx counts it down once the connection is gone).
        held.pop().close()

        def reopened():
            s = open_stream(port, sid, OTHER_ADDRESS)
            if s.status == 200:
                held.append(s)
                return True
            s.close()
            return False

        wait_until(reopened, 5, interval=0.1, what="a stream after one was closed")
    finally:
        for s in held:
            s.close()
