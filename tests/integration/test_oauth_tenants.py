"""Per-mount OAuth through real nginx (AUTH=builtin, WORKERS=2): each tenant endpoint the demo mounts
(/tenant-a/mcp, /tenant-b/mcp) is a protected resource of its own, with its own metadata at
/.well-known/oauth-protected-resource/<path> and its own token audience. The official SDK OAuth client signs in
to one tenant; its token opens no other tenant and not /mcp.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urljoin, urlparse

import anyio
import httpx2
import pytest

from test_oauth import (CALLBACK, PASSWORD, USER, ConsentForm, MemoryStorage, OAuthStack, jwt_parts,
                        running_oauth_stack)


@pytest.fixture(scope="module")
def oauth():
    with running_oauth_stack() as o:
        yield o


def tenant_url(oauth: OAuthStack, tenant: str) -> str:
    return f"{oauth.issuer}/{tenant}/mcp"


def test_each_tenant_has_its_own_protected_resource_metadata(oauth: OAuthStack):
    for tenant in ("tenant-a", "tenant-b"):
        r = oauth.http.get(f"/.well-known/oauth-protected-resource/{tenant}/mcp")
        assert r.status_code == 200, r.text
        doc = r.json()
        assert doc["resource"] == tenant_url(oauth, tenant)
        assert doc["authorization_servers"] == [oauth.issuer]
        assert "mcp:read" in doc["scopes_supported"]
        # Without a token the tenant's challenge names its own metadata, not the main endpoint's.
        oauth.assert_rejected(None, error=None, path=f"/{tenant}/mcp")
    main = oauth.http.get("/.well-known/oauth-protected-resource").json()
    assert main["resource"] == oauth.resource
    assert oauth.http.get("/.well-known/oauth-protected-resource/tenant-c/mcp").status_code == 404


def sign_in_with_the_sdk(server_url: str, tool: str = "whoami") -> tuple[str, str, "MemoryStorage", list]:
    """The official SDK's OAuth client signs in to ``server_url`` (authorization code with PKCE, the browser signed in
    as alice and approving) and calls ``tool``: returns (server name, the tool's text, the token storage, the wire)."""
    from mcp import Client
    from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared.auth import OAuthClientMetadata

    storage = MemoryStorage()
    captured: dict[str, str] = {}
    wire: list[tuple[str, str, int]] = []

    async def redirect_handler(authorization_url: str) -> None:  # the browser, signed in as alice
        q = parse_qs(urlparse(authorization_url).query)
        assert q["resource"] == [server_url], q
        async with httpx2.AsyncClient(auth=(USER, PASSWORD), follow_redirects=False, timeout=15) as browser:
            page = await browser.get(authorization_url)
            assert page.status_code == 200, page.text
            assert f"<code>{server_url}</code>" in page.text  # the consent page names the resource
            form = ConsentForm(page.text)
            r = await browser.post(urljoin(authorization_url, form.action), data={**form.hidden, "decision": "approve"})
        captured.update(OAuthStack.redirect_params(r))

    async def callback_handler() -> AuthorizationCodeResult:
        return AuthorizationCodeResult(code=captured["code"], state=captured["state"], iss=captured["iss"])

    async def on_response(response):
        wire.append((response.request.method, response.request.url.path, response.status_code))

    auth = OAuthClientProvider(
        server_url=server_url,
        client_metadata=OAuthClientMetadata(
            client_name="pytest tenant client", redirect_uris=[CALLBACK], token_endpoint_auth_method="none",
            grant_types=["authorization_code", "refresh_token"], response_types=["code"]),
        storage=storage, redirect_handler=redirect_handler, callback_handler=callback_handler)

    async def main():
        async with httpx2.AsyncClient(auth=auth, timeout=httpx2.Timeout(30, read=60),
                                      event_hooks={"response": [on_response]}) as http:
            async with Client(streamable_http_client(server_url, http_client=http), mode="legacy",
                              read_timeout_seconds=15, cache=None) as c:
                r = await c.call_tool(tool, {})
                assert not r.is_error, r
                return c.server_info.name, r.content[0].text

    name, text = anyio.run(main)
    return name, text, storage, wire


def test_sdk_oauth_client_signs_in_to_one_tenant_only(oauth: OAuthStack):
    server_url = tenant_url(oauth, "tenant-a")
    name, text, storage, wire = sign_in_with_the_sdk(server_url)
    assert name == "tenant-a"
    assert text == f"tenant-a:{USER}", text  # the session is bound to the token's subject
    assert ("GET", "/.well-known/oauth-protected-resource/tenant-a/mcp", 200) in wire, wire
    claims = jwt_parts(storage.tokens.access_token)[1]
    assert claims["aud"] == server_url, claims
    assert claims["sub"] == USER

    token = storage.tokens.access_token
    oauth.assert_rejected(token, path="/tenant-b/mcp")
    oauth.assert_rejected(token, path="/mcp")

    # Its refresh token renews tokens for the same tenant, and refuses to switch resources.
    client_id = storage.client_info.client_id
    switched = oauth.token({"grant_type": "refresh_token", "refresh_token": storage.tokens.refresh_token,
                            "client_id": client_id, "resource": tenant_url(oauth, "tenant-b")})
    assert switched.status_code == 400 and switched.json()["error"] == "invalid_target", switched.text
    renewed = oauth.refresh(client_id, storage.tokens.refresh_token)
    assert renewed.status_code == 200, renewed.text
    assert jwt_parts(renewed.json()["access_token"])[1]["aud"] == server_url


def test_service_tokens_are_bound_to_the_requested_tenant(oauth: OAuthStack):
    client = oauth.confidential_client("mcp:read")
    r = oauth.token({"grant_type": "client_credentials", "scope": "mcp:read",
                     "resource": tenant_url(oauth, "tenant-b")}, auth=client)
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]
    assert jwt_parts(token)[1]["aud"] == tenant_url(oauth, "tenant-b")
    for _ in range(4):  # accepted by both workers
        ok = oauth.initialize(token, "/tenant-b/mcp")
        assert ok.status == 200, ok
        assert ok.json()["result"]["serverInfo"]["name"] == "tenant-b"
    oauth.assert_rejected(token, path="/tenant-a/mcp")
    oauth.assert_rejected(token, path="/mcp")

    unknown = oauth.token({"grant_type": "client_credentials", "scope": "mcp:read",
                           "resource": tenant_url(oauth, "tenant-c")}, auth=client)
    assert unknown.status_code == 400 and unknown.json()["error"] == "invalid_target", unknown.text
