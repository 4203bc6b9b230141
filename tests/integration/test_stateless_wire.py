"""The 2026-07-28 wire rules, seen through nginx: error codes and HTTP statuses, server/discover, caching
hints, per-request log level, and progress on the request's own SSE stream."""

from __future__ import annotations

import pytest

from mcphttp import request
from statelesshttp import (CAPS_KEY, LOG_KEY, PV_KEY, SERVER_INFO_KEY, VERSION, call_tool, meta, post, stream,
                           text_of)


def error_of(r, status: int, code: int) -> dict:
    assert r.status == status, r
    assert (r.header("Content-Type") or "").startswith("application/json"), r
    body = r.json()
    assert "result" not in body and body["error"]["code"] == code, body
    assert body["id"] == 1, body
    return body["error"]


def result_of(r) -> dict:
    assert r.status == 200, r
    body = r.json()
    assert "result" in body, body
    return body["result"]


# -- errors --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["2099-01-01", "2026-01-01", "draft"])
def test_unsupported_version(stack, version):
    r = post(stack.port, "tools/list", meta_=meta({}, version=version), version=version)
    err = error_of(r, 400, -32022)
    assert VERSION in err["data"]["supported"], err
    assert err["data"]["requested"] == version, err


def test_missing_meta_protocol_version(stack):
    err = error_of(post(stack.port, "tools/list", meta_={CAPS_KEY: {}}), 400, -32602)
    assert PV_KEY in err["message"], err


def test_missing_meta_client_capabilities(stack):
    err = error_of(post(stack.port, "tools/list", meta_={PV_KEY: VERSION}), 400, -32602)
    assert CAPS_KEY in err["message"], err


def test_missing_meta_altogether(stack):
    r = request(stack.port, "POST", "/mcp", '{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}',
                {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
                 "MCP-Protocol-Version": VERSION, "Mcp-Method": "tools/list"})
    error_of(r, 400, -32602)


def test_mcp_method_header_mismatch(stack):
    err = error_of(post(stack.port, "tools/list", extra_headers={"Mcp-Method": "prompts/list"}), 400, -32020)
    assert "Mcp-Method" in err["message"], err


def test_mcp_method_header_missing(stack):
    error_of(post(stack.port, "tools/list", drop_headers=("Mcp-Method",)), 400, -32020)


def test_mcp_name_header_mismatch(stack):
    r = call_tool(stack.port, "echo", {"text": "a"}, extra_headers={"Mcp-Name": "test_simple_text"})
    err = error_of(r, 400, -32020)
    assert "Mcp-Name" in err["message"], err


def test_mcp_name_base64_header_accepted(stack):
    # "=?base64?ZWNobw==?=" is "echo".
    r = call_tool(stack.port, "echo", {"text": "b64"}, extra_headers={"Mcp-Name": "=?base64?ZWNobw==?="})
    assert text_of(result_of(r)) == "b64"


def test_mcp_name_malformed_base64(stack):
    r = call_tool(stack.port, "echo", {"text": "a"}, extra_headers={"Mcp-Name": "=?base64?!!not-base64!!?="})
    error_of(r, 400, -32020)


def test_mcp_name_uri_mismatch_on_resources_read(stack):
    r = post(stack.port, "resources/read", {"uri": "test://static-text"},
             extra_headers={"Mcp-Name": "test://static-binary"})
    err = error_of(r, 400, -32020)
    assert "Mcp-Name" in err["message"], err


def test_protocol_version_header_body_mismatch(stack):
    # Header names 2026-07-28 (stateless routing), the body a session-era version.
    err = error_of(post(stack.port, "tools/list", meta_=meta({}, version="2025-11-25")), 400, -32020)
    assert "MCP-Protocol-Version" in err["message"], err


def test_meta_without_protocol_version_header(stack):
    """No header, no session, but a stateless _meta: routed as 2026-07-28, where the header is required."""
    err = error_of(post(stack.port, "tools/list", version=None), 400, -32020)
    assert "MCP-Protocol-Version" in err["message"], err


@pytest.mark.parametrize("method", ["no/such/method", "ping", "initialize", "logging/setLevel",
                                    "resources/subscribe"])
def test_unknown_or_session_era_method(stack, method):
    params = {"uri": "test://watched-resource"} if method == "resources/subscribe" else {}
    err = error_of(post(stack.port, method, params), 404, -32601)
    assert method in err["message"], err


def test_missing_capability(stack):
    err = error_of(call_tool(stack.port, "test_missing_capability", capabilities={"elicitation": {}}), 400, -32021)
    assert err["data"]["requiredCapabilities"] == {"sampling": {}}, err
    ok = call_tool(stack.port, "test_missing_capability", capabilities={"sampling": {}})
    assert text_of(result_of(ok)) == "Client declared the sampling capability"


def test_unknown_resource_is_invalid_params(stack):
    err = error_of(post(stack.port, "resources/read", {"uri": "test://nope"}), 400, -32602)
    assert err["data"] == {"uri": "test://nope"}, err


def test_get_is_405(stack):
    r = request(stack.port, "GET", "/mcp", None, {"MCP-Protocol-Version": VERSION, "Accept": "text/event-stream"})
    assert r.status == 405, r
    assert "GET" not in (r.header("Allow") or "").replace(" ", "").split(","), r


def test_notification_is_accepted_and_ignored(stack):
    r = request(stack.port, "POST", "/mcp",
                '{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":5,'
                f'"_meta":{{"{PV_KEY}":"{VERSION}","{CAPS_KEY}":{{}}}}}}}}',
                {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
                 "MCP-Protocol-Version": VERSION, "Mcp-Method": "notifications/cancelled"})
    assert r.status == 202 and r.header("Mcp-Session-Id") is None, r


# -- discover and caching ------------------------------------------------------------------------------


def test_server_discover(stack):
    r = post(stack.port, "server/discover")
    assert r.header("Mcp-Session-Id") is None, r
    result = result_of(r)
    assert result["supportedVersions"] == [VERSION], result
    caps = result["capabilities"]
    assert caps["tools"] == {"listChanged": True}, caps
    assert caps["prompts"] == {"listChanged": True}, caps
    assert caps["resources"]["listChanged"] is True, caps
    assert "completions" in caps and "logging" in caps, caps
    info = result["serverInfo"]
    assert info["name"] == "mcp-fcgi-demo" and info["version"], info
    assert result["resultType"] == "complete", result
    assert result["_meta"][SERVER_INFO_KEY]["name"] == "mcp-fcgi-demo", result


@pytest.mark.parametrize("method, params, key", [
    ("tools/list", {}, "tools"),
    ("prompts/list", {}, "prompts"),
    ("resources/list", {}, "resources"),
    ("resources/templates/list", {}, "resourceTemplates"),
    ("resources/read", {"uri": "test://static-text"}, "contents"),
    ("server/discover", {}, "supportedVersions"),
])
def test_caching_hints(stack, method, params, key):
    result = result_of(post(stack.port, method, params))
    assert key in result, result
    assert isinstance(result["ttlMs"], int) and result["ttlMs"] >= 0, result
    assert result["cacheScope"] in ("public", "private"), result
    assert result["resultType"] == "complete", result


def test_no_caching_hints_on_tool_results(stack):
    result = result_of(call_tool(stack.port, "echo", {"text": "x"}))
    assert "ttlMs" not in result and "cacheScope" not in result, result


def test_tools_list_never_input_required(stack):
    result = result_of(post(stack.port, "tools/list", capabilities={"elicitation": {}, "sampling": {}, "roots": {}}))
    names = {t["name"] for t in result["tools"]}
    assert "test_input_required_result_elicitation" in names and "echo" in names, names
    assert result["resultType"] == "complete"


# -- logging and progress on the request's own stream --------------------------------------------------


def test_logging_tool_silent_without_log_level(stack):
    r = call_tool(stack.port, "test_logging_tool")
    assert r.status == 200, r
    if (r.header("Content-Type") or "").startswith("text/event-stream"):
        msgs = [e["data"] for e in r.events() if isinstance(e.get("data"), dict) and "method" in e["data"]]
        assert msgs == [], msgs
    assert text_of(r.json()["result"]) == "Logging tool executed"


def test_logging_tool_logs_with_log_level(stack):
    s = stream(stack.port, "tools/call", {"name": "test_logging_tool", "arguments": {},
                                          "_meta": meta({}, **{LOG_KEY: "debug"})})
    with s:
        s.read_head()
        assert s.status == 200 and s.header("Content-Type").startswith("text/event-stream"), s.response_headers
        events = [e for e in s.events_until_end(timeout=10) if e.get("data") is not None]
    logs = [e["data"] for e in events if e["data"].get("method") == "notifications/message"]
    assert [(m["params"]["level"], m["params"]["data"]) for m in logs] == [
        ("info", "Tool execution started"), ("info", "Tool processing data"), ("info", "Tool execution completed")]
    final = events[-1]["data"]
    assert final["id"] == 1 and text_of(final["result"]) == "Logging tool executed", final


def test_logging_tool_honours_min_level(stack):
    r = post(stack.port, "tools/call", {"name": "test_logging_tool", "arguments": {}},
             meta_=meta({}, **{LOG_KEY: "error"}))
    assert r.status == 200, r
    body = r.json()
    if (r.header("Content-Type") or "").startswith("text/event-stream"):
        msgs = [e["data"] for e in r.events() if isinstance(e.get("data"), dict) and "method" in e["data"]]
        assert msgs == [], msgs
    assert text_of(body["result"]) == "Logging tool executed"


def test_invalid_log_level(stack):
    r = post(stack.port, "tools/call", {"name": "test_logging_tool", "arguments": {}},
             meta_=meta({}, **{LOG_KEY: "loud"}))
    error_of(r, 400, -32602)


def test_progress_on_own_stream(stack):
    m = meta({}, progressToken="tok-progress-7")
    s = stream(stack.port, "tools/call", {"name": "test_tool_with_progress", "arguments": {}, "_meta": m})
    with s:
        s.read_head()
        assert s.status == 200 and s.header("Content-Type").startswith("text/event-stream"), s.response_headers
        assert s.header("Mcp-Session-Id") is None
        events = [e for e in s.events_until_end(timeout=10) if e.get("data") is not None]
    progress = [e["data"]["params"] for e in events if e["data"].get("method") == "notifications/progress"]
    assert [(p["progressToken"], p["progress"], p["total"]) for p in progress] == [
        ("tok-progress-7", 0, 100), ("tok-progress-7", 50, 100), ("tok-progress-7", 100, 100)], progress
    # Progress arrives before the result, spread over time (the tool sleeps 50 ms between steps).
    assert events[-1]["data"]["id"] == 1 and text_of(events[-1]["data"]["result"]) == "tok-progress-7"
    assert events[-1]["t"] - events[0]["t"] >= 0.08, [e["t"] for e in events]


def test_streaming_elicitation_logs_progress_then_input_required(stack):
    tool = "test_streaming_elicitation"
    m = meta({"elicitation": {}}, progressToken=11, **{LOG_KEY: "info"})
    r = post(stack.port, "tools/call", {"name": tool, "arguments": {}}, meta_=m)
    assert r.status == 200 and r.header("Content-Type").startswith("text/event-stream"), r
    events = [e["data"] for e in r.events() if e.get("data") is not None]
    kinds = [e.get("method", "response") for e in events]
    assert kinds == ["notifications/message", "notifications/progress", "response"], events
    assert events[0]["params"]["data"] == "Asking the user for confirmation"
    assert events[1]["params"]["progressToken"] == 11 and events[1]["params"]["progress"] == 0
    first = events[-1]["result"]
    assert first["resultType"] == "input_required" and set(first["inputRequests"]) == {"confirm"}, first
    r = post(stack.port, "tools/call", {"name": tool, "arguments": {},
                                        "inputResponses": {"confirm": {"action": "accept", "content": {"ok": True}}},
                                        "requestState": first["requestState"]}, id=2, meta_=m)
    assert r.status == 200, r
    events = [e["data"] for e in r.events() if e.get("data") is not None]
    logs = [e["params"]["data"] for e in events if e.get("method") == "notifications/message"]
    assert logs[-1] == "Confirmation received", events
    progress = [e["params"]["progress"] for e in events if e.get("method") == "notifications/progress"]
    assert progress[-1] == 1, events
    assert text_of(events[-1]["result"]) == "Confirmed: true", events


def test_sse_answer_keeps_event_order_and_loses_nothing(stack):
    """A stateless SSE answer carries the handler's notifications in the order sent, then the response last,
    each exactly once. Repeated, since an ordering race shows only now and then (~1 in 200 answers)."""
    bad = []
    for i in range(600):
        r = post(stack.port, "tools/call", {"name": "test_logging_tool", "arguments": {}}, id=i,
                 meta_=meta({}, **{LOG_KEY: "info"}))
        assert r.status == 200 and r.header("Content-Type").startswith("text/event-stream"), r
        events = [e for e in r.events() if e.get("data") is not None]
        kinds = [e["data"].get("method", "response") for e in events]
        seqs = [int(e["id"].split("-")[1]) for e in events]
        if kinds != ["notifications/message"] * 3 + ["response"] or seqs != sorted(seqs):
            bad.append((i, list(zip(seqs, kinds))))
    assert not bad, f"{len(bad)}/600 SSE answers out of order or incomplete, e.g. {bad[:3]}"
