"""The session-era fixture contract (/work/shared/FIXTURES.md) through the official MCP Python client
(mcp 2.3.0, mode="legacy") with sampling, elicitation, logging and progress callbacks, through nginx.

Every tool that talks to the client before its result (logs, progress, sampling, elicitation) is answered
as an SSE stream on the POST; the client's answers to server→client requests are POSTed back (202).
"""

from __future__ import annotations

import json
import time
import warnings
from typing import Any

import anyio
import httpx2
import mcp.types as types
import pytest
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client

from mcphttp import IMG, MCPHTTP, PROTOCOL_VERSION, rpc_request

LOGS = ["Tool execution started", "Tool processing data", "Tool execution completed"]
TEMPLATE_JSON = '{{"id":"{id}","templateTest":true,"data":"Data for ID: {id}"}}'


class Recorder:
    """What the client's callbacks received, and every HTTP request it sent (method, headers, body)."""

    def __init__(self, sampling_reply: Any = "sampled", elicit_reply: types.ElicitResult | None = None):
        self.logs: list[types.LoggingMessageNotificationParams] = []
        self.sampling: list[types.CreateMessageRequestParams] = []
        self.elicitations: list[Any] = []
        self.progress: list[tuple[float, float | None, str | None]] = []
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.sampling_reply = sampling_reply
        self.elicit_reply = elicit_reply or types.ElicitResult(action="accept", content={"response": "ok"})

    async def on_log(self, params: types.LoggingMessageNotificationParams) -> None:
        self.logs.append(params)

    async def on_sampling(self, ctx, params: types.CreateMessageRequestParams):
        self.sampling.append(params)
        return types.CreateMessageResult(role="assistant", model="fake-model", stop_reason="endTurn",
                                         content=types.TextContent(type="text", text=self.sampling_reply))

    async def on_elicit(self, ctx, params):
        self.elicitations.append(params)
        return self.elicit_reply

    async def on_progress(self, progress: float, total: float | None, message: str | None) -> None:
        self.progress.append((progress, total, message))

    async def on_request(self, request) -> None:
        self.requests.append((request.method, dict(request.headers), request.content))

    def posted(self, method: str) -> list[dict]:
        """The JSON-RPC messages POSTed with that method."""
        out = []
        for m, _, body in self.requests:
            if m == "POST" and body:
                msg = json.loads(body)
                if isinstance(msg, dict) and msg.get("method") == method:
                    out.append(msg)
        return out


def run_client(url: str, body, rec: Recorder | None = None):
    """Opens a legacy-mode Client with every callback wired to ``rec``; returns ``await body(client)``."""
    rec = rec or Recorder()

    async def main():
        async with httpx2.AsyncClient(event_hooks={"request": [rec.on_request]},
                                      timeout=httpx2.Timeout(30, read=60)) as http:
            with anyio.fail_after(30):
                async with Client(streamable_http_client(url, http_client=http), mode="legacy",
                                  read_timeout_seconds=10, cache=None,
                                  client_info=types.Implementation(name="pytest-fixtures", version="1.0"),
                                  logging_callback=rec.on_log, sampling_callback=rec.on_sampling,
                                  elicitation_callback=rec.on_elicit) as c:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")  # MCPDeprecationWarning for legacy-only methods
                        return await body(c)

    return anyio.run(main)


def only_text(result: types.CallToolResult) -> str:
    assert result.is_error is False, result
    assert len(result.content) == 1 and result.content[0].type == "text", result
    return result.content[0].text


def split_summary(text: str, prefix: str) -> tuple[str, Any, str]:
    """``<prefix>action=<a>, content=<json>`` → (action, parsed content, raw JSON text)."""
    assert text.startswith(prefix + "action="), text
    action, sep, raw = text[len(prefix + "action="):].partition(", content=")
    assert sep, text
    return action, json.loads(raw), raw


def compact(raw: str) -> str:
    """The same JSON, compact, in the same key order (to check the server wrote compact JSON)."""
    return json.dumps(json.loads(raw), separators=(",", ":"), ensure_ascii=False)


# -- logging and progress ------------------------------------------------------------------------------


def test_tool_with_logging_messages_reach_the_logging_callback(stack):
    rec = Recorder()
    result = run_client(stack.mcp_url, lambda c: c.call_tool("test_tool_with_logging", {}), rec)
    assert only_text(result) == "Tool with logging executed successfully"
    assert [(p.level, p.logger, p.data) for p in rec.logs] == [("info", None, m) for m in LOGS]


def test_tool_with_progress_reports_0_50_100_and_returns_its_token(stack):
    rec = Recorder()

    async def body(c):
        return await c.call_tool("test_tool_with_progress", {}, progress_callback=rec.on_progress)

    result = run_client(stack.mcp_url, body, rec)
    assert rec.progress == [(0.0, 100.0, None), (50.0, 100.0, None), (100.0, 100.0, None)]
    calls = [m for m in rec.posted("tools/call") if m["params"]["name"] == "test_tool_with_progress"]
    assert len(calls) == 1, calls
    token = calls[0]["params"]["_meta"]["progressToken"]
    # The client picks the token itself (its JSON-RPC request id); the tool returns it as text.
    assert only_text(result) == str(token)


@pytest.mark.parametrize("token", ["tok-α 1", 987654321])
def test_tool_with_progress_returns_any_token_verbatim(mcp: MCPHTTP, token):
    sid = mcp.open_session()
    msg = rpc_request("tools/call", {"name": "test_tool_with_progress", "arguments": {},
                                     "_meta": {"progressToken": token}}, id=3)
    r = mcp.post(msg, session_id=sid, protocol_version=PROTOCOL_VERSION)
    assert r.status == 200, r
    assert r.header("Content-Type") == "text/event-stream", r
    events = [e for e in r.events() if e.get("data")]
    progress = [e["data"]["params"] for e in events if e["data"].get("method") == "notifications/progress"]
    assert progress == [{"progressToken": token, "progress": p, "total": 100} for p in (0, 50, 100)], events
    assert events[-1]["data"]["id"] == 3
    assert events[-1]["data"]["result"]["content"] == [{"type": "text", "text": str(token)}]


# -- sampling and elicitation --------------------------------------------------------------------------


def test_sampling_sends_the_prompt_and_returns_the_reply(stack):
    rec = Recorder(sampling_reply="Paris ✓ — «quoted» \"reply\"")
    prompt = "What is the capital of France? ✈"
    result = run_client(stack.mcp_url, lambda c: c.call_tool("test_sampling", {"prompt": prompt}), rec)
    assert only_text(result) == "LLM response: Paris ✓ — «quoted» \"reply\""
    assert len(rec.sampling) == 1
    params = rec.sampling[0]
    assert params.max_tokens == 100
    assert [(m.role, m.content.type, m.content.text) for m in params.messages] == [("user", "text", prompt)]
    # The client's answer went back as a POSTed JSON-RPC response to a "srv-…" id.
    answers = [msg for msg in (json.loads(b) for m, _, b in rec.requests if m == "POST" and b)
               if isinstance(msg, dict) and "result" in msg and "method" not in msg]
    assert len(answers) == 1, answers
    assert isinstance(answers[0]["id"], str) and answers[0]["id"].startswith("srv-"), answers
    assert answers[0]["result"]["content"]["text"] == "Paris ✓ — «quoted» \"reply\""


def test_elicitation_accept_returns_the_content_as_compact_json(stack):
    content = {"response": "yes ✓ \"quoted\""}
    rec = Recorder(elicit_reply=types.ElicitResult(action="accept", content=content))
    result = run_client(stack.mcp_url,
                        lambda c: c.call_tool("test_elicitation", {"message": "Please confirm ✓"}), rec)
    assert len(rec.elicitations) == 1
    params = rec.elicitations[0]
    assert params.message == "Please confirm ✓"
    assert params.requested_schema == {
        "type": "object", "properties": {"response": {"type": "string"}}, "required": ["response"]}
    text = only_text(result)
    assert text == "User response: action=accept, content=" + json.dumps(content, separators=(",", ":"),
                                                                           ensure_ascii=False)


@pytest.mark.parametrize("action", ["decline", "cancel"])
def test_elicitation_decline_and_cancel(stack, action):
    rec = Recorder(elicit_reply=types.ElicitResult(action=action))
    result = run_client(stack.mcp_url, lambda c: c.call_tool("test_elicitation", {"message": "m"}), rec)
    assert only_text(result) == f"User response: action={action}, content={{}}"


def test_elicitation_sep1034_defaults(stack):
    content = {"name": "Ada Lovelace", "age": 36, "score": 99.5, "status": "pending", "verified": False}
    rec = Recorder(elicit_reply=types.ElicitResult(action="accept", content=content))
    result = run_client(stack.mcp_url, lambda c: c.call_tool("test_elicitation_sep1034_defaults", {}), rec)
    assert len(rec.elicitations) == 1
    schema = rec.elicitations[0].requested_schema
    assert schema["type"] == "object"
    props = schema["properties"]
    assert set(props) == {"name", "age", "score", "status", "verified"}
    assert (props["name"]["type"], props["name"]["default"]) == ("string", "John Doe")
    assert (props["age"]["type"], props["age"]["default"]) == ("integer", 30)
    assert type(props["age"]["default"]) is int
    assert (props["score"]["type"], props["score"]["default"]) == ("number", 95.5)
    assert (props["status"]["type"], props["status"]["default"]) == ("string", "active")
    assert props["status"]["enum"] == ["active", "inactive", "pending"]
    assert (props["verified"]["type"], props["verified"]["default"]) == ("boolean", True)
    action, got, raw = split_summary(only_text(result), "Elicitation completed: ")
    assert action == "accept"
    assert got == content
    assert type(got["age"]) is int and type(got["verified"]) is bool
    assert raw == compact(raw)


def test_elicitation_sep1330_enums(stack):
    content = {"untitledSingle": "option2", "titledSingle": "value3", "legacyEnum": "opt1",
               "untitledMulti": ["option1", "option3"], "titledMulti": ["value2"]}
    rec = Recorder(elicit_reply=types.ElicitResult(action="accept", content=content))
    result = run_client(stack.mcp_url, lambda c: c.call_tool("test_elicitation_sep1330_enums", {}), rec)
    assert len(rec.elicitations) == 1
    props = rec.elicitations[0].requested_schema["properties"]
    assert set(props) == {"untitledSingle", "titledSingle", "legacyEnum", "untitledMulti", "titledMulti"}
    assert props["untitledSingle"]["type"] == "string"
    assert props["untitledSingle"]["enum"] == ["option1", "option2", "option3"]
    assert props["titledSingle"]["type"] == "string"
    assert [(o["const"], o["title"]) for o in props["titledSingle"]["oneOf"]] == [
        ("value1", "First Option"), ("value2", "Second Option"), ("value3", "Third Option")]
    assert props["legacyEnum"]["enum"] == ["opt1", "opt2", "opt3"]
    assert props["legacyEnum"]["enumNames"] == ["Option One", "Option Two", "Option Three"]
    assert props["untitledMulti"]["type"] == "array"
    assert props["untitledMulti"]["items"] == {"type": "string", "enum": ["option1", "option2", "option3"]}
    assert props["titledMulti"]["type"] == "array"
    assert [o["const"] for o in props["titledMulti"]["items"]["anyOf"]] == ["value1", "value2", "value3"]
    assert all(o["title"] for o in props["titledMulti"]["items"]["anyOf"])
    action, got, raw = split_summary(only_text(result), "Elicitation completed: ")
    assert (action, got) == ("accept", content)
    assert raw == compact(raw)


def test_sampling_and_elicitation_in_one_session_each_get_their_own_answer(stack):
    rec = Recorder(sampling_reply="first", elicit_reply=types.ElicitResult(action="accept",
                                                                            content={"response": "second"}))

    async def body(c):
        async with anyio.create_task_group() as tg:
            out: dict[str, Any] = {}

            async def sample():
                out["s"] = await c.call_tool("test_sampling", {"prompt": "p"})

            async def elicit():
                out["e"] = await c.call_tool("test_elicitation", {"message": "m"})

            tg.start_soon(sample)
            tg.start_soon(elicit)
        return out

    out = run_client(stack.mcp_url, body, rec)
    assert only_text(out["s"]) == "LLM response: first"
    assert only_text(out["e"]) == 'User response: action=accept, content={"response":"second"}'


# -- resources -----------------------------------------------------------------------------------------


def test_list_resources(stack):
    result = run_client(stack.mcp_url, lambda c: c.list_resources())
    got = {str(r.uri): (r.name, r.mime_type) for r in result.resources}
    assert got == {
        "test://static-text": ("static-text", "text/plain"),
        "test://static-binary": ("static-binary", "image/png"),
        "test://watched-resource": ("watched-resource", "text/plain"),
    }


def test_read_static_text(stack):
    result = run_client(stack.mcp_url, lambda c: c.read_resource("test://static-text"))
    assert len(result.contents) == 1
    c = result.contents[0]
    assert (str(c.uri), c.mime_type, c.text) == (
        "test://static-text", "text/plain", "This is the content of the static text resource.")


def test_read_static_binary_is_the_png_blob(stack):
    result = run_client(stack.mcp_url, lambda c: c.read_resource("test://static-binary"))
    assert len(result.contents) == 1
    c = result.contents[0]
    assert isinstance(c, types.BlobResourceContents), c
    assert (str(c.uri), c.mime_type, c.blob) == ("test://static-binary", "image/png", IMG)


def test_read_watched_resource(stack):
    result = run_client(stack.mcp_url, lambda c: c.read_resource("test://watched-resource"))
    assert [(str(c.uri), c.mime_type, c.text) for c in result.contents] == [
        ("test://watched-resource", "text/plain", "Watched resource content")]


@pytest.mark.parametrize("rid", ["123", "7", "abc-XYZ_9"])
def test_read_template_resource(stack, rid):
    uri = f"test://template/{rid}/data"
    result = run_client(stack.mcp_url, lambda c: c.read_resource(uri))
    assert len(result.contents) == 1
    c = result.contents[0]
    assert (str(c.uri), c.mime_type) == (uri, "application/json")
    assert c.text == TEMPLATE_JSON.format(id=rid)
    assert json.loads(c.text) == {"id": rid, "templateTest": True, "data": f"Data for ID: {rid}"}


def test_read_template_123_raw_text_is_exact(mcp: MCPHTTP):
    sid = mcp.open_session()
    r = mcp.call(sid, "resources/read", {"uri": "test://template/123/data"}, id=4)
    assert r.status == 200, r
    assert r.json()["result"] == {"contents": [{
        "uri": "test://template/123/data", "mimeType": "application/json",
        "text": '{"id":"123","templateTest":true,"data":"Data for ID: 123"}'}]}


def test_read_unknown_resource_is_an_error(stack):
    async def body(c):
        with pytest.raises(MCPError) as info:
            await c.read_resource("test://no-such-resource")
        return info.value

    err = run_client(stack.mcp_url, body)
    assert err.code == -32002, (err.code, err.message)
    assert err.data == {"uri": "test://no-such-resource"}, (err.message, err.data)


def test_list_resource_templates(stack):
    result = run_client(stack.mcp_url, lambda c: c.list_resource_templates())
    got = [(t.uri_template, t.name, t.mime_type) for t in result.resource_templates]
    assert got == [("test://template/{id}/data", "template-data", "application/json")]


def test_subscribe_and_unsubscribe_return_empty_results(stack):
    async def body(c):
        return (await c.subscribe_resource("test://watched-resource"),
                await c.unsubscribe_resource("test://watched-resource"))

    sub, unsub = run_client(stack.mcp_url, body)
    assert sub.model_dump(exclude_none=True) == {}
    assert unsub.model_dump(exclude_none=True) == {}


def test_subscribe_raw_result_is_an_empty_object(mcp: MCPHTTP):
    sid = mcp.open_session()
    for i, method in enumerate(["resources/subscribe", "resources/unsubscribe"]):
        r = mcp.call(sid, method, {"uri": "test://watched-resource"}, id=i)
        assert r.status == 200, r
        assert r.json() == {"jsonrpc": "2.0", "id": i, "result": {}}


# -- prompts -------------------------------------------------------------------------------------------


def test_list_prompts(stack):
    result = run_client(stack.mcp_url, lambda c: c.list_prompts())
    prompts = {p.name: p for p in result.prompts}
    session_era = ["test_simple_prompt", "test_prompt_with_arguments", "test_prompt_with_embedded_resource",
                   "test_prompt_with_image"]
    assert [n for n in prompts if n in session_era] == session_era, list(prompts)
    # Besides these, only the stateless-era fixture prompt of FIXTURES.md may be listed.
    assert set(prompts) - set(session_era) <= {"test_input_required_result_prompt"}, list(prompts)
    assert not prompts["test_simple_prompt"].arguments
    assert [(a.name, a.required) for a in prompts["test_prompt_with_arguments"].arguments] == [
        ("arg1", True), ("arg2", True)]
    assert [(a.name, a.required) for a in prompts["test_prompt_with_embedded_resource"].arguments] == [
        ("resourceUri", True)]
    assert not prompts["test_prompt_with_image"].arguments


def test_get_simple_prompt(stack):
    result = run_client(stack.mcp_url, lambda c: c.get_prompt("test_simple_prompt", {}))
    assert [(m.role, m.content.type, m.content.text) for m in result.messages] == [
        ("user", "text", "This is a simple prompt for testing.")]


def test_get_prompt_with_arguments(stack):
    result = run_client(stack.mcp_url, lambda c: c.get_prompt("test_prompt_with_arguments",
                                                              {"arg1": "héllo", "arg2": "it's"}))
    assert [(m.role, m.content.type, m.content.text) for m in result.messages] == [
        ("user", "text", "Prompt with arguments: arg1='héllo', arg2='it's'")]


def test_get_prompt_with_embedded_resource(stack):
    result = run_client(stack.mcp_url, lambda c: c.get_prompt("test_prompt_with_embedded_resource",
                                                              {"resourceUri": "test://static-text"}))
    assert len(result.messages) == 2
    first, second = result.messages
    assert (first.role, first.content.type) == ("user", "resource")
    res = first.content.resource
    assert (str(res.uri), res.mime_type, res.text) == (
        "test://static-text", "text/plain", "Embedded resource content for testing.")
    assert (second.role, second.content.type, second.content.text) == (
        "user", "text", "Please process the embedded resource above.")


def test_get_prompt_with_image(stack):
    result = run_client(stack.mcp_url, lambda c: c.get_prompt("test_prompt_with_image", {}))
    assert len(result.messages) == 2
    img, text = result.messages
    assert (img.role, img.content.type, img.content.data, img.content.mime_type) == (
        "user", "image", IMG, "image/png")
    assert (text.role, text.content.type, text.content.text) == ("user", "text", "Please analyze the image above.")


@pytest.mark.parametrize("prompt,arguments,missing", [
    ("test_prompt_with_arguments", {"arg1": "only one"}, "arg2"),
    ("test_prompt_with_arguments", {"arg2": "only two"}, "arg1"),
    ("test_prompt_with_embedded_resource", {}, "resourceUri"),
])
def test_get_prompt_missing_required_argument_is_invalid_params(stack, prompt, arguments, missing):
    async def body(c):
        with pytest.raises(MCPError) as info:
            await c.get_prompt(prompt, arguments)
        return info.value

    err = run_client(stack.mcp_url, body)
    assert err.code == types.INVALID_PARAMS, (err.code, err.message)
    assert missing in err.message


def test_get_unknown_prompt_is_invalid_params(stack):
    async def body(c):
        with pytest.raises(MCPError) as info:
            await c.get_prompt("no_such_prompt", {})
        return info.value

    err = run_client(stack.mcp_url, body)
    assert err.code == types.INVALID_PARAMS
    assert "no_such_prompt" in err.message


# -- completion ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("argument,typed,expected", [
    ("arg1", "g", ["gamma"]),
    ("arg1", "a", ["alpha"]),
    ("arg2", "t", ["two", "three"]),
    ("arg2", "zzz", []),
])
def test_complete_prompt_argument(stack, argument, typed, expected):
    ref = types.PromptReference(type="ref/prompt", name="test_prompt_with_arguments")
    result = run_client(stack.mcp_url, lambda c: c.complete(ref, {"name": argument, "value": typed}))
    assert result.completion.values == expected
    assert result.completion.has_more in (False, None)
    assert result.completion.total in (None, len(expected))


def test_complete_embedded_resource_uri(stack):
    ref = types.PromptReference(type="ref/prompt", name="test_prompt_with_embedded_resource")
    result = run_client(stack.mcp_url, lambda c: c.complete(ref, {"name": "resourceUri", "value": "test://static"}))
    assert result.completion.values == ["test://static-text", "test://static-binary"]


@pytest.mark.parametrize("typed,expected", [("1", ["1", "123", "1001"]), ("4", ["42"]), ("9", [])])
def test_complete_template_variable(stack, typed, expected):
    ref = types.ResourceTemplateReference(type="ref/resource", uri="test://template/{id}/data")
    result = run_client(stack.mcp_url, lambda c: c.complete(ref, {"name": "id", "value": typed}))
    assert result.completion.values == expected


def test_complete_unknown_prompt_is_invalid_params(stack):
    ref = types.PromptReference(type="ref/prompt", name="no_such_prompt")

    async def body(c):
        with pytest.raises(MCPError) as info:
            await c.complete(ref, {"name": "x", "value": ""})
        return info.value

    assert run_client(stack.mcp_url, body).code == types.INVALID_PARAMS


# -- logging/setLevel ----------------------------------------------------------------------------------


def test_set_logging_level_filters_the_tools_log_messages(stack):
    rec = Recorder()
    seen: dict[str, list] = {}

    async def body(c):
        for level in ["warning", "info", "error", "debug"]:
            r = await c.set_logging_level(level)
            assert r.model_dump(exclude_none=True) == {}
            before = len(rec.logs)
            text = only_text(await c.call_tool("test_tool_with_logging", {}))
            assert text == "Tool with logging executed successfully"
            seen[level] = [p.data for p in rec.logs[before:]]

    run_client(stack.mcp_url, body, rec)
    # The tool logs at "info": let through at info and debug, suppressed at warning and error.
    assert seen == {"warning": [], "info": LOGS, "error": [], "debug": LOGS}
    assert [m["params"]["level"] for m in rec.posted("logging/setLevel")] == ["warning", "info", "error", "debug"]


@pytest.mark.parametrize("level", ["loud", "", 3, None])
def test_set_logging_level_invalid_is_invalid_params(mcp: MCPHTTP, level):
    sid = mcp.open_session()
    r = mcp.call(sid, "logging/setLevel", {"level": level}, id=8)
    assert r.status == 200, r
    body = r.json()
    assert body["id"] == 8 and body["error"]["code"] == -32602, body


# -- test_reconnection ---------------------------------------------------------------------------------


def test_reconnection_through_the_official_client(stack):
    rec = Recorder()
    started = time.monotonic()
    result = run_client(stack.mcp_url, lambda c: c.call_tool("test_reconnection", {}), rec)
    elapsed = time.monotonic() - started
    assert only_text(result) == "Reconnection test completed successfully"
    # The POST stream ended after its priming event; the client resumed with GET + Last-Event-ID.
    resumes = [h for m, h, _ in rec.requests if m == "GET" and "last-event-id" in h]
    assert len(resumes) == 1, [(m, h.get("last-event-id")) for m, h, _ in rec.requests]
    stream, _, seq = resumes[0]["last-event-id"].partition("-")
    assert stream.isdigit() and seq == "0", resumes[0]
    assert elapsed < 10


# -- server-initiated notifications on the client's GET stream --------------------------------------------


def test_list_changed_reaches_the_official_clients_message_handler(stack):
    """The client opens its GET stream in the background; a notification the server sends then (via the
    test_trigger_* tools) arrives in message_handler."""
    notifications: list[Any] = []
    get_ready = anyio.Event()

    async def on_message(msg) -> None:
        notifications.append(msg)

    async def on_response(response) -> None:
        if response.request.method == "GET" and response.status_code == 200:
            get_ready.set()

    async def main():
        async with httpx2.AsyncClient(event_hooks={"response": [on_response]},
                                      timeout=httpx2.Timeout(30, read=60)) as http:
            with anyio.fail_after(30):
                async with Client(streamable_http_client(stack.mcp_url, http_client=http), mode="legacy",
                                  read_timeout_seconds=10, cache=None, message_handler=on_message) as c:
                    names = {t.name for t in (await c.list_tools()).tools}
                    if "test_trigger_tool_change" not in names:
                        return None
                    with anyio.fail_after(5):
                        await get_ready.wait()
                    await anyio.sleep(0.1)  # the response head is in; the stream is attached
                    r = await c.call_tool("test_trigger_tool_change", {})
                    with anyio.fail_after(5):
                        while not any(isinstance(n, types.ToolListChangedNotification) for n in notifications):
                            await anyio.sleep(0.02)
                    return r

    result = anyio.run(main)
    if result is None:
        pytest.skip("the demo has no test_trigger_tool_change tool")
    assert only_text(result) == "Published notifications/tools/list_changed"
    changed = [n for n in notifications if isinstance(n, types.ToolListChangedNotification)]
    assert len(changed) == 1, notifications
