"""Fixtures: the real stack (deploy/run.sh → spawn-fcgi workers + nginx) on free loopback ports.

* ``stack``       session scope, WORKERS=3, shared by the read-mostly tests.
* ``make_stack``  factory for dedicated, function-scoped stacks (the SIGTERM drain tests).

The demo binary must exist (run.sh is started with SKIP_BUILD=1 and SKIP_INSTALL=1): MCPFCGI_DEMO_BINARY names
it (scripts/test.sh passes the debug build `swift test` made, so one build serves both suites), else
.build/release/mcp-fcgi-demo (``swift build -c release --product mcp-fcgi-demo``). A binary built with coverage
instrumentation writes its profile into the stack's own directory, never into the working directory.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mcphttp import MCPHTTP, request  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
RUN_SH = ROOT / "deploy" / "run.sh"
BINARY = Path(os.environ.get("MCPFCGI_DEMO_BINARY") or ROOT / ".build" / "release" / "mcp-fcgi-demo")
READY_MARKER = "MCPFCGI demo ready:"
READY_TIMEOUT = 60.0
STOP_GRACE = 15.0


def free_ports(n: int) -> list[int]:
    """n distinct free TCP ports on 127.0.0.1 (bound to port 0 together, then released)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def proc_alive(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return False
    # The state is the first field after "(comm)".
    state = stat.rsplit(")", 1)[1].split()[0]
    return state not in ("Z", "X")


def wait_until(predicate, timeout: float, interval: float = 0.02, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.1f}s waiting for {what}")
        time.sleep(interval)


def check_binary() -> None:
    """The stack runs the prebuilt binary: refuse a missing or stale one (run.sh gets SKIP_BUILD=1)."""
    build = (f"cd {ROOT} && swift build -c release --product mcp-fcgi-demo" if "MCPFCGI_DEMO_BINARY" not in os.environ
             else f"cd {ROOT} && swift build --product mcp-fcgi-demo")
    if not BINARY.exists():
        pytest.fail(f"no demo binary at {BINARY}: run `{build}`")
    built = BINARY.stat().st_mtime
    sources = [ROOT / "Package.swift", *sorted((ROOT / "Sources").rglob("*.swift"))]
    newer = [str(p.relative_to(ROOT)) for p in sources if p.stat().st_mtime > built]
    if newer:
        # Not fatal (the sources may be mid-edit), but a stale binary tests old code: say so loudly.
        warnings.warn(f"{BINARY} is older than {len(newer)} source file(s) ({', '.join(newer[:3])}, ...): "
                      f"the stack runs the OLD code; rebuild with `{build}`", stacklevel=2)


class Stack:
    """One run of deploy/run.sh with its own RUN_DIR, ports and captured output."""

    def __init__(self, workers: int = 2, threads: int | None = None, extra_env: dict[str, str] | None = None,
                 launcher: list[str] | None = None):
        self.workers = workers
        self.launcher = launcher or []  # a command run.sh is started under (e.g. nohup)
        self.threads = threads
        self.base = Path(tempfile.mkdtemp(prefix="mcpfcgi-it."))
        # As root, run.sh runs workers and nginx workers as the unprivileged user "mcpfcgi": they must be able
        # to traverse the parent of RUN_DIR (mkdtemp makes it 0700).
        self.base.chmod(0o711)
        self.run_dir = self.base / "run"
        self.run_dir.mkdir()
        self.log_path = self.base / "run.log"
        self.port, self.tls_port = free_ports(2)
        self.env = dict(os.environ)
        self.env.update(
            SKIP_INSTALL="1", SKIP_BUILD="1", RUN_DIR=str(self.run_dir), HOST="127.0.0.1",
            PORT=str(self.port), TLS_PORT=str(self.tls_port), WORKERS=str(workers),
            THREADS="" if threads is None else str(threads), LOG_LEVEL="info",
        )
        # The binary under test (run.sh copies it into RUN_DIR/bin). An instrumented (coverage) build writes its
        # profile where the workers — possibly the unprivileged "mcpfcgi" user — may write.
        self.env["WORKER_BIN"] = str(BINARY)
        profiles = self.base / "profiles"
        profiles.mkdir()
        profiles.chmod(0o1777)
        self.env["LLVM_PROFILE_FILE"] = str(profiles / "%p.profraw")
        self.env.update(extra_env or {})
        self.proc: subprocess.Popen | None = None
        self._log = None

    # -- lifecycle -------------------------------------------------------------------------------------
    def start(self) -> "Stack":
        check_binary()
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [*self.launcher, "bash", str(RUN_SH)], cwd=str(ROOT), env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + READY_TIMEOUT
        while READY_MARKER not in self.log():
            if self.proc.poll() is not None:
                raise RuntimeError(f"run.sh exited with {self.proc.returncode} before ready:\n{self.log()}")
            if time.monotonic() >= deadline:
                self.stop()
                raise RuntimeError(f"run.sh not ready after {READY_TIMEOUT}s:\n{self.log()}")
            time.sleep(0.05)
        # run.sh's own health check would also pass against a foreign server on a taken port: make sure our
        # nginx is the one listening and every worker process is up.
        nginx_pid = self.pid_from("nginx.pid.run")
        if "[emerg]" in self.log() or not proc_alive(nginx_pid):
            self.stop()
            raise RuntimeError(f"nginx did not come up:\n{self.log()}")
        for i in range(1, self.workers + 1):
            assert proc_alive(self.worker_pid(i)), f"worker w{i} is not running:\n{self.log()}"
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_GRACE)
            except subprocess.TimeoutExpired:
                # Said on pytest's output (with -s) and in the warnings summary: a stack that does not stop in time
                # is a finding of its own.
                warnings.warn(f"run.sh in {self.run_dir} did not stop within {STOP_GRACE}s after SIGTERM; killing it:\n"
                              + self.log()[-2000:], stacklevel=2)
                self.proc.kill()
                self.proc.wait(5)
                # run.sh could not clean up: end everything in its session (nginx's worker processes too, which
                # killing the master alone would leave orphaned on the listening ports), then by pid.
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
                for name in [f"w{i}.pid" for i in range(1, self.workers + 1)] + ["nginx.pid.run"]:
                    try:
                        pid = self.pid_from(name)
                    except (OSError, ValueError):
                        continue
                    if proc_alive(pid) and str(self.run_dir) in self._cmdline(pid):
                        try:
                            # nginx leads a process group of its own (run.sh starts it with setsid): killing the
                            # group ends its worker processes too, which would otherwise stay on the ports.
                            if name == "nginx.pid.run":
                                os.killpg(pid, signal.SIGKILL)
                            else:
                                os.kill(pid, signal.SIGKILL)
                        except ProcessLookupError:
                            pass
        if self._log is not None:
            self._log.close()
            self._log = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)

    # -- accessors -------------------------------------------------------------------------------------
    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def pid_from(self, name: str) -> int:
        return int((self.run_dir / name).read_text().strip())

    def worker_pid(self, i: int) -> int:
        return self.pid_from(f"w{i}.pid")

    def worker_socket(self, i: int) -> Path:
        return self.run_dir / f"w{i}.sock"

    @staticmethod
    def _cmdline(pid: int) -> str:
        try:
            return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            return ""

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def mcp_url(self) -> str:
        return f"{self.base_url}/mcp"

    @property
    def tls_base_url(self) -> str:
        return f"https://127.0.0.1:{self.tls_port}"

    def mcp(self, tls: bool = False) -> MCPHTTP:
        return MCPHTTP(self.tls_port if tls else self.port, tls=tls)

    def get(self, path: str, **kw):
        return request(self.port, "GET", path, **kw)


@pytest.fixture(scope="session")
def stack():
    s = Stack(workers=3)
    try:
        s.start()
        yield s
    finally:
        s.cleanup()


@pytest.fixture
def make_stack():
    made: list[Stack] = []

    def factory(**kw) -> Stack:
        s = Stack(**kw)
        made.append(s)
        return s.start()

    yield factory
    for s in made:
        s.cleanup()


@pytest.fixture
def mcp(stack) -> MCPHTTP:
    return stack.mcp()
