"""A deployment that survives its workers: run.sh supervises (restarts with backoff, gives up loudly, reloads
one worker at a time), under stateless load through real nginx and spawn-fcgi.

Figures: each test prints one line starting with "FIGURE" (shown with ``pytest -s``); README's fault table
quotes a run of them.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import time
from pathlib import Path

import pytest

from conftest import RUN_SH, ROOT, proc_alive, wait_until
from fcgiclient import fastcgi_request
from loadgen import NOT_SENT, Load

THREADS = 4


def figure(text: str) -> None:
    print(f"FIGURE {text}")


def worker_back(stack, i: int, old_pid: int, timeout: float) -> float:
    """Seconds until worker ``i`` runs again under a new pid and answers /health on its own socket."""
    start = time.monotonic()

    def serving() -> bool:
        try:
            pid = stack.worker_pid(i)
        except (OSError, ValueError):
            return False
        if pid == old_pid or not proc_alive(pid) or not stack.worker_socket(i).exists():
            return False
        try:
            r = fastcgi_request(str(stack.worker_socket(i)), "GET", "/health", timeout=1.0)
            ok = r.status == 200
            r.close()
            return ok
        except OSError:
            return False

    wait_until(serving, timeout, interval=0.01, what=f"worker w{i} to serve again")
    return time.monotonic() - start


def health_ok(stack) -> bool:
    return all(stack.get("/health").status == 200 for _ in range(2 * stack.workers))


def control(stack, command: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, RUN_DIR=str(stack.run_dir))
    return subprocess.run(["bash", str(RUN_SH), command], env=env, capture_output=True, text=True, timeout=timeout)


def signal_one_worker_under_load(stack, sig: int) -> tuple[list, Load, float, float]:
    """Sends ``sig`` to worker w2 while stateless load runs; returns the failed outcomes, the load, the
    seconds until w2 serves again (at most 2 s) and the monotonic time of the signal."""
    load = Load(stack.port).start()
    load.wait_for(200)
    old = stack.worker_pid(2)
    signalled_at = time.monotonic()
    os.kill(old, sig)
    back = worker_back(stack, 2, old, timeout=2.0)
    time.sleep(0.5)
    outcomes = load.stop()
    return [o for o in outcomes if o.result != 200], load, back, signalled_at


def test_sigterm_of_one_worker_under_load_fails_no_request(make_stack):
    stack = make_stack(workers=3, threads=THREADS)
    failures, load, back, _ = signal_one_worker_under_load(stack, signal.SIGTERM)
    figure(f"(a) SIGTERM 1 of 3 workers: {len(load.outcomes)} answers, {len(failures)} failed, back in {back:.2f} s")
    assert failures == [], load.summary()
    assert back < 2.0
    assert proc_alive(stack.pid_from("nginx.pid.run"))
    assert "restarting it in 0 ms" in stack.log()
    assert health_ok(stack)


def test_kill_9_of_one_worker_under_load_fails_at_most_its_in_flight_requests(make_stack):
    stack = make_stack(workers=3, threads=THREADS)
    failures, load, back, killed_at = signal_one_worker_under_load(stack, signal.SIGKILL)
    figure(f"(b) kill -9 1 of 3 workers: {len(load.outcomes)} answers, {len(failures)} failed "
           f"({sorted(set(str(o.result) for o in failures))}), back in {back:.2f} s")
    # Only requests the killed worker held while it died can fail: those its accept threads were serving and
    # those queued in its socket's listen backlog (nginx had written them, so it cannot pass a POST on). Each
    # was sent before the process was gone (the kernel tears it down a few ms after the signal; 50 ms is the
    # margin) and answered after the signal; no client thread loses two, and nginx passes every later
    # request to a live worker while w2 is gone.
    assert len(failures) <= load.threads, load.summary()
    assert all(o.start <= killed_at + 0.05 and o.end >= killed_at for o in failures), \
        [(o.start - killed_at, o.end - killed_at, o.result) for o in failures]
    assert all(o.result == 502 for o in failures), load.summary()
    assert back < 2.0
    assert "killed by signal 9" in stack.log()
    assert health_ok(stack)


def nginx_workers_of(master: int) -> list[int]:
    """The nginx worker processes whose process group is the master's (run.sh starts nginx with setsid)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        # Fields after "(comm)": state, ppid, pgrp, ...
        if int(fields[2]) == master and fields[0] not in ("Z", "X") and b"worker process" in cmdline:
            out.append(int(entry))
    return out


def test_kill_9_of_nginx_restarts_it_without_orphaned_workers(make_stack):
    stack = make_stack(workers=2)
    master = stack.pid_from("nginx.pid.run")
    old_workers = wait_until(lambda: nginx_workers_of(master), 5, what="nginx worker processes")
    os.kill(master, signal.SIGKILL)
    wait_until(lambda: stack.pid_from("nginx.pid.run") != master and proc_alive(stack.pid_from("nginx.pid.run")),
               5, what="a new nginx")
    # The killed master's worker processes are gone (they would otherwise accept on the ports with the old
    # configuration), and the new nginx serves.
    wait_until(lambda: not any(proc_alive(p) for p in old_workers), 5, what="the old nginx workers to end")
    assert "nginx exited (killed by signal 9)" in stack.log()
    def serving() -> bool:
        try:
            return health_ok(stack)
        except OSError:
            return False

    wait_until(serving, 10, what="health through the new nginx")


def test_sigterm_of_the_deployment_answers_every_accepted_request(make_stack):
    stack = make_stack(workers=3, threads=THREADS)
    # Fresh connections per request: one refused or reset before a response byte never reached a worker.
    quick = Load(stack.port, threads=4, keep_alive=False).start()
    slow = Load(stack.port, threads=6, keep_alive=False, tool="test_tool_with_logging", arguments={},
                expect_text=None).start()
    quick.wait_for(50)
    slow.wait_for(6)
    stack.proc.send_signal(signal.SIGTERM)
    stack.proc.wait(30)
    time.sleep(0.2)
    outcomes = quick.stop() + slow.stop()
    answered = [o for o in outcomes if isinstance(o.result, int)]
    not_sent = [o for o in outcomes if o.result in NOT_SENT]
    bad = [o.result for o in outcomes if o.result != 200 and o.result not in NOT_SENT]
    figure(f"(c) SIGTERM to the deployment: {len(answered)} answered, {len(bad)} bad answers, "
           f"{len(not_sent)} refused after the listeners closed")
    assert bad == [], (quick.summary(), slow.summary())
    assert stack.proc.returncode == 0
    for i in range(1, 4):
        assert "drained; all accept threads stopped" in stack.log() or not stack.worker_socket(i).exists()


def test_restart_backoff_and_give_up_then_reload_revives(make_stack):
    stack = make_stack(workers=2, threads=THREADS, extra_env={"RESTART_LIMIT": "3", "RESTART_WINDOW": "60"})
    # A configuration the worker refuses at start-up: it exits at once, every time.
    (stack.run_dir / "worker.env").write_text("MCPFCGI_THREADS=not-a-number\n")
    old = stack.worker_pid(2)
    os.kill(old, signal.SIGKILL)
    wait_until(lambda: "GIVING UP on w2" in stack.log(), 15, what="the supervisor to give up on w2")
    log = stack.log()
    pauses = [line.split("restarting it in ")[1].split(" ms")[0] for line in log.splitlines()
              if "w2 exited" in line and "restarting it in" in line]
    figure(f"(backoff) pauses before the restarts of a crash-looping worker: {pauses} ms, then given up")
    assert pauses[:3] == ["0", "100", "200"], log
    # The other worker and nginx go on serving.
    assert proc_alive(stack.worker_pid(1)) and proc_alive(stack.pid_from("nginx.pid.run"))
    assert stack.get("/health").status == 200
    # Fix the configuration; a reload starts the given-up worker again.
    (stack.run_dir / "worker.env").write_text("")
    r = control(stack, "reload")
    assert r.returncode == 0, r.stderr
    worker_back(stack, 2, old, timeout=5.0)
    assert health_ok(stack)
    assert stack.proc.poll() is None, "the deployment stops only when its supervisor is told to"


def test_rolling_reload_under_stateless_load_fails_no_request(make_stack):
    stack = make_stack(workers=3, threads=THREADS)
    before = {i: stack.worker_pid(i) for i in range(1, 4)}
    load = Load(stack.port).start()
    load.wait_for(200)
    start = time.monotonic()
    r = control(stack, "reload")
    took = time.monotonic() - start
    time.sleep(0.5)
    outcomes = load.stop()
    failures = [o.result for o in outcomes if o.result != 200]
    figure(f"(reload) rolling restart of 3 workers under load: {len(outcomes)} answers, {len(failures)} failed, "
           f"{took:.2f} s")
    assert r.returncode == 0, r.stderr
    assert failures == [], load.summary()
    after = {i: stack.worker_pid(i) for i in range(1, 4)}
    assert all(after[i] != before[i] and proc_alive(after[i]) for i in range(1, 4)), (before, after)
    assert all(not proc_alive(pid) for pid in before.values())
    assert "reload: done" in stack.log()
    assert stack.proc.poll() is None


def test_reload_reaches_a_supervisor_started_under_nohup(make_stack):
    # nohup makes the supervisor ignore SIGHUP (bash cannot trap it then): `run.sh reload` sends SIGUSR2 instead.
    stack = make_stack(workers=2, threads=2, launcher=["nohup"])
    status = Path(f"/proc/{stack.proc.pid}/status").read_text()
    ignored = int(next(line.split()[1] for line in status.splitlines() if line.startswith("SigIgn:")), 16)
    assert ignored & 1, "the supervisor under nohup ignores SIGHUP"
    before = {i: stack.worker_pid(i) for i in range(1, 3)}
    r = control(stack, "reload")
    assert r.returncode == 0, r.stderr + stack.log()
    after = {i: stack.worker_pid(i) for i in range(1, 3)}
    assert all(after[i] != before[i] and proc_alive(after[i]) for i in range(1, 3)), (before, after)
    assert "reload: done" in stack.log()
    assert health_ok(stack)
    assert stack.proc.poll() is None


def test_a_stopped_peer_delays_management_only_by_its_timeout(make_stack):
    token = "mgmt-" + os.urandom(6).hex()
    stack = make_stack(workers=2, threads=THREADS, extra_env={"MANAGEMENT_TOKEN": token})
    mcp = stack.mcp()
    # Sessions on w1 (initialize goes to any worker: open until one lands there).
    sid = next(s for s in (mcp.open_session() for _ in range(20)) if s.startswith("w1."))
    hung = stack.worker_pid(2)
    os.kill(hung, signal.SIGSTOP)
    try:
        auth = {"Authorization": f"Bearer {token}"}
        # Ask w1 directly on its socket: it answers for itself and reports w2 unreachable within its timeout.
        start = time.monotonic()
        r = fastcgi_request(str(stack.worker_socket(1)), "GET", "/management/sessions", headers=auth, timeout=10)
        body = r.read_until(b"\x00", timeout=10)  # a byte JSON never holds: read to END_REQUEST
        took = time.monotonic() - start
        r.close()
        figure(f"(e) management with a stopped peer answered in {took:.2f} s")
        assert took < 4.0
        assert b'"unreachable":["w2"]' in body.replace(b" ", b""), body
        # Everything that does not need w2 is unaffected: w1's session serves at normal speed.
        times = []
        for _ in range(20):
            t = time.monotonic()
            res = mcp.call_tool(sid, "echo", {"text": "x"})
            times.append(time.monotonic() - t)
            assert res.status == 200
        figure(f"(e) w1 session calls with w2 stopped: median {statistics.median(times) * 1000:.1f} ms")
        assert max(times) < 1.0
    finally:
        os.kill(hung, signal.SIGCONT)
    assert stack.worker_pid(2) == hung, "a stopped worker is not restarted (it did not exit)"
    assert health_ok(stack)


def test_refresh_token_reuse_leaves_the_deployment_fast():
    """The revocation echo between two workers made every later request take 2-4 s."""
    from test_oauth import running_oauth_stack

    with running_oauth_stack() as oauth:
        client_id, first = oauth.user_tokens()
        second = oauth.refresh(client_id, first["refresh_token"]).json()
        start = time.monotonic()
        reuse = oauth.refresh(client_id, first["refresh_token"])
        reuse_took = time.monotonic() - start
        assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant"
        oauth.assert_rejected(second["access_token"])
        times = []
        for _ in range(100):
            t = time.monotonic()
            assert oauth.stack.get("/health").status == 200
            times.append(time.monotonic() - t)
        times.sort()
        p99 = times[98]
        figure(f"(d) after a refresh-token reuse: the reuse answered in {reuse_took * 1000:.0f} ms, "
               f"/health p99 {p99 * 1000:.1f} ms")
        assert reuse_took < 1.0
        assert p99 < 0.050


def test_a_stopped_peer_delays_a_revocation_only_by_the_acknowledgement_wait():
    """Revoking with worker w2 stopped answers within the bounded wait; w2 gets the revocation once it resumes."""
    from test_oauth import running_oauth_stack

    with running_oauth_stack() as oauth:
        client_id, tokens = oauth.user_tokens()
        oauth.assert_accepted(tokens["access_token"])
        hung = oauth.stack.worker_pid(2)
        os.kill(hung, signal.SIGSTOP)
        try:
            start = time.monotonic()
            r = oauth.http.post("/oauth/revoke", data={"token": tokens["refresh_token"], "client_id": client_id})
            took = time.monotonic() - start
            assert r.status_code == 200, r.text
        finally:
            time.sleep(0.3)
            os.kill(hung, signal.SIGCONT)
        figure(f"(e) revocation with a stopped peer answered in {took * 1000:.0f} ms")
        assert took < 1.5
        # The background retry reaches w2 once it runs again: the token is refused by every worker.
        wait_until(lambda: all(oauth.initialize(tokens["access_token"]).status == 401 for _ in range(4)), 15,
                   interval=0.2, what="the revocation to reach the resumed worker")
        oauth.assert_rejected(tokens["access_token"])
