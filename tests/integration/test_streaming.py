"""Streamable HTTP streaming through nginx, read event by event off raw sockets (rawsse.SSEStream).

Covers: events reach the client while the handler still runs (nothing buffers), the priming event,
resumption with Last-Event-ID (exactly the missed events, no duplicates), test_reconnection by hand,
server→client requests answered with a separate POST, notifications/cancelled, DELETE ending streams,
SSE headers (through nginx, and at the FastCGI level for the ones nginx consumes), keep-alive pings.
"""

from __future__ import annotations

import json
import time

import pytest

from fcgiclient import fastcgi_request
from mcphttp import ACCEPT_BOTH, MCPHTTP, PROTOCOL_VERSION, rpc_request
from rawsse import (SSEStream, call_tool_stream, event_id, get_stream, is_priming, log_data, node_of,
                    open_session, post_stream, result_text, sampling_answer, socket_connections)

LOGS = ["Tool execution started", "Tool processing data", "Tool execution completed"]
LOGGING_RESULT = "Tool with logging executed successfully"
RECONNECTION_RESULT = "Reconnection test completed successfully"
ROUNDS = 100 # repetitions of the quick-answer check (the JSON/SSE decision must not be a race)


@pytest.fixture
def sid(mcp: MCPHTTP) -> str:
    return open_session(mcp, {"sampling": {}, "elicitation": {}})


# -- events flow while the handler runs ----------------------------------------------------------------


def test_log_events_arrive_before_the_handler_finishes(stack, sid):
    """The handler sleeps 50 ms after each of its first two logs: had anything (nginx, libfcgi, the worker)
    buffered the stream, the events would arrive together with the result. Timing on a loaded machine can
    lump events together on the client side too, so the best of three attempts counts."""
    spreads = []
    for attempt in range(3):
        rid = 11 + attempt
        with call_tool_stream(stack.port, sid, "test_tool_with_logging", id=rid) as s:
            s.read_head()
            assert s.status == 200
            assert s.header("Content-Type") == "text/event-stream"
            events = s.events_until_end(timeout=5)
        assert len(events) == 5, events
        priming, log1, log2, log3, result = events
        assert is_priming(priming, sequence=0), priming
        stream = event_id(priming)[0]
        assert [event_id(e) for e in events] == [(stream, n) for n in range(5)]
        assert [log_data(e) for e in (log1, log2, log3)] == LOGS
        assert result_text(result, rid) == LOGGING_RESULT
        spreads.append((round(log2["t"] - log1["t"], 3), round(result["t"] - log1["t"], 3)))
        if log2["t"] - log1["t"] >= 0.03 and result["t"] - log1["t"] >= 0.06 and log1["t"] - s.sent_at < 1.0:
            return
    pytest.fail(f"the log events arrived together with the result (log2-log1, result-log1 per attempt: {spreads})")


def test_progress_events_arrive_as_they_are_sent(stack, sid):
    spreads = []
    for attempt in range(3):
        rid = 15 + attempt
        msg = rpc_request("tools/call", {"name": "test_tool_with_progress", "arguments": {},
                                         "_meta": {"progressToken": "p-1"}}, rid)
        with post_stream(stack.port, sid, msg) as s:
            events = s.events_until_end(timeout=5)
        data = [e for e in events if e["data"] is not None]
        assert [e["data"]["params"]["progress"] for e in data[:3]] == [0, 50, 100]
        assert result_text(data[3], rid) == "p-1"
        spreads.append((round(data[1]["t"] - data[0]["t"], 3), round(data[2]["t"] - data[1]["t"], 3)))
        if data[1]["t"] - data[0]["t"] >= 0.03 and data[2]["t"] - data[1]["t"] >= 0.03:
            return
    pytest.fail(f"progress events arrived lumped together: {spreads}")


# -- Accept decides between JSON and SSE ---------------------------------------------------------------


@pytest.mark.parametrize("method,params,check", [
    ("ping", None, lambda result: result == {}),
    ("tools/list", None, lambda result: any(t["name"] == "echo" for t in result["tools"])),
    ("tools/call", {"name": "echo", "arguments": {"text": "sse only"}},
     lambda result: result["content"] == [{"type": "text", "text": "sse only"}]),
])
def test_accept_of_only_event_stream_always_gets_sse(stack, sid, method, params, check):
    """A client that accepts only text/event-stream gets SSE — the priming event, then the response —
    even for an instant answer. Repeated, because a quick handler must not race the JSON/SSE decision."""
    json_answers, without_response = [], []
    for i in range(ROUNDS):
        with post_stream(stack.port, sid, rpc_request(method, params, id=f"p{i}"), accept="text/event-stream") as s:
            s.read_head()
            assert s.status == 200
            if s.header("Content-Type") != "text/event-stream":
                json_answers.append((i, s.header("Content-Type"), s.read_body()[:100]))
                continue
            events = s.events_until_end(timeout=5)
        assert events and is_priming(events[0], sequence=0), events
        responses = [e for e in events if e["data"] is not None and "result" in e["data"]]
        if not responses:
            without_response.append((i, events))
            continue
        assert len(events) == 2, events
        assert event_id(events[1]) == (event_id(events[0])[0], 1)
        assert events[1]["data"]["id"] == f"p{i}" and check(events[1]["data"]["result"]), events[1]
    assert not json_answers and not without_response, (
        f"of {ROUNDS} answers to Accept: text/event-stream, {len(json_answers)} were application/json "
        f"(e.g. {json_answers[:2]}) and {len(without_response)} were SSE streams that ended without the "
        f"response (e.g. {without_response[:2]})")


def test_an_sse_answer_never_ends_without_its_response(stack, mcp: MCPHTTP, sid):
    """Every SSE answer ends with its response. Probabilistic: the lost-response window is narrow (the
    handler finishing while the endpoint is switching the answer to SSE), so many quick requests are sent,
    for at most ~4 s; JSON answers (the other symptom of that race) are ignored here."""
    lost, sse_answers, rounds = [], 0, 0
    deadline = time.monotonic() + 4.0
    while time.monotonic() < deadline and sse_answers < 1000:
        rounds += 1
        r = mcp.call(sid, "ping", id=rounds, accept="text/event-stream")
        assert r.status == 200, r
        if r.header("Content-Type") != "text/event-stream":
            continue
        sse_answers += 1
        events = r.events()
        if not any(e.get("data") and e["data"].get("id") == rounds and "result" in e["data"] for e in events):
            lost.append((rounds, r.body))
    assert sse_answers > 50, f"only {sse_answers} SSE answers in {rounds} rounds"
    assert not lost, (f"{len(lost)} of {sse_answers} SSE answers ended without the JSON-RPC response "
                      f"(e.g. {lost[:2]})")


def test_accept_of_only_json_gets_json_without_the_logs(mcp: MCPHTTP, sid):
    r = mcp.call_tool(sid, "test_tool_with_logging", id=13, accept="application/json")
    assert r.status == 200, r
    assert r.header("Content-Type") == "application/json"
    assert json.loads(r.body) == {"jsonrpc": "2.0", "id": 13,
                                  "result": {"content": [{"type": "text", "text": LOGGING_RESULT}]}}


def test_sampling_with_a_json_only_client_fails_fast_instead_of_hanging(mcp: MCPHTTP, sid):
    started = time.monotonic()
    r = mcp.call_tool(sid, "test_sampling", {"prompt": "x"}, id=14, accept="application/json", timeout=10)
    assert time.monotonic() - started < 5
    assert r.status == 200 and r.header("Content-Type") == "application/json", r
    body = r.json()
    assert body["id"] == 14 and "error" in body, body


def test_a_2_mib_answer_survives_the_stream_framing(stack, sid):
    """2 MiB of text (many 32 KiB FastCGI records, nginx chunks) arrives intact, JSON or SSE."""
    big = "ü€" * (1 << 19) + "end"
    with call_tool_stream(stack.port, sid, "echo", {"text": big}, id=71, accept="text/event-stream",
                          timeout=20) as s:
        s.read_head()
        assert s.status == 200
        if s.header("Content-Type") == "text/event-stream":
            events = s.events_until_end(timeout=15)
            answer = events[-1]["data"]
        else:  # the JSON/SSE race reported by test_accept_of_only_event_stream_always_gets_sse
            answer = s.json(timeout=15)
    assert answer["id"] == 71
    assert answer["result"]["content"][0]["text"] == big


# -- resumption ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("when", ["while-running", "after-finish"])
@pytest.mark.parametrize("cut_after", [2, 3])
def test_resume_with_last_event_id_gets_exactly_the_missed_events(stack, sid, cut_after, when):
    with call_tool_stream(stack.port, sid, "test_tool_with_logging", id=21) as s:
        first = [s.next_event(timeout=5) for _ in range(cut_after)]
    # The connection is gone; the handler goes on (it finishes ~100 ms after its first log).
    assert is_priming(first[0], sequence=0)
    stream = event_id(first[0])[0]
    last = first[-1]["id"]
    if when == "after-finish":
        time.sleep(0.4)
    with get_stream(stack.port, sid, last_event_id=last) as g:
        g.read_head()
        assert g.status == 200 and g.header("Content-Type") == "text/event-stream"
        resumed = g.events_until_end(timeout=5)
    # A resumed stream starts with a priming event carrying the Last-Event-ID, then the missed events.
    assert resumed and is_priming(resumed[0]) and resumed[0]["id"] == last, resumed
    missed = resumed[1:]
    seen = [event_id(e) for e in first[1:] + missed]
    assert seen == [(stream, n) for n in range(1, 5)], (first, resumed)
    messages = [e["data"] for e in first[1:] + missed]
    assert [m["params"]["data"] for m in messages[:3]] == LOGS
    assert messages[3]["id"] == 21 and messages[3]["result"]["content"][0]["text"] == LOGGING_RESULT


def test_resume_twice(stack, sid):
    with call_tool_stream(stack.port, sid, "test_tool_with_logging", id=22) as s:
        priming, log1 = s.next_event(timeout=5), s.next_event(timeout=5)
    with get_stream(stack.port, sid, last_event_id=log1["id"]) as g:
        again, log2 = g.next_event(timeout=5), g.next_event(timeout=5)
    assert again["id"] == log1["id"] and log_data(log2) == LOGS[1]
    with get_stream(stack.port, sid, last_event_id=log2["id"]) as g:
        rest = g.events_until_end(timeout=5)
    assert rest[0]["id"] == log2["id"] and rest[0]["data"] is None
    assert [log_data(rest[1])] == LOGS[2:]
    assert result_text(rest[2], 22) == LOGGING_RESULT
    stream = event_id(priming)[0]
    assert [event_id(e) for e in (log1, log2, rest[1], rest[2])] == [(stream, n) for n in range(1, 5)]


def test_resume_of_a_finished_stream_from_its_start_replays_everything(stack, sid):
    with call_tool_stream(stack.port, sid, "test_tool_with_logging", id=23) as s:
        original = s.events_until_end(timeout=5)
    with get_stream(stack.port, sid, last_event_id=original[0]["id"]) as g:
        replay = g.events_until_end(timeout=5)
    assert [(e["id"], e["data"]) for e in replay[1:]] == [(e["id"], e["data"]) for e in original[1:]]


@pytest.mark.parametrize("value", ["abc", "1-", "-1", "1-2-3", "999999-0", "0-0", "1_0", "x-1", " "])
def test_malformed_or_unknown_last_event_id_is_400(stack, sid, value):
    with get_stream(stack.port, sid, last_event_id=value) as g:
        g.read_head()
        assert g.status == 400, (value, g.read_body())
        body = g.json()
    assert body["jsonrpc"] == "2.0" and body["id"] is None and isinstance(body["error"]["code"], int), body


@pytest.mark.parametrize("live", [False, True])
def test_last_event_id_never_issued_on_an_existing_stream_is_400(stack, sid, live):
    """<stream>-999 names an event the stream never had: unknown, so 400 (accepting it would make the
    client's event ids run backwards: the priming event says 999, the next event says 2)."""
    with call_tool_stream(stack.port, sid, "test_tool_with_logging", id=25) as s:
        first = s.next_event(timeout=5) if live else s.events_until_end(timeout=5)[0]
    stream = event_id(first)[0]
    with get_stream(stack.port, sid, last_event_id=f"{stream}-999") as g:
        g.read_head()
        seen = g.events_until_end(timeout=3) if g.status == 200 else g.read_body()
        assert g.status == 400, f"Last-Event-ID {stream}-999 accepted with {g.status}: {seen}"


def test_a_standalone_stream_can_be_resumed(stack, sid):
    with get_stream(stack.port, sid) as g:
        priming = g.next_event(timeout=5)
    with get_stream(stack.port, sid, last_event_id=priming["id"]) as g:
        g.read_head()
        assert g.status == 200
        again = g.next_event(timeout=5)
        assert is_priming(again) and again["id"] == priming["id"]
        with pytest.raises(TimeoutError):
            g.next_event(timeout=0.3)  # still open: a standalone stream does not end


def test_last_event_id_of_another_session_does_not_resume_its_stream(stack, mcp: MCPHTTP):
    a = open_session(mcp)
    with call_tool_stream(stack.port, a, "test_tool_with_logging", id=24) as s:
        events = s.events_until_end(timeout=5)
    # Session b has no stream with that number yet (it is new): 400, nothing of a's stream.
    b = open_session(mcp)
    with get_stream(stack.port, b, last_event_id=events[0]["id"]) as g:
        g.read_head()
        body = g.read_body()
        assert g.status == 400, body
    assert b"Tool execution" not in body


# -- test_reconnection by hand --------------------------------------------------------------------------


@pytest.mark.parametrize("delay", [0.0, 0.5])
def test_reconnection_by_hand(stack, sid, delay):
    with call_tool_stream(stack.port, sid, "test_reconnection", id=31) as s:
        s.read_head()
        assert s.status == 200 and s.header("Content-Type") == "text/event-stream"
        events = s.events_until_end(timeout=5)
        ended = time.monotonic()
    # Only the priming event, then the server ended the response (the tool is still running).
    assert len(events) == 1, events
    assert is_priming(events[0], sequence=0), events
    assert ended - s.sent_at < 1.0
    time.sleep(delay)
    with get_stream(stack.port, sid, last_event_id=events[0]["id"]) as g:
        resumed = g.events_until_end(timeout=5)
    assert len(resumed) == 2, resumed
    assert is_priming(resumed[0]) and resumed[0]["id"] == events[0]["id"]
    stream = event_id(events[0])[0]
    assert event_id(resumed[1]) == (stream, 1)
    assert resumed[1]["data"] == {"jsonrpc": "2.0", "id": 31,
                                  "result": {"content": [{"type": "text", "text": RECONNECTION_RESULT}]}}


# -- server→client requests ----------------------------------------------------------------------------


def test_sampling_request_goes_out_on_the_post_stream_and_the_answer_is_routed_back(stack, mcp, sid):
    with call_tool_stream(stack.port, sid, "test_sampling", {"prompt": "hi there"}, id=41) as s:
        priming = s.next_event(timeout=5)
        req = s.next_event(timeout=5)
        assert is_priming(priming, sequence=0)
        d = req["data"]
        assert d["method"] == "sampling/createMessage", d
        assert isinstance(d["id"], str) and d["id"].startswith("srv-"), d
        assert d["params"]["maxTokens"] == 100
        assert d["params"]["messages"] == [{"role": "user", "content": {"type": "text", "text": "hi there"}}]
        r = mcp.post(sampling_answer(d["id"], "hello back"), session_id=sid, protocol_version=PROTOCOL_VERSION)
        assert r.status == 202 and r.body == b"", r
        rest = s.events_until_end(timeout=5)
    assert len(rest) == 1, rest
    assert result_text(rest[0], 41) == "LLM response: hello back"


def test_elicitation_request_on_the_stream(stack, mcp, sid):
    with call_tool_stream(stack.port, sid, "test_elicitation", {"message": "Name?"}, id=42) as s:
        s.next_event(timeout=5)
        d = s.next_event(timeout=5)["data"]
        assert d["method"] == "elicitation/create" and d["id"].startswith("srv-"), d
        assert d["params"]["message"] == "Name?"
        answer = {"jsonrpc": "2.0", "id": d["id"], "result": {"action": "accept", "content": {"response": "Ada"}}}
        assert mcp.post(answer, session_id=sid, protocol_version=PROTOCOL_VERSION).status == 202
        rest = s.events_until_end(timeout=5)
    assert result_text(rest[-1], 42) == 'User response: action=accept, content={"response":"Ada"}'


def test_an_answer_from_another_session_does_not_resolve_the_request(stack, mcp: MCPHTTP, sid):
    # The other session must live on the same worker, or the test would prove nothing.
    others = [open_session(mcp, {"sampling": {}}) for _ in range(2 * stack.workers)]
    other = next(o for o in others if node_of(o) == node_of(sid))
    with call_tool_stream(stack.port, sid, "test_sampling", {"prompt": "p"}, id=43) as s:
        s.next_event(timeout=5)
        srv_id = s.next_event(timeout=5)["data"]["id"]
        r = mcp.post(sampling_answer(srv_id, "forged"), session_id=other, protocol_version=PROTOCOL_VERSION)
        assert r.status == 202, r
        with pytest.raises(TimeoutError):
            s.next_event(timeout=0.5)  # still waiting for its own session's answer
        assert mcp.post(sampling_answer(srv_id, "genuine"), session_id=sid,
                        protocol_version=PROTOCOL_VERSION).status == 202
        rest = s.events_until_end(timeout=5)
    assert result_text(rest[-1], 43) == "LLM response: genuine"


def test_notifications_cancelled_cancels_the_request(stack, mcp: MCPHTTP, sid):
    with call_tool_stream(stack.port, sid, "test_sampling", {"prompt": "p"}, id=44) as s:
        s.next_event(timeout=5)
        srv_id = s.next_event(timeout=5)["data"]["id"]
        r = mcp.post({"jsonrpc": "2.0", "method": "notifications/cancelled",
                      "params": {"requestId": 44, "reason": "user hit stop"}},
                     session_id=sid, protocol_version=PROTOCOL_VERSION)
        assert r.status == 202, r
        cancelled_at = time.monotonic()
        # No response is sent for a cancelled request: the stream just ends.
        rest = s.events_until_end(timeout=3)
        assert rest == [], rest
        assert time.monotonic() - cancelled_at < 1.0
    # A late answer to the abandoned sampling request is accepted and ignored; the session still works.
    assert mcp.post(sampling_answer(srv_id, "late"), session_id=sid, protocol_version=PROTOCOL_VERSION).status == 202
    r = mcp.call_tool(sid, "echo", {"text": "after cancel"}, id=45)
    assert r.json()["result"]["content"][0]["text"] == "after cancel"


def test_notifications_cancelled_from_another_session_does_not_cancel(stack, mcp: MCPHTTP, sid):
    others = [open_session(mcp) for _ in range(2 * stack.workers)]
    other = next(o for o in others if node_of(o) == node_of(sid))
    with call_tool_stream(stack.port, sid, "test_sampling", {"prompt": "p"}, id=72) as s:
        s.next_event(timeout=5)
        srv_id = s.next_event(timeout=5)["data"]["id"]
        r = mcp.post({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 72}},
                     session_id=other, protocol_version=PROTOCOL_VERSION)
        assert r.status == 202, r
        with pytest.raises(TimeoutError):
            s.next_event(timeout=0.5)
        assert mcp.post(sampling_answer(srv_id, "mine"), session_id=sid,
                        protocol_version=PROTOCOL_VERSION).status == 202
        rest = s.events_until_end(timeout=5)
    assert [result_text(e, 72) for e in rest] == ["LLM response: mine"]


# -- GET streams ---------------------------------------------------------------------------------------


def test_get_stream_opens_with_a_priming_event(stack, sid):
    with get_stream(stack.port, sid) as g:
        g.read_head()
        assert g.status == 200
        assert g.header("Content-Type") == "text/event-stream"
        priming = g.next_event(timeout=5)
        assert is_priming(priming, sequence=0), priming
        # A standalone stream stays open.
        with pytest.raises(TimeoutError):
            g.next_event(timeout=0.3)


@pytest.mark.parametrize("headers,status", [
    ({"Accept": "application/json"}, 406),
    ({"Accept": "text/event-stream"}, 400),                                    # no Mcp-Session-Id
    ({"Accept": "text/event-stream", "Mcp-Session-Id": "w1.nosuchsession0"}, 404),
])
def test_get_stream_refusals(stack, headers, status):
    with SSEStream(stack.port, "GET", "/mcp", headers) as g:
        g.read_head()
        assert g.status == status, g.read_body()


# notifications/resources/updated on a GET stream is covered in-process (StandaloneStreamTests): the demo's
# fixture contract has no tool that changes a resource, so nothing here can trigger it through nginx.


def trigger(mcp: MCPHTTP, sid: str, kind: str = "tool", id=90) -> None:
    r = mcp.call_tool(sid, f"test_trigger_{kind}_change", id=id)
    assert r.status == 200, r
    assert r.json()["result"]["content"][0]["text"] == f"Published notifications/{kind}s/list_changed", r


@pytest.fixture
def triggers(mcp: MCPHTTP, sid):
    """The list_changed triggers (stateless-era fixtures whose notifications also reach session GET streams)."""
    names = {t["name"] for t in mcp.call(sid, "tools/list", id=1).json()["result"]["tools"]}
    if not {"test_trigger_tool_change", "test_trigger_prompt_change"} <= names:
        pytest.skip("the demo has no test_trigger_*_change tools to make the server send a notification")


def test_get_stream_receives_list_changed_notifications(stack, mcp: MCPHTTP, sid, triggers):
    with get_stream(stack.port, sid) as g:
        priming = g.next_event(timeout=5)
        stream = event_id(priming)[0]
        trigger(mcp, sid, "tool")
        first = g.next_event(timeout=3)
        trigger(mcp, sid, "prompt")
        second = g.next_event(timeout=3)
    assert first["data"] == {"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}, first
    assert second["data"] == {"jsonrpc": "2.0", "method": "notifications/prompts/list_changed"}, second
    assert [event_id(first), event_id(second)] == [(stream, 1), (stream, 2)]


def test_each_server_notification_goes_to_exactly_one_get_stream(stack, mcp: MCPHTTP, sid, triggers):
    with get_stream(stack.port, sid) as a, get_stream(stack.port, sid) as b:
        a.next_event(timeout=5)
        b.next_event(timeout=5)
        for i in range(4):
            trigger(mcp, sid, "tool", id=100 + i)
        time.sleep(0.3)
        got = []
        for g in (a, b):
            while True:
                try:
                    got.append(g.next_event(timeout=0.2))
                except TimeoutError:
                    break
    methods = [e["data"]["method"] for e in got]
    assert methods == ["notifications/tools/list_changed"] * 4, got
    assert len({e["id"] for e in got}) == 4


def test_get_stream_resume_replays_the_unread_events_then_continues(stack, mcp: MCPHTTP, sid, triggers):
    with get_stream(stack.port, sid) as g:
        priming = g.next_event(timeout=5)
        stream = event_id(priming)[0]
        trigger(mcp, sid, "tool", id=1)
        seen = g.next_event(timeout=3)
        # Two more are sent on this connection but never read by the client before it drops.
        trigger(mcp, sid, "prompt", id=2)
        trigger(mcp, sid, "tool", id=3)
        time.sleep(0.2)
    with get_stream(stack.port, sid, last_event_id=seen["id"]) as r:
        again = r.next_event(timeout=5)
        replayed = [r.next_event(timeout=3), r.next_event(timeout=3)]
        with pytest.raises(TimeoutError):
            r.next_event(timeout=0.3)  # nothing more (no duplicates)
        trigger(mcp, sid, "prompt", id=4)
        live = r.next_event(timeout=3)
    assert event_id(seen) == (stream, 1)
    assert is_priming(again) and again["id"] == seen["id"]
    assert [(event_id(e), e["data"]["method"]) for e in replayed] == [
        ((stream, 2), "notifications/prompts/list_changed"), ((stream, 3), "notifications/tools/list_changed")]
    assert (event_id(live), live["data"]["method"]) == ((stream, 4), "notifications/prompts/list_changed")


def test_delete_ends_get_and_post_streams(stack, mcp: MCPHTTP, sid):
    sock = stack.worker_socket(node_of(sid))
    with get_stream(stack.port, sid) as g, \
            call_tool_stream(stack.port, sid, "test_sampling", {"prompt": "p"}, id=51) as s:
        assert is_priming(g.next_event(timeout=5))
        s.next_event(timeout=5)
        assert s.next_event(timeout=5)["data"]["method"] == "sampling/createMessage"
        assert socket_connections(sock) >= 2
        r = mcp.delete(sid)
        assert r.status == 200, r
        deleted = time.monotonic()
        g_end = g.wait_closed(timeout=2)
        s_end = s.wait_closed(timeout=2)
    assert g_end - deleted < 1.0 and s_end - deleted < 1.0
    # The session is gone: resuming and new streams are refused.
    with get_stream(stack.port, sid) as g2:
        g2.read_head()
        assert g2.status == 404


# -- headers -------------------------------------------------------------------------------------------


def assert_sse_headers(headers) -> None:
    assert headers.get("Content-Type") == "text/event-stream", dict(headers.items())
    cache = (headers.get("Cache-Control") or "").lower()
    assert "no-cache" in cache or "no-store" in cache, cache
    assert headers.get("Content-Length") is None, dict(headers.items())


def test_sse_headers_through_nginx(stack, sid):
    with call_tool_stream(stack.port, sid, "test_tool_with_logging", id=61) as s:
        s.read_head()
        assert_sse_headers(s.response_headers)
        assert s.header("Transfer-Encoding") == "chunked"
    with get_stream(stack.port, sid) as g:
        g.read_head()
        assert_sse_headers(g.response_headers)


def test_the_app_sends_x_accel_buffering_no_on_sse(stack, sid):
    """nginx consumes X-Accel-Buffering (it never reaches the client), so ask the worker directly."""
    sock = str(stack.worker_socket(node_of(sid)))
    common = {"Mcp-Session-Id": sid, "MCP-Protocol-Version": PROTOCOL_VERSION}
    body = json.dumps(rpc_request("tools/call", {"name": "test_tool_with_logging", "arguments": {}}, 62)).encode()
    post = fastcgi_request(sock, "POST", "/mcp", {**common, "Accept": ACCEPT_BOTH,
                                                  "Content-Type": "application/json"}, body)
    get = fastcgi_request(sock, "GET", "/mcp", {**common, "Accept": "text/event-stream"})
    try:
        for r in (post, get):
            assert r.status == 200, (r.headers.items(), r.body)
            assert r.headers.get("X-Accel-Buffering") == "no", r.headers.items()
            assert_sse_headers(r.headers)
        assert LOGGING_RESULT.encode() in post.read_until(LOGGING_RESULT.encode(), timeout=5)
    finally:
        post.close()
        get.close()


def test_keepalive_ping_on_an_idle_get_stream(stack, sid):
    """An idle stream gets a ': ping' comment every 15 s (below nginx's and proxies' read timeouts)."""
    with get_stream(stack.port, sid, timeout=20) as g:
        priming = g.next_event(timeout=5)
        assert is_priming(priming)
        ping = g.next_event(timeout=18, comments=True)
        assert ping.get("comment") == "ping", ping
        waited = ping["t"] - priming["t"]
        assert 13.5 <= waited <= 17.5, waited
