"""The API documentation site scripts/docs.sh generates (DocC, a JavaScript application) in headless Chromium: the
landing page lists the articles, an article and a symbol page render. scripts/test.sh builds the site before the
integration tests; MCPFCGI_DOCS_SITE names another one."""

from __future__ import annotations

import functools
import http.server
import os
import threading
from pathlib import Path

import pytest

from conftest import ROOT, wait_until
# The headless Chromium fixture, and the mark that skips these tests without chromium as the browser tests are.
from test_browser import WebDriver, browser, pytestmark  # noqa: F401

SITE = Path(os.environ.get("MCPFCGI_DOCS_SITE") or ROOT / ".build" / "docs-site")


@pytest.fixture(scope="module")
def site():
    if not (SITE / "index.html").exists():
        pytest.fail(f"no documentation site at {SITE}: run scripts/docs.sh")
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(SITE))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def rendered(browser: WebDriver, url: str, expected: str) -> str:
    """Opens ``url`` and waits until the page's text shows ``expected`` (DocC renders in the browser)."""
    browser.go(url)

    def shown():
        text = browser.text()
        return text if expected in text else None

    return wait_until(shown, 20, 0.2, f"'{expected}' at {url}")


def test_the_landing_page_lists_the_articles_and_the_serving_types(site, browser):
    text = rendered(browser, f"{site}/documentation/mcpfcgi", "Getting started")
    for title in ("Testing your server", "Deploying behind nginx", "Sessions and scaling", "Operating", "OAuth 2.1",
                  "FastCGIServer", "DeploymentEnvironment"):
        assert title in text, (title, text[:2000])


def test_an_article_and_a_symbol_page_render(site, browser):
    article = rendered(browser, f"{site}/documentation/mcpfcgi/gettingstarted", "Write a typed tool")
    assert "registerTool(name: \"forecast\"" in article, article[:2000]
    symbol = rendered(browser, f"{site}/documentation/mcpfcgi/deploymentenvironment", "builtInAuthorization")
    assert "peerSockets" in symbol, symbol[:2000]
    # Another module of the combined site.
    server = rendered(browser, f"{site}/documentation/mcphandlers/mcpserver", "registerTool")
    assert "MCPServer" in server
