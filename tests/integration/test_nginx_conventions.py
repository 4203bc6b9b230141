"""nginx the way its administrators expect (issue #21), through real nginx → spawn-fcgi → workers.

* HTTP/2 on the TLS listener: negotiated by curl and httpx; the official client (httpx with http2=True), raw SSE
  (a GET stream receiving an event while POSTs share its connection) and resumption with Last-Event-ID over it.
* HTTPS-only with an https public URL: the plain listener answers 308 to the public URL + request URI (a POST
  followed there keeps its body); the Host policy (421) holds on both listeners; HSTS on the https answers.
* Real client addresses behind a balancer (REAL_IP_FROM): X-Forwarded-For from a trusted address is the client
  for the session quota; without REAL_IP_FROM it is ignored.
* The JSON access log carries nginx's $request_id, which the worker logs as http.request.id (a client's
  Request-Id header cannot set it); ordinary request bodies stay in memory (client_body_buffer_size).
* ``nginx -t`` of every rendered configuration (demo, TLS-only, balancer, OCSP, systemd site) without a warning;
  the logrotate snippet checked with ``logrotate -d`` and run for real.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

import anyio
import httpx2
import pytest

from conftest import ROOT, Stack, wait_until
from mcphttp import ACCEPT_BOTH, PROTOCOL_VERSION, initialize_params, request, rpc_request

RENDER_NGINX = ROOT / "deploy" / "render-nginx.sh"
INSTALL = ROOT / "deploy" / "systemd" / "install.sh"
SESSIONS_PER_ADDRESS = 2
LOGS = ["Tool execution started", "Tool processing data", "Tool execution completed"]
INITIALIZE = json.dumps(rpc_request("initialize", initialize_params()))
MCP_HEADERS = {"Content-Type": "application/json", "Accept": ACCEPT_BOTH}

needs_nginx = pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx missing")


def start_stack(**env: str) -> Stack:
    s = Stack(workers=1, extra_env={"SESSIONS_PER_ADDRESS": str(SESSIONS_PER_ADDRESS), "LOG_LEVEL": "debug", **env})
    if s.env.get("PUBLIC_URL") == "https-tls-port":
        s.env["PUBLIC_URL"] = f"https://127.0.0.1:{s.tls_port}"
    return s.start()


@pytest.fixture(scope="module")
def https_stack():
    """HTTPS-only (public URL https://127.0.0.1:<TLS_PORT>), behind a "balancer" at 127.0.0.1."""
    s = start_stack(PUBLIC_URL="https-tls-port", REAL_IP_FROM="127.0.0.1/32")
    try:
        yield s
    finally:
        s.cleanup()


@pytest.fixture(scope="module")
def plain_stack():
    """The demo's default: public URL http://127.0.0.1:<PORT>, no REAL_IP_FROM."""
    s = start_stack()
    try:
        yield s
    finally:
        s.cleanup()


def access_log(stack: Stack) -> list[dict]:
    path = stack.run_dir / "access.log"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def access_line(stack: Stack, user_agent: str) -> dict:
    """The access-log line of the request sent with this User-Agent (nginx writes it when the request ends)."""
    def find():
        lines = [e for e in access_log(stack) if e["user_agent"] == user_agent]
        return lines[0] if lines else None
    return wait_until(find, 5, what=f"the access-log line of {user_agent}")


_addresses = iter(range(1, 65536))


def client_address() -> str:
    """A fresh client address (198.18.0.0/15, for benchmarks) that tests on the balancer stack send as
    X-Forwarded-For, so that each has its own session quota there."""
    n = next(_addresses)
    return f"198.18.{n // 256}.{n % 256}"


def curl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["curl", "-sS", *args], capture_output=True, text=True, timeout=30)


# -- HTTP/2 --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["https_stack", "plain_stack"])
def test_curl_negotiates_http2_on_the_tls_listener_only(request_fixture, which):
    s = request_fixture(which)
    out = curl("--http2", "-k", "-o", "/dev/null", "-w", "%{http_code} %{http_version}",
               f"https://127.0.0.1:{s.tls_port}/health")
    assert out.stdout == "200 2", out
    if which == "plain_stack":  # no HTTP/2 without TLS (no h2c): the plain listener stays HTTP/1.1
        out = curl("--http2", "-o", "/dev/null", "-w", "%{http_code} %{http_version}", f"{s.base_url}/health")
        assert out.stdout == "200 1.1", out


@pytest.fixture
def request_fixture(request):
    return request.getfixturevalue


def test_official_client_over_http2(https_stack):
    """The official SDK client on an httpx client with HTTP/2: every exchange (POSTs, the GET stream) is HTTP/2,
    notifications and progress arrive over the SSE answers."""
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    seen: list[tuple[str, str]] = []
    logs: list[str] = []
    progress: list[float] = []

    async def on_response(response):
        seen.append((response.request.method, response.http_version))

    async def on_log(params):
        logs.append(params.data)

    async def on_progress(value, total, message):
        progress.append(value)

    async def main():
        with anyio.fail_after(60):
            async with httpx2.AsyncClient(http2=True, verify=False, timeout=httpx2.Timeout(30, read=60),
                                          headers={"X-Forwarded-For": client_address()},
                                          event_hooks={"response": [on_response]}) as http:
                async with Client(streamable_http_client(f"{https_stack.tls_base_url}/mcp", http_client=http),
                                  mode="legacy", read_timeout_seconds=15, cache=None, logging_callback=on_log) as c:
                    tools = {t.name for t in (await c.list_tools()).tools}
                    logged = await c.call_tool("test_tool_with_logging", {})
                    reported = await c.call_tool("test_tool_with_progress", {}, progress_callback=on_progress)
                    echoed = await c.call_tool("echo", {"text": "over h2 ✓"})
                    # The client opens its GET stream after initialization, concurrently: give it a moment.
                    for _ in range(50):
                        if any(method == "GET" for method, _ in seen):
                            break
                        await anyio.sleep(0.1)
                    return tools, logged, reported, echoed

    tools, logged, reported, echoed = anyio.run(main)
    assert {"echo", "test_tool_with_logging", "test_tool_with_progress"} <= tools
    assert logged.content[0].text == "Tool with logging executed successfully"
    assert logs == LOGS, logs
    assert reported.is_error is False and progress, progress
    assert [(x.type, x.text) for x in echoed.content] == [("text", "over h2 ✓")]
    methods = {method for method, _ in seen}
    assert {"POST", "GET"} <= methods, seen
    assert {version for _, version in seen} == {"HTTP/2"}, seen


async def sse_events(response):
    """SSE events of an httpx streaming response, as {"id", "data"} (data: parsed JSON, None when empty)."""
    event: dict = {}
    data: list[str] = []
    async for line in response.aiter_lines():
        if line == "":
            if event or data:
                text = "\n".join(data)
                yield {"id": event.get("id"), "data": json.loads(text) if text else None}
            event, data = {}, []
        elif line.startswith(":"):
            continue
        else:
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "data":
                data.append(value)
            else:
                event[name] = value


def session_headers(sid: str, accept: str = ACCEPT_BOTH) -> dict[str, str]:
    return {"Content-Type": "application/json", "Accept": accept, "Mcp-Session-Id": sid,
            "MCP-Protocol-Version": PROTOCOL_VERSION}


async def open_h2_session(h: httpx2.AsyncClient) -> str:
    r = await h.post("/mcp", content=INITIALIZE, headers=MCP_HEADERS)
    assert r.status_code == 200 and r.http_version == "HTTP/2", (r.status_code, r.http_version, r.text)
    sid = r.headers["mcp-session-id"]
    n = await h.post("/mcp", content=json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}),
                     headers=session_headers(sid))
    assert n.status_code == 202, n.text
    return sid


def h2_client(stack: Stack, user_agent: str = "h2-test") -> httpx2.AsyncClient:
    return httpx2.AsyncClient(http2=True, verify=False, base_url=stack.tls_base_url,
                              timeout=httpx2.Timeout(15, read=15),
                              headers={"User-Agent": user_agent, "X-Forwarded-For": client_address()})


def test_raw_sse_get_stream_over_http2_shares_its_connection_with_posts(https_stack):
    """A GET stream and the POSTs that make it receive an event, multiplexed on one HTTP/2 connection."""
    ua = f"h2-sse-{uuid.uuid4().hex[:8]}"

    async def main():
        with anyio.fail_after(30):
            async with h2_client(https_stack, ua) as h:
                sid = await open_h2_session(h)
                async with h.stream("GET", "/mcp", headers={**session_headers(sid, "text/event-stream"),
                                                            "Accept-Encoding": "gzip"}) as g:
                    assert g.status_code == 200 and g.http_version == "HTTP/2"
                    assert g.headers["content-type"] == "text/event-stream"
                    assert "content-encoding" not in g.headers  # gzip off for event streams
                    events = sse_events(g)
                    priming = await events.__anext__()
                    t = await h.post("/mcp", content=json.dumps(rpc_request(
                        "tools/call", {"name": "test_trigger_tool_change", "arguments": {}}, 7)),
                        headers=session_headers(sid))
                    assert t.status_code == 200 and t.http_version == "HTTP/2", t.text
                    event = await events.__anext__()
                return priming, event

    priming, event = anyio.run(main)
    assert priming["data"] is None and priming["id"], priming
    assert event["data"] == {"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}, event
    # One TCP connection carried them all (nginx's $connection in the access log), over HTTP/2. The GET stream's
    # line is written when it ends.
    def lines():
        mine = [e for e in access_log(https_stack) if e["user_agent"] == ua]
        return mine if any(e["method"] == "GET" for e in mine) else None
    lines = wait_until(lines, 5, what="the access-log lines of the GET stream and the POSTs")
    assert len(lines) == 4 and len({e["connection"] for e in lines}) == 1, lines
    assert {e["protocol"] for e in lines} == {"HTTP/2.0"}, lines


def test_resumption_with_last_event_id_over_http2(https_stack):
    """An SSE answer cut after two events (the HTTP/2 stream reset, the connection kept) resumes with
    Last-Event-ID: the priming event repeats the id, then exactly the missed events."""
    async def main():
        with anyio.fail_after(30):
            async with h2_client(https_stack) as h:
                sid = await open_h2_session(h)
                call = json.dumps(rpc_request("tools/call", {"name": "test_tool_with_logging", "arguments": {}}, 21))
                async with h.stream("POST", "/mcp", content=call, headers=session_headers(sid)) as s:
                    assert s.http_version == "HTTP/2" and s.headers["content-type"] == "text/event-stream"
                    events = sse_events(s)
                    first = [await events.__anext__(), await events.__anext__()]
                async with h.stream("GET", "/mcp", headers={**session_headers(sid, "text/event-stream"),
                                                            "Last-Event-ID": first[-1]["id"]}) as g:
                    assert g.status_code == 200 and g.http_version == "HTTP/2"
                    resumed = [e async for e in sse_events(g)]
                return first, resumed

    first, resumed = anyio.run(main)
    assert first[0]["data"] is None and first[1]["data"]["params"]["data"] == LOGS[0], first
    assert resumed[0]["data"] is None and resumed[0]["id"] == first[1]["id"], resumed
    rest = [e["data"] for e in resumed[1:]]
    assert [m["params"]["data"] for m in rest[:2]] == LOGS[1:], resumed
    assert rest[2]["id"] == 21 and rest[2]["result"]["content"][0]["text"] == "Tool with logging executed successfully"
    assert len(rest) == 3, resumed  # no duplicates


# -- HTTPS-only ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method,path", [("GET", "/mcp?probe=1"), ("POST", "/mcp"), ("GET", "/health"),
                                         ("GET", "/.well-known/oauth-protected-resource/mcp"), ("GET", "/nope")])
def test_plain_listener_only_redirects_to_the_public_url(https_stack, method, path):
    r = request(https_stack.port, method, path, body=INITIALIZE if method == "POST" else None,
                headers={**MCP_HEADERS, "Host": f"127.0.0.1:{https_stack.port}"})
    assert r.status == 308, r
    assert r.header("Location") == f"https://127.0.0.1:{https_stack.tls_port}{path}", r
    assert r.header("Mcp-Session-Id") is None  # no worker saw it


def test_a_post_followed_to_https_keeps_its_body(https_stack):
    out = curl("-k", "-L", "--http2", "-H", "Content-Type: application/json", "-H", f"Accept: {ACCEPT_BOTH}",
               "-H", f"X-Forwarded-For: {client_address()}",
               "--data-binary", INITIALIZE, "-D", "-", "-o", "/dev/null",
               "-w", "%{http_code} %{num_redirects} %{http_version}", f"{https_stack.base_url}/mcp")
    assert out.stdout.endswith("200 1 2"), out
    assert re.search(r"(?im)^mcp-session-id: w1\.", out.stdout), out.stdout
    assert re.search(r"(?im)^strict-transport-security: max-age=", out.stdout), out.stdout  # HSTS as before


@pytest.mark.parametrize("tls", [False, True])
def test_foreign_hosts_get_421_on_both_listeners(https_stack, tls):
    port = https_stack.tls_port if tls else https_stack.port
    r = request(port, "POST", "/mcp", body=INITIALIZE, headers={**MCP_HEADERS, "Host": "evil.example"}, tls=tls)
    assert r.status == 421 and r.json()["error"] == "misdirected_request", r
    if tls:
        out = curl("-k", "--http2", "-H", "Host: evil.example", "-o", "/dev/null", "-w", "%{http_code} %{http_version}",
                   f"{https_stack.tls_base_url}/health")
        assert out.stdout == "421 2", out


def test_the_plain_mode_still_serves_http(plain_stack):
    r = request(plain_stack.port, "POST", "/mcp", body=INITIALIZE, headers=MCP_HEADERS)
    assert r.status == 200 and r.header("Mcp-Session-Id"), r
    assert r.header("Strict-Transport-Security") is None
    # Give the session (and its place in 127.0.0.1's quota) back.
    assert request(plain_stack.port, "DELETE", "/mcp", headers={"Mcp-Session-Id": r.header("Mcp-Session-Id")}).status == 200


# -- real client addresses -------------------------------------------------------------------------------


def initialize_as(stack: Stack, forwarded_for: str | None, tls: bool) -> int:
    headers = dict(MCP_HEADERS)
    if forwarded_for is not None:
        headers["X-Forwarded-For"] = forwarded_for
    return request(stack.tls_port if tls else stack.port, "POST", "/mcp", body=INITIALIZE, headers=headers,
                   tls=tls).status


def test_behind_a_trusted_balancer_each_forwarded_client_has_its_own_quota(https_stack):
    a, b = "203.0.113.7", "203.0.113.8"
    assert [initialize_as(https_stack, a, True) for _ in range(SESSIONS_PER_ADDRESS)] == [200] * SESSIONS_PER_ADDRESS
    assert initialize_as(https_stack, a, True) == 429
    # A client that puts an address of its own in front: the balancer appends the real one, which counts.
    assert initialize_as(https_stack, f"198.51.100.9, {a}", True) == 429
    assert [initialize_as(https_stack, b, True) for _ in range(SESSIONS_PER_ADDRESS)] == [200] * SESSIONS_PER_ADDRESS
    ua = f"realip-{uuid.uuid4().hex[:8]}"
    r = request(https_stack.tls_port, "GET", "/health", headers={"X-Forwarded-For": "192.0.2.44", "User-Agent": ua},
                tls=True)
    assert r.status == 200
    assert access_line(https_stack, ua)["remote_addr"] == "192.0.2.44"


def test_without_real_ip_from_forwarded_headers_are_ignored(plain_stack):
    a, b = "203.0.113.17", "203.0.113.18"
    assert [initialize_as(plain_stack, a, False) for _ in range(SESSIONS_PER_ADDRESS)] == [200] * SESSIONS_PER_ADDRESS
    # Another forwarded address, and none at all: all are 127.0.0.1, whose quota is used up.
    assert initialize_as(plain_stack, b, False) == 429
    assert initialize_as(plain_stack, None, True) == 429
    ua = f"norealip-{uuid.uuid4().hex[:8]}"
    request(plain_stack.port, "GET", "/health", headers={"X-Forwarded-For": "192.0.2.44", "User-Agent": ua})
    assert access_line(plain_stack, ua)["remote_addr"] == "127.0.0.1"


# -- access log, request id, request bodies ------------------------------------------------------------


@pytest.mark.parametrize("tls", [False, True])
def test_access_log_and_worker_log_share_the_request_id(https_stack, plain_stack, tls):
    stack = https_stack if tls else plain_stack
    ua = f"rid-{uuid.uuid4().hex[:8]}"
    r = request(stack.tls_port if tls else stack.port, "GET", "/health", tls=tls,
                headers={"User-Agent": ua, "Request-Id": "forged-by-client", "X-Request-Id": "forged-by-client"})
    assert r.status == 200, r
    line = access_line(stack, ua)
    assert re.fullmatch(r"[0-9a-f]{32}", line["request_id"]), line
    assert line["status"] == 200 and line["method"] == "GET" and line["uri"] == "/health", line
    assert line["upstream"].startswith("unix:") and line["upstream"].endswith("w1.sock"), line
    assert line["tls"] == ("TLSv1.3" if tls else ""), line
    # The worker's debug line for the same request carries nginx's id, not the client's header.
    wait_until(lambda: f"http.request.id={line['request_id']}" in stack.log(), 5, what="the worker's log line")
    assert "forged-by-client" not in stack.log()


def test_every_access_log_line_is_json(https_stack):
    request(https_stack.port, "GET", '/x"y\\z', headers={"User-Agent": 'quote " backslash \\ tab \t end'})
    entries = access_log(https_stack)  # json.loads of every line
    assert entries and all(isinstance(e["status"], int) for e in entries)
    assert any(e["uri"] == '/x"y\\z' and e["status"] == 308 for e in entries)


def test_ordinary_request_bodies_never_touch_disk(https_stack):
    """A 100 KB tool call stays in nginx's memory (client_body_buffer_size 128k); a 300 KB one is written to a
    temporary file, which nginx logs (the check can see it)."""
    def echo(size: int) -> int:
        body = json.dumps(rpc_request("tools/call", {"name": "echo", "arguments": {"text": "x" * size}}, 3))
        sid = request(https_stack.tls_port, "POST", "/mcp", body=INITIALIZE,
                      headers={**MCP_HEADERS, "X-Forwarded-For": client_address()}, tls=True).header("Mcp-Session-Id")
        return request(https_stack.tls_port, "POST", "/mcp", body=body, tls=True,
                       headers={**session_headers(sid), "Accept": "application/json"}).status

    marker = "buffered to a temporary file"
    before = https_stack.log().count(marker)
    assert echo(100_000) == 200
    time.sleep(0.2)
    assert https_stack.log().count(marker) == before, https_stack.log()[-2000:]
    assert echo(300_000) == 200
    wait_until(lambda: https_stack.log().count(marker) > before, 5, what="nginx's temporary-file warning")


# -- nginx -t of every rendered configuration ----------------------------------------------------------


def self_signed(d: Path) -> tuple[Path, Path]:
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-keyout", str(d / "tls.key"), "-out", str(d / "tls.crt")],
                   check=True, capture_output=True, timeout=60)
    return d / "tls.crt", d / "tls.key"


def ca_signed_with_ocsp(d: Path) -> tuple[Path, Path, Path]:
    """A CA and a certificate it signed that names an OCSP responder: the chain nginx can staple for."""
    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)
    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
        "-subj", "/CN=Test CA", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=keyCertSign",
        "-keyout", str(d / "ca.key"), "-out", str(d / "ca.crt"))
    run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=mcp.example.test",
        "-keyout", str(d / "leaf.key"), "-out", str(d / "leaf.csr"))
    (d / "ext.cnf").write_text("authorityInfoAccess=OCSP;URI:http://127.0.0.1:9/ocsp\n"
                               "subjectAltName=DNS:mcp.example.test\n")
    run("x509", "-req", "-in", str(d / "leaf.csr"), "-CA", str(d / "ca.crt"), "-CAkey", str(d / "ca.key"),
        "-CAcreateserial", "-days", "1", "-extfile", str(d / "ext.cnf"), "-out", str(d / "leaf.crt"))
    (d / "chain.crt").write_text((d / "leaf.crt").read_text() + (d / "ca.crt").read_text())
    return d / "chain.crt", d / "leaf.key", d / "ca.crt"


def render(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([str(RENDER_NGINX)], env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env},
                          capture_output=True, text=True, timeout=60)


def nginx_t(prefix: Path, config: Path) -> str:
    out = subprocess.run(["nginx", "-t", "-p", str(prefix), "-c", str(config)], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, f"nginx -t failed:\n{out.stderr}\n--- {config}:\n{config.read_text()}"
    return out.stderr


def run_dir_for(tmp: Path) -> Path:
    run_dir = tmp / "run"
    for d in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (run_dir / d).mkdir(parents=True)
    shutil.copy(ROOT / "deploy" / "mcp_fastcgi.conf", run_dir / "mcp_fastcgi.conf")
    return run_dir


def render_full(tmp: Path, **variables: str) -> tuple[Path, str]:
    """The full configuration the way deploy/run.sh renders it."""
    run_dir = run_dir_for(tmp)
    cert, key = self_signed(run_dir)
    env = {"OUT": str(run_dir / "nginx.conf"), "SOCKET_DIR": str(run_dir), "RUN_DIR": str(run_dir), "WORKERS": "2",
           "HOST": "127.0.0.1", "PORT": "8080", "TLS_PORT": "8443", "TLS_CERT": str(cert), "TLS_KEY": str(key),
           "MAX_BODY": "4m", "AUTHORIZE_AUTH": "", "USER_LINE": "", "PUBLIC_URL": "http://127.0.0.1:8080",
           "STREAMS_PER_ADDRESS": "32", "MANAGEMENT_ALLOW": ""}
    env.update(variables)
    out = render(env)
    assert out.returncode == 0, out.stderr
    return run_dir, (run_dir / "nginx.conf").read_text()


def directives(config: str) -> list[str]:
    return [line.strip() for line in config.splitlines() if line.strip() and not line.strip().startswith("#")]


def servers(config: str) -> list[str]:
    """The text of each server { … } block."""
    return re.findall(r"^\s*server \{\n(.*?)^\s*\}\n", config, re.M | re.S)


@needs_nginx
def test_nginx_t_demo_configuration(tmp_path):
    run_dir, config = render_full(tmp_path)
    warnings = nginx_t(run_dir, run_dir / "nginx.conf")
    assert "[warn]" not in warnings and "[emerg]" not in warnings, warnings
    lines = directives(config)
    assert "worker_processes auto;" in lines and "worker_connections 20480;" in lines
    assert "worker_rlimit_nofile 40960;" in lines
    # Every TLS listener speaks HTTP/2 (nginx 1.22 syntax), every plain one does not.
    assert lines.count("listen 127.0.0.1:8443 ssl http2;") == 2 and lines.count("listen 127.0.0.1:8080;") == 2
    for setting in ("ssl_protocols TLSv1.2 TLSv1.3;", "ssl_prefer_server_ciphers off;",
                    "ssl_session_cache shared:MCPSSL:10m;", "ssl_session_timeout 1d;", "ssl_session_tickets off;"):
        assert lines.count(setting) == 2, setting
    assert not any(line.startswith("ssl_stapling") or line.startswith("set_real_ip_from") for line in lines)
    main = next(s for s in servers(config) if "location = /mcp" in s)
    for setting in ("client_body_buffer_size 128k;", "gzip off;", f"access_log {run_dir}/access.log mcpfcgi_json;"):
        assert setting in directives(main), setting
    assert "return 308" not in config
    assert "fastcgi_param REQUEST_ID $request_id;" in (ROOT / "deploy" / "mcp_fastcgi.conf").read_text()


@needs_nginx
@pytest.mark.parametrize("keep,expected", [(None, " keepalive 16;"), ("40", " keepalive 40;"), ("0", None)])
def test_every_upstream_keeps_connections_as_configured(tmp_path, keep, expected):
    """KEEP_CONNECTIONS: nginx keeps idle FastCGI connections in every upstream (mcp_fastcgi.conf asks the workers to
    keep them, fastcgi_keep_conn on); 0: none, a connection per request."""
    run_dir, config = render_full(tmp_path, **({"KEEP_CONNECTIONS": keep} if keep is not None else {}))
    warnings = nginx_t(run_dir, run_dir / "nginx.conf")
    assert "[warn]" not in warnings and "[emerg]" not in warnings, warnings
    upstreams = re.findall(r"upstream (\w+) \{([^}]*)\}", config)
    assert {name for name, _ in upstreams} == {"mcp_w1", "mcp_w2", "mcp_any", "mcp_oauth"}, upstreams
    for name, body in upstreams:
        if expected is None:
            assert "keepalive" not in body, (name, body)
        else:
            assert body.endswith(expected + " "), (name, body)
    assert "fastcgi_keep_conn on;" in directives((ROOT / "deploy" / "mcp_fastcgi.conf").read_text())


def test_render_refuses_a_bad_keep_connections(tmp_path):
    env = {"OUT": str(tmp_path / "nginx.conf"), "SOCKET_DIR": str(tmp_path), "RUN_DIR": str(tmp_path), "WORKERS": "1",
           "HOST": "127.0.0.1", "PORT": "8080", "TLS_PORT": "8443", "TLS_CERT": "/c", "TLS_KEY": "/k", "MAX_BODY": "4m",
           "KEEP_CONNECTIONS": "many"}
    out = render(env)
    assert out.returncode == 2 and "KEEP_CONNECTIONS is a whole number" in out.stderr, out


@needs_nginx
def test_nginx_t_tls_only_configuration(tmp_path):
    run_dir, config = render_full(tmp_path, PUBLIC_URL="https://mcp.example.test/base/", REAL_IP_FROM="10.0.0.0/8 2001:db8::/32")
    warnings = nginx_t(run_dir, run_dir / "nginx.conf")
    assert "[warn]" not in warnings, warnings
    blocks = servers(config)
    assert len(blocks) == 3, blocks
    catch_all, redirect, main = blocks
    assert "server_name _;" in catch_all
    assert directives(redirect)[-1] == "return 308 https://mcp.example.test$request_uri;"
    assert "listen 127.0.0.1:8080;" in directives(redirect) and "ssl" not in redirect
    # The MCP server is on the TLS listener only.
    assert [line for line in directives(main) if line.startswith("listen")] == ["listen 127.0.0.1:8443 ssl http2;"]
    for block in blocks:
        assert ("set_real_ip_from 10.0.0.0/8; set_real_ip_from 2001:db8::/32; real_ip_header X-Forwarded-For; "
                "real_ip_recursive on;") in directives(block)


@needs_nginx
def test_nginx_t_ocsp_stapling(tmp_path):
    """OCSP_STAPLING=1 with a CA-issued certificate that names a responder: accepted without a warning (the
    self-signed demo pair would make nginx warn, which is why stapling is off by default)."""
    d = tmp_path / "pki"
    d.mkdir()
    chain, key, ca = ca_signed_with_ocsp(d)
    run_dir, config = render_full(tmp_path, PUBLIC_URL="https://mcp.example.test", OCSP_STAPLING="1",
                                  TLS_CERT=str(chain), TLS_KEY=str(key), TLS_TRUSTED_CERT=str(ca), RESOLVER="127.0.0.1 ::1")
    warnings = nginx_t(run_dir, run_dir / "nginx.conf")
    assert "[warn]" not in warnings, warnings
    expected = (f"ssl_stapling on; ssl_stapling_verify on; ssl_trusted_certificate {ca}; "
                "resolver 127.0.0.1 [::1] valid=300s; resolver_timeout 5s;")
    assert directives(config).count(expected) == 2, config
    # The same with the self-signed pair: nginx says why it cannot staple.
    run_dir2, _ = render_full(tmp_path / "self", PUBLIC_URL="https://mcp.example.test", OCSP_STAPLING="1",
                              TLS_TRUSTED_CERT=str(ca), RESOLVER="127.0.0.1")
    assert "ssl_stapling" in nginx_t(run_dir2, run_dir2 / "nginx.conf")


@pytest.mark.parametrize("variables,message", [
    ({"REAL_IP_FROM": "10.0.0.0/8 balancer.example"}, "REAL_IP_FROM: balancer.example is not an address"),
    ({"REAL_IP_FROM": "10.0.0.1;deny"}, "REAL_IP_FROM: 10.0.0.1;deny is not an address"),
    ({"OCSP_STAPLING": "yes"}, "OCSP_STAPLING is 0 or 1"),
    ({"OCSP_STAPLING": "1", "RESOLVER": "dns.example"}, "RESOLVER: dns.example is not an IP address"),
    ({"ACCESS_LOG": "/tmp/a log"}, "ACCESS_LOG: /tmp/a log must be an absolute path"),
    ({"PUBLIC_URL": "https://user@mcp.example.test"}, "has no plain host[:port]"),
])
def test_render_refuses_bad_values(tmp_path, variables, message):
    env = {"OUT": str(tmp_path / "nginx.conf"), "SOCKET_DIR": str(tmp_path), "RUN_DIR": str(tmp_path), "WORKERS": "1",
           "HOST": "127.0.0.1", "PORT": "8080", "TLS_PORT": "8443", "TLS_CERT": "/c", "TLS_KEY": "/k", "MAX_BODY": "4m",
           **variables}
    out = render(env)
    assert out.returncode == 2 and message in out.stderr, out
    assert not (tmp_path / "nginx.conf").exists()


def install(dest: Path, **variables: str) -> subprocess.CompletedProcess:
    bin_path = dest.parent / "bin"
    if not bin_path.exists():
        bin_path.write_text("#!/bin/sh\n")
        bin_path.chmod(0o755)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/root"),
           "DESTDIR": str(dest), "BIN": str(bin_path), "PUBLIC_URL": "https://mcp.example.test", "WORKERS": "2",
           "HOST": "127.0.0.1", "PORT": "8080", "TLS_PORT": "8443", **variables}
    return subprocess.run(["bash", str(INSTALL)], env=env, capture_output=True, text=True, timeout=120)


@needs_nginx
def test_nginx_t_systemd_site_in_a_debian_main_configuration(tmp_path):
    """install.sh's site inside a main configuration with Debian's http-level TLS and gzip settings: the site's
    server-level settings neither clash with them nor warn."""
    dest = tmp_path / "dest"
    out = install(dest, REAL_IP_FROM="10.1.2.3")
    assert out.returncode == 0, out.stderr
    site = (dest / "etc/nginx/conf.d/mcpfcgi.conf").read_text()
    assert "access_log /var/log/mcpfcgi/access.log mcpfcgi_json;" in site
    assert "error_log /var/log/mcpfcgi/error.log warn;" in site
    assert "return 308 https://mcp.example.test$request_uri;" in site
    assert "set_real_ip_from 10.1.2.3;" in site
    assert (dest / "var/log/mcpfcgi").is_dir()
    rerooted = re.sub(r"(?<![\w/])((?:/etc/(?:nginx/snippets/mcpfcgi|mcpfcgi/)|/var/log/mcpfcgi/)[^;\s]*)",
                      lambda m: str(dest) + m.group(1), site)
    prefix = tmp_path / "prefix"
    for d in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi", "logs"):
        (prefix / d).mkdir(parents=True)
    (prefix / "mcpfcgi.conf").write_text(rerooted)
    main = prefix / "nginx.conf"
    main.write_text(f"""worker_processes auto;
pid {prefix}/nginx.pid;
error_log stderr;
events {{ worker_connections 768; }}
http {{
    sendfile on;
    tcp_nopush on;
    types_hash_max_size 2048;
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3;
    ssl_prefer_server_ciphers on;
    access_log {prefix}/logs/access.log;
    gzip on;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    include {prefix}/mcpfcgi.conf;
}}
""")
    warnings = nginx_t(prefix, main)
    assert "[warn]" not in warnings, warnings


def test_install_refuses_a_bad_real_ip_from_before_rendering(tmp_path):
    out = install(tmp_path / "dest", REAL_IP_FROM="lb.example")
    assert out.returncode != 0 and "REAL_IP_FROM: lb.example" in out.stderr, out
    assert not (tmp_path / "dest" / "etc" / "systemd").exists()


@pytest.mark.skipif(shutil.which("logrotate") is None, reason="logrotate missing (apt-get install logrotate)")
def test_logrotate_snippet(tmp_path):
    """install.sh installs /etc/logrotate.d/mcpfcgi for the site's logs: `logrotate -d` accepts it, and a forced
    rotation renames the logs and sends USR1 to the pid in NGINX_PID (here a stand-in process)."""
    logs = tmp_path / "logs"
    pid_file = tmp_path / "nginx.pid"
    dest = tmp_path / "dest"
    out = install(dest, LOG_DIR=str(logs), NGINX_PID=str(pid_file))
    assert out.returncode == 0, out.stderr
    snippet = dest / "etc/logrotate.d/mcpfcgi"
    text = snippet.read_text()
    assert "@@" not in text and f"{logs}/*.log {{" in text and "kill -USR1" in text
    assert snippet.stat().st_mode & 0o777 == 0o644
    live_logs = dest / str(logs).lstrip("/")
    assert live_logs.is_dir() and live_logs.stat().st_mode & 0o777 == 0o750
    # The rendered snippet names LOG_DIR as on the live system: run it against that directory.
    logs.mkdir(mode=0o750)
    (logs / "access.log").write_text('{"status":200}\n')
    (logs / "error.log").write_text("warn\n")
    state = tmp_path / "state"
    dry = subprocess.run(["logrotate", "-d", "-s", str(state), str(snippet)], capture_output=True, text=True,
                         timeout=60)
    assert dry.returncode == 0 and "error:" not in dry.stderr.lower(), dry.stderr
    assert f"rotating pattern: {logs}/*.log" in dry.stderr and "considering log" in dry.stderr, dry.stderr
    assert (logs / "access.log").read_text() == '{"status":200}\n' and not (logs / "access.log.1").exists()

    stand_in = subprocess.Popen(["sleep", "60"])
    try:
        pid_file.write_text(f"{stand_in.pid}\n")
        real = subprocess.run(["logrotate", "-f", "-s", str(state), str(snippet)], capture_output=True, text=True,
                              timeout=60)
        assert real.returncode == 0, real.stderr
        assert stand_in.wait(10) == -signal.SIGUSR1  # nginx would reopen its logs
    finally:
        if stand_in.poll() is None:
            stand_in.kill()
            stand_in.wait()
    assert (logs / "access.log.1").read_text() == '{"status":200}\n'  # delaycompress: the newest stays plain
    assert (logs / "access.log").read_text() == "" and (logs / "access.log").stat().st_mode & 0o777 == 0o640
