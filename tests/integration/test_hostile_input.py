"""Hostile identifiers through nginx (issue #14, "one request freezes a worker").

A `resources/read` URI used to be matched against the resource templates by backtracking, quadratic in its length
for the demo's `test://template/{id}/data` (a 200 KB URI took 10.9 s) and worse for templates with several
expressions in a segment, under the server-wide registry lock. Now identifiers are bounded
(`IdentifierLimits`: 8 KiB URIs, 256-byte names) before any lookup, and matching is linear and runs outside the
lock, so such a request is refused at once and the worker keeps answering everyone else.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from mcphttp import MCPHTTP

INVALID_PARAMS = -32602
RESOURCE_NOT_FOUND = -32002
# A segment the demo's template `test://template/{id}/data` would take, without the `/data` it needs: the old
# matcher tried every end of the 200 KB value.
HOSTILE_URI = "test://template/" + "a" * 200 * 1024
TEMPLATE_TEXT = '{"id":"123","templateTest":true,"data":"Data for ID: 123"}'


def error_of(r) -> dict:
    assert r.status == 200, r
    body = r.json()
    assert "error" in body, body
    return body["error"]


def test_long_resource_uri_is_refused_quickly(mcp: MCPHTTP):
    sid = mcp.open_session()
    start = time.monotonic()
    error = error_of(mcp.call(sid, "resources/read", {"uri": HOSTILE_URI}, id=2))
    elapsed = time.monotonic() - start
    assert error["code"] == INVALID_PARAMS, error
    assert "the limit is 8192 bytes" in error["message"] and "maxURIBytes" in error["message"], error
    assert len(error["message"]) < 300, "the message must not quote the URI"
    assert elapsed < 2.0, f"refusing a 200 KB URI took {elapsed:.2f}s"


def test_uri_at_the_limit_is_matched_quickly(mcp: MCPHTTP):
    """The longest accepted URI, of the same hostile shape, is matched (and not found) at once."""
    sid = mcp.open_session()
    uri = "test://template/" + "a" * (8192 - len("test://template/"))
    start = time.monotonic()
    error = error_of(mcp.call(sid, "resources/read", {"uri": uri}, id=2))
    elapsed = time.monotonic() - start
    assert error["code"] == RESOURCE_NOT_FOUND, error
    assert elapsed < 2.0, f"matching an 8 KiB URI took {elapsed:.2f}s"


def test_long_tool_name_is_refused(mcp: MCPHTTP):
    sid = mcp.open_session()
    error = error_of(mcp.call_tool(sid, "t" * 100_000, id=2))
    assert error["code"] == INVALID_PARAMS, error
    assert "the limit is 256 bytes" in error["message"] and "maxNameBytes" in error["message"], error


def test_worker_keeps_serving_during_hostile_reads(mcp: MCPHTTP):
    """Hostile reads and ordinary ones on the same session (so the same worker), at the same time: every ordinary
    read is answered promptly and correctly."""
    sid = mcp.open_session()

    def hostile(i: int):
        return mcp.call(sid, "resources/read", {"uri": HOSTILE_URI}, id=f"hostile-{i}", timeout=30)

    def ordinary(i: int):
        start = time.monotonic()
        r = mcp.call(sid, "resources/read", {"uri": "test://template/123/data"}, id=f"ok-{i}", timeout=30)
        return r, time.monotonic() - start

    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=8) as pool:
        bad = [pool.submit(hostile, i) for i in range(8)]
        good = [pool.submit(ordinary, i) for i in range(8)]
        answers = [f.result() for f in good]
        refusals = [f.result() for f in bad]
    total = time.monotonic() - start
    for r, elapsed in answers:
        assert r.status == 200, r
        assert r.json()["result"]["contents"][0]["text"] == TEMPLATE_TEXT, r
        assert elapsed < 5.0, f"an ordinary read waited {elapsed:.2f}s behind hostile ones"
    for r in refusals:
        assert error_of(r)["code"] == INVALID_PARAMS, r
    assert total < 10.0, f"8 hostile and 8 ordinary reads took {total:.2f}s"
    # And afterwards the session still works.
    assert mcp.call(sid, "ping", id="after").json()["result"] == {}
