"""STORE=postgres through real nginx: run.sh's private PostgreSQL cluster (initdb/pg_ctl in RUN_DIR, unix socket
only) and the OAuth state every worker shares, so nginx sends /oauth/ to any worker.

The whole OAuth suite (test_oauth.py) also runs on STORE=postgres; these tests cover what is specific to it.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import httpx2
import pytest

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


def test_an_unreachable_database_stops_the_start_with_a_clear_message():
    s = Stack(workers=1, extra_env={
        "STORE": "postgres", "DATABASE_URL": "postgres://nobody@/nothing?host=/nonexistent-mcpfcgi-socket-dir"})
    try:
        with pytest.raises(RuntimeError) as failure:
            s.start()
        assert "cannot use the database" in str(failure.value), str(failure.value)[-2000:]
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
