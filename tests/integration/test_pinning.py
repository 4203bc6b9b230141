"""Open streams must not pin accept threads, and server→client requests must not deadlock: a private stack
with one worker and only two accept threads (WORKERS=1 THREADS=2).

* 500 open GET streams (raw sockets, each past its priming event), then 50 ping/echo POSTs: all answered
  quickly, while the 500 FastCGI connections stay open.
* 10 concurrent test_sampling calls from 10 sessions: each sampling request is read off its POST stream
  and answered with a separate POST (202); all 10 complete with their own reply — with 2 threads this
  only works when a waiting handler holds no accept thread.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import Stack, wait_until
from mcphttp import PROTOCOL_VERSION
from rawsse import (call_tool_stream, get_stream, is_priming, open_session, result_text, sampling_answer,
                    socket_connections)

THREADS = 2
STREAMS = 500
SESSIONS = 40
CALLS = 50


@pytest.fixture(scope="module")
def small():
    # All streams come from one address: nginx's per-address stream limit (STREAMS_PER_ADDRESS) is raised above them.
    # A connection per request (KEEP_CONNECTIONS=0): the counts below take one FastCGI connection per stream. Kept
    # connections have their own stack (kept_small).
    s = Stack(workers=1, threads=THREADS, extra_env={"STREAMS_PER_ADDRESS": str(STREAMS + 100), "KEEP_CONNECTIONS": "0"})
    try:
        s.start()
        yield s
    finally:
        s.cleanup()


def test_the_private_stack_runs_one_worker_with_two_accept_threads(small):
    assert f"threads={THREADS}" in small.log(), small.log()


def call_once(mcp, sid: str, i: int):
    started = time.monotonic()
    if i % 2:
        r = mcp.call_tool(sid, "echo", {"text": f"echo {i}"}, id=i, timeout=5)
        ok = r.status == 200 and r.json() == {"jsonrpc": "2.0", "id": i,
                                              "result": {"content": [{"type": "text", "text": f"echo {i}"}]}}
    else:
        r = mcp.call(sid, "ping", id=i, timeout=5)
        ok = r.status == 200 and r.json() == {"jsonrpc": "2.0", "id": i, "result": {}}
    return ok, r, time.monotonic() - started


def test_500_open_get_streams_do_not_pin_the_accept_threads(small):
    mcp = small.mcp()
    sock = small.worker_socket(1)
    sids = [open_session(mcp) for _ in range(SESSIONS)]
    streams = []
    try:
        for i in range(STREAMS):
            streams.append(get_stream(small.port, sids[i % SESSIONS], timeout=10))
        primings = [s.next_event(timeout=5) for s in streams]
        assert all(s.status == 200 for s in streams)
        assert all(is_priming(p, sequence=0) for p in primings), [p for p in primings if not is_priming(p)][:3]
        # Every stream really holds its own FastCGI connection to the worker.
        wait_until(lambda: socket_connections(sock) >= STREAMS, 3, what=f"{STREAMS} FastCGI connections")

        started = time.monotonic()
        with ThreadPoolExecutor(10) as pool:
            results = list(pool.map(lambda i: call_once(mcp, sids[i % SESSIONS], i), range(CALLS)))
        elapsed = time.monotonic() - started
        failed = [(i, r) for i, (ok, r, _) in enumerate(results) if not ok]
        assert not failed, failed[:3]
        slowest = max(t for _, _, t in results)
        assert slowest < 2.0 and elapsed < 10.0, (slowest, elapsed)

        # The streams are still open and healthy afterwards.
        assert socket_connections(sock) >= STREAMS
        for s in streams[:: STREAMS // 10]:
            with pytest.raises(TimeoutError):
                s.next_event(timeout=0.01)
    finally:
        for s in streams:
            s.close()
    # All 500 connections are freed at once.
    wait_until(lambda: socket_connections(sock) == 0, 1.0, interval=0.01, what="the worker to free 500 streams")
    ok, r, _ = call_once(mcp, sids[0], 1001)
    assert ok, r


def test_10_concurrent_sampling_calls_answered_by_separate_posts(small):
    mcp = small.mcp()
    n = 10
    sids = [open_session(mcp, {"sampling": {}}) for _ in range(n)]
    barrier = threading.Barrier(n)

    def one(i: int):
        barrier.wait(10)
        with call_tool_stream(small.port, sids[i], "test_sampling", {"prompt": f"prompt {i}"}, id=100 + i,
                              timeout=15) as s:
            priming = s.next_event(timeout=10)
            request = s.next_event(timeout=10)["data"]
            # Every sampling request is out (10 handlers waiting) before anyone answers.
            barrier.wait(10)
            answer = mcp.post(sampling_answer(request["id"], f"reply {i}"), session_id=sids[i],
                              protocol_version=PROTOCOL_VERSION, timeout=10)
            rest = s.events_until_end(timeout=10)
        return priming, request, answer, rest

    started = time.monotonic()
    with ThreadPoolExecutor(n) as pool:
        results = list(pool.map(one, range(n)))
    elapsed = time.monotonic() - started
    for i, (priming, request, answer, rest) in enumerate(results):
        assert is_priming(priming, sequence=0), priming
        assert request["method"] == "sampling/createMessage", request
        assert request["params"]["messages"][0]["content"]["text"] == f"prompt {i}"
        assert answer.status == 202 and answer.body == b"", answer
        assert len(rest) == 1, rest
        assert result_text(rest[0], 100 + i) == f"LLM response: reply {i}"
    assert len({r[1]["id"] for r in results}) == n, "server→client request ids must be unique"
    assert elapsed < 10, elapsed


def test_disconnected_streams_do_not_hold_the_worker(small):
    mcp = small.mcp()
    sock = small.worker_socket(1)
    sids = [open_session(mcp, {"sampling": {}}) for _ in range(10)]
    streams = []
    try:
        for i, sid in enumerate(sids):
            g = get_stream(small.port, sid)
            p = call_tool_stream(small.port, sid, "test_sampling", {"prompt": "p"}, id=i)
            streams += [g, p]
        for s in streams:
            assert is_priming(s.next_event(timeout=5))
        wait_until(lambda: socket_connections(sock) >= 20, 3, what="20 FastCGI connections")
    finally:
        for s in streams:
            s.close()
    wait_until(lambda: socket_connections(sock) == 0, 1.0, interval=0.01, what="the worker to free 20 streams")
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda i: call_once(mcp, sids[i % 10], i), range(20)))
    assert all(ok for ok, _, _ in results), [r for ok, r, _ in results if not ok][:3]


@pytest.fixture(scope="module")
def kept_small():
    """Kept connections (KEEP_CONNECTIONS=16, the default) to one worker with two accept threads."""
    s = Stack(workers=1, threads=THREADS)
    try:
        s.start()
        yield s
    finally:
        s.cleanup()


def test_idle_kept_connections_do_not_pin_the_accept_threads(kept_small):
    """nginx keeps more idle FastCGI connections to the worker than it has accept threads: a classic libfcgi worker
    would have each thread waiting on one of them and answer nothing more. Here they wait in epoll; every call is
    answered at once, over and over, from many connections."""
    mcp = kept_small.mcp()
    sock = kept_small.worker_socket(1)
    sids = [open_session(mcp) for _ in range(SESSIONS)]
    for _ in range(3):
        started = time.monotonic()
        with ThreadPoolExecutor(16) as pool:
            results = list(pool.map(lambda i: call_once(mcp, sids[i % SESSIONS], i), range(CALLS)))
        assert all(ok for ok, _, _ in results), [r for ok, r, _ in results if not ok][:3]
        assert max(t for _, _, t in results) < 2.0 and time.monotonic() - started < 10.0
        # Between the rounds, more connections stay open (idle, kept by nginx) than there are accept threads.
        wait_until(lambda: socket_connections(sock) > THREADS, 2, what=f"more than {THREADS} kept connections")
    assert "threads=2" in kept_small.log()
