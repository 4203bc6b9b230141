"""2026-07-28 requests carry no session: nginx may send each to any of the three workers, and every one must
succeed there — including the retries of a multi round-trip (input_required) request, whose requestState is
sealed with the key deploy/run.sh shares across the workers.

Which worker served a request is read from the workers' /proc/<pid>/io counters (statelesshttp.WorkerMeter).
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from statelesshttp import ALL_CAPS, WorkerMeter, call_tool, post, text_of

ELICIT = {"elicitation": {}}
MIN_BYTES = 300  # a FastCGI request (params + body) is always larger than this


def ok_result(r) -> dict:
    assert r.status == 200, r
    body = r.json()
    assert "result" in body, body
    return body["result"]


def input_required(r) -> dict:
    result = ok_result(r)
    assert result["resultType"] == "input_required", result
    assert isinstance(result["requestState"], str) and result["requestState"], result
    return result


def complete_text(r) -> str:
    result = ok_result(r)
    assert result["resultType"] == "complete", result
    return text_of(result)


def accept(**content) -> dict:
    return {"action": "accept", "content": content}


@pytest.fixture
def meter(stack) -> WorkerMeter:
    return WorkerMeter(stack)


def test_echo_succeeds_on_every_worker(stack, meter):
    served = Counter()
    for i in range(60):
        text = f"echo #{i} " + "ü" * 20
        before = meter.snapshot()
        r = call_tool(stack.port, "echo", {"text": text}, id=i)
        assert r.header("Mcp-Session-Id") is None, r
        assert r.json()["id"] == i, r
        assert complete_text(r) == text
        served[meter.served(before, MIN_BYTES)] += 1
    assert set(served) == {1, 2, 3}, f"60 session-less requests did not reach all 3 workers: {served}"
    # nginx's round robin over mcp_any: no worker should be starved.
    assert min(served.values()) >= 10, served


def test_concurrent_echo_spreads_over_workers(stack, meter):
    """60 echo requests from 12 threads at once: all succeed, and every worker took a share of the bytes."""
    payload = "z" * 4000
    before = meter.snapshot()

    def one(i: int) -> str:
        r = call_tool(stack.port, "echo", {"text": f"{i}:{payload}"}, id=i)
        assert r.header("Mcp-Session-Id") is None, r
        return complete_text(r)

    with ThreadPoolExecutor(12) as pool:
        texts = list(pool.map(one, range(60)))
    assert texts == [f"{i}:{payload}" for i in range(60)]
    after = meter.snapshot()
    read = {i: after[i]["rchar"] - before[i]["rchar"] for i in meter.pids}
    assert all(n >= 4000 * 5 for n in read.values()), f"bytes read per worker: {read}"


def test_input_required_retries_cross_workers(stack, meter):
    before = meter.snapshot()
    first = input_required(call_tool(stack.port, "test_input_required_result_elicitation", capabilities=ELICIT))
    issuer = meter.served(before, MIN_BYTES)
    assert set(first["inputRequests"]) == {"user_name"}, first
    ask = first["inputRequests"]["user_name"]
    assert ask["method"] == "elicitation/create" and ask["params"]["message"] == "What is your name?", ask
    state = first["requestState"]

    served = Counter()
    for i in range(60):
        name = f"User {i} ✓"
        before = meter.snapshot()
        r = call_tool(stack.port, "test_input_required_result_elicitation", capabilities=ELICIT, id=100 + i,
                      inputResponses={"user_name": accept(name=name)}, requestState=state)
        worker = meter.served(before, MIN_BYTES)
        assert complete_text(r) == f"Hello, {name}!", (worker, r)
        served[worker] += 1
    others = set(served) - {issuer}
    assert set(served) == {1, 2, 3} and others, (
        f"the retries did not cross workers (issued on w{issuer}; retries served by {dict(served)})")


def test_multi_round_new_state_each_round(stack, meter):
    tool = "test_input_required_result_multi_round"
    workers = []
    before = meter.snapshot()
    r1 = input_required(call_tool(stack.port, tool, capabilities=ELICIT))
    workers.append(meter.served(before, MIN_BYTES))
    assert set(r1["inputRequests"]) == {"step1"}, r1
    assert r1["inputRequests"]["step1"]["params"]["message"] == "Step 1: What is your name?"

    before = meter.snapshot()
    r2 = input_required(call_tool(stack.port, tool, capabilities=ELICIT, id=2,
                                  inputResponses={"step1": accept(name="Grace")}, requestState=r1["requestState"]))
    workers.append(meter.served(before, MIN_BYTES))
    assert set(r2["inputRequests"]) == {"step2"}, r2
    assert r2["inputRequests"]["step2"]["params"]["message"] == "Step 2: What is your favorite color?"
    assert r2["requestState"] != r1["requestState"]

    # The step-2 round only needs the step-2 answer: step 1's is carried in the (sealed) state.
    before = meter.snapshot()
    text = complete_text(call_tool(stack.port, tool, capabilities=ELICIT, id=3,
                                   inputResponses={"step2": accept(color="green")}, requestState=r2["requestState"]))
    workers.append(meter.served(before, MIN_BYTES))
    assert text == "Multi-round complete: Grace likes green"
    assert len(set(workers)) >= 2, f"all three rounds ran on one worker: {workers}"

    # An old round's state still names the old pending key: answering step1 again restarts at step 2.
    again = input_required(call_tool(stack.port, tool, capabilities=ELICIT, id=4,
                                     inputResponses={"step1": accept(name="Linus")}, requestState=r1["requestState"]))
    assert set(again["inputRequests"]) == {"step2"}, again


def test_multiple_inputs_in_one_round(stack):
    tool = "test_input_required_result_multiple_inputs"
    first = input_required(call_tool(stack.port, tool, capabilities=ALL_CAPS))
    reqs = first["inputRequests"]
    assert {k: v["method"] for k, v in reqs.items()} == {
        "user_name": "elicitation/create", "sample_request": "sampling/createMessage", "roots_request": "roots/list"}
    assert reqs["sample_request"]["params"]["maxTokens"] == 50
    answers = {
        "user_name": accept(name="Ada"),
        "sample_request": {"role": "assistant", "model": "m", "stopReason": "endTurn",
                           "content": {"type": "text", "text": "Hi there"}},
        "roots_request": {"roots": [{"uri": "file:///a", "name": "a"}, {"uri": "file:///b", "name": "b"},
                                    {"uri": "file:///c"}]},
    }
    for i in range(6):  # a few retries, so they land on different workers
        r = call_tool(stack.port, tool, capabilities=ALL_CAPS, id=10 + i, inputResponses=answers,
                      requestState=first["requestState"])
        assert complete_text(r) == "Hi there Ada; 3 root(s)"
    # Only some of the answers: the server asks again for exactly the missing ones.
    partial = input_required(call_tool(stack.port, tool, capabilities=ALL_CAPS, id=20,
                                       inputResponses={"user_name": accept(name="Ada")},
                                       requestState=first["requestState"]))
    assert set(partial["inputRequests"]) == {"sample_request", "roots_request"}, partial


def test_request_state_round_trip(stack):
    tool = "test_input_required_result_request_state"
    first = input_required(call_tool(stack.port, tool, capabilities=ELICIT))
    assert set(first["inputRequests"]) == {"confirm"}, first
    for i in range(4):
        text = complete_text(call_tool(stack.port, tool, capabilities=ELICIT, id=2 + i,
                                       inputResponses={"confirm": accept(ok=True)},
                                       requestState=first["requestState"]))
        assert "state-ok" in text and text == "state-ok: confirmed=true", text


def _tamper_mac(state: str) -> str:
    v, payload, mac = state.split(".")
    return f"{v}.{payload}.{('A' if mac[0] != 'A' else 'B')}{mac[1:]}"


def _tamper_payload(state: str) -> str:
    """Same MAC, payload re-encoded with a changed field (what a client forging answers would do)."""
    v, payload, mac = state.split(".")
    raw = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    raw["i"] = {"confirm": accept(ok=True)}
    forged = base64.urlsafe_b64encode(json.dumps(raw).encode()).decode().rstrip("=")
    return f"{v}.{forged}.{mac}"


@pytest.mark.parametrize("tamper", [_tamper_mac, _tamper_payload, lambda s: s + "x", lambda s: "garbage"],
                         ids=["mac", "payload", "suffix", "garbage"])
def test_tampered_state_rejected(stack, tamper):
    tool = "test_input_required_result_tampered_state"
    first = input_required(call_tool(stack.port, tool, capabilities=ELICIT))
    for i in range(3):  # on whichever worker
        r = call_tool(stack.port, tool, capabilities=ELICIT, id=2 + i, inputResponses={"confirm": accept(ok=True)},
                      requestState=tamper(first["requestState"]))
        assert r.status == 400, r
        body = r.json()
        assert "result" not in body and body["error"]["code"] == -32602, body
        assert "requestState" in body["error"]["message"], body
    # The untampered state still works.
    text = complete_text(call_tool(stack.port, tool, capabilities=ELICIT, id=9,
                                   inputResponses={"confirm": accept(ok=True)}, requestState=first["requestState"]))
    assert text == "state verified"


def test_state_bound_to_its_request(stack):
    """A state issued for one tool (or one set of arguments) is refused elsewhere."""
    first = input_required(call_tool(stack.port, "test_input_required_result_tampered_state", capabilities=ELICIT))
    r = call_tool(stack.port, "test_input_required_result_request_state", capabilities=ELICIT, id=2,
                  inputResponses={"confirm": accept(ok=True)}, requestState=first["requestState"])
    assert r.status == 400 and r.json()["error"]["code"] == -32602, r
    r = call_tool(stack.port, "test_input_required_result_tampered_state", {"extra": 1}, capabilities=ELICIT, id=3,
                  inputResponses={"confirm": accept(ok=True)}, requestState=first["requestState"])
    assert r.status == 400 and r.json()["error"]["code"] == -32602, r


@pytest.mark.parametrize("caps, keys", [
    ({}, set()),
    ({"elicitation": {}}, {"ask"}),
    ({"sampling": {}}, {"sample"}),
    ({"roots": {}, "elicitation": {}}, {"ask", "roots"}),
    (ALL_CAPS, {"ask", "roots", "sample"}),
])
def test_capabilities_decide_what_is_asked(stack, caps, keys):
    tool = "test_input_required_result_capabilities"
    r = call_tool(stack.port, tool, capabilities=caps)
    if not keys:
        assert complete_text(r) == "Collected input for the declared client capabilities: "
        return
    first = input_required(r)
    assert set(first["inputRequests"]) == keys, first
    method = {"ask": "elicitation/create", "sample": "sampling/createMessage", "roots": "roots/list"}
    assert {k: v["method"] for k, v in first["inputRequests"].items()} == {k: method[k] for k in keys}
    answers = {"ask": accept(name="Ada"),
               "sample": {"role": "assistant", "model": "m", "content": {"type": "text", "text": "hello"}},
               "roots": {"roots": []}}
    text = complete_text(call_tool(stack.port, tool, capabilities=caps, id=2,
                                   inputResponses={k: answers[k] for k in keys}, requestState=first["requestState"]))
    assert text == "Collected input for the declared client capabilities: " + ", ".join(sorted(keys))


def test_input_required_prompt(stack, meter):
    params = {"name": "test_input_required_result_prompt", "arguments": {}}
    first = ok_result(post(stack.port, "prompts/get", params, capabilities=ELICIT))
    assert first["resultType"] == "input_required" and set(first["inputRequests"]) == {"user_name"}, first
    served = Counter()
    for i in range(9):
        before = meter.snapshot()
        r = post(stack.port, "prompts/get", dict(params, inputResponses={"user_name": accept(name=f"P{i}")},
                                                  requestState=first["requestState"]), id=2 + i, capabilities=ELICIT)
        served[meter.served(before, MIN_BYTES)] += 1
        result = ok_result(r)
        assert result["resultType"] == "complete", result
        assert [m["content"]["text"] for m in result["messages"]] == [f"Please greet P{i} warmly."], result
    assert len(served) >= 2, served
