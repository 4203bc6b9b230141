"""The examples a user copies: README's server is Examples/TypedTools/main.swift, compiled by the package and served
behind deploy/run.sh (WORKER_BIN) like the demo, driven by the official MCP client through nginx."""

from __future__ import annotations

import re

import anyio
import httpx2
import pytest

from conftest import BINARY, ROOT

EXAMPLE = BINARY.parent / "typed-tools-example"


def readme_server_example() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Serve your own tool", 1)[1]
    match = re.search(r"```swift\n(.*?)```", section, re.S)
    assert match, "README's 'Serve your own tool' has no swift block"
    return match.group(1)


def test_readme_shows_the_compiled_example():
    source = (ROOT / "Examples" / "TypedTools" / "main.swift").read_text()
    assert readme_server_example() == source, "README's example and Examples/TypedTools/main.swift differ"


@pytest.fixture
def example_stack(make_stack):
    if not EXAMPLE.exists():
        pytest.fail(f"no example binary at {EXAMPLE}: run `swift build --product typed-tools-example`")
    return make_stack(workers=2, threads=2, extra_env={"WORKER_BIN": str(EXAMPLE)})


def test_the_example_serves_its_typed_tool_behind_run_sh(example_stack):
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    async def body():
        async with httpx2.AsyncClient(timeout=httpx2.Timeout(30, read=60)) as http:
            async with Client(streamable_http_client(f"{example_stack.base_url}/mcp", http_client=http),
                              mode="legacy", read_timeout_seconds=15, cache=None) as c:
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
