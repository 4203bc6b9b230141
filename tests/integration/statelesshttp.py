"""Raw helpers for the 2026-07-28 (stateless) revision: stamped requests, mirrored headers, and a way to tell
which worker process served a request.

A stateless request carries everything in itself: ``params._meta`` holds the protocol version and the client
capabilities, and the headers ``MCP-Protocol-Version`` / ``Mcp-Method`` / ``Mcp-Name`` mirror the body.

Which worker answered: nginx sends session-less requests to any worker (round robin over ``mcp_any``) and no
response names the worker. Each worker is its own process, so its ``/proc/<pid>/io`` byte counters (``rchar``/
``wchar``: what it read from and wrote to its FastCGI connections) only move when it serves a request. Idle
workers do no I/O (no per-request logging at LOG_LEVEL=info, no timers without open streams), so the worker
whose counters moved by at least the request's size is the one that served it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mcphttp import ACCEPT_BOTH, HOST, Response, request
from rawsse import SSEStream

VERSION = "2026-07-28"
PV_KEY = "io.modelcontextprotocol/protocolVersion"
CAPS_KEY = "io.modelcontextprotocol/clientCapabilities"
INFO_KEY = "io.modelcontextprotocol/clientInfo"
LOG_KEY = "io.modelcontextprotocol/logLevel"
SUB_KEY = "io.modelcontextprotocol/subscriptionId"
SERVER_INFO_KEY = "io.modelcontextprotocol/serverInfo"

ALL_CAPS = {"elicitation": {}, "sampling": {}, "roots": {}}


def meta(capabilities: dict | None = None, version: str = VERSION, **extra: Any) -> dict:
    m: dict[str, Any] = {PV_KEY: version, CAPS_KEY: {} if capabilities is None else capabilities,
                         INFO_KEY: {"name": "mcpfcgi-stateless-tests", "version": "1.0"}}
    m.update(extra)
    return m


def name_of(method: str, params: dict) -> str | None:
    if method in ("tools/call", "prompts/get"):
        return params.get("name")
    if method == "resources/read":
        return params.get("uri")
    return None


def message(method: str, params: dict | None = None, id: Any = 1, capabilities: dict | None = None,
            meta_: dict | None = None) -> dict:
    """A JSON-RPC request with a stamped ``_meta`` (unless params already carry one, or meta_ replaces it)."""
    p = dict(params or {})
    if meta_ is not None:
        p["_meta"] = meta_
    else:
        p.setdefault("_meta", meta(capabilities))
    return {"jsonrpc": "2.0", "id": id, "method": method, "params": p}


def headers(method: str, params: dict | None = None, version: str | None = VERSION, accept: str = ACCEPT_BOTH,
            extra: dict[str, str] | None = None) -> dict[str, str]:
    h = {"Content-Type": "application/json", "Accept": accept}
    if version is not None:
        h["MCP-Protocol-Version"] = version
    h["Mcp-Method"] = method
    name = name_of(method, params or {})
    if name is not None:
        h["Mcp-Name"] = name
    h.update(extra or {})
    return h


def post(port: int, method: str, params: dict | None = None, id: Any = 1, capabilities: dict | None = None,
         meta_: dict | None = None, version: str | None = VERSION, accept: str = ACCEPT_BOTH,
         extra_headers: dict[str, str] | None = None, drop_headers: tuple[str, ...] = (),
         timeout: float = 15) -> Response:
    """One stateless POST /mcp through nginx, headers mirroring the body unless told otherwise."""
    msg = message(method, params, id, capabilities, meta_)
    h = headers(method, params, version, accept, extra_headers)
    for name in drop_headers:
        h.pop(name, None)
    return request(port, "POST", "/mcp", json.dumps(msg, ensure_ascii=False), h, timeout=timeout)


def call_tool(port: int, name: str, arguments: dict | None = None, **kw: Any) -> Response:
    params: dict[str, Any] = {"name": name, "arguments": arguments or {}}
    for key in ("inputResponses", "requestState"):
        if key in kw:
            params[key] = kw.pop(key)
    return post(port, "tools/call", params, **kw)


def stream(port: int, method: str, params: dict | None = None, id: Any = 1, capabilities: dict | None = None,
           accept: str = ACCEPT_BOTH, timeout: float = 10.0) -> SSEStream:
    """The same POST, read incrementally (listen streams, SSE answers)."""
    msg = message(method, params, id, capabilities)
    h = headers(method, params, VERSION, accept)
    h.pop("Content-Type")
    h["Content-Type"] = "application/json"
    return SSEStream(port, "POST", "/mcp", h, json.dumps(msg, ensure_ascii=False), timeout=timeout)


def text_of(result: dict) -> str:
    content = result["content"]
    assert len(content) == 1 and content[0]["type"] == "text", result
    return content[0]["text"]


# -- which worker served a request ---------------------------------------------------------------------


def io_counters(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        key, _, value = line.partition(":")
        out[key.strip()] = int(value)
    return out


class WorkerMeter:
    """Snapshots every worker's /proc/<pid>/io; ``served(before)`` names the worker whose counters moved."""

    def __init__(self, stack):
        self.pids = {i: stack.worker_pid(i) for i in range(1, stack.workers + 1)}

    def snapshot(self) -> dict[int, dict[str, int]]:
        return {i: io_counters(pid) for i, pid in self.pids.items()}

    def served(self, before: dict[int, dict[str, int]], min_bytes: int) -> int:
        """The single worker that read at least ``min_bytes`` and wrote something since ``before``."""
        after = self.snapshot()
        moved = {i: (after[i]["rchar"] - before[i]["rchar"], after[i]["wchar"] - before[i]["wchar"])
                 for i in self.pids}
        busy = [i for i, (r, w) in moved.items() if r >= min_bytes and w > 0]
        assert len(busy) == 1, f"cannot tell which worker served the request: (read, written) per worker {moved}"
        return busy[0]
