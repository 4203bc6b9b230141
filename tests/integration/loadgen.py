"""A small load generator for fault tests: client threads sending stateless (2026-07-28) ``tools/call echo``
requests through nginx until stopped, recording every outcome with its time.

Outcomes: an HTTP status (int) for every answer, with 200 only when the body is the expected echo; for a
request that got no HTTP answer, the exception's class name. ``refused`` names the outcomes where the request
never reached the server (connection refused or reset before a single response byte, with a fresh connection
per request) — the only failures acceptable while a whole deployment stops.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from statelesshttp import headers, message

HOST = "127.0.0.1"
NOT_SENT = ("ConnectionRefusedError", "ConnectionResetError", "RemoteDisconnected", "BrokenPipeError")


@dataclass
class Outcome:
    start: float
    end: float
    result: int | str


@dataclass
class Load:
    port: int
    threads: int = 6
    keep_alive: bool = True
    tool: str = "echo"
    arguments: dict = field(default_factory=lambda: {"text": "load"})
    expect_text: str | None = "load"
    timeout: float = 30.0

    def __post_init__(self):
        self.outcomes: list[Outcome] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- control ---------------------------------------------------------------------------------------
    def start(self) -> "Load":
        for i in range(self.threads):
            t = threading.Thread(target=self._run, args=(i,), daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self) -> list[Outcome]:
        self._stop.set()
        for t in self._threads:
            t.join(self.timeout + 5)
        with self._lock:
            return list(self.outcomes)

    def wait_for(self, answers: int, timeout: float = 20.0) -> None:
        """Returns once at least ``answers`` requests were answered 200 (the load is really running)."""
        deadline = time.monotonic() + timeout
        while self.count(200) < answers:
            if time.monotonic() >= deadline:
                raise AssertionError(f"load not running: {self.summary()}")
            time.sleep(0.02)

    # -- results ---------------------------------------------------------------------------------------
    def count(self, result: int | str) -> int:
        with self._lock:
            return sum(1 for o in self.outcomes if o.result == result)

    def summary(self) -> Counter:
        with self._lock:
            return Counter(o.result for o in self.outcomes)

    def failures(self) -> list[Outcome]:
        with self._lock:
            return [o for o in self.outcomes if o.result != 200]

    # -- the client --------------------------------------------------------------------------------------
    def _run(self, index: int) -> None:
        params = {"name": self.tool, "arguments": self.arguments}
        body = json.dumps(message("tools/call", params, id=index + 1)).encode()
        h = headers("tools/call", params, accept="application/json, text/event-stream")
        conn: http.client.HTTPConnection | None = None
        while not self._stop.is_set():
            if conn is None or not self.keep_alive:
                conn = http.client.HTTPConnection(HOST, self.port, timeout=self.timeout)
            start = time.monotonic()
            try:
                conn.request("POST", "/mcp", body=body, headers=h)
                r = conn.getresponse()
                data = r.read()
                result: int | str = r.status
                if r.status == 200 and self.expect_text is not None and not self._is_echo(data):
                    result = "bad-body"
                if not self.keep_alive or r.getheader("connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except Exception as e:  # noqa: BLE001 - every failure is recorded by its class
                result = type(e).__name__
                conn.close()
                conn = None
                time.sleep(0.005)
            with self._lock:
                self.outcomes.append(Outcome(start, time.monotonic(), result))
        if conn is not None:
            conn.close()

    def _is_echo(self, data: bytes) -> bool:
        try:
            doc = json.loads(data)
            return doc["result"]["content"][0]["text"] == self.expect_text
        except (ValueError, KeyError, IndexError, TypeError):
            return False
