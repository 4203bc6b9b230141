"""Session management through nginx: many sessions over 3 workers, the management API answering for the
whole deployment (every worker asks its peers over FastCGI), its errors, and what a client cannot forge.

Session ownership (403 for another user, 401 for an anonymous request) is tested in-process
(Tests/MCPStreamableHTTPTests/ManagementOwnershipTests.swift): nginx authenticates nobody in this deployment, so
here we only check that a client cannot claim a user name with an unverified Basic header.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import signal
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import Stack
from mcphttp import SECURITY_HEADERS, SESSION_ID_RE, request

TOKEN = "it-management-token-0123456789"
SESSIONS = 300
CALLS_PER_SESSION = 10
UNAUTHORIZED = {"error": "unauthorized", "message": "Invalid or missing management token"}
BAD_TIMEOUT = {"error": "invalid_request", "message": "inactivityTimeoutMs must be a positive number"}
TIMESTAMP_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture(scope="module")
def managed():
    """3 workers with a management token, shared by this module's tests (each starts by cleaning up)."""
    s = Stack(workers=3, extra_env={"MANAGEMENT_TOKEN": TOKEN})
    try:
        s.start()
        yield s
    finally:
        s.cleanup()


def bearer(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def cleanup(stack: Stack, body: object | None = None, headers: dict[str, str] | None = None, raw: str | None = None):
    h = {"Content-Type": "application/json"} if body is not None or raw is not None else {}
    h.update(bearer() if headers is None else headers)
    data = raw if raw is not None else (json.dumps(body) if body is not None else None)
    return request(stack.port, "POST", "/management/cleanup", data, h)


def sessions(stack: Stack, headers: dict[str, str] | None = None):
    return request(stack.port, "GET", "/management/sessions", None, bearer() if headers is None else headers)


def reset(stack: Stack) -> None:
    r = cleanup(stack, {"inactivityTimeoutMs": 0})
    assert r.status == 200, r
    assert sessions(stack).json()["activeSessions"] == 0


def check_management_headers(r) -> None:
    assert r.header("Cache-Control") == "no-store", r
    assert r.header("Content-Type") == "application/json", r
    for name, value in SECURITY_HEADERS.items():
        assert r.header(name) == value, (name, r)


def test_300_sessions_with_10_calls_each_never_404_and_are_counted_and_cleaned_up(managed):
    reset(managed)
    mcp = managed.mcp()
    with ThreadPoolExecutor(max_workers=16) as pool:
        sids = list(pool.map(lambda _: mcp.open_session(), range(SESSIONS)))
    assert len(set(sids)) == SESSIONS
    per_node = Counter(f"w{SESSION_ID_RE.match(s)['node']}" for s in sids)
    assert set(per_node) <= {"w1", "w2", "w3"} and len(per_node) > 1, per_node

    def calls(sid: str) -> list[tuple[str, int, object]]:
        out = []
        for k in range(CALLS_PER_SESSION):
            r = mcp.call_tool(sid, "echo", {"text": f"{sid}#{k}"}, id=k)
            body = r.json() if r.status == 200 else None
            out.append((sid, r.status, body and body["result"]["content"][0]["text"] == f"{sid}#{k}"))
        return out

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = [x for chunk in pool.map(calls, sids) for x in chunk]
    assert len(results) == SESSIONS * CALLS_PER_SESSION
    statuses = Counter(status for _, status, _ in results)
    assert statuses[404] == 0, f"{statuses[404]} calls got 404"
    assert statuses == {200: SESSIONS * CALLS_PER_SESSION}, statuses
    assert all(ok for *_, ok in results)

    # The sessions endpoint adds up every worker, whichever worker nginx hands it to.
    for _ in range(3):
        r = sessions(managed)
        assert r.status == 200, r
        check_management_headers(r)
        body = r.json()
        assert body["activeSessions"] == SESSIONS, body
        assert body["unreachable"] == [], body
        assert [w["node"] for w in body["workers"]] == ["w1", "w2", "w3"], body
        assert {w["node"]: w["activeSessions"] for w in body["workers"]} == {
            n: per_node.get(n, 0) for n in ("w1", "w2", "w3")}, body

    # inactivityTimeoutMs 0 removes every idle session on every worker; their ids then get 404.
    r = cleanup(managed, {"inactivityTimeoutMs": 0})
    assert r.status == 200, r
    check_management_headers(r)
    body = r.json()
    assert body["success"] is True
    assert body["sessionsCleanedUp"] == SESSIONS, body
    assert body["inactivityTimeoutMs"] == 0
    assert TIMESTAMP_RE.match(body["timestamp"]), body
    assert {w["node"]: w["sessionsCleanedUp"] for w in body["workers"]} == {
        n: per_node.get(n, 0) for n in ("w1", "w2", "w3")}, body
    assert body["unreachable"] == []
    with ThreadPoolExecutor(max_workers=16) as pool:
        after = list(pool.map(lambda s: mcp.call(s, "ping").status, sids))
    assert after == [404] * SESSIONS
    assert sessions(managed).json()["activeSessions"] == 0


@pytest.mark.parametrize("headers", [
    {},
    {"Authorization": "Bearer wrong"},
    {"Authorization": f"Bearer {TOKEN[:-1]}"},
    {"Authorization": f"Bearer {TOKEN}x"},
    {"Authorization": f"Basic {base64.b64encode(TOKEN.encode()).decode()}"},
    {"Authorization": TOKEN},
], ids=["missing", "wrong", "prefix", "longer", "basic", "no-scheme"])
def test_missing_or_wrong_token_is_401_and_logged(managed, headers):
    mcp = managed.mcp()
    sid = mcp.open_session()
    before = managed.log().count("management request refused")
    r = cleanup(managed, {"inactivityTimeoutMs": 0}, headers=headers)
    assert r.status == 401, r
    assert r.json() == UNAUTHORIZED
    check_management_headers(r)
    s = sessions(managed, headers=headers)
    assert s.status == 401, s
    assert s.json() == UNAUTHORIZED
    # Nothing was removed, and each refusal was logged at warning with the client's address.
    assert mcp.call(sid, "ping").status == 200
    wait_for_log(managed, lambda log: log.count("management request refused") >= before + 2)
    refusals = [line for line in managed.log().splitlines() if "management request refused" in line]
    assert all("warning" in line and "http.remote.address=127.0.0.1" in line for line in refusals), refusals[-2:]
    assert mcp.delete(sid).status == 200


@pytest.mark.parametrize("raw, expected", [
    ('{"inactivityTimeoutMs": -1}', BAD_TIMEOUT),
    ('{"inactivityTimeoutMs": "60000"}', BAD_TIMEOUT),
    ('{"inactivityTimeoutMs": null}', BAD_TIMEOUT),
    ('{"inactivityTimeoutMs": true}', BAD_TIMEOUT),
    ('{"inactivityTimeoutMs": [1]}', BAD_TIMEOUT),
    ("not json", None),
    ("[60000]", None),
])
def test_bad_body_is_400(managed, raw, expected):
    r = cleanup(managed, raw=raw)
    assert r.status == 400, r
    check_management_headers(r)
    body = r.json()
    if expected is not None:
        assert body == expected
    else:
        assert body["error"] == "invalid_request", body


def test_token_is_checked_before_the_body(managed):
    r = cleanup(managed, raw='{"inactivityTimeoutMs": -1}', headers=bearer("nope"))
    assert r.status == 401, r


def test_default_and_custom_timeouts(managed):
    reset(managed)
    mcp = managed.mcp()
    old = [mcp.open_session() for _ in range(6)]
    time.sleep(1.5)
    fresh = [mcp.open_session() for _ in range(3)]

    # No body: 300000 ms, so nothing this young goes.
    r = cleanup(managed)
    assert r.status == 200, r
    body = r.json()
    assert body["inactivityTimeoutMs"] == 300000
    assert body["sessionsCleanedUp"] == 0
    assert len(body["workers"]) == 3
    # An empty object means the default too.
    assert cleanup(managed, {}).json()["inactivityTimeoutMs"] == 300000

    # 1000 ms: the six older sessions go (on whichever workers they live), the three fresh ones stay.
    r = cleanup(managed, {"inactivityTimeoutMs": 1000})
    body = r.json()
    assert body["inactivityTimeoutMs"] == 1000
    assert body["sessionsCleanedUp"] == len(old), body
    assert sum(w["sessionsCleanedUp"] for w in body["workers"]) == len(old)
    assert [mcp.call(s, "ping").status for s in old] == [404] * len(old)
    assert [mcp.call(s, "ping").status for s in fresh] == [200] * len(fresh)
    assert sessions(managed).json()["activeSessions"] == len(fresh)
    for s in fresh:
        assert mcp.delete(s).status == 200


def test_wrong_method_is_405(managed):
    r = request(managed.port, "GET", "/management/cleanup", headers=bearer())
    assert r.status == 405, r
    assert r.header("Allow") == "POST"
    r = request(managed.port, "POST", "/management/sessions", "{}", {**bearer(), "Content-Type": "application/json"})
    assert r.status == 405, r


def test_a_client_cannot_forge_a_peer_request(managed):
    """MCPFCGI-Peer: 1 reaches the worker as HTTP_MCPFCGI_PEER, not MCPFCGI_PEER: the answer still covers all."""
    r = request(managed.port, "GET", "/management/sessions", headers={**bearer(), "MCPFCGI-Peer": "1",
                                                                       "MCPFCGI_PEER": "1"})
    assert r.status == 200, r
    assert [w["node"] for w in r.json()["workers"]] == ["w1", "w2", "w3"]


def test_health_stays_open(managed):
    r = request(managed.port, "GET", "/health")
    assert r.status == 200, r
    assert r.json()["status"] == "healthy"


def test_an_unverified_basic_user_does_not_own_a_session(managed):
    """nginx authenticates nobody here, so REMOTE_USER is sent empty: a Basic header binds nothing."""
    mcp = managed.mcp()

    def basic(user: str) -> dict[str, str]:
        return {"Authorization": "Basic " + base64.b64encode(f"{user}:pw".encode()).decode()}

    r = mcp.post({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                  "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                             "clientInfo": {"name": "t", "version": "1"}}}, extra_headers=basic("alice"))
    sid = r.header("Mcp-Session-Id")
    assert r.status == 200 and sid, r
    assert mcp.call(sid, "ping", extra_headers=basic("mallory")).status == 200
    assert mcp.call(sid, "ping").status == 200
    assert mcp.delete(sid).status == 200


def test_unreachable_peer_is_reported_not_500():
    s = Stack(workers=3, extra_env={"MANAGEMENT_TOKEN": TOKEN})
    try:
        s.start()
        mcp = s.mcp()
        sids = [mcp.open_session() for _ in range(9)]
        on_w3 = sum(1 for sid in sids if sid.startswith("w3."))
        w3 = s.worker_pid(3)
        os.kill(w3, signal.SIGSTOP)  # its socket still accepts, but nobody answers
        try:
            # Mcp-Session-Id with a w1 prefix makes nginx hand the request to w1 (never to the stopped w3).
            started = time.monotonic()
            r = request(s.port, "GET", "/management/sessions", headers={**bearer(), "Mcp-Session-Id": "w1.x"})
            elapsed = time.monotonic() - started
            assert r.status == 200, r
            body = r.json()
            assert body["unreachable"] == ["w3"], body
            assert [w["node"] for w in body["workers"]] == ["w1", "w2"], body
            assert elapsed < 5, elapsed
            c = request(s.port, "POST", "/management/cleanup", '{"inactivityTimeoutMs": 0}',
                        {**bearer(), "Content-Type": "application/json", "Mcp-Session-Id": "w2.x"})
            assert c.status == 200, c
            assert c.json()["unreachable"] == ["w3"]
            assert c.json()["sessionsCleanedUp"] == len(sids) - on_w3
        finally:
            os.kill(w3, signal.SIGCONT)
        wait_for_log(s, lambda log: "management peer gave no answer" in log)
        # w3 answers again once resumed. The requests that timed out were still queued on its socket, so the
        # cleanup may have run there after all: "unreachable" means "no answer in time", not "not done".
        after = request(s.port, "GET", "/management/sessions", headers={**bearer(), "Mcp-Session-Id": "w1.x"}).json()
        assert after["unreachable"] == [], after
        counts = {w["node"]: w["activeSessions"] for w in after["workers"]}
        assert counts["w1"] == counts["w2"] == 0 and counts["w3"] in (0, on_w3), after
    finally:
        s.cleanup()


def test_management_is_off_without_a_token(stack):
    for method, path in [("POST", "/management/cleanup"), ("GET", "/management/sessions")]:
        r = request(stack.port, method, path, '{"inactivityTimeoutMs": 0}' if method == "POST" else None,
                    {**bearer(), "Content-Type": "application/json"})
        assert r.status == 404, r
        assert r.json()["error"] == "not_found"


def wait_for_log(stack: Stack, predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate(stack.log()):
        if time.monotonic() >= deadline:
            raise AssertionError(f"log condition not met:\n{stack.log()[-2000:]}")
        time.sleep(0.05)


def test_management_is_reachable_through_nginx_from_allowed_addresses_only(managed):
    # nginx lets only MANAGEMENT_ALLOW (default 127.0.0.1 and ::1) reach /management/: another address gets 403
    # from nginx itself, whatever token it carries, and the workers never see the request.
    conn = http.client.HTTPConnection("127.0.0.1", managed.port, timeout=10, source_address=("127.0.0.2", 0))
    try:
        conn.request("GET", "/management/sessions", headers=bearer())
        r = conn.getresponse()
        body = r.read()
        assert r.status == 403, (r.status, body[:200])
    finally:
        conn.close()
    assert sessions(managed).status == 200


def test_management_is_throttled_per_address_by_nginx():
    # Guessing the token at line rate is throttled before any worker: 10 a second, a burst of 50, then 429.
    s = Stack(workers=1, extra_env={"MANAGEMENT_TOKEN": TOKEN})
    try:
        s.start()
        statuses = [sessions(s, headers=bearer("guess")).status for _ in range(80)]
        assert statuses.count(401) >= 50, statuses
        assert 429 in statuses, statuses
        assert set(statuses) <= {401, 429}, statuses
    finally:
        s.cleanup()
