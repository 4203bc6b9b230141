"""Extensibility through real nginx: the demo's rate-limit middleware (RATE_LIMIT) and its two tenants, each an
MCP server of its own mounted at /tenant-a/mcp and /tenant-b/mcp."""

from __future__ import annotations

import json
import time

import anyio
import httpx2
import pytest

from mcphttp import ACCEPT_BOTH, SESSION_ID_RE, initialize_params, request, rpc_request

TENANTS = ("tenant-a", "tenant-b")


# -- rate limit -----------------------------------------------------------------------------------------

def test_rate_limit_answers_429_then_recovers(make_stack):
    per_minute = 30
    s = make_stack(workers=2, extra_env={"RATE_LIMIT": str(per_minute)})
    # Each worker keeps its own bucket (burst = RATE_LIMIT): at most WORKERS × burst requests pass quickly.
    limit = 2 * per_minute + 20
    statuses = []
    limited = None
    for _ in range(limit):
        r = s.get("/health")
        statuses.append(r.status)
        if r.status == 429:
            limited = r
            break
        assert r.status == 200, r
    assert limited is not None, f"no 429 after {len(statuses)} requests"
    assert len(statuses) > per_minute, f"limited after only {len(statuses)} requests (burst is {per_minute})"
    assert limited.header("Content-Type").startswith("application/json"), limited
    assert limited.json()["error"] == "rate_limited", limited
    retry_after = limited.header("Retry-After")
    assert retry_after is not None and retry_after.isdigit(), limited
    wait = int(retry_after)
    # 30/min refills one request every 2 s: Retry-After must be small and honest.
    assert 1 <= wait <= 60 // per_minute + 1, retry_after
    # Other paths share the caller's bucket (the middleware runs in front of every route).
    r = request(s.port, "POST", "/mcp", json.dumps(rpc_request("initialize", initialize_params())),
                {"Content-Type": "application/json", "Accept": ACCEPT_BOTH})
    assert r.status == 429 or r.status == 200, r  # the other worker may still have a token left
    # Keep hammering until both workers are out, then wait Retry-After and the next /health passes.
    deadline = time.monotonic() + 10
    worst = wait
    while time.monotonic() < deadline:
        burst = [s.get("/health") for _ in range(4)]
        if all(b.status == 429 for b in burst):
            worst = max(int(b.header("Retry-After")) for b in burst)
            break
    else:
        pytest.fail("the workers kept answering 200 during a sustained burst")
    time.sleep(worst + 0.3)
    ok = s.get("/health")
    assert ok.status == 200, f"still limited {worst + 0.3:.1f}s after Retry-After={worst}: {ok}"


# -- tenants --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tenant_stack():
    from conftest import Stack
    s = Stack(workers=2)
    try:
        s.start()
        yield s
    finally:
        s.cleanup()


async def tenant_session(stack, tenant: str, body):
    """Runs body(client, session_id) inside an official-client session (mode="legacy") at /<tenant>/mcp."""
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    session_ids: list[str] = []

    async def on_response(response):
        if sid := response.headers.get("mcp-session-id"):
            session_ids.append(sid)

    async with httpx2.AsyncClient(timeout=httpx2.Timeout(30, read=60), event_hooks={"response": [on_response]}) as http:
        async with Client(streamable_http_client(f"{stack.base_url}/{tenant}/mcp", http_client=http),
                          mode="legacy", read_timeout_seconds=15, cache=None) as c:
            assert session_ids, "no Mcp-Session-Id from initialize"
            return await body(c, session_ids[0])


@pytest.mark.parametrize("tenant", TENANTS)
def test_each_tenant_is_its_own_server(tenant_stack, tenant):
    async def body(c, sid):
        assert c.protocol_version == "2025-11-25"
        assert c.server_info.name == tenant
        assert SESSION_ID_RE.match(sid), sid
        tools = [t.name for t in (await c.list_tools()).tools]
        assert tools == ["whoami"], tools  # not the main server's tools
        r = await c.call_tool("whoami", {})
        assert not r.is_error
        text = r.content[0].text
        assert text.startswith(f"{tenant}:"), text
        assert text == f"{tenant}:anonymous@{tenant}", text  # AUTH=anonymous: the demo's per-tenant user
        return sid

    anyio.run(tenant_session, tenant_stack, tenant, body)


def test_a_tenant_session_is_unknown_at_the_other_tenant(tenant_stack):
    def post(path, sid, message):
        return request(tenant_stack.port, "POST", path, json.dumps(message),
                       {"Content-Type": "application/json", "Accept": ACCEPT_BOTH, "Mcp-Session-Id": sid,
                        "MCP-Protocol-Version": "2025-11-25"})

    async def body(c, sid):
        call = rpc_request("tools/call", {"name": "whoami", "arguments": {}}, id=5)
        other = await anyio.to_thread.run_sync(post, "/tenant-b/mcp", sid, call)
        own = await anyio.to_thread.run_sync(post, "/tenant-a/mcp", sid, call)
        main = await anyio.to_thread.run_sync(post, "/mcp", sid, rpc_request("tools/list", id=6))
        # Still alive for its own tenant after the foreign attempts.
        r = await c.call_tool("whoami", {})
        return sid, other, own, main, r.content[0].text

    sid, other, own, main, text = anyio.run(tenant_session, tenant_stack, "tenant-a", body)
    assert other.status == 404, other
    assert own.status == 200, own
    assert own.json()["result"]["content"][0]["text"].startswith("tenant-a:"), own
    assert main.status == 404, main  # nor is it a session of the main /mcp server
    assert text.startswith("tenant-a:")
    # And the other way round, with sessions on both workers (the map routes by the id's node prefix).
    seen = {}
    for _ in range(8):
        r = request(tenant_stack.port, "POST", "/tenant-b/mcp", json.dumps(rpc_request("initialize", initialize_params())),
                    {"Content-Type": "application/json", "Accept": ACCEPT_BOTH})
        assert r.status == 200 and r.json()["result"]["serverInfo"]["name"] == "tenant-b", r
        b_sid = r.header("Mcp-Session-Id")
        seen.setdefault(b_sid.split(".")[0], b_sid)
    assert set(seen) == {"w1", "w2"}, seen
    for node, b_sid in seen.items():
        r = request(tenant_stack.port, "POST", "/tenant-a/mcp",
                    json.dumps(rpc_request("tools/list", id=9)),
                    {"Content-Type": "application/json", "Accept": ACCEPT_BOTH, "Mcp-Session-Id": b_sid,
                     "MCP-Protocol-Version": "2025-11-25"})
        assert r.status == 404, (node, r)
