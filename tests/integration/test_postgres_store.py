"""STORE=postgres through real nginx: run.sh's private PostgreSQL cluster (initdb/pg_ctl in RUN_DIR, unix socket
only) and the OAuth state every worker shares, so nginx sends /oauth/ to any worker.

The whole OAuth suite (test_oauth.py) also runs on STORE=postgres; these tests cover what is specific to it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import httpx2
import pytest

import rawsse
import statelesshttp
from conftest import Stack

USER = "alice"
PASSWORD = "pg-" + os.urandom(6).hex()
CALLBACK = "http://127.0.0.1:9/callback"


def postgres_processes_of(data_dir: Path) -> list[int]:
    """Pids of postgres server processes whose command line names ``data_dir``."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "postgres" in cmdline and str(data_dir) in cmdline:
            out.append(int(entry))
    return out


def test_run_sh_starts_a_private_cluster_and_stops_it_with_the_deployment():
    s = Stack(workers=2, extra_env={"STORE": "postgres", "AUTH": "builtin", "DEMO_USER": USER,
                                     "DEMO_PASSWORD": PASSWORD})
    try:
        s.start()
        data = s.run_dir / "postgres" / "data"
        assert (data / "PG_VERSION").is_file()
        assert postgres_processes_of(data), "the private cluster is not running"
        assert "private PostgreSQL cluster in" in s.log()
        assert s.log().count("PostgreSQL store ready") == 2, s.log()  # each worker migrated (or found) the schema
        # No TCP listener: the socket file is the only way in.
        assert (s.run_dir / "postgres" / "socket" / ".s.PGSQL.5432").exists()
        assert s.get("/health").status == 200
        s.stop()
        assert not postgres_processes_of(data), "the private cluster outlived the deployment"
    finally:
        s.cleanup()


@pytest.fixture(scope="module")
def pg_stack():
    s = Stack(workers=3, extra_env={"STORE": "postgres", "AUTH": "builtin", "DEMO_USER": USER,
                                     "DEMO_PASSWORD": PASSWORD})
    try:
        s.start()
    except BaseException:
        s.cleanup()
        raise
    yield s
    s.cleanup()


def access_log(stack) -> list[dict]:
    path = stack.run_dir / "access.log"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_every_worker_serves_oauth_and_sees_the_clients_the_others_registered(pg_stack):
    http = httpx2.Client(base_url=pg_stack.base_url, timeout=15, follow_redirects=False)
    try:
        before = len(access_log(pg_stack))
        clients = []
        for i in range(6):
            r = http.post("/oauth/register", json={
                "client_name": f"pg {i}", "redirect_uris": [CALLBACK], "token_endpoint_auth_method": "none",
                "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"]})
            assert r.status_code == 201, r.text
            clients.append(r.json()["client_id"])
        # Each client's consent page (the client looked up in the database), on whichever worker nginx picks.
        for i, client_id in enumerate(clients):
            r = http.get("/oauth/authorize", params={
                "response_type": "code", "client_id": client_id, "redirect_uri": CALLBACK,
                "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "code_challenge_method": "S256",
                "scope": "mcp:read", "state": "s"}, auth=(USER, PASSWORD))
            assert r.status_code == 200, r.text[:500]
            assert f"pg {i}" in r.text, r.text[:500]  # the consent page names the client the database holds
        lines = [line for line in access_log(pg_stack)[before:] if line["uri"].startswith("/oauth/")]
        workers = {line["upstream"] for line in lines}
        assert len(workers) >= 2, f"/oauth/ reached only {workers}"
    finally:
        http.close()


def test_a_deployment_whose_database_is_not_up_starts_and_answers_503_where_it_needs_it():
    s = Stack(workers=1, extra_env={
        "STORE": "postgres", "AUTH": "builtin", "DEMO_USER": USER, "DEMO_PASSWORD": PASSWORD,
        "DATABASE_URL": "postgres://nobody@/nothing?host=/nonexistent-mcpfcgi-socket-dir"})
    try:
        s.start()
        assert "starting without the database" in s.log(), s.log()[-2000:]
        assert s.get("/health").status == 200
        [service] = json.loads((s.run_dir / "oauth-clients.json").read_text())
        with httpx2.Client(base_url=s.base_url, timeout=30) as http:
            r = http.post("/oauth/token", data={"grant_type": "client_credentials", "scope": "mcp:read"},
                          auth=(service["client_id"], service["client_secret"]))
        assert r.status_code == 503, r.text
        assert r.headers.get("Retry-After") == "5"
    finally:
        s.cleanup()


def test_a_bad_store_or_url_is_refused_before_anything_starts():
    for env, message in [({"STORE": "mongo"}, "STORE=mongo: use memory or postgres"),
                         ({"STORE": "postgres", "DATABASE_URL": "mysql://u@h/d"},
                          "DATABASE_URL must look like postgres://")]:
        s = Stack(workers=1, extra_env=env)
        try:
            with pytest.raises(RuntimeError) as failure:
                s.start()
            assert message in str(failure.value), str(failure.value)[-2000:]
        finally:
            s.cleanup()


def test_a_database_outage_is_answered_503_and_service_resumes_when_it_returns():
    """The private cluster is stopped under a running deployment: the token endpoint and /mcp with a token (whose
    revocation cannot be checked) answer 503 with Retry-After within the operation timeout, then at once while
    the outage is known, and /health keeps answering; a worker killed meanwhile starts again without the database
    (503, never a 502 or a restart loop); once the database is back every worker serves again by itself."""
    s = Stack(workers=2, extra_env={"STORE": "postgres", "AUTH": "builtin", "DEMO_USER": USER,
                                     "DEMO_PASSWORD": PASSWORD})
    cluster = None
    http = None
    try:
        s.start()
        cluster = s.run_dir / "postgres"
        [service] = json.loads((s.run_dir / "oauth-clients.json").read_text())
        auth = (service["client_id"], service["client_secret"])
        http = httpx2.Client(base_url=s.base_url, timeout=30, follow_redirects=False)

        def token() -> httpx2.Response:
            return http.post("/oauth/token", data={"grant_type": "client_credentials", "scope": "mcp:read"}, auth=auth)

        def initialize(access_token: str) -> httpx2.Response:
            return http.post("/mcp", headers={"Authorization": f"Bearer {access_token}",
                                              "Content-Type": "application/json",
                                              "Accept": "application/json, text/event-stream"},
                             json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                                 "protocolVersion": "2025-11-25", "capabilities": {},
                                 "clientInfo": {"name": "outage", "version": "1"}}})

        first = token()
        assert first.status_code == 200, first.text
        access = first.json()["access_token"]
        assert initialize(access).status_code == 200
        workers_before = [s.worker_pid(1), s.worker_pid(2)]

        subprocess.run(["bash", str(Path(__file__).resolve().parents[2] / "deploy" / "postgres-cluster.sh"),
                        "stop", str(cluster)], check=True, timeout=60)
        # The first request on each worker finds the database gone within the operation timeout (5 s); the
        # following ones, while it is known to be gone, are answered at once.
        for call, bound in ((token, 12), (token, 12), (token, 3), (lambda: initialize(access), 3),
                            (lambda: initialize(access), 3)):
            started = time.monotonic()
            r = call()
            took = time.monotonic() - started
            assert r.status_code == 503, (r.status_code, r.text[:300])
            assert r.headers.get("Retry-After") == "5", r.headers
            assert took < bound, f"answered after {took:.1f} s (bound {bound} s)"
        assert s.get("/health").status == 200
        # A worker that dies during the outage starts again without the database and answers 503 like the other.
        os.kill(workers_before[1], 9)
        deadline = time.monotonic() + 30
        while "starting without the database" not in s.log():
            assert time.monotonic() < deadline, s.log()[-3000:]
            time.sleep(0.2)
        answers = [token().status_code for _ in range(6)]
        assert answers == [503] * 6, answers

        subprocess.run(["bash", str(Path(__file__).resolve().parents[2] / "deploy" / "postgres-cluster.sh"),
                        "start", str(cluster)], check=True, timeout=60, capture_output=True)
        # Every worker's probe finds the database again (each within its retry interval plus reconnecting): wait
        # for four answers in a row, which nginx spreads over both workers.
        deadline = time.monotonic() + 30
        in_a_row = 0
        while True:
            r = token()
            in_a_row = in_a_row + 1 if r.status_code == 200 else 0
            if in_a_row == 4:
                break
            assert time.monotonic() < deadline, \
                f"still {r.status_code} 30 s after the database returned:\n" + s.log()[-4000:]
            time.sleep(0.3)
        assert initialize(r.json()["access_token"]).status_code == 200
        # Both workers serve again by themselves: worker 1 without a restart, worker 2 restarted once (the kill).
        assert s.worker_pid(1) == workers_before[0]
        assert not re.search(r"run\.sh: w1 exited", s.log()), s.log()[-2000:]
        assert len(re.findall(r"run\.sh: w2 exited", s.log())) == 1, s.log()[-3000:]
    finally:
        if http is not None:
            http.close()
        s.cleanup()


# -- nginx: session affinity with failover ---------------------------------------------------------------------


def session_upstreams(config: str) -> dict[int, list[str]]:
    """The servers of each rendered "upstream mcp_w<i> { … }", in order (its keepalive directive left out)."""
    return {int(i): [s.strip() for s in body.split(";") if s.strip().startswith("server ")]
            for i, body in re.findall(r"upstream mcp_w(\d+) \{([^}]*)\}", config)}


def test_rendered_session_upstreams_list_the_other_workers_as_backups_only_with_postgres(tmp_path):
    from test_nginx_conventions import directives, nginx_t, render_full

    run_dir, config = render_full(tmp_path / "postgres", STORE="postgres", WORKERS="3")
    warnings = nginx_t(run_dir, run_dir / "nginx.conf")
    assert "[warn]" not in warnings and "[emerg]" not in warnings, warnings
    sock = lambda i: f"server unix:{run_dir}/w{i}.sock"  # noqa: E731
    assert session_upstreams(config) == {
        i: [f"{sock(i)} max_fails=0"] + [f"{sock(j)} backup max_fails=0" for j in (1, 2, 3) if j != i]
        for i in (1, 2, 3)}, config

    run_dir, config = render_full(tmp_path / "memory", STORE="memory", WORKERS="3")
    warnings = nginx_t(run_dir, run_dir / "nginx.conf")
    assert "[warn]" not in warnings and "[emerg]" not in warnings, warnings
    # In memory only the owner knows the session: no other worker to fall back to.
    assert session_upstreams(config) == {i: [f"server unix:{run_dir}/w{i}.sock"] for i in (1, 2, 3)}, config
    assert not [line for line in directives(config) if " backup" in line], config
    # Both: a connection failure passes the request on (nginx's default, stated in mcp_fastcgi.conf).
    assert "fastcgi_next_upstream error timeout;" in (run_dir / "mcp_fastcgi.conf").read_text()


def test_a_session_whose_worker_is_down_reaches_another_worker_not_502():
    """STORE=postgres, 2 workers, worker 1 killed and not restarted (RESTART_LIMIT=0): a request routed by a "w1."
    session id is passed by nginx from w1's refused socket to the backup w2 (a POST, since nothing was sent), which
    loads the session from the database and serves it: the client sees no 404."""
    s = Stack(workers=2, extra_env={"STORE": "postgres", "RESTART_LIMIT": "0"})
    try:
        s.start()
        mcp = s.mcp()
        sid = next(sid for sid in (mcp.open_session() for _ in range(10)) if sid.startswith("w1."))
        ok = mcp.call_tool(sid, "echo", {"text": "before"})
        assert ok.status == 200, ok

        w1 = s.worker_pid(1)
        os.kill(w1, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while "GIVING UP on w1" not in s.log():
            assert time.monotonic() < deadline, s.log()[-2000:]
            time.sleep(0.05)
        assert (s.run_dir / "w1.sock").exists()  # killed: the socket file stays, nobody accepts on it

        marker = "failover-" + os.urandom(4).hex()
        r = mcp.call_tool(sid, "echo", {"text": "after"}, extra_headers={"User-Agent": marker})
        assert r.status == 200, r
        assert r.json()["result"]["content"][0]["text"] == "after", r
        deadline = time.monotonic() + 5
        while not (lines := [line for line in access_log(s) if line["user_agent"] == marker]):
            assert time.monotonic() < deadline, "no access-log line for the request"
            time.sleep(0.05)
        [line] = lines
        # nginx tried the owner first (refused), then the backup, which answered.
        assert line["upstream"] == f"unix:{s.run_dir}/w1.sock, unix:{s.run_dir}/w2.sock", line
        assert line["upstream_status"].split(", ")[0] == "502" and line["status"] == r.status, line
    finally:
        s.cleanup()


def test_during_an_outage_held_sessions_and_stateless_requests_are_served_and_the_rest_answers_503():
    """Anonymous deployment on PostgreSQL, database stopped: a session its worker holds goes on from memory, a
    stateless (2026-07-28) request needs no database, initialize and DELETE answer 503 with Retry-After; once the
    database is back, the activity of the outage is written and new sessions are admitted again."""
    s = Stack(workers=1, extra_env={"STORE": "postgres"})
    try:
        s.start()
        mcp = s.mcp()
        sid = mcp.open_session()
        assert mcp.call_tool(sid, "echo", {"text": "before"}).status == 200
        cluster = s.run_dir / "postgres"
        subprocess.run(["bash", str(Path(__file__).resolve().parents[2] / "deploy" / "postgres-cluster.sh"),
                        "stop", str(cluster)], check=True, timeout=60)
        r = mcp.call_tool(sid, "echo", {"text": "during"})
        assert r.status == 200 and r.json()["result"]["content"][0]["text"] == "during", r
        stateless = statelesshttp.call_tool(s.port, "echo", {"text": "stateless"})
        assert stateless.status == 200, stateless
        assert statelesshttp.text_of(stateless.json()["result"]) == "stateless"
        started = time.monotonic()
        refused = mcp.initialize()
        assert refused.status == 503 and refused.header("Retry-After"), refused
        assert time.monotonic() - started < 12
        assert mcp.delete(sid).status == 503
        assert mcp.call_tool(sid, "echo", {"text": "still"}).status == 200
        subprocess.run(["bash", str(Path(__file__).resolve().parents[2] / "deploy" / "postgres-cluster.sh"),
                        "start", str(cluster)], check=True, timeout=60, capture_output=True)
        deadline = time.monotonic() + 30
        while (r := mcp.initialize()).status != 200:
            assert time.monotonic() < deadline, (r, s.log()[-3000:])
            time.sleep(0.3)
        assert mcp.delete(sid).status == 200
        assert mcp.call_tool(sid, "echo", {"text": "gone"}).status == 404
    finally:
        s.cleanup()


def test_with_the_event_store_a_stream_of_a_dead_worker_resumes_on_another():
    """EVENT_STORE=1 on PostgreSQL, 2 workers, worker 1 killed and not restarted: the client of a GET stream that
    worker 1 sent resumes it with Last-Event-ID through nginx on worker 2, which replays the event the client
    missed from the database and goes on with the stream (numbering on, new notifications delivered)."""
    s = Stack(workers=2, extra_env={"STORE": "postgres", "EVENT_STORE": "1", "RESTART_LIMIT": "0"})
    try:
        s.start()
        mcp = s.mcp()
        sid = next(sid for sid in (mcp.open_session() for _ in range(10)) if sid.startswith("w1."))
        with rawsse.get_stream(s.port, sid) as g:
            priming = g.next_event(timeout=5)
            for _ in range(2):
                r = mcp.call_tool(sid, "test_trigger_tool_change", {})
                assert r.status == 200, r
            first = g.next_event(timeout=5)
            second = g.next_event(timeout=5)
        stream, n = rawsse.event_id(first)
        assert rawsse.event_id(priming) == (stream, 0) and rawsse.event_id(second) == (stream, n + 1)
        assert stream > 1_000, "with an event store, stream numbers are drawn at random"
        assert second["data"]["method"] == "notifications/tools/list_changed"

        # Events are written in batches every 20 ms: a crash loses only the last batch (documented); this one comes
        # later.
        time.sleep(0.3)
        os.kill(s.worker_pid(1), signal.SIGKILL)
        deadline = time.monotonic() + 10
        while "GIVING UP on w1" not in s.log():
            assert time.monotonic() < deadline, s.log()[-2000:]
            time.sleep(0.05)
        # The client saw only the first notification: worker 2 replays the second from the database.
        with rawsse.get_stream(s.port, sid, last_event_id=first["id"]) as g:
            g.read_head()
            assert g.status == 200, g.read_body()
            again = g.next_event(timeout=5)
            replayed = g.next_event(timeout=5)
            assert rawsse.is_priming(again) and again["id"] == first["id"], again
            assert replayed["id"] == second["id"] and replayed["data"] == second["data"], replayed
            # The stream goes on from worker 2: a new notification gets the next number.
            assert mcp.call_tool(sid, "test_trigger_tool_change", {}).status == 200
            following = g.next_event(timeout=5)
            assert rawsse.event_id(following) == (stream, n + 2), following
        assert "stream resumed from the event store" in s.log()
    finally:
        s.cleanup()
