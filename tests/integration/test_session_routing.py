"""Session affinity with several workers: nginx maps the w<i>. prefix of Mcp-Session-Id to worker i."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from mcphttp import SESSION_ID_RE

SESSIONS = 60
CALLS_PER_SESSION = 5


def test_sessions_stay_on_their_worker(stack):
    assert stack.workers == 3
    mcp = stack.mcp()

    with ThreadPoolExecutor(max_workers=12) as pool:
        sids = list(pool.map(lambda _: mcp.open_session(), range(SESSIONS)))

    assert len(set(sids)) == SESSIONS
    nodes = Counter(int(SESSION_ID_RE.match(s)["node"]) for s in sids)
    assert set(nodes) <= set(range(1, stack.workers + 1)), nodes
    assert len(nodes) > 1, f"all sessions were created on one worker: {nodes}"

    jobs = [(sid, k) for k in range(CALLS_PER_SESSION) for sid in sids]

    def call(job):
        sid, k = job
        text = f"{sid}#{k} ✓"
        r = mcp.call_tool(sid, "echo", {"text": text}, id=f"{sid}-{k}")
        return sid, k, text, r

    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(call, jobs))

    assert len(results) == SESSIONS * CALLS_PER_SESSION
    statuses = Counter(r.status for *_, r in results)
    not_found = [(sid, k) for sid, k, _, r in results if r.status == 404]
    assert not not_found, f"{len(not_found)} calls got 404 (routed to the wrong worker): {not_found[:5]}"
    assert statuses == {200: SESSIONS * CALLS_PER_SESSION}, statuses
    for sid, k, text, r in results:
        body = r.json()
        assert body["id"] == f"{sid}-{k}", body
        assert body["result"]["content"] == [{"type": "text", "text": text}], body

    # Clean up: every session is deletable on its own worker exactly once.
    with ThreadPoolExecutor(max_workers=12) as pool:
        deleted = list(pool.map(lambda s: mcp.delete(s).status, sids))
    assert deleted == [200] * SESSIONS
