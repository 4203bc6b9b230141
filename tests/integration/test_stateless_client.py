"""The official Python client (mcp 2.3.0) against /mcp in the 2026-07-28 (stateless) revision, through nginx
with three workers: every request may land on any worker, no session is ever minted.

Also: input_required handled by the client itself, and both eras used side by side on the same endpoint.
"""

from __future__ import annotations

import anyio
import httpx2
import mcp.types as types
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from mcphttp import IMG, WAV
from statelesshttp import VERSION


class Wire:
    """Records every HTTP exchange the client makes (httpx2 response hook)."""

    def __init__(self):
        self.exchanges: list[dict] = []

    async def hook(self, response: httpx2.Response) -> None:
        self.exchanges.append({
            "method": response.request.method,
            "mcp_method": response.request.headers.get("mcp-method"),
            "request_session": response.request.headers.get("mcp-session-id"),
            "request_version": response.request.headers.get("mcp-protocol-version"),
            "status": response.status_code,
            "session": response.headers.get("mcp-session-id"),
        })

    def client(self) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(event_hooks={"response": [self.hook]}, timeout=httpx2.Timeout(30, read=60))

    def assert_stateless(self) -> None:
        assert self.exchanges, "no HTTP exchange recorded"
        for e in self.exchanges:
            assert e["session"] is None, f"a session id was minted: {e}"
            assert e["request_session"] is None, e
            assert e["method"] == "POST", f"only POSTs in 2026-07-28 (no GET/DELETE): {e}"
            assert e["request_version"] == VERSION, e
            assert e["status"] == 200, e
        methods = [e["mcp_method"] for e in self.exchanges]
        assert "initialize" not in methods and "notifications/initialized" not in methods, methods


def run(coro_fn, *args):
    return anyio.run(coro_fn, *args)


ANSWERS = {"name": "Ada", "color": "teal", "ok": True, "response": "yes"}


async def accept_elicitation(ctx, params: types.ElicitRequestParams):
    keys = set(params.requested_schema["properties"])
    return types.ElicitResult(action="accept", content={k: ANSWERS[k] for k in keys})


async def sample(ctx, params: types.CreateMessageRequestParams):
    return types.CreateMessageResult(role="assistant", model="fake-model", stop_reason="endTurn",
                                     content=types.TextContent(type="text", text="Bonjour"))


async def roots(ctx):
    return types.ListRootsResult(roots=[types.Root(uri="file:///tmp/proj", name="proj"),
                                        types.Root(uri="file:///tmp/other", name="other")])


async def exercise(url: str, mode: str) -> tuple[Wire, dict]:
    wire = Wire()
    seen: dict = {}
    async with wire.client() as http:
        async with Client(streamable_http_client(url, http_client=http), mode=mode, cache=None,
                          read_timeout_seconds=20,
                          client_info=types.Implementation(name="stateless-it", version="1.0")) as c:
            seen["version"] = c.protocol_version
            seen["discover"] = c.session.discover_result
            tools = (await c.list_tools()).tools
            seen["tools"] = {t.name for t in tools}
            r = await c.call_tool("echo", {"text": "héllo wörld ✓"})
            assert not r.is_error and r.content[0].type == "text" and r.content[0].text == "héllo wörld ✓", r
            r = await c.call_tool("test_simple_text", {})
            assert r.content[0].text == "This is a simple text response for testing.", r
            r = await c.call_tool("test_image_content", {})
            assert (r.content[0].type, r.content[0].data, r.content[0].mime_type) == ("image", IMG, "image/png"), r
            r = await c.call_tool("test_audio_content", {})
            assert (r.content[0].type, r.content[0].data, r.content[0].mime_type) == ("audio", WAV, "audio/wav"), r
            r = await c.call_tool("test_embedded_resource", {})
            res = r.content[0].resource
            assert (r.content[0].type, str(res.uri), res.text) == (
                "resource", "test://embedded-resource", "This is an embedded resource content."), r
            r = await c.call_tool("test_multiple_content_types", {})
            assert [b.type for b in r.content] == ["text", "image", "resource"], r
            assert r.content[0].text == "Multiple content types test:"
            assert r.content[2].resource.text == '{"test":"data","value":123}'
            r = await c.call_tool("test_error_handling", {})
            assert r.is_error and r.content[0].text == "This tool intentionally returns an error for testing", r
            rr = await c.read_resource("test://static-text")
            assert rr.contents[0].text == "This is the content of the static text resource.", rr
            rr = await c.read_resource("test://template/42/data")
            assert rr.contents[0].text == '{"id":"42","templateTest":true,"data":"Data for ID: 42"}', rr
            gp = await c.get_prompt("test_prompt_with_arguments", {"arg1": "alpha", "arg2": "two"})
            assert gp.messages[0].content.text == "Prompt with arguments: arg1='alpha', arg2='two'", gp
            gp = await c.get_prompt("test_simple_prompt", {})
            assert gp.messages[0].content.text == "This is a simple prompt for testing.", gp
    return wire, seen


@pytest.mark.parametrize("mode", ["2026-07-28", "auto"])
def test_official_client_stateless_no_session(stack, mode):
    wire, seen = run(exercise, stack.mcp_url, mode)
    assert seen["version"] == VERSION
    assert {"echo", "test_input_required_result_elicitation", "test_trigger_tool_change"} <= seen["tools"]
    wire.assert_stateless()
    methods = [e["mcp_method"] for e in wire.exchanges]
    if mode == "auto":
        # auto mode discovers the modern revision with server/discover (and then never initializes).
        assert methods[0] == "server/discover", methods
        d = seen["discover"]
        assert VERSION in d.supported_versions, d
        assert d.capabilities.tools is not None and d.capabilities.tools.list_changed, d
        assert d.capabilities.prompts is not None and d.capabilities.resources is not None, d
    else:
        assert "server/discover" not in methods, methods
    assert methods.count("tools/call") == 7 and methods.count("resources/read") == 2, methods


async def input_required_via_client(url: str) -> tuple[Wire, dict, list]:
    wire = Wire()
    out: dict = {}
    asked: list = []

    async def on_elicit(ctx, params):
        asked.append((ctx.request_id, params.message))
        return await accept_elicitation(ctx, params)

    async with wire.client() as http:
        async with Client(streamable_http_client(url, http_client=http), mode="2026-07-28", cache=None,
                          read_timeout_seconds=20, elicitation_callback=on_elicit, sampling_callback=sample,
                          list_roots_callback=roots) as c:
            for name in ("test_input_required_result_elicitation", "test_input_required_result_multi_round",
                         "test_input_required_result_request_state", "test_input_required_result_multiple_inputs",
                         "test_input_required_result_sampling", "test_input_required_result_list_roots",
                         "test_input_required_result_capabilities"):
                r = await c.call_tool(name, {})
                assert not r.is_error, (name, r)
                out[name] = r.content[0].text
            gp = await c.get_prompt("test_input_required_result_prompt", {})
            out["prompt"] = gp.messages[0].content.text
    return wire, out, asked


def test_official_client_handles_input_required(stack):
    wire, out, asked = run(input_required_via_client, stack.mcp_url)
    assert out["test_input_required_result_elicitation"] == "Hello, Ada!"
    assert out["test_input_required_result_multi_round"] == "Multi-round complete: Ada likes teal"
    assert out["test_input_required_result_request_state"] == "state-ok: confirmed=true"
    assert out["test_input_required_result_multiple_inputs"] == "Bonjour Ada; 2 root(s)"
    assert out["test_input_required_result_sampling"] == "LLM response: Bonjour"
    assert out["test_input_required_result_list_roots"] == "Client roots: file:///tmp/proj, file:///tmp/other"
    assert out["test_input_required_result_capabilities"] == (
        "Collected input for the declared client capabilities: ask, roots, sample")
    assert out["prompt"] == "Please greet Ada warmly."
    keys = [k for k, _ in asked]
    assert keys[:1] == ["user_name"] and "step1" in keys and "step2" in keys and keys[-1] == "user_name", asked
    wire.assert_stateless()
    # Each input_required round is a fresh POST: 2 per single-round tool, 3 for the two-step one.
    calls = [e for e in wire.exchanges if e["mcp_method"] == "tools/call"]
    assert len(calls) == 2 + 3 + 2 + 2 + 2 + 2 + 2, [e["mcp_method"] for e in wire.exchanges]


async def both_eras(url: str) -> dict:
    results: dict = {"legacy": [], "modern": []}
    legacy_wire, modern_wire = Wire(), Wire()

    async def legacy():
        async with legacy_wire.client() as http:
            async with Client(streamable_http_client(url, http_client=http), mode="legacy", cache=None,
                              read_timeout_seconds=20, elicitation_callback=accept_elicitation) as c:
                results["legacy_version"] = c.protocol_version
                for i in range(15):
                    r = await c.call_tool("echo", {"text": f"legacy-{i}"})
                    results["legacy"].append(r.content[0].text)
                    await anyio.sleep(0)
                r = await c.call_tool("test_elicitation", {"message": "name?"})
                results["legacy_elicit"] = r.content[0].text

    async def modern():
        async with modern_wire.client() as http:
            async with Client(streamable_http_client(url, http_client=http), mode="2026-07-28", cache=None,
                              read_timeout_seconds=20, elicitation_callback=accept_elicitation) as c:
                results["modern_version"] = c.protocol_version
                for i in range(15):
                    r = await c.call_tool("echo", {"text": f"modern-{i}"})
                    results["modern"].append(r.content[0].text)
                    await anyio.sleep(0)
                r = await c.call_tool("test_input_required_result_elicitation", {})
                results["modern_elicit"] = r.content[0].text

    async with anyio.create_task_group() as tg:
        tg.start_soon(legacy)
        tg.start_soon(modern)
    results["legacy_wire"], results["modern_wire"] = legacy_wire, modern_wire
    return results


def test_both_eras_side_by_side(stack):
    r = run(both_eras, stack.mcp_url)
    assert r["legacy_version"] == "2025-11-25"
    assert r["modern_version"] == VERSION
    assert r["legacy"] == [f"legacy-{i}" for i in range(15)]
    assert r["modern"] == [f"modern-{i}" for i in range(15)]
    assert r["legacy_elicit"].startswith("User response: action=accept"), r["legacy_elicit"]
    assert r["modern_elicit"] == "Hello, Ada!"
    r["modern_wire"].assert_stateless()
    legacy = r["legacy_wire"].exchanges
    minted = {e["session"] for e in legacy if e["session"]}
    assert len(minted) == 1, legacy  # the session era still mints exactly one session for the legacy client
    sid = minted.pop()
    posts = [e for e in legacy if e["method"] == "POST"][1:]  # every POST after initialize
    assert posts and all(e["request_session"] == sid for e in posts), legacy
