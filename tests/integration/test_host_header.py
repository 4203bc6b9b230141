"""Host header / DNS rebinding (#14 item 9): nginx answers only the public URL's host and the loopback names
(any other Host: 421 from a catch-all server, before a worker), and the application refuses a foreign Host
itself (421) as the second line, as seen by a FastCGI request that does not go through nginx."""

from __future__ import annotations

import json

import pytest

from fcgiclient import fastcgi_request
from mcphttp import request, rpc_request, initialize_params

INITIALIZE = json.dumps(rpc_request("initialize", initialize_params()))
MCP_HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
FOREIGN_PATHS = [("POST", "/mcp"), ("GET", "/health"), ("GET", "/.well-known/oauth-protected-resource/mcp"),
                 ("POST", "/oauth/token"), ("GET", "/management/sessions"), ("GET", "/nope")]


def initialize(port: int, host: str, tls: bool = False):
    return request(port, "POST", "/mcp", body=INITIALIZE, headers={**MCP_HEADERS, "Host": host}, tls=tls)


@pytest.mark.parametrize("tls", [False, True])
@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "127.0.0.1.evil.example", "10.0.0.1"])
def test_foreign_host_is_refused_by_nginx(stack, host, tls):
    port = stack.tls_port if tls else stack.port
    r = initialize(port, host.format(port=port), tls=tls)
    assert r.status == 421, r
    assert r.json()["error"] == "misdirected_request", r


@pytest.mark.parametrize("method,path", FOREIGN_PATHS)
def test_foreign_host_is_refused_on_every_path(stack, method, path):
    r = request(stack.port, method, path, body="" if method == "POST" else None,
                headers={**MCP_HEADERS, "Host": "evil.example"})
    assert r.status == 421, r


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "127.0.0.1", "localhost:{port}", "LOCALHOST", "[::1]:{port}"])
def test_loopback_hosts_are_served(stack, host):
    r = initialize(stack.port, host.format(port=stack.port))
    assert r.status == 200, r
    assert r.json()["result"]["protocolVersion"], r
    health = request(stack.port, "GET", "/health", headers={"Host": host.format(port=stack.port)})
    assert health.status == 200, health


def test_the_public_url_host_is_served(make_stack):
    """An https public URL makes the deployment HTTPS-only: the TLS listener serves its host, the plain one
    redirects it there (308); other hosts get 421 on both."""
    s = make_stack(workers=1, extra_env={"PUBLIC_URL": "https://mcp.example.test"})
    assert initialize(s.tls_port, "mcp.example.test", tls=True).status == 200
    assert initialize(s.tls_port, "MCP.Example.Test:443", tls=True).status == 200
    assert initialize(s.tls_port, f"127.0.0.1:{s.tls_port}", tls=True).status == 200
    for host in ("mcp.example.test", "MCP.Example.Test:443", f"127.0.0.1:{s.port}"):
        r = initialize(s.port, host)
        assert r.status == 308 and r.header("Location") == "https://mcp.example.test/mcp", (host, r)
    for tls in (False, True):
        assert initialize(s.tls_port if tls else s.port, "other.example.test", tls=tls).status == 421


def test_the_application_refuses_a_foreign_host_behind_nginx(stack):
    """The second line: a FastCGI request straight to a worker (not through nginx) with a foreign HTTP_HOST."""
    sock = str(stack.worker_socket(1))
    refused = fastcgi_request(sock, "POST", "/mcp", headers={**MCP_HEADERS, "Host": "evil.example"},
                              body=INITIALIZE.encode())
    refused.read_until(b"}")
    assert refused.status == 421, (refused.headers, refused.body)
    assert json.loads(refused.body)["error"] == "misdirected_request"
    served = fastcgi_request(sock, "POST", "/mcp", headers={**MCP_HEADERS, "Host": "127.0.0.1:8080"},
                             body=INITIALIZE.encode())
    assert served.status == 200, (served.headers, served.body)


def test_foreign_origin_is_forbidden(stack):
    """Origin (the MCP transport's DNS-rebinding check): present and not allowed → 403; allowed → 200."""
    host = f"127.0.0.1:{stack.port}"
    bad = request(stack.port, "POST", "/mcp", body=INITIALIZE,
                  headers={**MCP_HEADERS, "Host": host, "Origin": "http://evil.example"})
    assert bad.status == 403, bad
    good = request(stack.port, "POST", "/mcp", body=INITIALIZE,
                   headers={**MCP_HEADERS, "Host": host, "Origin": f"http://{host}"})
    assert good.status == 200, good
