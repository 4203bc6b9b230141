"""Soak: mixed session-era and stateless traffic with session churn against deploy/run.sh (nginx → spawn-fcgi →
workers), sampling every worker's RSS; passes when no worker grows by more than 10% after the warm-up.

    SOAK_SECONDS=600 .venv/bin/python bench/soak.py        # what bench/soak.sh runs (10 minutes)

Traffic, all at once: stateless `tools/call echo` on kept-alive connections; session churn (initialize,
initialized, three `tools/call`s, DELETE) in a loop; and sessions that are opened and left to the idle sweep
(SESSION_IDLE_TIMEOUT=30, so expiry runs all along). The release binary must be built.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from conftest import Stack  # noqa: E402
from loadgen import Load  # noqa: E402
from mcphttp import MCPHTTP  # noqa: E402

SECONDS = float(os.environ.get("SOAK_SECONDS", "600"))
WARMUP = float(os.environ.get("SOAK_WARMUP", str(max(10.0, SECONDS * 0.2))))
LIMIT = float(os.environ.get("SOAK_GROWTH_LIMIT", "0.10"))


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def churn(port: int, stop: threading.Event, counts: dict, abandon: bool) -> None:
    mcp = MCPHTTP(port)
    while not stop.is_set():
        try:
            sid = mcp.open_session()
            for i in range(3):
                r = mcp.call_tool(sid, "echo", {"text": f"soak-{i}"}, id=i + 2)
                counts["ok" if r.status == 200 else "bad"] += 1
            if not abandon:
                counts["ok" if mcp.delete(sid).status == 200 else "bad"] += 1
            counts["sessions"] += 1
        except Exception as e:  # noqa: BLE001 - counted, the soak goes on
            counts["errors"] += 1
            counts.setdefault("last_error", repr(e))
        if abandon:
            time.sleep(0.05)


def main() -> int:
    stack = Stack(workers=2, threads=4, extra_env={"SESSION_IDLE_TIMEOUT": "30", "SESSION_SWEEP_INTERVAL": "5"})
    stack.start()
    try:
        stop = threading.Event()
        counts: dict = {"ok": 0, "bad": 0, "errors": 0, "sessions": 0}
        threads = [threading.Thread(target=churn, args=(stack.port, stop, counts, abandon), daemon=True)
                   for abandon in (False, False, True)]
        load = Load(stack.port, threads=3).start()
        for t in threads:
            t.start()
        pids = {i: stack.worker_pid(i) for i in (1, 2)}
        samples: list[tuple[float, dict[int, int]]] = []
        start = time.monotonic()
        while (elapsed := time.monotonic() - start) < SECONDS:
            samples.append((elapsed, {i: rss_kb(pid) for i, pid in pids.items()}))
            time.sleep(min(5.0, max(0.5, SECONDS / 120)))
        stop.set()
        outcomes = load.stop()
        for t in threads:
            t.join(30)
        after = [s for s in samples if s[0] >= WARMUP]
        base = after[0][1] if after else samples[-1][1]
        peak = {i: max(s[1][i] for s in after or samples) for i in pids}
        final = samples[-1][1]
        growth = {i: (peak[i] - base[i]) / base[i] for i in pids}
        failed = sum(1 for o in outcomes if o.result != 200)
        report = {
            "seconds": SECONDS, "warmup_seconds": WARMUP, "stateless_requests": len(outcomes),
            "stateless_failed": failed, "session_calls": counts, "rss_kb_after_warmup": base,
            "rss_kb_peak": peak, "rss_kb_final": final,
            "growth_after_warmup": {i: round(g, 4) for i, g in growth.items()},
        }
        print(json.dumps(report, indent=2))
        ok = all(g <= LIMIT for g in growth.values()) and failed == 0 and counts["bad"] == 0 and counts["errors"] == 0
        print(f"soak {'PASSED' if ok else 'FAILED'}: worker RSS growth after warm-up "
              f"{', '.join(f'w{i} {g:+.1%}' for i, g in growth.items())} (limit {LIMIT:.0%}), "
              f"{len(outcomes)} stateless requests ({failed} failed), {counts['sessions']} sessions churned")
        return 0 if ok else 1
    finally:
        stack.cleanup()


if __name__ == "__main__":
    sys.exit(main())
