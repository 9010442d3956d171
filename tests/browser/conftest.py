"""The console in a real browser: Debian's Chromium driven by Playwright, against the gateway app
served by uvicorn on loopback (what `routeway serve` runs) in front of the fake OpenRouter.

`make test` installs /usr/bin/chromium when it is missing; Playwright's own browser downloads are
never used. Every page records its console messages, page errors and request URLs, and each test
ends by checking that none is an error and that no request left the gateway's loopback address.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from routeway.clock import SystemClock
from routeway.gateway import Gateway
from routeway.http.app import create_app
from routeway.ports import Clock
from routeway.settings import Settings
from routeway.wiring import build_gateway
from tests.conftest import UPSTREAM_KEY, FakeUpstream
from tests.servers import serve_in_thread

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]
WAIT_MS = 15_000  # the longest any wait in the browser may take


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Playwright's sync API marks the main thread's event loop as running while it is open, so it is
    closed at the end of each module: tests elsewhere call asyncio.run()."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium package")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where each view's screenshot goes: <pytest's base temp>/console-screenshots."""
    folder = tmp_path_factory.getbasetemp() / "console-screenshots"
    folder.mkdir(exist_ok=True)
    return folder


@pytest.fixture
def console_clock() -> Clock:
    """The served gateway's clock: the wall clock, unless a module overrides this fixture."""
    return SystemClock()


@pytest.fixture
def console_gateway(upstream: FakeUpstream, tmp_path: Path, console_clock: Clock) -> Gateway:
    env = {
        "ROUTEWAY_HOME": str(tmp_path / "home"),
        "ROUTEWAY_STORE": "local",
        "OPENROUTER_BASE_URL": upstream.base_url,
        "OPENROUTER_API_KEY": UPSTREAM_KEY,
        "PATH": os.environ.get("PATH", ""),
    }
    return build_gateway(Settings.from_env(env), clock=console_clock)


@pytest.fixture
def gateway_url(console_gateway: Gateway) -> Iterator[str]:
    with serve_in_thread(create_app(lambda: console_gateway)) as url:
        yield url


@dataclass
class Tab:
    """One browser tab and everything it saw."""

    page: Any
    base_url: str
    console: list[tuple[str, str]] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    requests: list[Any] = field(default_factory=list)
    expected_statuses: set[int] = field(default_factory=set)  # HTTP errors the test provokes on purpose

    def open(self, hash_part: str = "") -> None:
        self.page.goto(f"{self.base_url}/console{hash_part}", timeout=WAIT_MS)

    def go(self, hash_part: str) -> None:
        """Follow a shared link: the hash part of /console, then wait until that view is on screen."""
        self.page.evaluate("(hash) => { window.location.hash = hash; }", hash_part)
        self.wait_rendered()

    def wait_rendered(self) -> None:
        self.page.wait_for_function(
            "() => { const v = document.getElementById('view');"
            " return v && !v.hidden && v.dataset.rendered === window.location.hash; }",
            timeout=WAIT_MS,
        )

    def sign_in(self, key: str) -> None:
        self.page.fill("#key-input", key)
        self.page.click("#sign-in-form button[type=submit]")

    def text(self, selector: str) -> str:
        return str(self.page.text_content(selector, timeout=WAIT_MS) or "")

    def unexpected_errors(self) -> list[str]:
        """Console errors, except Chromium's own line for an HTTP error status the test provoked."""
        allowed = re.compile(r"Failed to load resource: the server responded with a status of (\d+)")
        errors = []
        for kind, text in self.console:
            match = allowed.match(text)
            if kind == "error" and not (match and int(match.group(1)) in self.expected_statuses):
                errors.append(text)
        return errors


@pytest.fixture
def tab(browser: Any, gateway_url: str) -> Iterator[Tab]:
    context = browser.new_context(viewport={"width": 1360, "height": 900}, service_workers="block")
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    opened = Tab(page, gateway_url)
    page.on("console", lambda message: opened.console.append((message.type, message.text)))
    page.on("pageerror", lambda error: opened.page_errors.append(str(error)))
    page.on("request", lambda request: opened.requests.append(request))
    yield opened
    context.close()
    assert opened.page_errors == [], opened.page_errors
    assert opened.unexpected_errors() == [], opened.console
    outside = [r.url for r in opened.requests if not r.url.startswith(f"{gateway_url}/")]
    assert outside == [], outside  # nothing leaves the gateway on 127.0.0.1
