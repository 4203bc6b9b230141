"""A client that goes away: the worker notices at once and frees the stream's FastCGI connection (seen as
the ESTAB count on the worker's unix socket, `ss -x`); a request whose stream is gone and not resumed
within the 2 s grace period is cancelled, one resumed in time goes on.

A private one-worker stack, so that the connection counts are this module's alone (on the shared stack,
streams of earlier tests may still be closing while a count is taken)."""

from __future__ import annotations

import time

import pytest

from conftest import Stack, wait_until
from mcphttp import MCPHTTP, PROTOCOL_VERSION
from rawsse import (call_tool_stream, get_stream, is_priming, node_of, open_session, result_text, sampling_answer,
                    socket_connections)

GRACE = 2.0


@pytest.fixture(scope="module")
def stack():
    """Overrides the shared stack for this module. A connection per request (KEEP_CONNECTIONS=0): the counts below
    take one FastCGI connection per stream (with kept connections nginx may carry a stream on an idle one)."""
    s = Stack(workers=1, extra_env={"KEEP_CONNECTIONS": "0"})
    try:
        s.start()
        yield s
    finally:
        s.cleanup()


@pytest.fixture
def mcp(stack) -> MCPHTTP:
    return stack.mcp()


@pytest.fixture
def sid(mcp: MCPHTTP) -> str:
    return open_session(mcp, {"sampling": {}})


def wait_for_count(sock, predicate, timeout: float, what: str) -> float:
    """Waits until predicate(connection count) holds; returns how long it took."""
    started = time.monotonic()
    seen = []

    def check():
        seen.append(socket_connections(sock))
        return predicate(seen[-1])

    try:
        wait_until(check, timeout, interval=0.01, what=what)
    except AssertionError as e:
        raise AssertionError(f"{e} (connection counts seen: first {seen[:3]}, last {seen[-3:]})") from None
    return time.monotonic() - started


def assert_still_serving(mcp: MCPHTTP, sid: str, text: str) -> None:
    started = time.monotonic()
    r = mcp.call_tool(sid, "echo", {"text": text}, id=99, timeout=5)
    assert r.status == 200, r
    assert r.json()["result"]["content"] == [{"type": "text", "text": text}]
    assert time.monotonic() - started < 2


def test_get_stream_disconnect_frees_the_connection_at_once(stack, mcp: MCPHTTP, sid):
    sock = stack.worker_socket(node_of(sid))
    baseline = socket_connections(sock)
    g = get_stream(stack.port, sid)
    try:
        assert is_priming(g.next_event(timeout=5))
        wait_for_count(sock, lambda n: n >= baseline + 1, 2, "the GET stream's FastCGI connection")
    finally:
        g.close()
    took = wait_for_count(sock, lambda n: n <= baseline, 1.0, "the worker to free the GET stream's connection")
    assert took < 1.0
    assert_still_serving(mcp, sid, "after GET disconnect")


def test_post_stream_disconnect_frees_the_connection_at_once(stack, mcp: MCPHTTP, sid):
    sock = stack.worker_socket(node_of(sid))
    baseline = socket_connections(sock)
    s = call_tool_stream(stack.port, sid, "test_sampling", {"prompt": "p"}, id=1)
    try:
        assert is_priming(s.next_event(timeout=5))
        assert s.next_event(timeout=5)["data"]["method"] == "sampling/createMessage"
        wait_for_count(sock, lambda n: n >= baseline + 1, 2, "the POST stream's FastCGI connection")
    finally:
        s.close()
    took = wait_for_count(sock, lambda n: n <= baseline, 1.0, "the worker to free the POST stream's connection")
    assert took < 1.0
    assert_still_serving(mcp, sid, "after POST disconnect")


def test_handler_is_cancelled_when_its_stream_is_not_resumed_within_the_grace_period(stack, mcp: MCPHTTP, sid):
    with call_tool_stream(stack.port, sid, "test_sampling", {"prompt": "p"}, id=2) as s:
        s.next_event(timeout=5)
        req = s.next_event(timeout=5)
    closed = time.monotonic()
    time.sleep(GRACE + 0.6 - (time.monotonic() - closed))
    # Resuming now finds the stream ended without a response: the handler was cancelled, so there is
    # nothing more to send (a handler still waiting for the sampling answer would keep the stream open).
    with get_stream(stack.port, sid, last_event_id=req["id"]) as g:
        g.read_head()
        assert g.status == 200
        events = g.events_until_end(timeout=2)
    assert len(events) == 1 and is_priming(events[0]) and events[0]["id"] == req["id"], events
    # The sampling request is no longer awaited: a late answer is accepted (202) and changes nothing.
    late = mcp.post(sampling_answer(req["data"]["id"], "too late"), session_id=sid, protocol_version=PROTOCOL_VERSION)
    assert late.status == 202, late
    with get_stream(stack.port, sid, last_event_id=req["id"]) as g:
        assert len(g.events_until_end(timeout=2)) == 1


def test_handler_goes_on_when_its_stream_is_resumed_within_the_grace_period(stack, mcp: MCPHTTP, sid):
    with call_tool_stream(stack.port, sid, "test_sampling", {"prompt": "p"}, id=3) as s:
        s.next_event(timeout=5)
        req = s.next_event(timeout=5)
    closed = time.monotonic()
    time.sleep(0.3)
    with get_stream(stack.port, sid, last_event_id=req["id"], timeout=10) as g:
        assert g.next_event(timeout=5)["id"] == req["id"]
        # Past the grace period (counted from the disconnect) the handler must still be waiting.
        time.sleep(max(0.0, GRACE + 0.6 - (time.monotonic() - closed)))
        r = mcp.post(sampling_answer(req["data"]["id"], "in time"), session_id=sid,
                     protocol_version=PROTOCOL_VERSION)
        assert r.status == 202, r
        rest = g.events_until_end(timeout=5)
    assert len(rest) == 1, rest
    assert result_text(rest[0], 3) == "LLM response: in time"


def test_post_logging_stream_cut_after_priming_frees_the_connection(stack, mcp: MCPHTTP, sid):
    sock = stack.worker_socket(node_of(sid))
    baseline = socket_connections(sock)
    with call_tool_stream(stack.port, sid, "test_tool_with_logging", id=4) as s:
        assert is_priming(s.next_event(timeout=5))
    took = wait_for_count(sock, lambda n: n <= baseline, 1.0, "the worker to free the cut stream's connection")
    assert took < 1.0
    assert_still_serving(mcp, sid, "after cut")


def test_server_request_is_replayed_to_a_client_that_resumes_from_the_priming_event(stack, mcp: MCPHTTP, sid):
    """A client that lost the stream before reading the sampling request gets it again on resume."""
    with call_tool_stream(stack.port, sid, "test_sampling", {"prompt": "replayed"}, id=5) as s:
        priming = s.next_event(timeout=5)
    with get_stream(stack.port, sid, last_event_id=priming["id"]) as g:
        assert g.next_event(timeout=5)["id"] == priming["id"]
        request = g.next_event(timeout=5)["data"]
        assert request["method"] == "sampling/createMessage"
        assert request["params"]["messages"][0]["content"]["text"] == "replayed"
        r = mcp.post(sampling_answer(request["id"], "got it"), session_id=sid, protocol_version=PROTOCOL_VERSION)
        assert r.status == 202, r
        rest = g.events_until_end(timeout=5)
    assert [result_text(e, 5) for e in rest] == ["LLM response: got it"]


def test_handler_is_cancelled_when_its_resumed_stream_is_lost_too(stack, mcp: MCPHTTP, sid):
    """POST stream cut, resumed in time, then the resumed connection is lost as well and not resumed for
    longer than the grace period: the handler must be cancelled as in the first case."""
    with call_tool_stream(stack.port, sid, "test_sampling", {"prompt": "p"}, id=6) as s:
        s.next_event(timeout=5)
        req = s.next_event(timeout=5)
    time.sleep(0.3)
    with get_stream(stack.port, sid, last_event_id=req["id"]) as g:
        assert g.next_event(timeout=5)["id"] == req["id"]
        time.sleep(GRACE + 0.3)  # connected through the first disconnect's grace period
    lost = time.monotonic()
    time.sleep(GRACE + 0.6)
    with get_stream(stack.port, sid, last_event_id=req["id"]) as g:
        try:
            events = g.events_until_end(timeout=1.5)
        except TimeoutError:
            pytest.fail(f"the handler is still running {time.monotonic() - lost:.1f} s after its resumed stream "
                        f"was lost (grace period {GRACE} s): it was not cancelled")
    assert len(events) == 1 and is_priming(events[0]), events


def test_grace_period_counts_from_the_latest_disconnect(stack, mcp: MCPHTTP, sid):
    """Cut at t=0, resumed at 0.3 s, resumed connection lost at 1.8 s, resumed again at 2.2 s: the client
    was never away for more than 0.4 s, so the handler must still be there to answer."""
    with call_tool_stream(stack.port, sid, "test_sampling", {"prompt": "p"}, id=7) as s:
        s.next_event(timeout=5)
        req = s.next_event(timeout=5)
    first_cut = time.monotonic()
    time.sleep(0.3)
    with get_stream(stack.port, sid, last_event_id=req["id"]) as g:
        assert g.next_event(timeout=5)["id"] == req["id"]
        time.sleep(max(0.0, 1.8 - (time.monotonic() - first_cut)))
    time.sleep(max(0.0, 2.2 - (time.monotonic() - first_cut)))
    with get_stream(stack.port, sid, last_event_id=req["id"], timeout=10) as g:
        assert g.next_event(timeout=5)["id"] == req["id"]
        time.sleep(0.3)
        r = mcp.post(sampling_answer(req["data"]["id"], "still here"), session_id=sid,
                     protocol_version=PROTOCOL_VERSION)
        assert r.status == 202, r
        rest = g.events_until_end(timeout=3)
    assert [result_text(e, 7) for e in rest] == ["LLM response: still here"], (
        "the handler was cancelled although the client had been away for only 0.4 s "
        "(the grace period ran from the first disconnect)")
