"""The worker's lifecycle through nginx: what the server starts when it starts (nothing starts in an initializer).

The session sweeper's background sweep is started by the FastCGI front (`HTTPResponder.willStart()`), not by
`MCPApplication`'s initializer: an idle session must still expire on its own in a deployed worker.
"""

from __future__ import annotations

import time


def test_idle_sessions_expire_in_a_running_worker(make_stack):
    stack = make_stack(workers=1, extra_env={"SESSION_IDLE_TIMEOUT": "1", "SESSION_SWEEP_INTERVAL": "1"})
    mcp = stack.mcp()
    session = mcp.open_session()
    assert mcp.call(session, "ping", id=2).status == 200
    # Idle for at least 1 s and swept every second: gone after 3.5 s without anybody asking for a sweep (asking
    # earlier would count as activity and keep the session alive).
    time.sleep(3.5)
    assert mcp.call(session, "ping", id=3).status == 404, "the background sweep never removed the idle session"
