"""JSON-RPC batches: only in sessions that negotiated 2025-03-26 (answered with a JSON array of the
responses); in every other session, and without a session, 400 / -32600."""

from __future__ import annotations

import json

import pytest

from mcphttp import MCPHTTP, rpc_request
from rawsse import open_session

INVALID_REQUEST = -32600
NOTIFICATION = {"jsonrpc": "2.0", "method": "notifications/roots/list_changed"}


def batch() -> list:
    return [rpc_request("ping", id=1), rpc_request("tools/list", id="two"), NOTIFICATION]


def by_id(responses: list) -> dict:
    out = {}
    for r in responses:
        assert r["jsonrpc"] == "2.0", r
        assert r["id"] not in out, f"duplicate response id {r['id']!r}: {responses}"
        out[r["id"]] = r
    return out


def assert_batch_refused(r) -> None:
    assert r.status == 400, r
    assert r.header("Content-Type") == "application/json", r
    body = r.json()
    assert isinstance(body, dict), body
    assert body["id"] is None and body["error"]["code"] == INVALID_REQUEST, body


def test_session_negotiates_2025_03_26(mcp: MCPHTTP):
    r = mcp.initialize("2025-03-26")
    assert r.status == 200, r
    assert r.json()["result"]["protocolVersion"] == "2025-03-26"


@pytest.mark.parametrize("version_header", ["2025-03-26", None])
def test_batch_in_a_2025_03_26_session_is_answered_with_an_array(mcp: MCPHTTP, version_header):
    sid = open_session(mcp, version="2025-03-26")
    r = mcp.post(batch(), session_id=sid, protocol_version=version_header)
    assert r.status == 200, r
    assert r.header("Content-Type") == "application/json", r
    body = json.loads(r.body)
    assert isinstance(body, list) and len(body) == 2, body
    responses = by_id(body)
    assert set(responses) == {1, "two"}
    assert responses[1]["result"] == {}
    tools = {t["name"] for t in responses["two"]["result"]["tools"]}
    assert {"echo", "test_simple_text", "test_sampling"} <= tools, tools


def test_batch_with_tool_calls_and_errors(mcp: MCPHTTP):
    sid = open_session(mcp, version="2025-03-26")
    r = mcp.post([
        rpc_request("tools/call", {"name": "echo", "arguments": {"text": "a"}}, id=10),
        rpc_request("tools/call", {"name": "test_tool_with_logging", "arguments": {}}, id=11),
        rpc_request("no/such/method", id=12),
        rpc_request("initialize", {"protocolVersion": "2025-03-26", "capabilities": {},
                                   "clientInfo": {"name": "x", "version": "1"}}, id=13),
        NOTIFICATION,
    ], session_id=sid, protocol_version="2025-03-26")
    assert r.status == 200, r
    responses = by_id(json.loads(r.body))
    assert set(responses) == {10, 11, 12, 13}
    assert responses[10]["result"]["content"] == [{"type": "text", "text": "a"}]
    assert responses[11]["result"]["content"] == [{"type": "text", "text": "Tool with logging executed successfully"}]
    assert responses[12]["error"]["code"] == -32601
    assert responses[13]["error"]["code"] == INVALID_REQUEST


def test_batch_with_an_invalid_element_answers_it_with_an_error(mcp: MCPHTTP):
    sid = open_session(mcp, version="2025-03-26")
    r = mcp.post([1, rpc_request("ping", id=5)], session_id=sid, protocol_version="2025-03-26")
    assert r.status == 200, r
    body = json.loads(r.body)
    assert len(body) == 2, body
    errors = [x for x in body if "error" in x]
    assert len(errors) == 1 and errors[0]["id"] is None and errors[0]["error"]["code"] == INVALID_REQUEST, body
    assert [x for x in body if x.get("id") == 5] == [{"jsonrpc": "2.0", "id": 5, "result": {}}]


def test_batch_of_only_notifications_is_202(mcp: MCPHTTP):
    sid = open_session(mcp, version="2025-03-26")
    r = mcp.post([NOTIFICATION, NOTIFICATION], session_id=sid, protocol_version="2025-03-26")
    assert r.status == 202, r
    assert r.body == b""


def test_empty_batch_is_400(mcp: MCPHTTP):
    sid = open_session(mcp, version="2025-03-26")
    assert_batch_refused(mcp.post([], session_id=sid, protocol_version="2025-03-26"))


@pytest.mark.parametrize("version", ["2025-11-25", "2025-06-18", "2024-11-05"])
def test_batch_in_other_sessions_is_400_invalid_request(mcp: MCPHTTP, version):
    sid = open_session(mcp, version=version)
    assert_batch_refused(mcp.post(batch(), session_id=sid, protocol_version=version))
    # The session is unharmed.
    r = mcp.call(sid, "ping", id=7, protocol_version=version)
    assert r.json() == {"jsonrpc": "2.0", "id": 7, "result": {}}


def test_batch_without_a_session_is_400_invalid_request(mcp: MCPHTTP):
    assert_batch_refused(mcp.post(batch()))
