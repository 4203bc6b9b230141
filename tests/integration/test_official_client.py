"""The official MCP Python SDK client (mcp 2.3.0, session era: mode="legacy") against nginx → workers."""

from __future__ import annotations

import time
import warnings

import anyio
import httpx2
import mcp.types as types
import pytest
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client

from mcphttp import IMG, SESSION_ID_RE, WAV, MCPHTTP, PROTOCOL_VERSION

ALL_TOOLS = {
    "test_simple_text", "test_image_content", "test_audio_content", "test_embedded_resource",
    "test_multiple_content_types", "test_error_handling", "echo", "test_tool_with_logging",
    "test_tool_with_progress", "test_sampling", "test_elicitation",
}


def run_with_client(url: str, body, transport=None):
    """Opens a legacy-mode Client, runs ``await body(client)`` and returns its value."""

    async def main():
        target = transport if transport is not None else url
        with anyio.fail_after(30):
            async with Client(target, mode="legacy", read_timeout_seconds=10, cache=None,
                              client_info=types.Implementation(name="pytest-client", version="1.0")) as c:
                return await body(c)

    return anyio.run(main)


def test_initialize_negotiates_2025_11_25(stack):
    async def body(c):
        return c.protocol_version, c.server_info, c.server_capabilities

    version, info, caps = run_with_client(stack.mcp_url, body)
    assert version == PROTOCOL_VERSION
    assert info.name == "mcp-fcgi-demo"
    assert info.version == "0.1.0"
    assert caps.tools is not None


def test_list_tools(stack):
    async def body(c):
        return (await c.list_tools())

    result = run_with_client(stack.mcp_url, body)
    names = [t.name for t in result.tools]
    assert ALL_TOOLS <= set(names), sorted(ALL_TOOLS - set(names))
    assert len(names) == len(set(names))
    echo = next(t for t in result.tools if t.name == "echo")
    assert echo.input_schema["required"] == ["text"]
    assert echo.input_schema["properties"]["text"]["type"] == "string"


def test_call_simple_text(stack):
    async def body(c):
        return await c.call_tool("test_simple_text", {})

    r = run_with_client(stack.mcp_url, body)
    assert r.is_error is False
    assert len(r.content) == 1
    assert r.content[0].type == "text"
    assert r.content[0].text == "This is a simple text response for testing."


@pytest.mark.parametrize("text", [
    "hello",
    "héllo wörld — ✓ 日本語 🚀",
    "",
    "quotes \" and \\ backslash\nnew line\ttab",
    "x" * 20000,
])
def test_call_echo_round_trips(stack, text):
    async def body(c):
        return await c.call_tool("echo", {"text": text})

    r = run_with_client(stack.mcp_url, body)
    assert r.is_error is False
    assert [(x.type, x.text) for x in r.content] == [("text", text)]


def test_call_image_content(stack):
    async def body(c):
        return await c.call_tool("test_image_content", {})

    r = run_with_client(stack.mcp_url, body)
    assert r.is_error is False
    assert len(r.content) == 1
    img = r.content[0]
    assert img.type == "image"
    assert img.data == IMG
    assert img.mime_type == "image/png"


def test_call_audio_content(stack):
    async def body(c):
        return await c.call_tool("test_audio_content", {})

    r = run_with_client(stack.mcp_url, body)
    assert r.is_error is False
    assert len(r.content) == 1
    audio = r.content[0]
    assert audio.type == "audio"
    assert audio.data == WAV
    assert audio.mime_type == "audio/wav"


def test_call_embedded_resource(stack):
    async def body(c):
        return await c.call_tool("test_embedded_resource", {})

    r = run_with_client(stack.mcp_url, body)
    assert r.is_error is False
    assert len(r.content) == 1
    res = r.content[0]
    assert res.type == "resource"
    assert str(res.resource.uri) == "test://embedded-resource"
    assert res.resource.mime_type == "text/plain"
    assert res.resource.text == "This is an embedded resource content."


def test_call_multiple_content_types(stack):
    async def body(c):
        return await c.call_tool("test_multiple_content_types", {})

    r = run_with_client(stack.mcp_url, body)
    assert r.is_error is False
    assert [x.type for x in r.content] == ["text", "image", "resource"]
    text, img, res = r.content
    assert text.text == "Multiple content types test:"
    assert (img.data, img.mime_type) == (IMG, "image/png")
    assert str(res.resource.uri) == "test://mixed-content-resource"
    assert res.resource.mime_type == "application/json"
    assert res.resource.text == '{"test":"data","value":123}'


def test_call_error_handling_sets_is_error(stack):
    async def body(c):
        return await c.call_tool("test_error_handling", {})

    r = run_with_client(stack.mcp_url, body)
    assert r.is_error is True
    assert r.content[0].type == "text"
    assert r.content[0].text.endswith("This tool intentionally returns an error for testing")


def test_ping(stack):
    async def body(c):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # MCPDeprecationWarning: ping is legacy-only
            return await c.send_ping()

    r = run_with_client(stack.mcp_url, body)
    assert r.model_dump(exclude_none=True) == {}


def test_unknown_tool_raises(stack):
    async def body(c):
        with pytest.raises(MCPError) as info:
            await c.call_tool("no_such_tool", {})
        return info.value

    err = run_with_client(stack.mcp_url, body)
    assert err.code == types.INVALID_PARAMS
    assert "no_such_tool" in err.message


def test_invalid_arguments_raise(stack):
    async def body(c):
        with pytest.raises(MCPError) as info:
            await c.call_tool("echo", {"text": 42})
        return info.value

    err = run_with_client(stack.mcp_url, body)
    assert err.code == types.INVALID_PARAMS


def test_session_lifecycle_on_the_wire(stack):
    """What the client saw on the wire: a w<i>.<random> session id from initialize, the standalone GET
    refused with 405 (no SSE yet), and DELETE on close answered 200, after which the session is gone."""
    seen: list[tuple[str, int, str | None, str | None]] = []

    async def on_response(response):
        req = response.request
        seen.append((req.method, response.status_code, req.headers.get("mcp-session-id"),
                     response.headers.get("mcp-session-id")))

    async def main():
        async with httpx2.AsyncClient(event_hooks={"response": [on_response]},
                                      timeout=httpx2.Timeout(30, read=60)) as http:
            transport = streamable_http_client(stack.mcp_url, http_client=http)
            with anyio.fail_after(30):
                async with Client(transport, mode="legacy", read_timeout_seconds=10, cache=None) as c:
                    r = await c.call_tool("echo", {"text": "wire"})
                    assert r.content[0].text == "wire"
                    # The client opens its GET stream in the background after notifications/initialized.
                    deadline = time.monotonic() + 5
                    while not any(m == "GET" for m, *_ in seen):
                        assert time.monotonic() < deadline, f"no GET seen: {seen}"
                        await anyio.sleep(0.02)

    anyio.run(main)
    init = seen[0]
    assert init[0] == "POST" and init[1] == 200, seen
    sid = init[3]
    assert sid and SESSION_ID_RE.match(sid), seen
    assert int(SESSION_ID_RE.match(sid)["node"]) in range(1, stack.workers + 1)
    later = seen[1:]
    assert all(s == sid for _, _, s, _ in later), seen
    gets = [st for m, st, *_ in later if m == "GET"]
    # The GET stream for server-initiated messages is open (200) on the session's own worker.
    assert gets and all(st == 200 for st in gets), seen
    deletes = [st for m, st, *_ in later if m == "DELETE"]
    assert deletes == [200], seen
    # The client terminated the session: the id is no longer known to its worker.
    r = MCPHTTP(stack.port).call(sid, "ping", id=9)
    assert r.status == 404, r
