"""MCPFCGITesting's live switch: the Swift suite DemoTests/FixtureToolTests (MCPTestClient(environmentOr:)) runs
in process during `swift test`, and here the same tests run against a real deployment (nginx → FastCGI → the demo
workers) because MCPFCGI_TEST_URL names it. The nginx access log proves the requests went through nginx."""

import json
import os
import subprocess

import pytest

from conftest import ROOT

TEST_BINARY = ROOT / ".build" / "debug" / "MCPFCGIPackageTests.xctest"


def test_fixture_tool_suite_passes_through_nginx(stack):
    if not TEST_BINARY.exists():
        pytest.fail(f"{TEST_BINARY} is missing: build the Swift tests first (swift build --build-tests)")
    access_log = stack.run_dir / "access.log"
    before = len(access_log.read_text().splitlines()) if access_log.exists() else 0
    # A test binary built with coverage writes its profile next to the stack's, not into the working directory.
    env = dict(os.environ, MCPFCGI_TEST_URL=stack.base_url,
               LLVM_PROFILE_FILE=str(stack.base / "profiles" / "swift-test-%p.profraw"))
    run = subprocess.run(
        ["swift", "test", "--skip-build", "--filter", "FixtureToolTests"],
        cwd=str(ROOT), env=env, capture_output=True, text=True, timeout=300)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-4000:]
    assert "Suite FixtureToolTests passed" in output, output[-4000:]
    # Four tests, each initialize + at least one call, all through nginx.
    lines = [json.loads(line) for line in access_log.read_text().splitlines()[before:] if line.strip()]
    posts = [line for line in lines if line["method"] == "POST" and line["uri"] == "/mcp"]
    assert len(posts) >= 8, lines[-10:]
    deletes = [line for line in lines if line["method"] == "DELETE" and line["uri"] == "/mcp"]
    assert [line["status"] for line in deletes] == [200], lines[-10:]
    # The deleted session's next call was refused by the deployment (404), as the suite asserted.
    assert any(line["status"] == 404 for line in posts), lines[-10:]
