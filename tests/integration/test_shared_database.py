"""Two deployments sharing one PostgreSQL database: two machines behind one load balancer, simulated on loopback.

One PostgreSQL cluster started here (deploy/postgres-cluster.sh), key files shared the way real machines would share
them (OAUTH_KEY_FILE, REQUEST_STATE_KEY_FILE, the pre-provisioned clients, the registration token, the management
token) and two complete stacks, A and B (each its own run.sh, nginx, workers, ports and run dir) with STORE=postgres
on that database. Both present the same public URL, the issuer and resource of their tokens: a small TCP forwarder
in this file, the "load balancer", on which a test switches every new connection to A or to B.

1. a client registered and a token issued through A are accepted by B;
2. a token revoked on B is refused on A within one second;
3. a session opened on A by the official client continues on B, on the same ClientSession, after A is stopped;
4. GET /management/sessions on either deployment counts the sessions of both (the shared store).
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import anyio
import httpx2
import mcp.types as types
import pytest
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client

from conftest import ROOT, Stack, free_ports
from mcphttp import PROTOCOL_VERSION, request, rpc_request
from test_oauth import PASSWORD, USER, OAuthStack, www_authenticate_params

CLUSTER = ROOT / "deploy" / "postgres-cluster.sh"
MANAGEMENT_TOKEN = "shared-management-" + secrets.token_hex(8)
SERVICE_SCOPE = "mcp:read mcp:write"


# -- the load balancer ---------------------------------------------------------------------------------------

class Balancer:
    """A TCP forwarder on 127.0.0.1:<port>: each new connection goes to the current target port. Its asyncio loop
    runs in a thread of its own; switching the target drops every forwarded connection (both sides closed), as a
    balancer does when it takes a machine out."""

    def __init__(self) -> None:
        [self.port] = free_ports(1)
        self.target: int | None = None
        self.forwarded: dict[int, int] = {}  # connections forwarded per target port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="balancer", daemon=True)
        self._server: asyncio.base_events.Server | None = None
        self._pipes: set[asyncio.Task] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _call(self, coroutine, timeout: float = 10):
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def start(self) -> "Balancer":
        self._thread.start()

        async def listen():
            self._server = await asyncio.start_server(self._forward, "127.0.0.1", self.port)
        self._call(listen())
        return self

    def switch(self, target: int) -> None:
        """From now on new connections go to `target`; open ones are closed."""
        async def switch():
            self.target = target
            await self._drop()
        self._call(switch())

    def close(self) -> None:
        async def close():
            if self._server is not None:
                self._server.close()
            await self._drop()
            if self._server is not None:
                await self._server.wait_closed()
        try:
            self._call(close())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()

    async def _drop(self) -> None:
        pipes = list(self._pipes)
        for task in pipes:
            task.cancel()
        await asyncio.gather(*pipes, return_exceptions=True)

    async def _forward(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._pipes.add(task)
        upstream_writer = None
        try:
            target = self.target
            if target is None:
                return
            try:
                upstream_reader, upstream_writer = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", target), 5)
            except (OSError, asyncio.TimeoutError):
                return  # the target is down: the client sees its connection closed
            self.forwarded[target] = self.forwarded.get(target, 0) + 1
            directions = [asyncio.ensure_future(self._copy(client_reader, upstream_writer)),
                          asyncio.ensure_future(self._copy(upstream_reader, client_writer))]
            try:
                # Either side ending (or failing) ends the pair.
                await asyncio.wait(directions, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for d in directions:
                    d.cancel()
                await asyncio.gather(*directions, return_exceptions=True)
        except asyncio.CancelledError:
            pass  # switched or shut down: close both sides below
        finally:
            for writer in (client_writer, upstream_writer):
                if writer is not None:
                    writer.close()
                    try:
                        await asyncio.wait_for(writer.wait_closed(), 1)
                    except (OSError, asyncio.TimeoutError, asyncio.CancelledError):
                        pass
            self._pipes.discard(task)

    @staticmethod
    async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except OSError:
            pass


# -- the two deployments -------------------------------------------------------------------------------------

class Deployments:
    """The shared database, the shared secrets, the balancer and the two stacks."""

    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="mcpfcgi-shared."))
        # The workers (as root: the user mcpfcgi) read the key files, postgres reaches its directory.
        self.base.chmod(0o711)
        self.cluster = self.base / "postgres"
        self.database_url: str | None = None
        self.balancer = Balancer()
        self.a: Stack | None = None
        self.b: Stack | None = None

    def secret_file(self, name: str, content: bytes) -> Path:
        path = self.base / name
        path.write_bytes(content)
        path.chmod(0o640)
        if os.geteuid() == 0:
            shutil.chown(path, "mcpfcgi", "mcpfcgi")
        return path

    def start(self) -> "Deployments":
        root = os.geteuid() == 0
        if root and subprocess.run(["id", "mcpfcgi"], capture_output=True).returncode != 0:
            # As run.sh does: the workers' user, whose group may use the cluster's socket.
            subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "mcpfcgi"],
                           check=True)
        out = subprocess.run(["bash", str(CLUSTER), "start", str(self.cluster)], capture_output=True, text=True,
                             timeout=120, env={**os.environ, "PG_OPTIONS": "-c fsync=off",
                                               "PG_SOCKET_GROUP": "mcpfcgi" if root else ""})
        assert out.returncode == 0, out.stderr
        self.database_url = out.stdout.strip().splitlines()[-1]
        assert self.database_url.startswith("postgres://"), out.stdout

        # What machines sharing a database share: the signing key, the request-state key, the pre-provisioned
        # clients and the registration token (run.sh makes each the same way).
        key = subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
                             capture_output=True, check=True, timeout=60).stdout
        self.service = ("demo-service", secrets.token_hex(24))
        clients = [{"client_id": self.service[0], "client_secret": self.service[1],
                    "grant_types": ["client_credentials"], "scope": SERVICE_SCOPE}]
        env = {
            "STORE": "postgres", "DATABASE_URL": self.database_url, "AUTH": "builtin",
            "DEMO_USER": USER, "DEMO_PASSWORD": PASSWORD, "PUBLIC_URL": self.balancer.url,
            "OAUTH_KEY_FILE": str(self.secret_file("oauth-signing-key.pem", key)),
            "REQUEST_STATE_KEY_FILE": str(self.secret_file("request-state.key", os.urandom(32))),
            "OAUTH_CLIENTS_FILE": str(self.secret_file("oauth-clients.json", json.dumps(clients).encode())),
            "OAUTH_REGISTRATION_TOKEN_FILE": str(self.secret_file("oauth-registration-token",
                                                                  secrets.token_hex(24).encode())),
            "MANAGEMENT_TOKEN": MANAGEMENT_TOKEN, "DRAIN_TIMEOUT": "5",
        }
        self.balancer.start()
        self.a = Stack(workers=2, extra_env=env)
        self.b = Stack(workers=2, extra_env=env)
        self.a.start()
        self.b.start()
        return self

    def ensure_running(self) -> None:
        """Both deployments up (a test that stopped A leaves it stopped)."""
        for s in (self.a, self.b):
            if s.proc is None or s.proc.poll() is not None:
                s.start()

    def oauth(self, stack: Stack) -> OAuthStack:
        """OAuth and MCP helpers: the OAuth endpoints through the balancer (the public URL, wherever it points),
        /mcp straight to `stack`."""
        o = OAuthStack(stack)
        o.http.close()
        o.issuer = self.balancer.url
        o.resource = o.issuer + "/mcp"
        o.http = httpx2.Client(base_url=o.issuer, timeout=15, follow_redirects=False)
        return o

    def service_token(self, via: OAuthStack) -> str:
        r = via.token({"grant_type": "client_credentials", "scope": SERVICE_SCOPE}, auth=self.service)
        assert r.status_code == 200, r.text
        return r.json()["access_token"]

    def cleanup(self) -> None:
        try:
            for s in (self.a, self.b):
                if s is not None:
                    s.cleanup()
            self.balancer.close()
        finally:
            subprocess.run(["bash", str(CLUSTER), "stop", str(self.cluster)], capture_output=True, timeout=60)
            shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture(scope="module")
def deployments():
    d = Deployments()
    try:
        d.start()
        yield d
    finally:
        d.cleanup()


@pytest.fixture
def shared(deployments) -> Deployments:
    deployments.ensure_running()
    return deployments


def access_log(stack: Stack) -> list[dict]:
    path = stack.run_dir / "access.log"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def lines_after(stack: Stack, before: int, prefix: str, at_least: int = 0) -> list[dict]:
    """The access-log lines after the first `before` whose URI starts with `prefix`, once there are `at_least` of
    them (nginx writes a line when the request has ended, which may be just after the client read the answer)."""
    deadline = time.monotonic() + 5
    while True:
        lines = [line for line in access_log(stack)[before:] if line["uri"].startswith(prefix)]
        if len(lines) >= at_least or time.monotonic() >= deadline:
            return lines
        time.sleep(0.05)


def management_sessions(stack: Stack):
    return request(stack.port, "GET", "/management/sessions", None, {"Authorization": f"Bearer {MANAGEMENT_TOKEN}"})


# -- the tests -----------------------------------------------------------------------------------------------

def test_a_client_registered_and_a_token_issued_through_a_are_accepted_by_b(shared):
    via_a, on_b = shared.oauth(shared.a), shared.oauth(shared.b)
    try:
        shared.balancer.switch(shared.a.port)
        a_before, b_before = len(access_log(shared.a)), len(access_log(shared.b))
        client_id = via_a.public_client("registered on A")
        code, verifier = via_a.code(client_id)
        tokens = via_a.exchange(client_id, code, verifier)
        assert tokens.status_code == 200, tokens.text
        tokens = tokens.json()
        # Registration, consent (GET and POST) and the code exchange went to A, none to B.
        assert len(lines_after(shared.a, a_before, "/oauth/", at_least=4)) == 4, access_log(shared.a)[a_before:]
        assert lines_after(shared.b, b_before, "/oauth/") == []

        # B accepts A's token: a session on B, and its tools.
        token = tokens["access_token"]
        sid = on_b.session(token)
        listed = on_b.mcp(token, rpc_request("tools/list", id=2), sid, protocol_version=PROTOCOL_VERSION)
        assert listed.status == 200, listed
        assert "echo" in {tool["name"] for tool in listed.json()["result"]["tools"]}, listed

        # B knows the client A registered: it rotates the refresh token A issued.
        shared.balancer.switch(shared.b.port)
        b_before = len(access_log(shared.b))
        refreshed = via_a.refresh(client_id, tokens["refresh_token"])
        assert refreshed.status_code == 200, refreshed.text
        assert [line["uri"] for line in lines_after(shared.b, b_before, "/oauth/", at_least=1)] == ["/oauth/token"]
        on_b.assert_accepted(refreshed.json()["access_token"], times=2)
    finally:
        via_a.close()
        on_b.close()


def test_a_token_revoked_on_b_is_refused_on_a_within_one_second(shared):
    on_a, on_b = shared.oauth(shared.a), shared.oauth(shared.b)
    try:
        shared.balancer.switch(shared.a.port)
        token = shared.service_token(on_a)
        # Both of A's workers (requests without a session id alternate between them) and B have seen it valid.
        on_a.assert_accepted(token, times=4)
        on_b.assert_accepted(token, times=2)

        shared.balancer.switch(shared.b.port)
        b_before = len(access_log(shared.b))
        r = on_b.http.post("/oauth/revoke", data={"token": token, "token_type_hint": "access_token"},
                           auth=shared.service)
        revoked_at = time.monotonic()
        assert r.status_code == 200, r.text
        assert [line["uri"] for line in lines_after(shared.b, b_before, "/oauth/", at_least=1)] == ["/oauth/revoke"]

        # A refuses it on every worker (4 answers in a row over its 2 workers) within one second.
        answers = []
        refused_in_a_row = 0
        while refused_in_a_row < 4:
            elapsed = time.monotonic() - revoked_at
            assert elapsed < 1.0, f"A still accepted the token {elapsed:.2f} s after the revocation: " \
                                  f"{[a.status for a in answers]}"
            answer = on_a.initialize(token)
            answers.append(answer)
            refused_in_a_row = refused_in_a_row + 1 if answer.status == 401 else 0
        for answer in answers[-4:]:
            params = www_authenticate_params(answer.header("WWW-Authenticate"))
            assert params.get("error") == "invalid_token", answer.header("WWW-Authenticate")
            assert answer.json()["error"] == "invalid_token", answer
    finally:
        on_a.close()
        on_b.close()


def test_management_on_either_deployment_counts_the_sessions_of_both(shared):
    on_a, on_b = shared.oauth(shared.a), shared.oauth(shared.b)
    try:
        shared.balancer.switch(shared.a.port)
        token = shared.service_token(on_a)
        made_on_a = {on_a.session(token) for _ in range(3)}
        made_on_b = {on_b.session(token) for _ in range(2)}
        assert len(made_on_a | made_on_b) == 5

        answers = {}
        for name, stack in (("A", shared.a), ("B", shared.b)):
            r = management_sessions(stack)
            assert r.status == 200, r
            answers[name] = r.json()
        for name, body in answers.items():
            # One store for both deployments: no per-worker list to merge, no peer to ask.
            assert body.get("store") == "shared", (name, body)
            assert body["workers"] == [] and body["unreachable"] == [], (name, body)
            assert body["activeSessions"] >= 5, (name, body)
        assert answers["A"]["activeSessions"] == answers["B"]["activeSessions"], answers
    finally:
        on_a.close()
        on_b.close()


def test_a_session_opened_on_a_continues_on_b_after_a_is_stopped(shared):
    """The official client (streamable HTTP, the session era) through the balancer: initialize and a tool call on
    A; then A stops entirely, the balancer sends everything to B, and the SAME client session calls tools on B —
    no 404, no second initialize."""
    via_a = shared.oauth(shared.a)
    try:
        shared.balancer.switch(shared.a.port)
        token = shared.service_token(via_a)
    finally:
        via_a.close()
    seen: list[tuple[str, int, str | None, str | None]] = []

    async def on_response(response):
        req = response.request
        seen.append((req.method, response.status_code, req.headers.get("mcp-session-id"),
                     response.headers.get("mcp-session-id")))

    async def main() -> tuple[int, int, list]:
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"},
                                      event_hooks={"response": [on_response]},
                                      timeout=httpx2.Timeout(30, read=60)) as http:
            transport = streamable_http_client(shared.balancer.url + "/mcp", http_client=http)
            with anyio.fail_after(90):
                async with Client(transport, mode="legacy", read_timeout_seconds=20, cache=None,
                                  client_info=types.Implementation(name="two-machines", version="1.0")) as c:
                    first = await c.call_tool("echo", {"text": "on A"})
                    assert first.content[0].text == "on A", first
                    on_a = len(seen)

                    await anyio.to_thread.run_sync(shared.a.stop)
                    await anyio.to_thread.run_sync(shared.balancer.switch, shared.b.port)
                    b_before = len(access_log(shared.b))

                    # Outcomes are asserted after the client closed (an error raised in here would come out
                    # wrapped in the client's task groups).
                    outcomes: list = []
                    for name, arguments in (("echo", {"text": "on B"}), ("test_simple_text", {})):
                        try:
                            outcomes.append(await c.call_tool(name, arguments))
                        except MCPError as error:
                            outcomes.append(error)
                    return on_a, b_before, outcomes

    on_a, b_before, outcomes = anyio.run(main)
    failed = [o for o in outcomes if isinstance(o, MCPError)]
    assert not failed, f"the session did not continue on B: {failed}; on the wire (method, status, sent id, " \
                       f"returned id): {seen}"
    echoed, simple = outcomes
    assert not echoed.is_error and echoed.content[0].text == "on B", echoed
    assert simple.content[0].text == "This is a simple text response for testing.", simple
    initialize = seen[0]
    assert initialize[0] == "POST" and initialize[1] == 200 and initialize[3], seen
    sid = initialize[3]
    # One session from the first request to the last: every later request carried its id, none was refused
    # as unknown, and the server never handed out another.
    assert all(s == sid for _, _, s, _ in seen[1:]), seen
    assert not [entry for entry in seen if entry[1] == 404], seen
    assert all(new in (None, sid) for *_, new in seen), seen
    after = seen[on_a:]
    assert [status for method, status, *_ in after if method == "POST"][:2] == [200, 200], seen
    # The calls after the switch were answered by B's workers.
    assert len([line for line in lines_after(shared.b, b_before, "/mcp", at_least=2) if line["method"] == "POST"]) >= 2
    assert shared.balancer.forwarded.get(shared.b.port, 0) >= 1
