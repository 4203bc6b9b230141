"""GET /metrics through nginx: the Prometheus page of the whole deployment (every worker's samples, merged by the
worker that receives the scrape), parsed with the official parser, its counters moving with the traffic the test
drives; the token, nginx's address allow-list, the page when metrics are off, the worker-restart counter, and the
shipped Prometheus configuration (deploy/prometheus/) checked against a live page.
"""

from __future__ import annotations

import http.client
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from conftest import ROOT, Stack, proc_alive, wait_until
from mcphttp import SESSION_ID_RE, request

TOKEN = "it-metrics-token-0123456789abcdef"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"


@pytest.fixture(scope="module")
def metered():
    """2 workers with metrics on, shared by this module's tests (the restart test comes last)."""
    s = Stack(workers=2, extra_env={"METRICS_TOKEN": TOKEN})
    try:
        s.start()
        yield s
    finally:
        s.cleanup()


def scrape_response(stack: Stack, token: str | None = TOKEN, headers: dict[str, str] | None = None):
    h = {} if token is None else {"Authorization": f"Bearer {token}"}
    h.update(headers or {})
    return request(stack.port, "GET", "/metrics", headers=h)


class Page:
    """One scraped page, parsed with prometheus_client's text parser."""

    def __init__(self, text: str):
        self.text = text
        self.families = list(text_string_to_metric_families(text))
        self.samples = [s for f in self.families for s in f.samples]

    def value(self, name: str, **labels: str) -> float:
        """The sum of the samples named `name` whose labels include `labels` (0 when there is none)."""
        return sum(s.value for s in self.samples
                   if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))

    def has(self, name: str) -> bool:
        return any(s.name == name for s in self.samples)

    def workers(self, name: str) -> set[str]:
        return {s.labels.get("worker") for s in self.samples if s.name == name}


def scrape(stack: Stack) -> Page:
    r = scrape_response(stack)
    assert r.status == 200, r
    return Page(r.body.decode())


def test_the_page_parses_and_is_one_valid_exposition(metered):
    r = scrape_response(metered)
    assert r.status == 200, r
    assert r.header("Content-Type") == CONTENT_TYPE
    assert r.header("Cache-Control") == "no-store"
    text = r.body.decode()
    page = Page(text)  # raises on anything the official parser refuses
    assert page.families
    # Each family's TYPE once, whichever worker's samples it holds; every sample names its worker.
    types = re.findall(r"^# TYPE (\S+) ", text, flags=re.M)
    assert len(types) == len(set(types)), [t for t in types if types.count(t) > 1]
    assert all("worker" in s.labels for s in page.samples), [s for s in page.samples if "worker" not in s.labels][:3]
    kinds = {f.name: f.type for f in page.families}
    assert kinds["mcpfcgi_http_request_duration_seconds"] == "histogram"
    assert kinds["mcpfcgi_http_requests"] == "counter"
    assert kinds["mcpfcgi_sessions_active"] == "gauge"


def test_both_workers_are_on_every_page(metered):
    # nginx hands each scrape to any worker: every page, whoever merged it, holds both.
    for _ in range(6):
        page = scrape(metered)
        assert page.workers("process_start_time_seconds") == {"w1", "w2"}, page.text[:500]
        assert page.workers("process_resident_memory_bytes") == {"w1", "w2"}
        assert page.value("mcpfcgi_scrape_peer_up", worker="w1") == 1
        assert page.value("mcpfcgi_scrape_peer_up", worker="w2") == 1
        for w in ("w1", "w2"):
            assert page.value("process_resident_memory_bytes", worker=w) > 1_000_000
            assert abs(page.value("process_start_time_seconds", worker=w) - time.time()) < 3600
        assert page.workers("mcpfcgi_sessions_active") == {"w1", "w2"}
        assert {s.labels["endpoint"] for s in page.samples if s.name == "mcpfcgi_sessions_active"} == {
            "/mcp", "/tenant-a/mcp", "/tenant-b/mcp"}


def test_counters_move_with_the_traffic(metered):
    before = scrape(metered)
    mcp = metered.mcp()
    sid = mcp.open_session()  # initialize + notifications/initialized
    worker = "w" + SESSION_ID_RE.match(sid)["node"]
    for k in range(3):
        r = mcp.call_tool(sid, "echo", {"text": f"metrics #{k}"}, id=10 + k)
        assert r.status == 200 and r.json()["result"]["content"][0]["text"] == f"metrics #{k}", r
    assert mcp.call_tool(sid, "test_error_handling", id=20).json()["result"]["isError"] is True
    assert mcp.call(sid, "no/such/method", id=21).json()["error"]["code"] == -32601
    after = scrape(metered)

    def delta(name: str, **labels: str) -> float:
        return after.value(name, worker=worker, **labels) - before.value(name, worker=worker, **labels)

    # initialize, the notification (202), 3 echo calls, the failing tool, the unknown method: 7 POSTs.
    assert delta("mcpfcgi_http_requests_total", route="/mcp", method="POST") == 7
    assert delta("mcpfcgi_http_requests_total", route="/mcp", method="POST", status_class="2xx") >= 6
    assert delta("mcpfcgi_http_request_duration_seconds_count", route="/mcp") == 7
    assert delta("mcpfcgi_jsonrpc_requests_total", method="initialize", outcome="result") == 1
    assert delta("mcpfcgi_jsonrpc_requests_total", method="tools/call", outcome="result") == 4
    assert delta("mcpfcgi_jsonrpc_requests_total", method="other", outcome="-32601") == 1
    assert delta("mcpfcgi_tool_calls_total", tool="echo", outcome="success") == 3
    assert delta("mcpfcgi_tool_calls_total", tool="test_error_handling", outcome="tool_error") == 1
    assert delta("mcpfcgi_tool_call_duration_seconds_count", tool="echo") == 3
    assert delta("mcpfcgi_sessions_created_total") == 1
    assert delta("mcpfcgi_sessions_active", endpoint="/mcp") == 1
    # The other worker saw none of it.
    other = "w2" if worker == "w1" else "w1"
    assert (after.value("mcpfcgi_tool_calls_total", worker=other, tool="echo")
            == before.value("mcpfcgi_tool_calls_total", worker=other, tool="echo"))
    # The scrapes themselves are counted under their own route.
    assert after.value("mcpfcgi_http_requests_total", route="/metrics", status_class="2xx") >= 1

    assert mcp.delete(sid).status == 200
    gone = scrape(metered)
    assert gone.value("mcpfcgi_sessions_active", worker=worker, endpoint="/mcp") == after.value(
        "mcpfcgi_sessions_active", worker=worker, endpoint="/mcp") - 1
    assert gone.value("mcpfcgi_sessions_ended_total", worker=worker, reason="deleted") == after.value(
        "mcpfcgi_sessions_ended_total", worker=worker, reason="deleted") + 1


@pytest.mark.parametrize("headers", [
    {},
    {"Authorization": "Bearer wrong"},
    {"Authorization": f"Bearer {TOKEN[:-1]}"},
    {"Authorization": f"Bearer {TOKEN}x"},
    {"Authorization": TOKEN},
], ids=["missing", "wrong", "prefix", "longer", "no-scheme"])
def test_a_missing_or_wrong_token_is_401(metered, headers):
    r = scrape_response(metered, token=None, headers=headers)
    assert r.status == 401, r
    assert r.header("WWW-Authenticate") == "Bearer"
    assert r.header("Cache-Control") == "no-store"
    assert r.json() == {"error": "unauthorized", "message": "Invalid or missing metrics token"}


def test_metrics_are_off_without_a_token(stack):
    # The default stack has no METRICS_TOKEN: nothing is bootstrapped and /metrics answers 404 (token or not).
    for token in (TOKEN, None):
        r = scrape_response(stack, token=token)
        assert r.status == 404, r
        assert r.json()["error"] == "not_found"


def test_only_allowed_addresses_reach_metrics_through_nginx(metered):
    # METRICS_ALLOW defaults to 127.0.0.1 and ::1: another address gets 403 from nginx, whatever its token.
    conn = http.client.HTTPConnection("127.0.0.1", metered.port, timeout=10, source_address=("127.0.0.2", 0))
    try:
        conn.request("GET", "/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        r = conn.getresponse()
        body = r.read()
        assert r.status == 403, (r.status, body[:200])
    finally:
        conn.close()
    assert scrape_response(metered).status == 200


def test_the_shipped_scrape_config_and_rules_use_metrics_of_a_live_page(metered):
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "mcpfcgi")
    assert job["metrics_path"] == "/metrics"
    assert job["authorization"]["type"] == "Bearer" and job["authorization"]["credentials_file"]
    assert "mcpfcgi-rules.yml" in config["rule_files"]

    rules = yaml.safe_load((PROMETHEUS_DIR / "mcpfcgi-rules.yml").read_text())
    alerts = {r["alert"]: r for g in rules["groups"] for r in g["rules"]}
    assert set(alerts) == {"MCPFCGIHighErrorRate", "MCPFCGIHighLatencyP99", "MCPFCGISessionStoreNearFull"}
    # Some traffic first, so that every histogram has buckets on the page.
    mcp = metered.mcp()
    sid = mcp.open_session()
    assert mcp.call_tool(sid, "echo", {"text": "x"}).status == 200
    page = scrape(metered)
    for name, rule in alerts.items():
        assert rule["for"] and rule["annotations"]["summary"], name
        used = set(re.findall(r"\b(mcpfcgi_[a-z0-9_]+|process_[a-z0-9_]+)\b", rule["expr"]))
        assert used, name
        missing = [m for m in used if not page.has(m)]
        assert not missing, f"{name} uses metrics the page does not have: {missing}"
        # Every label the expression matches on exists on those metrics.
        for metric, matchers in re.findall(r"(mcpfcgi_[a-z0-9_]+)\{([^}]*)\}", rule["expr"]):
            for label in re.findall(r"([a-z_]+)\s*=~?", matchers):
                assert any(label in s.labels for s in page.samples if s.name == metric), (name, metric, label)
    assert mcp.delete(sid).status == 200


def test_a_restarted_worker_reports_its_restart(metered):
    # Last in the module: it kills a worker of the shared stack.
    page = scrape(metered)
    assert page.value("mcpfcgi_worker_restarts_total", worker="w1") == 0
    assert page.value("mcpfcgi_worker_restarts_total", worker="w2") == 0
    assert page.workers("mcpfcgi_worker_restarts_total") == {"w1", "w2"}
    old = metered.worker_pid(2)
    os.kill(old, signal.SIGKILL)

    def restarted() -> bool:
        try:
            pid = metered.worker_pid(2)
        except (OSError, ValueError):
            return False
        if pid == old or not proc_alive(pid):
            return False
        r = scrape_response(metered)
        if r.status != 200:
            return False
        p = Page(r.body.decode())
        return p.value("mcpfcgi_scrape_peer_up", worker="w2") == 1 and p.workers("process_start_time_seconds") == {
            "w1", "w2"}

    wait_until(restarted, 15, interval=0.1, what="w2 to be restarted and scraped")
    page = scrape(metered)
    assert page.value("mcpfcgi_worker_restarts_total", worker="w2") == 1, page.text
    assert page.value("mcpfcgi_worker_restarts_total", worker="w1") == 0


@pytest.mark.parametrize("token", ["short-token", "has spaces in the token 0123"])
def test_run_sh_refuses_a_metrics_token_no_scraper_could_send(token, tmp_path):
    env = {**os.environ, "METRICS_TOKEN": token, "SKIP_INSTALL": "1", "SKIP_BUILD": "1", "RUN_DIR": str(tmp_path)}
    out = subprocess.run(["bash", str(ROOT / "deploy" / "run.sh")], env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 2, (out.returncode, out.stderr[-500:])
    assert "METRICS_TOKEN must be at least 16 characters without spaces" in out.stderr
