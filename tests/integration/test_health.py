"""GET /health through nginx, with curl (plain and TLS), and the routing of /health."""

from __future__ import annotations

import json
import re
import subprocess
from datetime import datetime, timezone

from mcphttp import SECURITY_HEADERS, request

TIMESTAMP_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def curl_health(url: str, *extra: str) -> dict:
    out = subprocess.run(["curl", "-fsS", "--max-time", "10", *extra, url], capture_output=True, text=True,
                         timeout=20)
    assert out.returncode == 0, f"curl {url} failed ({out.returncode}): {out.stderr}"
    return json.loads(out.stdout)


def check_health_body(body: dict, workers: int) -> None:
    assert set(body) == {"status", "timestamp", "node", "uptimeSeconds"}, body
    assert body["status"] == "healthy"
    assert TIMESTAMP_RE.match(body["timestamp"]), body["timestamp"]
    stamp = datetime.strptime(body["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    assert abs((datetime.now(timezone.utc) - stamp).total_seconds()) < 60, body["timestamp"]
    assert body["node"] in {f"w{i}" for i in range(1, workers + 1)}, body
    assert type(body["uptimeSeconds"]) is int and 0 <= body["uptimeSeconds"] < 3600, body


def test_health_with_curl(stack):
    check_health_body(curl_health(f"{stack.base_url}/health"), stack.workers)


def test_health_with_curl_over_tls(stack):
    check_health_body(curl_health(f"{stack.tls_base_url}/health", "-k"), stack.workers)


def test_health_reaches_every_worker(stack):
    """Session-less requests are balanced over all workers: each one answers with its own node id."""
    wanted = {f"w{i}" for i in range(1, stack.workers + 1)}
    seen: set[str] = set()
    for _ in range(10 * stack.workers):
        r = stack.get("/health")
        assert r.status == 200, r
        seen.add(r.json()["node"])
        if seen == wanted:
            break
    assert seen == wanted


def test_health_headers(stack):
    r = stack.get("/health")
    assert r.status == 200, r
    assert r.header("Content-Type") == "application/json"
    assert r.header("Cache-Control") == "no-store"
    for name, value in SECURITY_HEADERS.items():
        assert r.header(name) == value, (name, r)


def test_health_wrong_method_is_405_with_allow_get(stack):
    for method in ("POST", "DELETE", "PUT"):
        r = request(stack.port, method, "/health", b"" if method != "DELETE" else None)
        assert r.status == 405, (method, r)
        assert r.header("Allow") == "GET", (method, r)
        assert r.header("Content-Type") == "application/json"
        assert r.json()["error"] == "method_not_allowed"
