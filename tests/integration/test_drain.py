"""SIGTERM on a worker: it stops accepting, finishes what it has in flight, and exits cleanly.

Each test runs its own stack (WORKERS=1, THREADS=4). The worker's pid is $RUN_DIR/w1.pid: run.sh starts
``spawn-fcgi -n … -- mcp-fcgi-demo`` in the background, and spawn-fcgi -n execs the app, so that pid is
the app itself. The worker is run.sh's child, not ours, so its exit status is read from its log: the
line "drained; all accept threads stopped" is written just before run() returns and main exits with 0
(a drain that times out logs "drain timeout reached" instead).
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

from conftest import proc_alive, wait_until
from mcphttp import rpc_response_from_sse, ACCEPT_BOTH, PROTOCOL_VERSION

THREADS = 4
SUCCESS_TEXT = "Tool with logging executed successfully"
DRAINED_LINE = "drained; all accept threads stopped"
# The socket accounting below counts one connection per call: these scenarios run with a connection per request
# (KEEP_CONNECTIONS=0). Kept connections have a drain test of their own (test_sigterm_with_kept_connections).
PER_CONNECTION = {"DRAIN_TIMEOUT": "10", "KEEP_CONNECTIONS": "0"}
TIMEOUT_LINE = "drain timeout reached"


def worker_connections(sock: Path) -> tuple[int, int]:
    """(connections the worker has accepted, connections waiting in its listen backlog) on its socket."""
    out = subprocess.run(["ss", "-xanH"], capture_output=True, text=True, timeout=5).stdout
    accepted = queued = 0
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 5 and f[4] == str(sock):
            if f[1] == "LISTEN":
                queued += int(f[2])
            elif f[1] == "ESTAB":
                accepted += 1
    return accepted, queued


def run_drain_scenario(stack, calls: int):
    mcp = stack.mcp()
    sids = [mcp.open_session() for _ in range(calls)]
    assert all(s.startswith("w1.") for s in sids)

    pid = stack.worker_pid(1)
    exe = os.readlink(f"/proc/{pid}/exe")
    assert Path(exe).name == "mcp-fcgi-demo" and Path(exe).parent == stack.run_dir / "bin", exe
    assert proc_alive(pid)

    results: list = [None] * calls
    barrier = threading.Barrier(calls + 1)

    def worker(i: int):
        conn = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=30)
        try:
            conn.connect()
            barrier.wait(10)
            body = json.dumps({"jsonrpc": "2.0", "id": i, "method": "tools/call",
                               "params": {"name": "test_tool_with_logging", "arguments": {}}})
            conn.request("POST", "/mcp", body, {
                "Content-Type": "application/json", "Accept": ACCEPT_BOTH, "Mcp-Session-Id": sids[i],
                "MCP-Protocol-Version": PROTOCOL_VERSION})
            r = conn.getresponse()
            results[i] = (r.status, r.read())
        except Exception as e:  # noqa: BLE001 - reported in the assertion below
            results[i] = ("exception", repr(e))
        finally:
            conn.close()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(calls)]
    for t in threads:
        t.start()
    barrier.wait(10)
    released = time.monotonic()
    # ~30 ms in, every request has been handed to the worker (each call takes ~100 ms); wait a little more
    # only if nginx has not forwarded them all yet.
    time.sleep(0.03)
    accepted, queued = worker_connections(stack.worker_socket(1))
    while accepted + queued < calls and time.monotonic() - released < 0.08:
        time.sleep(0.002)
        accepted, queued = worker_connections(stack.worker_socket(1))
    os.kill(pid, signal.SIGTERM)
    signalled_after = time.monotonic() - released

    for t in threads:
        t.join(40)
    assert not any(t.is_alive() for t in threads), "some calls never completed"

    wait_until(lambda: not proc_alive(pid), 15, what=f"worker {pid} to exit after SIGTERM")
    wait_until(lambda: DRAINED_LINE in stack.log() or TIMEOUT_LINE in stack.log(), 5,
               what="the worker's last log line ('drained' or 'drain timeout')")
    return results, dict(accepted=accepted, queued=queued, signalled_after_ms=round(signalled_after * 1000))


def worker_log(stack) -> str:
    return "\n".join(line for line in stack.log().splitlines() if "mcp-fcgi-demo:" in line)


def check_all_succeeded(results, state, stack):
    failed = {}
    for i, res in enumerate(results):
        ok = False
        if res is not None and res[0] == 200:
            try:
                body = json.loads(res[1])
            except ValueError:
                try:
                    body = rpc_response_from_sse(res[1])
                except (AssertionError, ValueError):
                    body = {}
            ok = body.get("id") == i and body.get("result", {}).get("content") == [
                {"type": "text", "text": SUCCESS_TEXT}]
        if not ok:
            failed[i] = res
    assert not failed, (
        f"{len(failed)} of {len(results)} in-flight calls were dropped by the drain "
        f"(at SIGTERM the worker had {state['accepted']} accepted and {state['queued']} queued connections, "
        f"{state['signalled_after_ms']} ms after the calls started): "
        + "; ".join(f"#{i}: {str(r)[:120]}" for i, r in list(failed.items())[:4])
        + "\n--- worker log ---\n" + worker_log(stack))
    # Clean exit (status 0): the drain finished and run() returned.
    assert TIMEOUT_LINE not in stack.log(), worker_log(stack)
    assert stack.log().count(DRAINED_LINE) == 1, worker_log(stack)


def test_sigterm_finishes_requests_being_served(make_stack):
    """As many calls as accept threads: all of them are being served when SIGTERM arrives."""
    stack = make_stack(workers=1, threads=THREADS, extra_env=PER_CONNECTION)
    results, state = run_drain_scenario(stack, calls=THREADS)
    assert state["accepted"] + state["queued"] == THREADS, state
    check_all_succeeded(results, state, stack)


def test_sigterm_drains_all_in_flight_requests(make_stack):
    """16 concurrent calls on 4 accept threads: none may be dropped, including those nginx has already
    handed to the worker's socket that wait for a free accept thread."""
    stack = make_stack(workers=1, threads=THREADS, extra_env=PER_CONNECTION)
    results, state = run_drain_scenario(stack, calls=16)
    assert state["accepted"] + state["queued"] == 16, state  # all 16 were in flight at the worker
    check_all_succeeded(results, state, stack)


def test_sigterm_with_kept_connections(make_stack):
    """nginx keeps connections to the worker (KEEP_CONNECTIONS, the default): SIGTERM while 16 calls are in flight
    on 4 accept threads, some on kept connections that were idle a moment before. The drain closes the idle ones at
    once, serves every request already sent on one, and exits without waiting for its deadline."""
    stack = make_stack(workers=1, threads=THREADS, extra_env={"DRAIN_TIMEOUT": "10"})
    sock = stack.worker_socket(1)
    for _ in range(8):
        assert stack.get("/health").status == 200
    # nginx kept the connections of those requests: open, idle, and no accept thread waits on them.
    wait_until(lambda: worker_connections(sock)[0] >= 1, 5, what="a kept connection to the worker")
    started = time.monotonic()
    results, state = run_drain_scenario(stack, calls=16)
    check_all_succeeded(results, state, stack)
    assert time.monotonic() - started < 8, "the drain waited for its deadline"
    assert worker_connections(sock) == (0, 0)
