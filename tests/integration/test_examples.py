"""The examples a user copies (Examples/, a package of its own that depends on the library by path): each is served
behind deploy/run.sh (WORKER_BIN) like the demo and driven by the official MCP client through nginx. README's server
is Examples/TypedTools/main.swift and README's test is the start of Examples/Tests/CatalogTests/CatalogTests.swift
(checked here: no drift). scripts/test.sh builds the package (swift build --build-tests --package-path Examples)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import anyio
import httpx2
import pytest

from conftest import ROOT
from test_oauth import USER, running_oauth_stack
from test_oauth_tenants import sign_in_with_the_sdk

EXAMPLES = ROOT / "Examples"
EXAMPLES_BIN = Path(os.environ.get("MCPFCGI_EXAMPLES_BIN") or EXAMPLES / ".build" / "debug")


def example(name: str) -> Path:
    binary = EXAMPLES_BIN / name
    if not binary.exists():
        pytest.fail(f"no example binary at {binary}: run `swift build --build-tests --package-path Examples`")
    return binary


def readme_block(heading: str, text: str | None = None) -> str:
    """The first swift block after ``heading`` in README (or in ``text``)."""
    text = (ROOT / "README.md").read_text() if text is None else text
    assert heading in text, heading
    section = text.split(heading, 1)[1]
    match = re.search(r"```swift\n(.*?)```", section, re.S)
    assert match, f"'{heading}' has no swift block"
    return match.group(1)


ARTICLES = ROOT / "Sources" / "MCPFCGI" / "MCPFCGI.docc"


def test_readme_and_the_articles_show_the_compiled_server():
    source = (EXAMPLES / "TypedTools" / "main.swift").read_text()
    assert readme_block("## Serve your own tool") == source, "README's server and Examples/TypedTools/main.swift differ"
    article = (ARTICLES / "GettingStarted.md").read_text()
    assert readme_block("## Write a typed tool", article) == source, "GettingStarted.md's server differs"


def test_readme_and_the_articles_show_the_compiled_test():
    source = (EXAMPLES / "Tests" / "CatalogTests" / "CatalogTests.swift").read_text()
    block = readme_block("### Test your tool")
    assert source.startswith(block), "README's test is not the start of Examples/Tests/CatalogTests/CatalogTests.swift"
    article = (ARTICLES / "TestingYourServer.md").read_text()
    assert source.startswith(readme_block("## Write a test", article)), "TestingYourServer.md's test differs"


def open_client(url: str, **callbacks):
    """An official legacy-mode client of ``url`` (use with ``async with``)."""
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    http = httpx2.AsyncClient(timeout=httpx2.Timeout(30, read=60))
    return http, Client(streamable_http_client(url, http_client=http), mode="legacy", read_timeout_seconds=15,
                        cache=None, **callbacks)


# -- the typed tool (README's server) -----------------------------------------------------------------------


def test_the_typed_tools_example_serves_its_tool_behind_run_sh(make_stack):
    stack = make_stack(workers=2, threads=2, extra_env={"WORKER_BIN": str(example("typed-tools-example"))})

    async def body():
        http, client = open_client(f"{stack.base_url}/mcp")
        async with http, client as c:
            assert c.server_info.name == "weather"
            tools = {t.name: t for t in (await c.list_tools()).tools}
            assert list(tools) == ["forecast"], tools
            schema = tools["forecast"].input_schema
            assert schema["required"] == ["city"], schema
            assert schema["properties"]["days"]["maximum"] == 7, schema
            assert tools["forecast"].output_schema["required"] == ["city", "days", "celsius"]
            r = await c.call_tool("forecast", {"city": "Oslo", "days": 2})
            assert not r.is_error, r
            assert r.structured_content == {"city": "Oslo", "days": 2, "celsius": 21.5}, r
            # Outside the derived schema (days ≤ 7): refused with -32602 naming the field.
            try:
                bad = await c.call_tool("forecast", {"city": "Oslo", "days": 9})
            except Exception as error:  # the official client raises on a JSON-RPC error answer
                return repr(error)
            return f"answered: {bad}"

    refusal = anyio.run(body)
    assert "-32602" in refusal and "arguments.days must be" in refusal, refusal


# -- resources, templates, prompts, completions ---------------------------------------------------------------


def test_the_catalog_example_serves_resources_templates_prompts_and_completions(make_stack):
    from mcp import MCPError, types

    stack = make_stack(workers=2, threads=2, extra_env={"WORKER_BIN": str(example("catalog-example"))})

    async def body():
        http, client = open_client(f"{stack.base_url}/mcp")
        async with http, client as c:
            resources = (await c.list_resources()).resources
            assert [str(r.uri) for r in resources] == ["recipes://index"], resources
            index = (await c.read_resource("recipes://index")).contents[0].text
            assert index.splitlines() == ["- recipes://pancakes", "- recipes://risotto", "- recipes://shakshuka"]
            templates = (await c.list_resource_templates()).resource_templates
            assert [t.uri_template for t in templates] == ["recipes://{name}"], templates
            risotto = (await c.read_resource("recipes://risotto")).contents[0]
            assert risotto.mime_type == "application/json" and '"serves":2' in risotto.text, risotto
            done = await c.complete(types.ResourceTemplateReference(type="ref/resource", uri="recipes://{name}"),
                                    {"name": "name", "value": "ri"})
            assert done.completion.values == ["risotto"], done
            prompted = await c.complete(types.PromptReference(type="ref/prompt", name="cook"),
                                        {"name": "recipe", "value": "s"})
            assert prompted.completion.values == ["shakshuka"], prompted
            prompt = await c.get_prompt("cook", {"recipe": "pancakes"})
            assert [m.content.type for m in prompt.messages] == ["resource", "text"], prompt
            assert str(prompt.messages[0].content.resource.uri) == "recipes://pancakes"
            scaled = await c.call_tool("scale_recipe", {"recipe": "risotto", "servings": 4})
            assert not scaled.is_error, scaled
            assert scaled.structured_content["serves"] == 4
            assert scaled.structured_content["ingredients"][0] == {"item": "arborio rice", "grams": 320}
            try:
                unknown = await c.call_tool("scale_recipe", {"recipe": "soup", "servings": 2})
            except MCPError as error:
                return error
            return f"answered: {unknown}"

    outcome = anyio.run(body)
    assert isinstance(outcome, MCPError) and outcome.code == -32602, outcome
    assert "No recipe named soup" in outcome.message, outcome


def test_the_examples_own_tests_pass_against_the_deployment(make_stack):
    """The package's Swift tests (MCPTestClient(environmentOr:)) run once more, through nginx and the workers, because
    MCPFCGI_TEST_URL names the deployment; nginx's access log proves the requests went through it."""
    stack = make_stack(workers=2, threads=2, extra_env={"WORKER_BIN": str(example("catalog-example"))})
    access_log = stack.run_dir / "access.log"
    before = len(access_log.read_text().splitlines()) if access_log.exists() else 0
    env = dict(os.environ, MCPFCGI_TEST_URL=stack.base_url,
               LLVM_PROFILE_FILE=str(stack.base / "profiles" / "examples-test-%p.profraw"))
    run = subprocess.run(["swift", "test", "--skip-build", "--package-path", str(EXAMPLES)], env=env,
                         capture_output=True, text=True, timeout=300)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-4000:]
    assert re.search(r"Test run with 4 tests in \d+ suites? passed", output), output[-2000:]
    # Four tests, each an initialize and at least one request, all through nginx.
    lines = [json.loads(line) for line in access_log.read_text().splitlines()[before:] if line.strip()]
    posts = [line for line in lines if line["method"] == "POST" and line["uri"] == "/mcp"]
    assert len(posts) >= 9, lines[-10:]


# -- elicitation, sampling, roots -----------------------------------------------------------------------------


def test_the_interactive_example_asks_back_through_the_official_client(make_stack):
    from mcp import MCPError, UrlElicitationRequiredError, types

    stack = make_stack(workers=2, threads=2, extra_env={"WORKER_BIN": str(example("interactive-example"))})
    asked: list = []
    sampled: list = []

    async def on_elicit(ctx, params):
        asked.append(params)
        if getattr(params, "mode", None) == "url":
            return types.ElicitResult(action="accept")
        return types.ElicitResult(action="accept", content={"destination": "Lisbon", "nights": 3, "style": "budget"})

    async def on_sample(ctx, params: types.CreateMessageRequestParams):
        sampled.append(params)
        return types.CreateMessageResult(role="assistant", model="test-model", stop_reason="endTurn",
                                         content=types.TextContent(type="text", text="Trams, tiles, tarts."))

    async def on_roots(ctx):
        return types.ListRootsResult(roots=[types.Root(uri="file:///home/ada/trips", name="trips")])

    async def body():
        http, client = open_client(f"{stack.base_url}/mcp", elicitation_callback=on_elicit,
                                   sampling_callback=on_sample, list_roots_callback=on_roots)
        async with http, client as c:
            out = {}
            for tool in ("plan_trip", "project_roots", "connect_calendar"):
                r = await c.call_tool(tool, {})
                assert not r.is_error, (tool, r)
                out[tool] = r.content[0].text
            try:
                await c.call_tool("calendar_events", {})
                out["calendar_events"] = "answered"
            except MCPError as error:
                out["calendar_events"] = error
            return out

    out = anyio.run(body)
    assert out["plan_trip"] == "3 nights in Lisbon (budget), by test-model: Trams, tiles, tarts.", out
    form = asked[0].requested_schema
    assert form["required"] == ["destination", "nights"], form
    assert form["properties"]["nights"] == {"type": "integer", "description": "How many nights", "minimum": 1,
                                            "maximum": 30}, form
    assert form["properties"]["style"]["enum"] == ["budget", "comfort", "luxury"], form
    assert sampled[0].max_tokens == 300
    assert sampled[0].messages[0].content.text == "Plan 3 nights in Lisbon, budget style, in three lines."
    assert out["project_roots"] == "trips file:///home/ada/trips"
    link = asked[1]
    assert link.mode == "url" and link.url == "https://calendar.example.com/connect", link
    assert out["connect_calendar"] == f"Opened https://calendar.example.com/connect (elicitation {link.elicitation_id}).", out
    error = out["calendar_events"]
    assert isinstance(error, MCPError) and error.code == -32042, error
    required = UrlElicitationRequiredError.from_error(error.error)
    assert [e.url for e in required.elicitations] == ["https://calendar.example.com/connect"], required.elicitations
    assert error.message == "Connect your calendar first."


# -- several tenants with OAuth -------------------------------------------------------------------------------


def test_the_tenants_example_is_two_oauth_resources_signed_in_with_the_official_client():
    with running_oauth_stack(extra_env={"WORKER_BIN": str(example("tenants-example"))}) as oauth:
        for tenant in ("tenant-a", "tenant-b"):
            doc = oauth.http.get(f"/.well-known/oauth-protected-resource/{tenant}/mcp").json()
            assert doc["resource"] == f"{oauth.issuer}/{tenant}/mcp" and doc["authorization_servers"] == [oauth.issuer]
        name, text, storage, wire = sign_in_with_the_sdk(f"{oauth.issuer}/tenant-a/mcp")
        assert (name, text) == ("tenant-a", f"tenant-a: {USER}")
        assert ("GET", "/.well-known/oauth-protected-resource/tenant-a/mcp", 200) in wire, wire
        token = storage.tokens.access_token
        oauth.assert_rejected(token, path="/tenant-b/mcp")  # the other tenant's resource
        oauth.assert_rejected(token, path="/mcp")
        # A service client run.sh pre-provisioned gets a token for tenant-b, which both workers accept.
        client = oauth.confidential_client("mcp:read")
        r = oauth.token({"grant_type": "client_credentials", "scope": "mcp:read",
                         "resource": f"{oauth.issuer}/tenant-b/mcp"}, auth=client)
        assert r.status_code == 200, r.text
        for _ in range(4):
            ok = oauth.initialize(r.json()["access_token"], "/tenant-b/mcp")
            assert ok.status == 200 and ok.json()["result"]["serverInfo"]["name"] == "tenant-b", ok
        oauth.assert_rejected(None, error=None, path="/tenant-a/mcp")  # no token: 401 with the tenant's challenge
