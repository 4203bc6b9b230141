"""Raw Streamable HTTP through nginx: status codes, JSON-RPC error codes, ids, headers, DELETE, routing."""

from __future__ import annotations

import json

import pytest

from mcphttp import (ACCEPT_BOTH, PROTOCOL_VERSION, SECURITY_HEADERS, SESSION_ID_RE, MCPHTTP, Response,
                     request, rpc_request)

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602


@pytest.fixture(scope="module")
def sid(stack) -> str:
    """One initialized session shared by the read-only checks of this module."""
    return stack.mcp().open_session()


def assert_rpc_error(r: Response, status: int, code: int | None = None, id=...) -> dict:
    assert r.status == status, r
    assert r.header("Content-Type") == "application/json", r
    body = r.json()
    assert body["jsonrpc"] == "2.0", body
    assert "result" not in body, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"], body
    assert isinstance(body["error"]["code"], int), body
    if code is not None:
        assert body["error"]["code"] == code, body
    if id is not ...:
        assert "id" in body and body["id"] == id and type(body["id"]) is type(id), body
    return body


def assert_security_headers(r: Response) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert r.header_values(name) == [value], (name, r)


# -- initialize ----------------------------------------------------------------------------------------


def test_initialize_result_and_session_id(mcp: MCPHTTP, stack):
    r = mcp.initialize(id="init-1")
    assert r.status == 200, r
    assert r.header("Content-Type") == "application/json"
    sid = r.header("Mcp-Session-Id")
    m = SESSION_ID_RE.match(sid or "")
    assert m, r
    assert 1 <= int(m["node"]) <= stack.workers
    body = r.json()
    assert body["jsonrpc"] == "2.0" and body["id"] == "init-1"
    result = body["result"]
    assert result["protocolVersion"] == PROTOCOL_VERSION
    assert result["serverInfo"]["name"] == "mcp-fcgi-demo"
    assert result["serverInfo"]["version"] == "0.1.0"
    assert "tools" in result["capabilities"]


def test_initialize_ids_are_unique(mcp: MCPHTTP):
    ids = {mcp.initialize().header("Mcp-Session-Id") for _ in range(20)}
    assert None not in ids and len(ids) == 20


@pytest.mark.parametrize("offered, negotiated", [
    ("2025-06-18", "2025-06-18"),
    ("2025-03-26", "2025-03-26"),
    ("1999-01-01", PROTOCOL_VERSION),
])
def test_initialize_version_negotiation(mcp: MCPHTTP, offered, negotiated):
    r = mcp.initialize(protocol_version=offered)
    assert r.status == 200, r
    assert r.json()["result"]["protocolVersion"] == negotiated


def test_initialized_notification_is_202_with_empty_body(mcp: MCPHTTP):
    sid = mcp.initialize().header("Mcp-Session-Id")
    r = mcp.post({"jsonrpc": "2.0", "method": "notifications/initialized"}, session_id=sid,
                 protocol_version=PROTOCOL_VERSION)
    assert r.status == 202, r
    assert r.body == b""
    assert r.header("Content-Length") == "0", r
    assert r.header("Cache-Control") == "no-store"
    assert_security_headers(r)


def test_client_response_message_is_202(mcp: MCPHTTP, sid):
    """A JSON-RPC response from the client (to a server request) is accepted like a notification."""
    r = mcp.post({"jsonrpc": "2.0", "id": "srv-1", "result": {}}, session_id=sid)
    assert r.status == 202, r
    assert r.body == b""


# -- ids -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rid", ["abc-123", "", "ünï✓", 0, 7, 2**53 - 1, -5])
def test_ids_are_echoed_on_success(mcp: MCPHTTP, sid, rid):
    r = mcp.call(sid, "ping", id=rid)
    assert r.status == 200, r
    body = r.json()
    assert body == {"jsonrpc": "2.0", "id": rid, "result": {}}
    assert type(body["id"]) is type(rid)


@pytest.mark.parametrize("rid", ["req-42", 42])
def test_unknown_method_is_32601_with_id(mcp: MCPHTTP, sid, rid):
    r = mcp.call(sid, "no/such/method", id=rid)
    assert_rpc_error(r, 200, METHOD_NOT_FOUND, id=rid)


def test_tools_call_echo_raw(mcp: MCPHTTP, sid):
    r = mcp.call_tool(sid, "echo", {"text": "raw ✓"}, id=11)
    assert r.status == 200, r
    assert r.json() == {"jsonrpc": "2.0", "id": 11,
                        "result": {"content": [{"type": "text", "text": "raw ✓"}]}}


def test_tools_list_raw(mcp: MCPHTTP, sid):
    r = mcp.call(sid, "tools/list", {}, id="tl")
    assert r.status == 200, r
    names = [t["name"] for t in r.json()["result"]["tools"]]
    assert "echo" in names and "test_simple_text" in names


# -- JSON-RPC errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [b"not json", b"{", b'{"jsonrpc":"2.0","id":1,"method":"ping"', b"\xff\xfe"])
def test_body_not_json_is_400_parse_error(mcp: MCPHTTP, sid, raw):
    r = mcp.post(raw=raw, session_id=sid)
    assert_rpc_error(r, 400, PARSE_ERROR, id=None)


@pytest.mark.parametrize("raw", [b"42", b'"ping"', b"null", b"[]",
                                 b'[{"jsonrpc":"2.0","id":1,"method":"ping"}]'])
def test_json_but_not_a_request_object_is_400_invalid_request(mcp: MCPHTTP, sid, raw):
    r = mcp.post(raw=raw, session_id=sid)
    assert_rpc_error(r, 400, INVALID_REQUEST, id=None)


def test_object_without_method_is_400_invalid_request(mcp: MCPHTTP, sid):
    r = mcp.post({"jsonrpc": "2.0", "id": 1}, session_id=sid)
    body = assert_rpc_error(r, 400, INVALID_REQUEST)
    assert body["id"] in (1, None), body


def test_unknown_tool_is_32602(mcp: MCPHTTP, sid):
    r = mcp.call_tool(sid, "no_such_tool", {}, id=5)
    body = assert_rpc_error(r, 200, INVALID_PARAMS, id=5)
    assert "no_such_tool" in body["error"]["message"]


@pytest.mark.parametrize("arguments", [{}, {"text": 5}, {"text": None}, {"text": ["a"]}])
def test_arguments_violating_schema_are_32602(mcp: MCPHTTP, sid, arguments):
    r = mcp.call_tool(sid, "echo", arguments, id="bad-args")
    assert_rpc_error(r, 200, INVALID_PARAMS, id="bad-args")


def test_tool_error_is_a_result_not_an_rpc_error(mcp: MCPHTTP, sid):
    r = mcp.call_tool(sid, "test_error_handling", {}, id=3)
    assert r.status == 200, r
    result = r.json()["result"]
    assert result["isError"] is True
    assert result["content"][0]["text"].endswith("This tool intentionally returns an error for testing")


# -- transport errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_wrong_content_type_is_415(mcp: MCPHTTP, sid, content_type):
    r = mcp.post(rpc_request("ping"), session_id=sid, content_type=content_type)
    assert_rpc_error(r, 415)


def test_content_type_with_charset_is_accepted(mcp: MCPHTTP, sid):
    r = mcp.call(sid, "ping", id=1, content_type="application/json; charset=utf-8")
    assert r.status == 200, r


@pytest.mark.parametrize("accept", ["text/html", "image/png, text/plain"])
def test_unacceptable_accept_is_406(mcp: MCPHTTP, sid, accept):
    r = mcp.post(rpc_request("ping"), session_id=sid, accept=accept)
    assert_rpc_error(r, 406)


@pytest.mark.parametrize("accept", ["application/json", "text/event-stream", ACCEPT_BOTH, "*/*"])
def test_acceptable_accept_values(mcp: MCPHTTP, sid, accept):
    r = mcp.call(sid, "ping", id=1, accept=accept)
    assert r.status == 200, r
    # A client that accepts only the event stream gets one (priming event, then the response);
    # everyone else gets plain JSON for a quick answer.
    expected = "text/event-stream" if accept == "text/event-stream" else "application/json"
    assert r.header("Content-Type") == expected, r
    assert r.json()["id"] == 1 and r.json()["result"] == {}


def test_missing_session_id_is_400(mcp: MCPHTTP):
    r = mcp.post(rpc_request("tools/list", {}, id=8))
    assert_rpc_error(r, 400)


def test_missing_session_id_on_notification_is_400(mcp: MCPHTTP):
    r = mcp.post({"jsonrpc": "2.0", "method": "notifications/initialized"})
    assert_rpc_error(r, 400)


@pytest.mark.parametrize("bogus", ["w1.doesnotexist0000000", "w2.AAAAAAAAAAAAAAAAAAAAAA", "nonsense"])
def test_unknown_session_id_is_404(mcp: MCPHTTP, bogus):
    r = mcp.post(rpc_request("ping", id=4), session_id=bogus, protocol_version=PROTOCOL_VERSION)
    assert_rpc_error(r, 404)


def test_session_id_is_bound_to_its_worker(stack, mcp: MCPHTTP, sid):
    """The random part of a session id moved under another worker's prefix is unknown there."""
    m = SESSION_ID_RE.match(sid)
    other = 1 + int(m["node"]) % stack.workers
    r = mcp.call(f"w{other}.{m['rand']}", "ping", id=1)
    assert_rpc_error(r, 404)
    assert mcp.call(sid, "ping", id=1).status == 200


@pytest.mark.parametrize("version", ["1999-01-01", "2026-07-28", "garbage"])
def test_unsupported_protocol_version_header_is_400(mcp: MCPHTTP, sid, version):
    r = mcp.call(sid, "ping", id=6, protocol_version=version)
    assert_rpc_error(r, 400)


@pytest.mark.parametrize("version", ["2025-11-25", "2025-06-18", "2025-03-26", None])
def test_supported_or_absent_protocol_version_header(mcp: MCPHTTP, sid, version):
    r = mcp.post(rpc_request("ping", id=6), session_id=sid, protocol_version=version)
    assert r.status == 200, r
    assert r.json()["result"] == {}


@pytest.mark.parametrize("origin", ["http://evil.example", "https://evil.example:443", "null",
                                    "http://127.0.0.1.evil.example", "http://localhost.evil.example:80"])
def test_foreign_origin_is_403(stack, mcp: MCPHTTP, sid, origin):
    r = mcp.call(sid, "ping", id=1, extra_headers={"Origin": origin})
    assert_rpc_error(r, 403)
    # initialize and DELETE are refused as well
    r = mcp.post(rpc_request("initialize", {"protocolVersion": PROTOCOL_VERSION, "capabilities": {},
                                            "clientInfo": {"name": "x", "version": "1"}}),
                 extra_headers={"Origin": origin})
    assert_rpc_error(r, 403)
    assert r.header("Mcp-Session-Id") is None
    assert mcp.delete(sid, extra_headers={"Origin": origin}).status == 403
    assert mcp.call(sid, "ping", id=1).status == 200  # the session survived the refused DELETE


def test_loopback_and_public_origins_are_allowed(stack, mcp: MCPHTTP, sid):
    for origin in (f"http://127.0.0.1:{stack.port}", "http://localhost:3000", "https://localhost",
                   "http://[::1]:8080"):
        r = mcp.call(sid, "ping", id=1, extra_headers={"Origin": origin})
        assert r.status == 200, (origin, r)


def test_body_over_4_mib_is_413(stack, sid):
    body = b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"' + \
        b"a" * (4 * 1024 * 1024) + b'"}}}'
    r = request(stack.port, "POST", "/mcp", body, {
        "Content-Type": "application/json", "Accept": ACCEPT_BOTH, "Mcp-Session-Id": sid}, timeout=30)
    assert r.status == 413, r


def test_body_just_under_4_mib_is_served(mcp: MCPHTTP, sid):
    text = "b" * (4 * 1024 * 1024 - 1024)
    r = mcp.call_tool(sid, "echo", {"text": text}, id=1, timeout=30)
    assert r.status == 200, r.status
    assert r.json()["result"]["content"][0]["text"] == text


# -- DELETE --------------------------------------------------------------------------------------------


def test_delete_ends_the_session(mcp: MCPHTTP):
    sid = mcp.open_session()
    assert mcp.call(sid, "ping", id=1).status == 200
    r = mcp.delete(sid)
    assert r.status == 200, r
    assert r.body == b""
    assert r.header("Cache-Control") == "no-store"
    assert_security_headers(r)
    assert_rpc_error(mcp.call(sid, "ping", id=2), 404, id=2)
    assert_rpc_error(mcp.call_tool(sid, "echo", {"text": "x"}, id=3), 404, id=3)
    assert_rpc_error(mcp.delete(sid), 404)


def test_delete_without_session_id_is_400(mcp: MCPHTTP):
    assert_rpc_error(mcp.delete(None), 400)


def test_delete_unknown_session_is_404(mcp: MCPHTTP):
    assert_rpc_error(mcp.delete("w1.neverexisted000000000"), 404)


def test_delete_leaves_other_sessions_alone(mcp: MCPHTTP):
    a, b = mcp.open_session(), mcp.open_session()
    assert mcp.delete(a).status == 200
    r = mcp.call_tool(b, "echo", {"text": "still here"}, id=1)
    assert r.status == 200, r
    assert r.json()["result"]["content"][0]["text"] == "still here"


# -- methods, paths, headers ---------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_other_methods_on_mcp_are_405(stack, method):
    r = request(stack.port, method, "/mcp", b"{}", {"Accept": ACCEPT_BOTH, "Content-Type": "application/json"})
    assert r.status == 405, r
    assert r.header("Allow") == "DELETE, GET, POST", r
    assert r.header("Content-Type") == "application/json"
    assert r.json()["error"] == "method_not_allowed"
    assert_security_headers(r)


@pytest.mark.parametrize("path", ["/.well-known/x", "/oauth/x", "/management/x",
                                  "/.well-known/oauth-protected-resource"])
def test_unknown_app_paths_are_404_json(stack, path):
    r = stack.get(path)
    assert r.status == 404, r
    assert r.header("Content-Type") == "application/json"
    body = r.json()
    assert body["error"] == "not_found"
    assert isinstance(body["message"], str)
    assert_security_headers(r)


@pytest.mark.parametrize("path", ["/", "/nothing/here", "/mcp/extra", "/healthz", "/index.html"])
def test_other_paths_are_nginx_404_json(stack, path):
    r = stack.get(path)
    assert r.status == 404, r
    assert r.header("Content-Type") == "application/json"
    assert r.json()["error"] == "not_found"


def test_mcp_response_headers(mcp: MCPHTTP, sid):
    responses = {
        "initialize": mcp.initialize(),
        "success": mcp.call(sid, "ping", id=1),
        "rpc error": mcp.call(sid, "no/such", id=1),
        "parse error": mcp.post(raw=b"nope", session_id=sid),
        "415": mcp.post(rpc_request("ping"), session_id=sid, content_type="text/plain"),
        "404": mcp.call("w1.unknownunknown", "ping", id=1),
    }
    for what, r in responses.items():
        assert r.header_values("Cache-Control") == ["no-store"], (what, r)
        assert_security_headers(r)
        assert r.header("Content-Type") == "application/json", (what, r)
        assert int(r.header("Content-Length")) == len(r.body), (what, r)
        json.loads(r.body)


def test_mcp_over_tls(stack):
    tls = stack.mcp(tls=True)
    sid = tls.open_session()
    r = tls.call_tool(sid, "echo", {"text": "over tls"}, id="t")
    assert r.status == 200, r
    assert r.json()["result"]["content"][0]["text"] == "over tls"
    assert tls.delete(sid).status == 200
