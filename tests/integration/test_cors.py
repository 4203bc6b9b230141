"""CORS for browser clients through nginx: preflights for allowed origins (loopback on any port, and the
public URL's origin) get 204 with the allow headers, foreign ones 403; actual responses to allowed origins
carry Access-Control-Allow-Origin and Access-Control-Expose-Headers (on JSON, SSE, GET streams, DELETE
and errors alike); a request with a foreign Origin is refused with 403 and no CORS headers."""

from __future__ import annotations

import pytest

from conftest import Stack
from mcphttp import MCPHTTP, PROTOCOL_VERSION, request, rpc_request
from rawsse import call_tool_stream, get_stream, is_priming, open_session

PUBLIC_ORIGIN = "https://mcp.example.test"
LOOPBACK_ORIGINS = ["http://localhost:5173", "http://127.0.0.1:3000", "https://localhost", "http://[::1]:8080",
                    "http://127.0.0.1"]
FOREIGN_ORIGINS = ["https://evil.example", "http://localhost.evil.example", "http://127.0.0.1.evil.example",
                   "null", "http://localhost:80x", "file://", "https://mcp.example.test.evil.example"]
REQUIRED_ALLOW_HEADERS = {"authorization", "content-type", "mcp-session-id", "mcp-protocol-version", "last-event-id"}
REQUIRED_EXPOSE_HEADERS = {"mcp-session-id", "mcp-protocol-version", "www-authenticate"}
CORS_HEADERS = ["Access-Control-Allow-Origin", "Access-Control-Allow-Methods", "Access-Control-Allow-Headers",
                "Access-Control-Expose-Headers", "Access-Control-Allow-Credentials", "Access-Control-Max-Age"]


def tokens(value: str | None) -> set[str]:
    return {t.strip().lower() for t in (value or "").split(",") if t.strip()}


def preflight(port: int, origin: str, method: str = "POST",
              request_headers: str = "content-type, mcp-session-id, mcp-protocol-version", tls: bool = False):
    return request(port, "OPTIONS", "/mcp", tls=tls, headers={
        "Origin": origin, "Access-Control-Request-Method": method, "Access-Control-Request-Headers": request_headers})


def assert_preflight_allowed(r, origin: str) -> None:
    assert r.status == 204, r
    assert r.body == b""
    assert r.header_values("Access-Control-Allow-Origin") == [origin], r
    assert {"get", "post", "delete"} <= tokens(r.header("Access-Control-Allow-Methods")), r
    assert REQUIRED_ALLOW_HEADERS <= tokens(r.header("Access-Control-Allow-Headers")), r
    max_age = r.header("Access-Control-Max-Age")
    assert max_age is not None and max_age.isdigit() and int(max_age) > 0, r
    assert "origin" in tokens(r.header("Vary")), r


def assert_cors_response(headers, origin: str) -> None:
    assert headers.get_all("Access-Control-Allow-Origin") == [origin], dict(headers.items())
    assert REQUIRED_EXPOSE_HEADERS <= tokens(headers.get("Access-Control-Expose-Headers")), dict(headers.items())
    assert "origin" in tokens(headers.get("Vary")), dict(headers.items())


def assert_no_cors(headers) -> None:
    present = [h for h in CORS_HEADERS if headers.get(h) is not None]
    assert not present, (present, dict(headers.items()))


# -- preflight -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("origin", LOOPBACK_ORIGINS + ["<stack>"])
def test_preflight_from_an_allowed_origin(stack, origin):
    origin = stack.base_url if origin == "<stack>" else origin
    assert_preflight_allowed(preflight(stack.port, origin), origin)


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_preflight_for_each_mcp_method(stack, method):
    r = preflight(stack.port, "http://localhost:5173", method=method,
                  request_headers="mcp-session-id, last-event-id, authorization")
    assert_preflight_allowed(r, "http://localhost:5173")
    assert method.lower() in tokens(r.header("Access-Control-Allow-Methods"))


@pytest.mark.parametrize("origin", FOREIGN_ORIGINS)
def test_preflight_from_a_foreign_origin_is_403(stack, origin):
    r = preflight(stack.port, origin)
    assert r.status == 403, r
    assert_no_cors(r.headers)


def test_options_without_origin_is_a_plain_204_with_allow(stack):
    r = request(stack.port, "OPTIONS", "/mcp")
    assert r.status == 204, r
    assert {"get", "post", "delete"} <= tokens(r.header("Allow")), r
    assert_no_cors(r.headers)


# -- actual requests -----------------------------------------------------------------------------------


def test_initialize_from_an_allowed_origin_exposes_the_session_id(stack, mcp: MCPHTTP):
    origin = "http://localhost:5173"
    r = mcp.post(rpc_request("initialize", {"protocolVersion": PROTOCOL_VERSION, "capabilities": {},
                                            "clientInfo": {"name": "browser", "version": "1"}}, 1),
                 extra_headers={"Origin": origin})
    assert r.status == 200, r
    assert r.header("Mcp-Session-Id")
    assert_cors_response(r.headers, origin)


def test_every_kind_of_response_to_an_allowed_origin_carries_cors_headers(stack, mcp: MCPHTTP):
    origin = "http://127.0.0.1:3000"
    o = {"Origin": origin}
    sid = open_session(mcp)
    # JSON answer, JSON-RPC error, 202 for a notification, transport errors.
    assert_cors_response(mcp.call(sid, "ping", id=1, extra_headers=o).headers, origin)
    assert_cors_response(mcp.call(sid, "no/such", id=2, extra_headers=o).headers, origin)
    n = mcp.post({"jsonrpc": "2.0", "method": "notifications/roots/list_changed"}, session_id=sid,
                 protocol_version=PROTOCOL_VERSION, extra_headers=o)
    assert n.status == 202
    assert_cors_response(n.headers, origin)
    missing = mcp.call("w1.nosuchsession0000", "ping", id=3, extra_headers=o)
    assert missing.status == 404
    assert_cors_response(missing.headers, origin)
    # SSE answer to a POST.
    with call_tool_stream(stack.port, sid, "test_tool_with_logging", id=4, extra=o) as s:
        s.read_head()
        assert s.status == 200 and s.header("Content-Type") == "text/event-stream"
        assert_cors_response(s.response_headers, origin)
        assert s.events_until_end(timeout=5)[-1]["data"]["id"] == 4
    # GET stream.
    with get_stream(stack.port, sid, extra=o) as g:
        assert is_priming(g.next_event(timeout=5))
        assert_cors_response(g.response_headers, origin)
    # DELETE.
    d = mcp.delete(sid, extra_headers=o)
    assert d.status == 200, d
    assert_cors_response(d.headers, origin)


def test_no_cors_headers_without_origin(mcp: MCPHTTP):
    sid = open_session(mcp)
    r = mcp.call(sid, "ping", id=1)
    assert r.status == 200
    assert_no_cors(r.headers)


@pytest.mark.parametrize("origin", FOREIGN_ORIGINS[:4])
def test_requests_with_a_foreign_origin_are_403_without_cors_headers(stack, mcp: MCPHTTP, origin):
    sid = open_session(mcp)
    o = {"Origin": origin}
    init = mcp.post(rpc_request("initialize", {"protocolVersion": PROTOCOL_VERSION, "capabilities": {},
                                               "clientInfo": {"name": "b", "version": "1"}}, 1), extra_headers=o)
    post = mcp.call(sid, "ping", id=1, extra_headers=o)
    get = request(stack.port, "GET", "/mcp", headers={"Accept": "text/event-stream", "Mcp-Session-Id": sid, **o})
    delete = mcp.delete(sid, extra_headers=o)
    for what, r in [("initialize", init), ("POST", post), ("GET", get), ("DELETE", delete)]:
        assert r.status == 403, (what, r)
        assert_no_cors(r.headers)
    assert init.header("Mcp-Session-Id") is None
    # The refused DELETE did not end the session.
    assert mcp.call(sid, "ping", id=2).status == 200


# -- the public URL's origin (private stack with PUBLIC_URL) ----------------------------------------------


@pytest.fixture(scope="module")
def public():
    s = Stack(workers=1, extra_env={"PUBLIC_URL": PUBLIC_ORIGIN})
    try:
        s.start()
        yield s
    finally:
        s.cleanup()


# The public URL is https, so the deployment is HTTPS-only (the plain port redirects): these go to the TLS port.
def test_public_origin_preflight_and_request(public):
    assert_preflight_allowed(preflight(public.tls_port, PUBLIC_ORIGIN, tls=True), PUBLIC_ORIGIN)
    mcp = public.mcp(tls=True)
    r = mcp.post(rpc_request("initialize", {"protocolVersion": PROTOCOL_VERSION, "capabilities": {},
                                            "clientInfo": {"name": "browser", "version": "1"}}, 1),
                 extra_headers={"Origin": PUBLIC_ORIGIN})
    assert r.status == 200, r
    assert_cors_response(r.headers, PUBLIC_ORIGIN)


@pytest.mark.parametrize("origin", ["https://mcp.example.test:8443", "http://mcp.example.test",
                                    "https://other.example.test"])
def test_near_misses_of_the_public_origin_are_refused(public, origin):
    r = preflight(public.tls_port, origin, tls=True)
    assert r.status == 403, r
    assert_no_cors(r.headers)
    p = public.mcp(tls=True).post(rpc_request("ping", id=1), extra_headers={"Origin": origin})
    assert p.status == 403, p


def test_loopback_origins_stay_allowed_with_a_public_url(public):
    assert_preflight_allowed(preflight(public.tls_port, "http://localhost:5173", tls=True), "http://localhost:5173")
