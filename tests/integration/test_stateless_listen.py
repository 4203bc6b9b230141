"""subscriptions/listen (2026-07-28): a long-lived SSE answer that starts with
notifications/subscriptions/acknowledged and then carries the change notifications its filter admits, each
stamped with the subscription id (the listen request's id).

Listen streams live in one worker process (its SubscriptionHub), and a change published by a tool reaches
only the streams of the process that ran the tool: these tests use a private single-worker stack so the
trigger and the listener meet.
"""

from __future__ import annotations

import json
import os
import signal
import time

import anyio
import pytest
from mcp import Client
from mcp.shared.subscriptions import ToolsListChanged

from rawsse import SSEStream, socket_connections
from statelesshttp import CAPS_KEY, SUB_KEY, VERSION, call_tool, meta, post, stream, text_of
from conftest import wait_until


@pytest.fixture
def single(make_stack):
    # A connection per request (KEEP_CONNECTIONS=0): test_listen_stream_released_when_client_leaves counts one FastCGI
    # connection per stream (with kept connections nginx may carry a stream on an idle one).
    return make_stack(workers=1, extra_env={"KEEP_CONNECTIONS": "0"})


def next_data(s: SSEStream, timeout: float = 5.0) -> dict:
    """The next event that carries data (skips the priming event and comments)."""
    while True:
        e = s.next_event(timeout=timeout)
        if e.get("data") is not None:
            return e["data"]


def no_data_within(s: SSEStream, seconds: float) -> None:
    try:
        data = next_data(s, timeout=seconds)
    except TimeoutError:
        return
    raise AssertionError(f"unexpected notification on the listen stream: {data}")


def open_listen(port: int, filt: dict, id) -> tuple[SSEStream, dict]:
    s = stream(port, "subscriptions/listen", {"notifications": filt}, id=id, timeout=10)
    s.read_head()
    assert s.status == 200, (s.status, s.response_headers)
    assert s.header("Content-Type").startswith("text/event-stream"), s.response_headers
    assert s.header("Mcp-Session-Id") is None
    ack = next_data(s)
    return s, ack


def test_listen_ack_then_filtered_notifications(single):
    port = single.port
    tools, ack_t = open_listen(port, {"toolsListChanged": True}, "sub-tools")
    prompts, ack_p = open_listen(port, {"promptsListChanged": True}, 77)
    both, ack_b = open_listen(port, {"toolsListChanged": True, "promptsListChanged": True}, "sub-both")
    with tools, prompts, both:
        assert ack_t == {"jsonrpc": "2.0", "method": "notifications/subscriptions/acknowledged",
                         "params": {"notifications": {"toolsListChanged": True},
                                    "_meta": {SUB_KEY: "sub-tools"}}}, ack_t
        assert ack_p["method"] == "notifications/subscriptions/acknowledged", ack_p
        assert ack_p["params"]["notifications"] == {"promptsListChanged": True}, ack_p
        assert ack_p["params"]["_meta"][SUB_KEY] == 77, ack_p
        assert ack_b["params"]["notifications"] == {"toolsListChanged": True, "promptsListChanged": True}, ack_b

        r = call_tool(port, "test_trigger_tool_change")
        assert text_of(r.json()["result"]) == "Published notifications/tools/list_changed"
        n = next_data(tools)
        assert n["method"] == "notifications/tools/list_changed" and "id" not in n, n
        assert n["params"]["_meta"][SUB_KEY] == "sub-tools", n
        n = next_data(both)
        assert n["method"] == "notifications/tools/list_changed" and n["params"]["_meta"][SUB_KEY] == "sub-both", n
        # The prompts-only listener does not get tool changes.
        no_data_within(prompts, 0.7)

        r = call_tool(port, "test_trigger_prompt_change")
        assert text_of(r.json()["result"]) == "Published notifications/prompts/list_changed"
        n = next_data(prompts)
        assert n["method"] == "notifications/prompts/list_changed" and n["params"]["_meta"][SUB_KEY] == 77, n
        n = next_data(both)
        assert n["method"] == "notifications/prompts/list_changed", n
        no_data_within(tools, 0.7)

        # Several changes in a row all arrive, in order.
        for _ in range(3):
            call_tool(port, "test_trigger_tool_change")
        for _ in range(3):
            assert next_data(tools)["method"] == "notifications/tools/list_changed"


def test_listen_needs_event_stream(single):
    s = stream(single.port, "subscriptions/listen", {"notifications": {"toolsListChanged": True}},
               accept="application/json")
    with s:
        s.read_head()
        assert s.status == 406, (s.status, s.read_body())


LISTEN_REJECTS = {
    # params, _meta override, protocol version header, expected code
    "no-filter": ({}, None, VERSION, -32602),
    "bad-filter": ({"notifications": {"toolsListChanged": "yes"}}, None, VERSION, -32602),
    "no-meta-version": ({"notifications": {"toolsListChanged": True}}, {CAPS_KEY: {}}, VERSION, -32602),
    "unsupported-version": ({"notifications": {"toolsListChanged": True}}, "2099-01-01", "2099-01-01", -32022),
}


@pytest.mark.parametrize("case", list(LISTEN_REJECTS))
def test_listen_rejects_invalid_requests_with_http_400(single, case):
    """An invalid subscriptions/listen is an error answer like any other stateless request: HTTP 400 with a
    JSON body (as for tools/list), never a 200 event stream that happens to carry the error. Repeated 40 times,
    because the outcome must not depend on timing."""
    params, meta_, version, code = LISTEN_REJECTS[case]
    if isinstance(meta_, str):
        meta_ = meta({}, version=meta_)
    seen = []
    for i in range(40):
        r = post(single.port, "subscriptions/listen", params, id=i, meta_=meta_, version=version, timeout=5)
        kind = (r.status, (r.header("Content-Type") or "").split(";")[0])
        seen.append(kind)
        assert r.json()["error"]["code"] == code, r
    assert set(seen) == {(400, "application/json")}, (
        f"{seen.count((400, 'application/json'))}/40 answered 400 JSON; the others: "
        f"{[k for k in seen if k != (400, 'application/json')][:3]}")


def test_listen_stream_released_when_client_leaves(single):
    sock = single.worker_socket(1)
    baseline = socket_connections(sock)
    s, _ = open_listen(single.port, {"toolsListChanged": True}, 5)
    wait_until(lambda: socket_connections(sock) >= baseline + 1, 5, what="the listen stream's FastCGI connection")
    s.close()
    wait_until(lambda: socket_connections(sock) <= baseline, 10, what="the worker to release the listen stream")
    # Publishing to no one still works, and a new listener gets the next change.
    call_tool(single.port, "test_trigger_tool_change")
    s2, _ = open_listen(single.port, {"toolsListChanged": True}, 6)
    with s2:
        call_tool(single.port, "test_trigger_tool_change")
        n = next_data(s2)
        assert n["method"] == "notifications/tools/list_changed" and n["params"]["_meta"][SUB_KEY] == 6, n


async def client_listen(url: str) -> dict:
    out: dict = {}
    async with Client(url, mode="2026-07-28", cache=None, read_timeout_seconds=20) as listener, \
            Client(url, mode="2026-07-28", cache=None, read_timeout_seconds=20) as trigger:
        async with listener.listen(tools_list_changed=True) as sub:
            out["honored"] = sub.honored
            out["subscription_id"] = sub.subscription_id
            r = await trigger.call_tool("test_trigger_prompt_change", {})  # filtered out
            r = await trigger.call_tool("test_trigger_tool_change", {})
            out["trigger"] = r.content[0].text
            with anyio.fail_after(10):
                out["event"] = await sub.__anext__()
    return out


def test_official_client_listen(single):
    out = anyio.run(client_listen, single.mcp_url)
    assert out["trigger"] == "Published notifications/tools/list_changed"
    assert out["honored"].tools_list_changed is True, out
    assert not out["honored"].prompts_list_changed, out
    # The prompt change was filtered out by the server: the first event is the tool change.
    assert isinstance(out["event"], ToolsListChanged), out


def test_listen_stream_ends_gracefully_on_drain(make_stack):
    """SIGTERM: the worker drains. An open listen stream is not an in-flight request that will finish by
    itself: the server ends it (SubscriptionHub.closeAll) with the listen request's final result, stamped with
    the subscription id, instead of holding the drain until DRAIN_TIMEOUT and then cutting the stream."""
    s = make_stack(workers=1, extra_env={"DRAIN_TIMEOUT": "6"})
    listen, _ = open_listen(s.port, {"toolsListChanged": True}, "drain-1")
    with listen:
        t0 = time.monotonic()
        os.kill(s.worker_pid(1), signal.SIGTERM)
        events = [e["data"] for e in listen.events_until_end(timeout=15) if e.get("data") is not None]
        took = time.monotonic() - t0
    final = [e for e in events if "result" in e or "error" in e]
    assert final, (f"the listen stream ended after {took:.1f}s without a final response "
                   f"(events: {events}; worker log: {s.log()[-400:]!r})")
    assert final[-1]["id"] == "drain-1" and final[-1]["result"]["_meta"][SUB_KEY] == "drain-1", final
    assert took < 3, f"the drain waited {took:.1f}s for the listen stream (DRAIN_TIMEOUT=6)"
