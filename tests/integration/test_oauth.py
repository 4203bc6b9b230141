"""OAuth 2.1 through real nginx (AUTH=builtin, WORKERS=2): the official MCP SDK client end to end, the raw RFC
flows, forged tokens, and the consent page.

Every test class gets its own stack (the authorization server rate-limits per endpoint and address, and its
state lives in worker w1's memory), started with DEMO_USER=alice and a random password: nginx auth_basic is the
login step in front of /oauth/authorize, which then sees REMOTE_USER.
"""

from __future__ import annotations

import base64
from contextlib import contextmanager
import hashlib
import json
import re
import secrets
import shutil
import struct
import subprocess
import time
import zlib
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urljoin, urlparse

import anyio
import httpx2
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey

from conftest import Stack
from mcphttp import ACCEPT_BOTH, initialize_params, request, rpc_request

USER = "alice"
PASSWORD = "wonder-" + secrets.token_hex(6)
CALLBACK = "http://127.0.0.1:9/callback"


# -- helpers ---------------------------------------------------------------------------------------------

def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def jwt_parts(token: str) -> tuple[dict, dict]:
    header, payload, _ = token.split(".")
    return json.loads(b64url_decode(header)), json.loads(b64url_decode(payload))


def pkce() -> tuple[str, str]:
    verifier = b64url(secrets.token_bytes(48))  # 64 unreserved characters
    return verifier, b64url(hashlib.sha256(verifier.encode()).digest())


class ConsentForm(HTMLParser):
    """The consent page's form: action, hidden inputs and the decision buttons."""

    def __init__(self, html: str):
        super().__init__()
        self.action: str | None = None
        self.method: str | None = None
        self.hidden: dict[str, str] = {}
        self.buttons: list[tuple[str, str]] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.action, self.method = a.get("action"), (a.get("method") or "").lower()
        elif tag == "input" and a.get("type") == "hidden":
            self.hidden[a["name"]] = a.get("value") or ""
        elif tag == "button":
            self.buttons.append((a.get("name"), a.get("value")))


def www_authenticate_params(header: str) -> dict[str, str]:
    assert header and header.lower().startswith("bearer "), header
    return dict(re.findall(r'([a-z_]+)="([^"]*)"', header))


class OAuthStack:
    """One AUTH=builtin stack plus raw OAuth helpers (httpx2, no redirects followed)."""

    def __init__(self, stack: Stack):
        self.stack = stack
        self.issuer = stack.base_url
        self.resource = self.issuer + "/mcp"
        self.http = httpx2.Client(base_url=self.issuer, timeout=15, follow_redirects=False)

    def close(self):
        self.http.close()

    # registration ------------------------------------------------------------------------------------
    def register(self, **metadata) -> httpx2.Response:
        return self.http.post("/oauth/register", json=metadata)

    def public_client(self, name: str = "pytest public", redirect: str = CALLBACK, **extra) -> str:
        r = self.register(client_name=name, redirect_uris=[redirect], token_endpoint_auth_method="none",
                          grant_types=["authorization_code", "refresh_token"], response_types=["code"], **extra)
        assert r.status_code == 201, r.text
        assert "client_secret" not in r.json()
        return r.json()["client_id"]

    @property
    def registration_token(self) -> str:
        """The RFC 7591 initial access token run.sh generated: only with it may /oauth/register create
        client_credentials clients."""
        return (self.stack.run_dir / "oauth-registration-token").read_text().strip()

    def confidential_client(self, scope: str = "mcp:read mcp:write") -> tuple[str, str]:
        r = self.http.post("/oauth/register", json=dict(
            client_name="pytest service", token_endpoint_auth_method="client_secret_basic",
            grant_types=["client_credentials"], response_types=[], scope=scope),
            headers={"Authorization": f"Bearer {self.registration_token}"})
        assert r.status_code == 201, r.text
        return r.json()["client_id"], r.json()["client_secret"]

    def demo_service(self) -> tuple[str, str]:
        """The pre-provisioned client_credentials client run.sh wrote to RUN_DIR/oauth-clients.json."""
        [entry] = json.loads((self.stack.run_dir / "oauth-clients.json").read_text())
        return entry["client_id"], entry["client_secret"]

    def shared_public(self) -> str:
        """One public client per stack (registration is rate-limited: burst 20 per address)."""
        if not hasattr(self, "_public"):
            self._public = self.public_client()
        return self._public

    def shared_service(self) -> tuple[str, str]:
        if not hasattr(self, "_service"):
            self._service = self.confidential_client()
        return self._service

    # authorization endpoint --------------------------------------------------------------------------
    def authorize_query(self, client_id: str, challenge: str, *, state: str | None = "st-1",
                        scope: str | None = "mcp:read mcp:write", method: str = "S256", **extra) -> dict:
        q = {"response_type": "code", "client_id": client_id, "redirect_uri": CALLBACK,
             "code_challenge": challenge, "code_challenge_method": method, "resource": self.resource}
        if state is not None:
            q["state"] = state
        if scope is not None:
            q["scope"] = scope
        q.update(extra)
        return q

    def consent_page(self, query: dict, auth=(USER, PASSWORD)) -> httpx2.Response:
        return self.http.get("/oauth/authorize?" + urlencode(query), auth=auth)

    def decide(self, query: dict, decision: str = "approve") -> httpx2.Response:
        page = self.consent_page(query)
        assert page.status_code == 200, page.text
        form = ConsentForm(page.text)
        assert form.method == "post" and "csrf_token" in form.hidden, page.text
        return self.http.post(urljoin(self.issuer + "/oauth/authorize", form.action),
                              data={**form.hidden, "decision": decision}, auth=(USER, PASSWORD))

    @staticmethod
    def redirect_params(r: httpx2.Response) -> dict[str, str]:
        assert r.status_code == 302, f"{r.status_code} {r.headers} {r.text[:300]}"
        location = r.headers["location"]
        assert location.startswith(CALLBACK + "?"), location
        return {k: v[0] for k, v in parse_qs(urlparse(location).query, keep_blank_values=True).items()}

    def code(self, client_id: str, scope: str = "mcp:read mcp:write", state: str = "st-1") -> tuple[str, str]:
        verifier, challenge = pkce()
        params = self.redirect_params(self.decide(self.authorize_query(client_id, challenge, state=state,
                                                                       scope=scope)))
        assert params["state"] == state and params["iss"] == self.issuer, params
        return params["code"], verifier

    # token endpoint ----------------------------------------------------------------------------------
    def token(self, data: dict, auth=None) -> httpx2.Response:
        return self.http.post("/oauth/token", data=data, auth=auth)

    def exchange(self, client_id: str, code: str, verifier: str) -> httpx2.Response:
        return self.token({"grant_type": "authorization_code", "code": code, "code_verifier": verifier,
                           "client_id": client_id, "redirect_uri": CALLBACK, "resource": self.resource})

    def user_tokens(self, client_id: str | None = None, scope: str = "mcp:read mcp:write") -> tuple[str, dict]:
        client_id = client_id or self.shared_public()
        code, verifier = self.code(client_id, scope)
        r = self.exchange(client_id, code, verifier)
        assert r.status_code == 200, r.text
        return client_id, r.json()

    def refresh(self, client_id: str, refresh_token: str) -> httpx2.Response:
        return self.token({"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id})

    def service_token(self, scope: str = "mcp:read mcp:write", client: tuple[str, str] | None = None) -> str:
        client = client or (self.shared_service() if scope == "mcp:read mcp:write" else self.confidential_client(scope))
        r = self.token({"grant_type": "client_credentials", "scope": scope}, auth=client)
        assert r.status_code == 200, r.text
        return r.json()["access_token"]

    # the resource ------------------------------------------------------------------------------------
    def mcp(self, token: str | None, message: dict, session_id: str | None = None, path: str = "/mcp",
            protocol_version: str | None = None):
        headers = {"Content-Type": "application/json", "Accept": ACCEPT_BOTH}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if session_id:
            headers["Mcp-Session-Id"] = session_id
        if protocol_version:
            headers["MCP-Protocol-Version"] = protocol_version
        return request(self.stack.port, "POST", path, json.dumps(message), headers)

    def initialize(self, token: str | None, path: str = "/mcp"):
        return self.mcp(token, rpc_request("initialize", initialize_params()), path=path)

    def session(self, token: str) -> str:
        r = self.initialize(token)
        assert r.status == 200, r
        sid = r.header("Mcp-Session-Id")
        assert sid
        n = self.mcp(token, {"jsonrpc": "2.0", "method": "notifications/initialized"}, sid,
                     protocol_version="2025-11-25")
        assert n.status == 202, n
        return sid

    def echo(self, token: str, session_id: str, text: str = "hi"):
        return self.mcp(token, rpc_request("tools/call", {"name": "echo", "arguments": {"text": text}}, id=7),
                        session_id, protocol_version="2025-11-25")

    def assert_rejected(self, token: str | None, times: int = 4, error: str | None = "invalid_token",
                        path: str = "/mcp"):
        """The token is refused at `path` on every try (requests without a session id spread over all workers),
        with a challenge naming that path's own protected-resource metadata."""
        answers = [self.initialize(token, path) for _ in range(times)]
        # A 200 names the worker that accepted the token in its new session id ("w2.…").
        summary = [(r.status, (r.header("Mcp-Session-Id") or "").split(".")[0] or None) for r in answers]
        assert all(r.status == 401 for r in answers), f"(status, accepting worker) per try: {summary}"
        for r in answers:
            params = www_authenticate_params(r.header("WWW-Authenticate"))
            assert params.get("error") == error, r.header("WWW-Authenticate")
            assert params["resource_metadata"] == self.issuer + "/.well-known/oauth-protected-resource" + path

    def assert_accepted(self, token: str, times: int = 4):
        for i in range(times):
            r = self.initialize(token)
            assert r.status == 200, f"try {i + 1}: {r}"


def start_oauth_stack(store: str = "memory", extra_env: dict[str, str] | None = None) -> OAuthStack:
    s = Stack(workers=2, extra_env={"AUTH": "builtin", "DEMO_USER": USER, "DEMO_PASSWORD": PASSWORD, "STORE": store,
                                    **(extra_env or {})})
    try:
        s.start()
    except BaseException:
        s.cleanup()
        raise
    return OAuthStack(s)


@contextmanager
def running_oauth_stack(store: str = "memory", extra_env: dict[str, str] | None = None):
    """A started AUTH=builtin stack, stopped on exit."""
    o = start_oauth_stack(store, extra_env)
    try:
        yield o
    finally:
        o.close()
        o.stack.cleanup()


@pytest.fixture(scope="class", params=["memory", "postgres"])
def oauth(request):
    """Every test of a class runs against the in-memory store (OAuth state in worker 1) and PostgreSQL (run.sh's
    private cluster; any worker serves /oauth/)."""
    with running_oauth_stack(request.param) as o:
        yield o


# -- 1. the official MCP SDK OAuth client ---------------------------------------------------------------

class MemoryStorage:
    def __init__(self):
        self.tokens = None
        self.client_info = None

    async def get_tokens(self):
        return self.tokens

    async def set_tokens(self, tokens):
        self.tokens = tokens

    async def get_client_info(self):
        return self.client_info

    async def set_client_info(self, info):
        self.client_info = info


class TestOfficialClient:
    def test_sdk_oauth_end_to_end(self, oauth: OAuthStack):
        from mcp import Client
        from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider
        from mcp.client.streamable_http import streamable_http_client
        from mcp.shared.auth import OAuthClientMetadata

        storage = MemoryStorage()
        captured: dict[str, str] = {}
        wire: list[tuple[str, str, int]] = []
        session_ids: list[str] = []
        service_client = oauth.confidential_client("mcp:read mcp:write")

        async def redirect_handler(authorization_url: str) -> None:  # the browser, signed in as alice
            assert authorization_url.startswith(oauth.issuer + "/oauth/authorize?"), authorization_url
            q = parse_qs(urlparse(authorization_url).query)
            assert q["code_challenge_method"] == ["S256"] and q["response_type"] == ["code"]
            assert q["resource"] == [oauth.resource]
            async with httpx2.AsyncClient(auth=(USER, PASSWORD), follow_redirects=False, timeout=15) as browser:
                page = await browser.get(authorization_url)
                assert page.status_code == 200, page.text
                assert page.headers["content-type"].startswith("text/html")
                form = ConsentForm(page.text)
                assert ("decision", "approve") in form.buttons and "csrf_token" in form.hidden
                r = await browser.post(urljoin(authorization_url, form.action),
                                       data={**form.hidden, "decision": "approve"})
            params = OAuthStack.redirect_params(r)
            assert params["iss"] == oauth.issuer
            captured.update(params)

        async def callback_handler() -> AuthorizationCodeResult:
            return AuthorizationCodeResult(code=captured["code"], state=captured["state"], iss=captured["iss"])

        async def on_response(response):
            wire.append((response.request.method, response.request.url.path, response.status_code))
            if sid := response.headers.get("mcp-session-id"):
                session_ids.append(sid)

        auth = OAuthClientProvider(
            server_url=oauth.resource,
            client_metadata=OAuthClientMetadata(
                client_name="pytest SDK client", redirect_uris=[CALLBACK], token_endpoint_auth_method="none",
                grant_types=["authorization_code", "refresh_token"], response_types=["code"]),
            storage=storage, redirect_handler=redirect_handler, callback_handler=callback_handler)

        async def main():
            async with httpx2.AsyncClient(auth=auth, timeout=httpx2.Timeout(30, read=60),
                                          event_hooks={"response": [on_response]}) as http:
                async with Client(streamable_http_client(oauth.resource, http_client=http), mode="legacy",
                                  read_timeout_seconds=15, cache=None) as c:
                    assert c.protocol_version == "2025-11-25"
                    r = await c.call_tool("echo", {"text": "through OAuth"})
                    assert not r.is_error and r.content[0].text == "through OAuth"
                    assert session_ids, wire
                    sid = session_ids[0]
                    user_token = storage.tokens.access_token
                    # The session belongs to alice: a valid token of another subject may not use it.
                    other = await anyio.to_thread.run_sync(lambda: oauth.service_token(client=service_client))
                    assert jwt_parts(other)[1]["sub"] != jwt_parts(user_token)[1]["sub"]
                    denied = await anyio.to_thread.run_sync(lambda: oauth.echo(other, sid))
                    assert denied.status == 403, denied
                    mine = await anyio.to_thread.run_sync(lambda: oauth.echo(user_token, sid, "again"))
                    assert mine.status == 200 and mine.json()["result"]["content"][0]["text"] == "again", mine
                # The 2026-07-28 stateless protocol with the same (already authorized) HTTP client.
                async with Client(streamable_http_client(oauth.resource, http_client=http), mode="2026-07-28",
                                  read_timeout_seconds=15, cache=None) as c:
                    assert c.protocol_version == "2026-07-28"
                    r = await c.call_tool("echo", {"text": "modern"})
                    assert not r.is_error and r.content[0].text == "modern"

        anyio.run(main)

        # Discovery → registration → token → the retried MCP request, in that order.
        steps = [(m, p, s) for m, p, s in wire]
        assert steps[0] == ("POST", "/mcp", 401), steps
        order = [("GET", "/.well-known/oauth-protected-resource/mcp", 200),
                 ("GET", "/.well-known/oauth-authorization-server", 200),
                 ("POST", "/oauth/register", 201), ("POST", "/oauth/token", 200)]
        positions = [steps.index(step) for step in order]
        assert positions == sorted(positions), steps
        assert ("POST", "/mcp", 200) in steps[positions[-1]:], steps
        assert steps.count(("POST", "/oauth/register", 201)) == 1, steps  # the 2026 client reused the tokens
        client_info = storage.client_info
        assert client_info.token_endpoint_auth_method == "none" and not client_info.client_secret
        claims = jwt_parts(storage.tokens.access_token)[1]
        assert claims["sub"] == USER and claims["iss"] == oauth.issuer and claims["client_id"] == client_info.client_id
        assert "mcp:read" in claims["scope"].split()

        # Refresh with the client's refresh token: a new pair, and the new access token works.
        r = oauth.refresh(client_info.client_id, storage.tokens.refresh_token)
        assert r.status_code == 200, r.text
        fresh = r.json()
        assert fresh["refresh_token"] != storage.tokens.refresh_token
        assert fresh["access_token"] != storage.tokens.access_token
        assert jwt_parts(fresh["access_token"])[1]["sub"] == USER
        sid = oauth.session(fresh["access_token"])
        e = oauth.echo(fresh["access_token"], sid, "refreshed")
        assert e.status == 200 and e.json()["result"]["content"][0]["text"] == "refreshed", e


# -- 2. raw RFC flows -----------------------------------------------------------------------------------

class TestRawFlows:
    def test_issuer_is_identical_everywhere(self, oauth: OAuthStack):
        unauth = oauth.initialize(None)
        assert unauth.status == 401, unauth
        challenge = www_authenticate_params(unauth.header("WWW-Authenticate"))
        assert "error" not in challenge  # no token at all: no error code (RFC 6750 §3.1)
        prm_url = challenge["resource_metadata"]
        assert prm_url == oauth.issuer + "/.well-known/oauth-protected-resource/mcp"
        assert challenge["scope"] == "mcp:read"
        prm = oauth.http.get(urlparse(prm_url).path)
        assert prm.status_code == 200, prm.text
        assert prm.json()["resource"] == oauth.resource
        assert prm.json()["authorization_servers"] == [oauth.issuer]
        assert set(prm.json()["scopes_supported"]) == {"mcp:read", "mcp:write", "mcp:admin"}
        asm = oauth.http.get("/.well-known/oauth-authorization-server")
        assert asm.status_code == 200, asm.text
        meta = asm.json()
        assert meta["issuer"] == oauth.issuer  # byte-identical, no trailing slash
        assert meta["code_challenge_methods_supported"] == ["S256"]
        assert meta["authorization_response_iss_parameter_supported"] is True
        for name in ["authorization_endpoint", "token_endpoint", "registration_endpoint", "revocation_endpoint",
                     "introspection_endpoint", "jwks_uri"]:
            assert meta[name].startswith(oauth.issuer + "/oauth/"), (name, meta[name])
        # A token's iss is the same string, and its signature checks against the JWKS.
        client_id, tokens = oauth.user_tokens()
        header, claims = jwt_parts(tokens["access_token"])
        assert header["typ"].lower() == "at+jwt" and header["alg"] == "ES256"
        assert claims["iss"] == oauth.issuer and claims["aud"] in (oauth.resource, [oauth.resource])
        assert claims["sub"] == USER and claims["client_id"] == client_id
        jwks = oauth.http.get(urlparse(meta["jwks_uri"]).path).json()
        (jwk,) = [k for k in jwks["keys"] if k["kid"] == header["kid"]]
        verified = jwt.decode(tokens["access_token"], ECKey.import_key(jwk), algorithms=["ES256"])
        assert verified.claims["iss"] == oauth.issuer

    @pytest.mark.parametrize("uri, problem", [
        ("http://example.com/callback", "http non-loopback"),
        ("https://app.example.com/cb#frag", "fragment"),
        ("http://127.0.0.1:9/cb#x", "fragment on loopback"),
        ("javascript:alert(1)", "javascript scheme"),
        ("https://user:pw@app.example.com/cb", "user info"),
    ])
    def test_registration_rejects_bad_redirect_uris(self, oauth: OAuthStack, uri, problem):
        r = oauth.register(client_name="bad", redirect_uris=[uri], token_endpoint_auth_method="none")
        assert r.status_code == 400, (problem, r.status_code, r.text)
        assert r.json()["error"] == "invalid_redirect_uri", (problem, r.text)

    def test_registration_accepts_loopback_and_https(self, oauth: OAuthStack):
        r = oauth.register(client_name="ok", redirect_uris=["http://127.0.0.1:9/cb", "http://localhost/cb",
                                                            "https://app.example.com/cb"],
                           token_endpoint_auth_method="none")
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["client_id"] and "client_secret" not in body
        assert "no-store" in r.headers.get("cache-control", "")

    def test_authorize_unknown_client_is_an_html_page_not_a_redirect(self, oauth: OAuthStack):
        _, challenge = pkce()
        r = oauth.consent_page(oauth.authorize_query("no-such-client", challenge))
        assert r.status_code == 400, r.text
        assert "location" not in r.headers
        assert r.headers["content-type"].startswith("text/html")

    def test_authorize_unregistered_redirect_uri_is_not_followed(self, oauth: OAuthStack):
        client_id = oauth.shared_public()
        _, challenge = pkce()
        q = oauth.authorize_query(client_id, challenge, redirect_uri="http://127.0.0.1:9/elsewhere")
        r = oauth.consent_page(q)
        assert r.status_code == 400 and "location" not in r.headers, r.text

    def test_authorize_plain_pkce_is_an_html_page_for_a_registered_client(self, oauth: OAuthStack):
        """A self-registered client's redirect URI is not trusted (RFC 9700 §4.11.2): a bad request is answered
        here, not redirected there (pre-registered clients still get the error redirect, tested in-process)."""
        client_id = oauth.shared_public()
        verifier, _ = pkce()
        r = oauth.consent_page(oauth.authorize_query(client_id, verifier, method="plain", state="plain-1"))
        assert r.status_code == 400 and "location" not in r.headers, (r.status_code, r.headers)
        assert r.headers["content-type"].startswith("text/html")
        assert "invalid_request" in r.text and "S256" in r.text, r.text
        # No challenge at all: also refused.
        q = oauth.authorize_query(client_id, "x" * 43)
        del q["code_challenge"], q["code_challenge_method"]
        r = oauth.consent_page(q)
        assert r.status_code == 400 and "location" not in r.headers, (r.status_code, r.headers)
        assert "invalid_request" in r.text and "PKCE" in r.text, r.text

    def test_state_is_echoed_exactly(self, oauth: OAuthStack):
        client_id = oauth.shared_public()
        state = "s t/a?t=e&x=é+" + secrets.token_urlsafe(8)
        code, _ = oauth.code(client_id, state=state)
        assert code

    def test_deny_redirects_with_access_denied(self, oauth: OAuthStack):
        client_id = oauth.shared_public()
        _, challenge = pkce()
        params = oauth.redirect_params(oauth.decide(oauth.authorize_query(client_id, challenge, state="d-1"),
                                                    decision="deny"))
        assert params["error"] == "access_denied" and "code" not in params
        assert params["state"] == "d-1" and params["iss"] == oauth.issuer

    def test_authorize_needs_the_nginx_login(self, oauth: OAuthStack):
        client_id = oauth.shared_public()
        _, challenge = pkce()
        q = oauth.authorize_query(client_id, challenge)
        for auth in (None, (USER, "wrong-password"), ("mallory", PASSWORD)):
            r = oauth.consent_page(q, auth=auth)
            assert r.status_code == 401, (auth, r.status_code, r.text[:200])
            assert r.headers.get("www-authenticate", "").startswith("Basic"), r.headers
        # POSTing a decision without the login is refused by nginx too.
        r = oauth.http.post("/oauth/authorize", data={**q, "decision": "approve", "csrf_token": "x"})
        assert r.status_code == 401

    def test_consent_post_with_a_bad_csrf_token_is_refused(self, oauth: OAuthStack):
        client_id = oauth.shared_public()
        _, challenge = pkce()
        q = oauth.authorize_query(client_id, challenge)
        form = ConsentForm(oauth.consent_page(q).text)
        forged = {**form.hidden, "decision": "approve", "csrf_token": form.hidden["csrf_token"][:-2] + "AA"}
        r = oauth.http.post("/oauth/authorize", data=forged, auth=(USER, PASSWORD))
        assert r.status_code == 403 and "location" not in r.headers, r.text
        # The token is bound to the request parameters: another state with the same token is refused too.
        moved = {**form.hidden, "decision": "approve", "state": "other"}
        r = oauth.http.post("/oauth/authorize", data=moved, auth=(USER, PASSWORD))
        assert r.status_code == 403 and "location" not in r.headers, r.text

class TestRawTokenFlows:
    def test_token_response_and_code_replay(self, oauth: OAuthStack):
        client_id = oauth.shared_public()
        code, verifier = oauth.code(client_id)
        r = oauth.exchange(client_id, code, verifier)
        assert r.status_code == 200, r.text
        assert "no-store" in r.headers["cache-control"]
        assert r.headers["content-type"].startswith("application/json")
        tokens = r.json()
        assert tokens["token_type"].lower() == "bearer" and tokens["expires_in"] > 0
        assert set(tokens["scope"].split()) == {"mcp:read", "mcp:write"}
        assert tokens["refresh_token"]
        oauth.assert_accepted(tokens["access_token"])
        # Replaying the code: invalid_grant, and everything issued from it is revoked.
        replay = oauth.exchange(client_id, code, verifier)
        assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant", replay.text
        assert "no-store" in replay.headers["cache-control"]
        oauth.assert_rejected(tokens["access_token"])
        again = oauth.refresh(client_id, tokens["refresh_token"])
        assert again.status_code == 400 and again.json()["error"] == "invalid_grant", again.text

    def test_wrong_code_verifier_is_invalid_grant(self, oauth: OAuthStack):
        client_id = oauth.shared_public()
        code, _ = oauth.code(client_id)
        r = oauth.exchange(client_id, code, pkce()[0])
        assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text

    def test_refresh_rotation_and_reuse_revokes_the_family(self, oauth: OAuthStack):
        client_id, first = oauth.user_tokens()
        r = oauth.refresh(client_id, first["refresh_token"])
        assert r.status_code == 200, r.text
        assert "no-store" in r.headers["cache-control"]
        second = r.json()
        assert second["refresh_token"] != first["refresh_token"]
        oauth.assert_accepted(second["access_token"])
        # The old refresh token again: refused, and the whole family goes.
        reuse = oauth.refresh(client_id, first["refresh_token"])
        assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant", reuse.text
        after = oauth.refresh(client_id, second["refresh_token"])
        assert after.status_code == 400 and after.json()["error"] == "invalid_grant", after.text
        oauth.assert_rejected(second["access_token"])

    def test_client_credentials(self, oauth: OAuthStack):
        client_id, secret = oauth.confidential_client("mcp:read")
        r = oauth.token({"grant_type": "client_credentials"}, auth=(client_id, secret))
        assert r.status_code == 200, r.text
        assert "no-store" in r.headers["cache-control"]
        body = r.json()
        assert "refresh_token" not in body and body["scope"] == "mcp:read"
        claims = jwt_parts(body["access_token"])[1]
        assert claims["sub"] == client_id and claims["client_id"] == client_id
        sid = oauth.session(body["access_token"])
        e = oauth.echo(body["access_token"], sid, "service")
        assert e.status == 200 and e.json()["result"]["content"][0]["text"] == "service", e
        # A scope the client was not registered for, a wrong secret, a public client.
        bad = oauth.token({"grant_type": "client_credentials", "scope": "mcp:admin"}, auth=(client_id, secret))
        assert bad.status_code == 400 and bad.json()["error"] == "invalid_scope", bad.text
        wrong = oauth.token({"grant_type": "client_credentials"}, auth=(client_id, secret + "x"))
        assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client", wrong.text
        assert wrong.headers.get("www-authenticate", "").startswith("Basic")
        public = oauth.shared_public()
        r = oauth.token({"grant_type": "client_credentials", "client_id": public})
        assert r.status_code in (400, 401) and r.json()["error"] in ("unauthorized_client", "invalid_client")

    def test_revoked_access_token_is_rejected_at_mcp(self, oauth: OAuthStack):
        client = oauth.shared_service()
        token = oauth.service_token(client=client)
        oauth.assert_accepted(token, times=2)
        r = oauth.http.post("/oauth/revoke", data={"token": token, "token_type_hint": "access_token"}, auth=client)
        assert r.status_code == 200, r.text
        oauth.assert_rejected(token)

    def test_revoked_refresh_token(self, oauth: OAuthStack):
        client_id, tokens = oauth.user_tokens()
        r = oauth.http.post("/oauth/revoke", data={"token": tokens["refresh_token"], "client_id": client_id})
        assert r.status_code == 200, r.text
        again = oauth.refresh(client_id, tokens["refresh_token"])
        assert again.status_code == 400 and again.json()["error"] == "invalid_grant", again.text

    def test_introspection(self, oauth: OAuthStack):
        client = oauth.shared_service()
        token = oauth.service_token(client=client)
        r = oauth.http.post("/oauth/introspect", data={"token": token}, auth=client)
        assert r.status_code == 200, r.text
        assert "no-store" in r.headers["cache-control"]
        info = r.json()
        assert info["active"] is True and info["sub"] == client[0] and info["iss"] == oauth.issuer
        assert set(info["scope"].split()) == {"mcp:read", "mcp:write"}
        junk = oauth.http.post("/oauth/introspect", data={"token": "not-a-token"}, auth=client)
        assert junk.status_code == 200 and junk.json() == {"active": False}, junk.text
        oauth.http.post("/oauth/revoke", data={"token": token}, auth=client)
        gone = oauth.http.post("/oauth/introspect", data={"token": token}, auth=client)
        assert gone.status_code == 200 and gone.json()["active"] is False, gone.text
        # Introspection needs client authentication.
        anon = oauth.http.post("/oauth/introspect", data={"token": token})
        assert anon.status_code == 401 and anon.json()["error"] == "invalid_client", anon.text

    def test_token_only_from_the_authorization_header(self, oauth: OAuthStack):
        token = oauth.service_token()
        body = json.dumps(rpc_request("initialize", initialize_params()))
        headers = {"Content-Type": "application/json", "Accept": ACCEPT_BOTH}
        r = request(oauth.stack.port, "POST", "/mcp?access_token=" + token, body, headers)
        assert r.status == 401, r
        assert "error" not in www_authenticate_params(r.header("WWW-Authenticate"))
        form_headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": ACCEPT_BOTH}
        r = request(oauth.stack.port, "POST", "/mcp", urlencode({"access_token": token}), form_headers)
        assert r.status == 401, r
        for scheme in (f"Basic {token}", f"Token {token}", token):
            r = request(oauth.stack.port, "POST", "/mcp", body, {**headers, "Authorization": scheme})
            assert r.status == 401, (scheme[:12], r)


# -- 3. forged tokens -----------------------------------------------------------------------------------

@pytest.fixture(scope="class")
def server_key(oauth: OAuthStack) -> tuple[ECKey, str]:
    """The stack's real signing key (run.sh writes it to the run directory) and its kid from the JWKS."""
    pem = (oauth.stack.run_dir / "oauth-signing-key.pem").read_bytes()
    key = ECKey.import_key(pem)
    jwks = oauth.http.get("/oauth/jwks").json()["keys"]
    assert len(jwks) == 1
    public = ECKey.import_key(jwks[0])
    assert public.as_dict()["x"] == key.as_dict(private=False)["x"], "the key file is not the JWKS key"
    return key, jwks[0]["kid"]


class TestForgedTokens:
    def claims(self, oauth: OAuthStack, **overrides) -> dict:
        now = int(time.time())
        c = {"iss": oauth.issuer, "sub": "forger", "aud": oauth.resource, "client_id": "forger",
             "scope": "mcp:read mcp:write", "iat": now, "nbf": now, "exp": now + 300, "jti": secrets.token_hex(8)}
        c.update(overrides)
        return {k: v for k, v in c.items() if v is not None}

    @staticmethod
    def sign(key: ECKey, kid: str, claims: dict, typ: str = "at+jwt", alg: str = "ES256") -> str:
        return jwt.encode({"alg": alg, "typ": typ, "kid": kid}, claims, key, algorithms=[alg])

    def test_control_a_well_formed_token_signed_with_the_server_key_is_accepted(self, oauth, server_key):
        key, kid = server_key
        oauth.assert_accepted(self.sign(key, kid, self.claims(oauth)), times=2)

    def test_alg_none(self, oauth, server_key):
        _, kid = server_key
        header = b64url(json.dumps({"alg": "none", "typ": "at+jwt", "kid": kid}).encode())
        payload = b64url(json.dumps(self.claims(oauth)).encode())
        oauth.assert_rejected(f"{header}.{payload}.", times=2)
        # …and with a bogus signature part.
        oauth.assert_rejected(f"{header}.{payload}.{b64url(b'x' * 64)}", times=2)

    def test_wrong_key(self, oauth, server_key):
        _, kid = server_key
        mine = ECKey.generate_key("P-256")
        oauth.assert_rejected(self.sign(mine, kid, self.claims(oauth)), times=2)
        oauth.assert_rejected(self.sign(mine, "my-own-kid", self.claims(oauth)), times=2)

    def test_hs256_with_the_public_key_as_secret(self, oauth, server_key):
        from joserfc.jwk import OctKey
        _, kid = server_key
        jwk = oauth.http.get("/oauth/jwks").json()["keys"][0]
        secret = OctKey.import_key(json.dumps(jwk, sort_keys=True).encode())
        token = jwt.encode({"alg": "HS256", "typ": "at+jwt", "kid": kid}, self.claims(oauth), secret,
                           algorithms=["HS256"])
        oauth.assert_rejected(token, times=2)

    @pytest.mark.parametrize("overrides", [
        {"aud": "http://127.0.0.1:1/mcp"},
        {"aud": ["https://other.example/mcp"]},
        {"iss": "http://127.0.0.1:1"},
        {"iss": "ISSUER/"},  # the issuer with a trailing slash is another issuer
        {"exp": -120, "iat": -600, "nbf": -600},  # relative to now
        {"nbf": 600, "iat": 600},  # not valid yet
    ], ids=["wrong-aud", "wrong-aud-list", "wrong-iss", "iss-trailing-slash", "expired", "not-yet-valid"])
    def test_bad_claims_signed_with_the_real_key(self, oauth, server_key, overrides):
        key, kid = server_key
        now = int(time.time())
        fixed = {}
        for name, value in overrides.items():
            if name in ("exp", "iat", "nbf"):
                fixed[name] = now + value
            elif value == "ISSUER/":
                fixed[name] = oauth.issuer + "/"
            else:
                fixed[name] = value
        oauth.assert_rejected(self.sign(key, kid, self.claims(oauth, **fixed)), times=2)

    @pytest.mark.parametrize("typ", ["JWT", "jwt", "application/jwt"])
    def test_wrong_typ(self, oauth, server_key, typ):
        key, kid = server_key
        oauth.assert_rejected(self.sign(key, kid, self.claims(oauth), typ=typ), times=2)

    def test_missing_required_claims(self, oauth, server_key):
        key, kid = server_key
        for missing in ("exp", "sub", "aud", "iss"):
            oauth.assert_rejected(self.sign(key, kid, self.claims(oauth, **{missing: None})), times=2)

    def test_tampered_payload(self, oauth):
        token = oauth.service_token("mcp:read")
        header, payload, sig = token.split(".")
        claims = json.loads(b64url_decode(payload))
        claims["sub"] = "admin"
        oauth.assert_rejected(f"{header}.{b64url(json.dumps(claims).encode())}.{sig}", times=2)
        oauth.assert_rejected("garbage", times=1)

    def test_insufficient_scope(self, oauth):
        token = oauth.service_token("mcp:write")
        for _ in range(2):
            r = oauth.initialize(token)
            assert r.status == 403, r
            params = www_authenticate_params(r.header("WWW-Authenticate"))
            assert params["error"] == "insufficient_scope" and params["scope"] == "mcp:read", params

    def test_tokens_minted_by_w1_are_accepted_by_w2(self, oauth):
        token = oauth.service_token()
        by_node: dict[str, str] = {}
        for _ in range(10):
            sid = oauth.session(token)
            by_node.setdefault(sid.split(".")[0], sid)
            if len(by_node) == 2:
                break
        assert set(by_node) == {"w1", "w2"}, by_node
        for node, sid in by_node.items():
            e = oauth.echo(token, sid, node)
            assert e.status == 200 and e.json()["result"]["content"][0]["text"] == node, (node, e)


# -- 4. the consent page --------------------------------------------------------------------------------

def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Decodes an 8-bit RGB/RGBA non-interlaced PNG into rows of pixel bytes (stdlib only)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, ihdr = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat += chunk
        elif kind == b"IEND":
            break
    width, height, depth, colour, _, _, interlace = ihdr
    assert depth == 8 and colour in (2, 6) and interlace == 0, ihdr
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if f == 1:
                line[x] = (line[x] + a) & 0xFF
            elif f == 2:
                line[x] = (line[x] + b) & 0xFF
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 0xFF
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append(bytes(line))
        prev = line
    return width, height, [bytes(r[i:i + 3]) for r in rows for i in range(0, stride, bpp)]


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-headless-shell", "google-chrome", "chrome-headless-shell"):
        if path := shutil.which(name):
            return path
    return None


class TestConsentPage:
    NAME = "<script>alert(1)</script> & \"Co\""

    def consent(self, oauth: OAuthStack) -> httpx2.Response:
        client_id = oauth.public_client(name=self.NAME)
        _, challenge = pkce()
        r = oauth.consent_page(oauth.authorize_query(client_id, challenge, scope="mcp:read mcp:write"))
        assert r.status_code == 200, r.text
        return r

    def test_page_content_and_headers(self, oauth: OAuthStack):
        r = self.consent(oauth)
        html = r.text
        assert r.headers["content-type"].startswith("text/html")
        assert r.headers["x-frame-options"] == "DENY"
        csp = r.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp, csp
        assert "no-store" in r.headers["cache-control"]
        # The client is named, escaped: no live script.
        assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;Co&quot;" in html, html
        assert "<script" not in html.lower()
        assert USER in html  # "signed in as alice"
        for scope in ("mcp:read", "mcp:write"):
            assert scope in html
        assert "mcp:admin" not in html  # only what was asked for
        assert "127.0.0.1:9" in html  # where the answer goes
        form = ConsentForm(html)
        assert form.method == "post"
        assert urljoin(oauth.issuer + "/oauth/authorize", form.action) == oauth.issuer + "/oauth/authorize"
        assert {"approve", "deny"} == {v for n, v in form.buttons if n == "decision"}
        assert form.hidden["state"] == "st-1" and form.hidden["code_challenge_method"] == "S256"
        assert len(form.hidden["csrf_token"]) >= 16
        # No external resources: no src/href/action to another origin, no scripts.
        for attr, url in re.findall(r'\b(src|href|action)\s*=\s*["\']?([^"\'\s>]+)', html, re.I):
            full = urljoin(oauth.issuer + "/oauth/authorize", url)
            assert full.startswith(oauth.issuer + "/"), (attr, url)
        assert not re.search(r"(?:https?:)?//[^\s\"'<>]*\.(?:js|css|png|svg|woff2?)", html, re.I)
        assert "@import" not in html and "url(" not in html

    def test_screenshot(self, oauth: OAuthStack, tmp_path: Path):
        browser = find_chromium()
        if browser is None:
            pytest.skip("no chromium binary: apt-get install -y chromium-headless-shell (or chromium)")
        page = tmp_path / "consent.html"
        page.write_bytes(self.consent(oauth).content)
        shot = tmp_path / "consent.png"
        cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}",
               "--window-size=800,600", page.as_uri()]
        done = subprocess.run(cmd, capture_output=True, timeout=90)
        assert shot.exists(), done.stderr.decode(errors="replace")[-2000:]
        data = shot.read_bytes()
        assert len(data) > 5000, len(data)
        width, height, pixels = png_pixels(data)
        assert (width, height) == (800, 600)
        counts = Counter(pixels)
        assert len(counts) > 10, f"only {len(counts)} colours: the page did not render"
        background, n = counts.most_common(1)[0]
        assert len(pixels) - n > 0.005 * len(pixels), "almost uniformly one colour"


class TestRegistrationPolicy:
    """#14: open registration only for user-delegated clients, services pre-provisioned, every field bounded."""

    def test_anonymous_registration_cannot_create_a_client_credentials_client(self, oauth: OAuthStack):
        # The review's critical finding: an anonymous caller registered a client_credentials client and got an
        # every-scope token, bypassing the sign-in in front of /oauth/authorize.
        r = oauth.register(client_name="intruder", token_endpoint_auth_method="client_secret_basic",
                           grant_types=["client_credentials"], response_types=[], scope="mcp:admin")
        assert r.status_code == 400 and r.json()["error"] == "invalid_client_metadata", r.text
        assert "initial access token" in r.json()["error_description"]
        forged = oauth.http.post("/oauth/register", json=dict(grant_types=["client_credentials"],
                                                               response_types=[], scope="mcp:read"),
                                 headers={"Authorization": "Bearer not-the-token"})
        assert forged.status_code == 401 and forged.json()["error"] == "invalid_token", forged.text
        assert forged.headers["www-authenticate"].startswith('Bearer error="invalid_token"')

    def test_pre_provisioned_service_client_gets_only_its_scopes(self, oauth: OAuthStack):
        client = oauth.demo_service()
        r = oauth.token({"grant_type": "client_credentials"}, auth=client)
        assert r.status_code == 200, r.text
        assert r.json()["scope"] == "mcp:read mcp:write"
        admin = oauth.token({"grant_type": "client_credentials", "scope": "mcp:admin"}, auth=client)
        assert admin.status_code == 400 and admin.json()["error"] == "invalid_scope", admin.text
        sid = oauth.session(r.json()["access_token"])
        assert oauth.echo(r.json()["access_token"], sid, "svc").status == 200

    def test_registration_is_bounded(self, oauth: OAuthStack):
        too_many = oauth.register(redirect_uris=[f"http://127.0.0.1:9/cb{i}" for i in range(11)],
                                  token_endpoint_auth_method="none")
        assert too_many.status_code == 400 and too_many.json()["error"] == "invalid_client_metadata", too_many.text
        long_name = oauth.register(redirect_uris=[CALLBACK], token_endpoint_auth_method="none",
                                   client_name="n" * 300)
        assert long_name.status_code == 400 and "client_name" in long_name.json()["error_description"]
        huge = oauth.http.post("/oauth/register", content=b" " * 9000 + b"{}",
                               headers={"Content-Type": "application/json"})
        assert huge.status_code == 400 and "8192 bytes" in huge.json()["error_description"], huge.text
