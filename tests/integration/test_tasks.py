"""Tasks (MCP 2025-11-25, task-augmented tools/call) through nginx → workers: raw HTTP, checked with the official
Python SDK's task types (mcp 2.3.0 defines them; its client has no task calls, so the calls are raw JSON-RPC)."""

from __future__ import annotations

import time

import anyio
import mcp.types as types
from mcp import Client

from mcphttp import ACCEPT_BOTH, MCPHTTP, PROTOCOL_VERSION

RELATED = "io.modelcontextprotocol/related-task"


def start_task(mcp: MCPHTTP, sid: str, seconds: float, ttl=30000, id=1) -> dict:
    r = mcp.call(sid, "tools/call", {"name": "slow_task", "arguments": {"seconds": seconds}, "task": {"ttl": ttl}}, id)
    assert r.status == 200, r
    created = types.CreateTaskResult.model_validate(r.json()["result"])
    assert created.task.status == "working"
    return r.json()["result"]["task"]


def get(mcp: MCPHTTP, sid: str, task_id: str) -> dict:
    r = mcp.call(sid, "tasks/get", {"taskId": task_id}, 5)
    assert r.status == 200, r
    return r.json()


def poll_until_terminal(mcp: MCPHTTP, sid: str, task_id: str, timeout: float = 20) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        task = get(mcp, sid, task_id)["result"]
        types.GetTaskResult.model_validate(task)
        if task["status"] in ("completed", "failed", "cancelled"):
            return task
        assert time.monotonic() < deadline, f"task {task_id} still {task['status']}"
        time.sleep(task["pollInterval"] / 1000)


def test_the_capability_and_the_tool_declare_tasks(mcp):
    r = mcp.initialize()
    caps = r.json()["result"]["capabilities"]
    assert caps["tasks"] == {"list": {}, "cancel": {}, "requests": {"tools": {"call": {}}}}
    assert types.ServerCapabilities.model_validate(caps).tasks is not None
    sid = mcp.open_session()
    tools = mcp.call(sid, "tools/list").json()["result"]["tools"]
    slow = next(t for t in tools if t["name"] == "slow_task")
    assert slow["execution"] == {"taskSupport": "optional"}
    assert types.Tool.model_validate(slow).execution.task_support == "optional"
    assert next(t for t in tools if t["name"] == "test_elicitation")["execution"] == {"taskSupport": "optional"}
    assert all("execution" not in t for t in tools if t["name"] not in ("slow_task", "test_elicitation"))


def test_a_task_runs_is_polled_and_its_result_fetched(mcp):
    sid = mcp.open_session()
    task = start_task(mcp, sid, 1.5)
    assert task["ttl"] == 30000 and task["pollInterval"] >= 1
    # The progress message is the task's statusMessage while it runs.
    deadline = time.monotonic() + 10
    while (seen := get(mcp, sid, task["taskId"])["result"]).get("statusMessage") != "1 of 1.5 s":
        assert seen["status"] == "working", seen
        assert time.monotonic() < deadline, seen
        time.sleep(0.1)
    done = poll_until_terminal(mcp, sid, task["taskId"])
    assert done["status"] == "completed"
    assert done["createdAt"] < done["lastUpdatedAt"]
    r = mcp.call(sid, "tasks/result", {"taskId": task["taskId"]}, 6)
    assert r.status == 200, r
    result = types.CallToolResult.model_validate(r.json()["result"])
    assert result.content[0].text == "done after 1.5 s"
    assert r.json()["result"]["_meta"][RELATED] == {"taskId": task["taskId"]}
    listed = types.ListTasksResult.model_validate(mcp.call(sid, "tasks/list", {}, 7).json()["result"])
    assert [t.task_id for t in listed.tasks] == [task["taskId"]]


def test_tasks_result_called_early_waits_for_the_end(mcp):
    sid = mcp.open_session()
    for accept in ("application/json", ACCEPT_BOTH):
        task = start_task(mcp, sid, 1)
        started = time.monotonic()
        r = mcp.call(sid, "tasks/result", {"taskId": task["taskId"]}, 3, accept=accept, timeout=20)
        assert r.status == 200, r
        assert time.monotonic() - started >= 0.5
        assert r.json()["result"]["content"][0]["text"] == "done after 1 s", (accept, r)


def test_a_task_that_asks_the_user_is_input_required_and_asks_on_the_tasks_result_stream(stack):
    """test_elicitation as a task: it waits for the user (input_required), tasks/result's SSE stream carries the
    elicitation tagged with the task, the client answers with a POST, and the same stream ends with the result."""
    from mcphttp import initialize_params, rpc_request
    from rawsse import post_stream

    mcp = stack.mcp()
    params = initialize_params()
    params["capabilities"] = {"elicitation": {}}
    r = mcp.post(rpc_request("initialize", params))
    sid = r.header("Mcp-Session-Id")
    assert mcp.post({"jsonrpc": "2.0", "method": "notifications/initialized"}, session_id=sid,
                    protocol_version=PROTOCOL_VERSION).status == 202
    r = mcp.call(sid, "tools/call", {"name": "test_elicitation", "arguments": {"message": "Proceed?"},
                                     "task": {"ttl": 30000}})
    task_id = r.json()["result"]["task"]["taskId"]
    deadline = time.monotonic() + 10
    while (status := get(mcp, sid, task_id)["result"]["status"]) != "input_required":
        assert status == "working" and time.monotonic() < deadline, status
        time.sleep(0.05)
    with post_stream(stack.port, sid, rpc_request("tasks/result", {"taskId": task_id}, 9), timeout=15) as s:
        s.read_head()
        assert s.status == 200 and s.header("Content-Type") == "text/event-stream"
        while (event := s.next_event(timeout=10))["data"] is None:
            pass
        asked = event["data"]
        assert asked["method"] == "elicitation/create", asked
        assert asked["params"]["message"] == "Proceed?"
        assert asked["params"]["_meta"][RELATED] == {"taskId": task_id}
        answer = mcp.post({"jsonrpc": "2.0", "id": asked["id"], "result": {"action": "accept", "content": {"response": "yes"}}},
                          session_id=sid, protocol_version=PROTOCOL_VERSION)
        assert answer.status == 202, answer
        final = [e["data"] for e in s.events_until_end(timeout=10) if e["data"] is not None][-1]
    assert final["id"] == 9
    assert final["result"]["content"][0]["text"].startswith("User response: action=accept")
    assert final["result"]["_meta"][RELATED] == {"taskId": task_id}
    assert get(mcp, sid, task_id)["result"]["status"] == "completed"


def test_a_client_that_runs_elicitations_as_tasks_is_asked_to_and_polled(stack):
    """A client declaring tasks.requests.elicitation.create gets the elicitation with params.task; it answers with a
    task, the server polls its tasks/get on the same stream and fetches tasks/result, and the tool's answer is as
    if the client had answered directly."""
    from mcphttp import initialize_params, rpc_request
    from rawsse import post_stream

    mcp = stack.mcp()
    params = initialize_params()
    params["capabilities"] = {"elicitation": {}, "tasks": {"requests": {"elicitation": {"create": {}}}}}
    sid = mcp.post(rpc_request("initialize", params)).header("Mcp-Session-Id")
    assert mcp.post({"jsonrpc": "2.0", "method": "notifications/initialized"}, session_id=sid,
                    protocol_version=PROTOCOL_VERSION).status == 202

    def answer(request_id, result):
        r = mcp.post({"jsonrpc": "2.0", "id": request_id, "result": result}, session_id=sid,
                     protocol_version=PROTOCOL_VERSION)
        assert r.status == 202, r

    def next_request(stream):
        while (event := stream.next_event(timeout=10))["data"] is None:
            pass
        return event["data"]

    now = "2026-01-01T00:00:00Z"
    client_task = {"taskId": "client-task-1", "createdAt": now, "lastUpdatedAt": now, "ttl": 60000, "pollInterval": 100}
    message = rpc_request("tools/call", {"name": "test_elicitation", "arguments": {"message": "Ready?"}}, 12)
    with post_stream(stack.port, sid, message, timeout=15) as s:
        s.read_head()
        asked = next_request(s)
        assert asked["method"] == "elicitation/create" and asked["params"]["task"] == {"ttl": 600000}, asked
        answer(asked["id"], {"task": dict(client_task, status="working")})
        polled = next_request(s)
        assert polled["method"] == "tasks/get" and polled["params"] == {"taskId": "client-task-1"}, polled
        answer(polled["id"], dict(client_task, status="completed"))
        fetch = next_request(s)
        assert fetch["method"] == "tasks/result" and fetch["params"] == {"taskId": "client-task-1"}, fetch
        answer(fetch["id"], {"action": "accept", "content": {"response": "later"},
                             "_meta": {RELATED: {"taskId": "client-task-1"}}})
        final = [e["data"] for e in s.events_until_end(timeout=10) if e["data"] is not None][-1]
    assert final["id"] == 12
    assert final["result"]["content"][0]["text"] == 'User response: action=accept, content={"response":"later"}'


def test_a_plain_call_of_an_optional_task_tool_answers_directly(mcp):
    sid = mcp.open_session()
    r = mcp.call_tool(sid, "slow_task", {"seconds": 0})
    assert r.json()["result"]["content"][0]["text"] == "done after 0 s"
    r = mcp.call(sid, "tools/call", {"name": "echo", "arguments": {"text": "x"}, "task": {"ttl": 1000}})
    assert r.json()["error"]["code"] == -32601


def test_cancel_ends_a_running_task_for_good(mcp):
    sid = mcp.open_session()
    task = start_task(mcp, sid, 60)
    r = mcp.call(sid, "tasks/cancel", {"taskId": task["taskId"]}, 2)
    cancelled = types.CancelTaskResult.model_validate(r.json()["result"])
    assert cancelled.status == "cancelled"
    assert get(mcp, sid, task["taskId"])["result"]["status"] == "cancelled"
    again = mcp.call(sid, "tasks/cancel", {"taskId": task["taskId"]}, 3).json()
    assert again["error"]["code"] == -32602
    result = mcp.call(sid, "tasks/result", {"taskId": task["taskId"]}, 4).json()
    assert result["error"]["code"] == -32800


def test_a_task_is_its_sessions_alone(stack):
    mcp = stack.mcp()
    mine, theirs = mcp.open_session(), mcp.open_session()
    task = start_task(mcp, mine, 0.2)
    for method in ("tasks/get", "tasks/result", "tasks/cancel"):
        answer = mcp.call(theirs, method, {"taskId": task["taskId"]}).json()
        assert answer["error"]["code"] == -32602, (method, answer)
        assert "Unknown task" in answer["error"]["message"]
    assert mcp.call(theirs, "tasks/list", {}).json()["result"]["tasks"] == []
    assert mcp.call(mine, "tasks/get", {"taskId": "no-such-task"}).json()["error"]["code"] == -32602


def test_the_stateless_era_has_no_tasks(mcp):
    meta = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    headers = {"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": "slow_task"}
    r = mcp.post({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                  "params": {"name": "slow_task", "arguments": {"seconds": 0}, "task": {"ttl": 1000}, "_meta": meta}},
                 extra_headers=headers)
    assert r.status == 200, r
    assert r.json()["result"]["content"][0]["text"] == "done after 0 s"


def test_the_official_client_polls_a_task_in_its_own_session(stack):
    """The official client's session makes the task (raw tools/call: the SDK types cannot carry the answer of a
    task-augmented call through call_tool) and reads it with its typed requests."""

    async def main():
        with anyio.fail_after(30):
            async with Client(stack.mcp_url, mode="legacy", read_timeout_seconds=10, cache=None) as c:
                session = c.session
                raw = await session._dispatcher.send_raw_request(
                    "tools/call", {"name": "slow_task", "arguments": {"seconds": 0.5}, "task": {"ttl": 20000}}, {})
                created = types.CreateTaskResult.model_validate(raw)
                task_id = created.task.task_id
                while True:
                    got = await session.send_request(
                        types.GetTaskRequest(params=types.GetTaskRequestParams(task_id=task_id)), types.GetTaskResult)
                    if got.status == "completed":
                        break
                    assert got.status == "working"
                    await anyio.sleep(got.poll_interval / 1000)
                payload = await session.send_request(
                    types.GetTaskPayloadRequest(params=types.GetTaskPayloadRequestParams(task_id=task_id)),
                    types.CallToolResult)
                listed = await session.send_request(types.ListTasksRequest(), types.ListTasksResult)
                return payload, [t.task_id for t in listed.tasks], task_id

    payload, listed, task_id = anyio.run(main)
    assert payload.content[0].text == "done after 0.5 s"
    assert listed == [task_id]


def test_on_postgres_tasks_outlive_their_worker():
    """STORE=postgres, 3 workers, none restarted: a task's record is read through any worker. A worker that drains
    (SIGTERM) fails its running tasks at once; one killed (SIGKILL) stops beating and its task is failed by the next
    reader after 10 s; a completed task's result stays readable from another worker."""
    import os
    import signal

    from conftest import Stack, wait_until

    s = Stack(workers=3, extra_env={"STORE": "postgres", "RESTART_LIMIT": "0"})
    try:
        s.start()
        mcp = s.mcp()
        sessions = [mcp.open_session() for _ in range(30)]
        on_w1 = next(sid for sid in sessions if sid.startswith("w1."))
        on_w2 = next(sid for sid in sessions if sid.startswith("w2."))

        finished = start_task(mcp, on_w1, 0.2)
        assert poll_until_terminal(mcp, on_w1, finished["taskId"])["status"] == "completed"
        drained = start_task(mcp, on_w1, 120)
        killed = start_task(mcp, on_w2, 120, id=2)

        os.kill(s.worker_pid(1), signal.SIGTERM)
        wait_until(lambda: "GIVING UP on w1" in s.log(), 30, what="w1 to stop")
        task = get(mcp, on_w1, drained["taskId"])["result"]  # served by a backup worker from the database
        assert task["status"] == "failed", task
        assert "call the tool again" in task["statusMessage"]
        error = mcp.call(on_w1, "tasks/result", {"taskId": drained["taskId"]}, 3).json()["error"]
        assert error["code"] == -32603 and "call the tool again" in error["message"]
        done = mcp.call(on_w1, "tasks/result", {"taskId": finished["taskId"]}, 4).json()["result"]
        assert done["content"][0]["text"] == "done after 0.2 s"

        os.kill(s.worker_pid(2), signal.SIGKILL)
        wait_until(lambda: "GIVING UP on w2" in s.log(), 30, what="w2 to be given up")
        assert get(mcp, on_w2, killed["taskId"])["result"]["status"] in ("working", "failed")
        failed = poll_until_terminal(mcp, on_w2, killed["taskId"], timeout=30)
        assert failed["status"] == "failed", failed
        assert "stopped before it finished" in failed["statusMessage"]
    finally:
        s.cleanup()
