"""The built-in sign-in in a real browser, as a new user meets it: headless Chromium, driven through chromedriver's
W3C WebDriver HTTP API (urllib only), against an AUTH=builtin stack behind nginx.

The browser signs in through nginx auth_basic (credentials in the URL, cached by the browser for the form's POST),
sees the consent page and clicks Approve or Deny. The consent form's answer is a 302 to the client's loopback
redirect URI — a small HTTP server this test runs on 127.0.0.1 — and browsers check the page's CSP `form-action`
on that redirect too, so the page must allow the redirect URI's origin or the buttons do nothing.

Needs the Debian packages chromium and chromium-driver (deploy/install-deps.sh with MCPFCGI_TEST_DEPS=1). As
root, Chromium runs with --no-sandbox; every chromedriver/Chromium process the test starts is ended on exit.
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlparse

import pytest

from conftest import free_ports, proc_alive, wait_until
from test_oauth import PASSWORD, USER, OAuthStack, pkce, running_oauth_stack

CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # the W3C web element reference key

pytestmark = pytest.mark.skipif(
    not (os.access(CHROMEDRIVER, os.X_OK) and os.access(CHROMIUM, os.X_OK)),
    reason="needs chromium and chromium-driver: apt-get install -y chromium chromium-driver")

# No proxy from the environment between us and chromedriver (or the browser and the loopback servers).
_direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class WebDriver:
    """One chromedriver process and one headless Chromium session, through the W3C WebDriver HTTP API."""

    def __init__(self):
        # Everything Chromium writes (profile, crash database, cache) stays in this directory, whose name also
        # marks every process started for this driver, including the crash handlers that leave its process group.
        self.profile = Path(tempfile.mkdtemp(prefix="mcpfcgi-chromium."))
        (self.port,) = free_ports(1)
        env = dict(os.environ, XDG_CONFIG_HOME=str(self.profile / "config"), XDG_CACHE_HOME=str(self.profile / "cache"))
        with open(self.profile / "chromedriver.log", "wb") as log:
            self.proc = subprocess.Popen([CHROMEDRIVER, f"--port={self.port}"], stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        self.session: str | None = None
        wait_until(self._ready, 10, 0.05, "chromedriver to listen")
        args = ["--headless=new", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--no-default-browser-check", "--disable-background-networking", "--disable-extensions",
                "--disable-sync", "--no-proxy-server", "--window-size=1000,800",
                f"--user-data-dir={self.profile / 'profile'}"]
        if os.geteuid() == 0:
            args.append("--no-sandbox")  # Chromium refuses to start its sandbox as root
        capabilities = {"alwaysMatch": {
            "browserName": "chrome", "pageLoadStrategy": "normal", "goog:loggingPrefs": {"browser": "ALL"},
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args}}}
        self.session = self.call("POST", "/session", {"capabilities": capabilities})["sessionId"]

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"chromedriver exited with {self.proc.returncode}")
        try:
            return bool(self.call("GET", "/status").get("ready"))
        except OSError:
            return False

    def call(self, method: str, path: str, body: dict | None = None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json; charset=utf-8"})
        try:
            with _direct.open(req, timeout=30) as r:
                return json.loads(r.read())["value"]
        except urllib.error.HTTPError as e:
            raise AssertionError(f"WebDriver {method} {path}: {e.code} {e.read()[:500]!r}") from None

    def s(self, method: str, path: str, body: dict | None = None):
        return self.call(method, f"/session/{self.session}{path}", body)

    # -- the few commands the test needs ---------------------------------------------------------------
    def go(self, url: str) -> None:
        self.s("POST", "/url", {"url": url})

    @property
    def url(self) -> str:
        return self.s("GET", "/url")

    @property
    def title(self) -> str:
        return self.s("GET", "/title")

    def text(self) -> str:
        body = self.s("POST", "/element", {"using": "css selector", "value": "body"})[ELEMENT]
        return self.s("GET", f"/element/{body}/text")

    def click(self, css: str) -> None:
        element = self.s("POST", "/element", {"using": "css selector", "value": css})[ELEMENT]
        self.s("POST", f"/element/{element}/click", {})

    def console(self) -> list[str]:
        """The browser console since the last call (chromedriver's log endpoint)."""
        return [e["message"] for e in self.s("POST", "/se/log", {"type": "browser"})]

    # -- cleanup -----------------------------------------------------------------------------------------
    def close(self) -> None:
        if self.session is not None:
            try:
                self.s("DELETE", "")  # quits Chromium
            except (OSError, AssertionError):
                pass
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except Exception:  # noqa: BLE001 - any failure to stop: kill
                self.proc.kill()
                self.proc.wait(5)
        # Anything left of the processes started for this driver, by pid.
        for pid in self.leftover_pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        wait_until(lambda: not self.leftover_pids(), 5, 0.05, "Chromium processes to exit")
        shutil.rmtree(self.profile, ignore_errors=True)

    def leftover_pids(self) -> list[int]:
        """Live processes in chromedriver's process group (it leads a session of its own, and Chromium and its
        helpers stay in it) or naming this driver's directory (the crash handlers)."""
        mark = str(self.profile).encode()
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            pgid = int(stat.rsplit(")", 1)[1].split()[2])
            if (pgid == self.proc.pid or mark in cmdline) and proc_alive(int(entry.name)):
                pids.append(int(entry.name))
        return pids


class Callback:
    """The client's loopback redirect URI: records every request's query and answers with a plain page."""

    def __init__(self):
        self.hits: list[dict[str, str]] = []
        hits = self.hits

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                url = urlparse(self.path)
                if url.path == "/callback":
                    hits.append({k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()})
                body = b"<!DOCTYPE html><title>Client callback</title><p>The client got the answer.</p>"
                self.send_response(200 if url.path == "/callback" else 404)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.uri = f"http://127.0.0.1:{self.server.server_address[1]}/callback"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def oauth():
    with running_oauth_stack() as o:
        yield o


@pytest.fixture(scope="module")
def callback():
    c = Callback()
    try:
        yield c
    finally:
        c.close()


@pytest.fixture(scope="module")
def browser():
    driver = WebDriver()
    try:
        yield driver
    finally:
        driver.close()


def sign_in_url(oauth: OAuthStack, query: dict) -> str:
    """The authorization URL with the nginx login in it, as a user typing it into the Basic prompt would send."""
    host = urlparse(oauth.issuer).netloc
    return f"http://{USER}:{PASSWORD}@{host}/oauth/authorize?{urlencode(query)}"


def consent(oauth: OAuthStack, browser: WebDriver, callback: Callback, client_id: str, state: str) -> str:
    """Opens the consent page in the browser, signed in; returns the PKCE verifier."""
    verifier, challenge = pkce()
    query = oauth.authorize_query(client_id, challenge, state=state, redirect_uri=callback.uri)
    browser.console()  # start from an empty console
    browser.go(sign_in_url(oauth, query))
    assert browser.title == "Authorize pytest browser client", (browser.url, browser.text()[:500])
    page = browser.text()
    assert f"Signed in as {USER}" in page and "mcp:read" in page, page
    return verifier


def landed(browser: WebDriver, callback: Callback, before: int) -> dict[str, str]:
    """Waits for the browser to arrive at the callback; its query as the client received it."""
    def arrived():
        return len(callback.hits) > before and browser.url.startswith(callback.uri + "?")
    try:
        wait_until(arrived, 10, 0.05, "the browser to land on the redirect URI")
    except AssertionError as e:
        raise AssertionError(f"{e}; browser at {browser.url}, console: {browser.console()}") from None
    problems = [m for m in browser.console() if "Content Security Policy" in m]
    assert not problems, problems
    assert browser.title == "Client callback"
    return callback.hits[-1]


class TestBrowserSignIn:
    def client(self, oauth: OAuthStack, callback: Callback) -> str:
        if not hasattr(self, "_client"):
            type(self)._client = oauth.public_client(name="pytest browser client", redirect=callback.uri)
        return self._client

    def test_approve_lands_on_the_redirect_uri_with_a_working_code(self, oauth, browser, callback):
        client_id = self.client(oauth, callback)
        verifier = consent(oauth, browser, callback, client_id, state="browser-ok")
        before = len(callback.hits)
        browser.click("button[name=decision][value=approve]")
        params = landed(browser, callback, before)
        assert params["state"] == "browser-ok" and params["iss"] == oauth.issuer, params
        assert params.get("code") and "error" not in params, params
        r = oauth.token({"grant_type": "authorization_code", "code": params["code"], "code_verifier": verifier,
                         "client_id": client_id, "redirect_uri": callback.uri, "resource": oauth.resource})
        assert r.status_code == 200, r.text
        tokens = r.json()
        assert tokens["token_type"].lower() == "bearer" and tokens["access_token"], tokens
        oauth.assert_accepted(tokens["access_token"], times=1)

    def test_deny_lands_on_the_redirect_uri_with_access_denied(self, oauth, browser, callback):
        client_id = self.client(oauth, callback)
        consent(oauth, browser, callback, client_id, state="browser-no")
        before = len(callback.hits)
        browser.click("button[name=decision][value=deny]")
        params = landed(browser, callback, before)
        assert params["error"] == "access_denied" and "code" not in params, params
        assert params["state"] == "browser-no" and params["iss"] == oauth.issuer, params

    def test_a_bad_request_from_a_registered_client_stays_here(self, oauth, browser, callback):
        """RFC 9700 §4.11.2: an error in a self-registered client's request is a page, not a redirect to it."""
        client_id = self.client(oauth, callback)
        _, challenge = pkce()
        query = oauth.authorize_query(client_id, challenge, state="browser-bad", redirect_uri=callback.uri,
                                      scope="mcp:read no-such-scope")
        before = len(callback.hits)
        browser.go(sign_in_url(oauth, query))
        assert browser.title == "Invalid authorization request", browser.text()[:500]
        assert "invalid_scope" in browser.text()
        here = urlparse(browser.url)
        assert (here.scheme, here.hostname, here.port, here.path) == (
            "http", "127.0.0.1", oauth.stack.port, "/oauth/authorize"), browser.url
        time.sleep(0.2)
        assert len(callback.hits) == before, callback.hits[before:]


def test_processes_are_cleaned_up(callback):
    """A WebDriver session of its own, closed: nothing of chromedriver or Chromium outlives it."""
    driver = WebDriver()
    try:
        driver.go(callback.uri + "?probe=1")
        assert driver.title == "Client callback"
        assert driver.leftover_pids(), "expected running chromedriver/Chromium processes"
    finally:
        driver.close()
    assert not driver.leftover_pids()
    assert not driver.profile.exists()
