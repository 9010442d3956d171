"""GET /console and its files: served from the package, without a key, under a strict CSP, self-contained.

The browser tests (tests/browser/) drive the page itself; these check what the server sends.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from routeway.gateway import Gateway
from routeway.http.app import create_app
from routeway.http.routes.console import CONSOLE_FILES

CONSOLE_DIR = Path(__file__).resolve().parents[2] / "shared" / "routeway" / "console"
SVG_NAMESPACE = "http://www.w3.org/2000/svg"  # an XML namespace name, never fetched


@pytest.fixture
def anonymous(gateway: Gateway) -> Iterator[TestClient]:
    with TestClient(create_app(lambda: gateway)) as client:
        yield client


def test_console_page_needs_no_key_and_has_a_strict_csp(anonymous: TestClient) -> None:
    response = anonymous.get("/console")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    csp = dict(d.strip().split(" ", 1) for d in response.headers["content-security-policy"].split(";"))
    assert csp["default-src"] == "'self'" and csp["frame-ancestors"] == "'none'"
    assert csp["script-src"] == "'self'" and csp["style-src"] == "'self'" and csp["connect-src"] == "'self'"
    assert "unsafe" not in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert '<script type="module" src="console/app.js">' in response.text


@pytest.mark.parametrize("name", CONSOLE_FILES)
def test_every_console_file_is_served_with_its_type(anonymous: TestClient, name: str) -> None:
    response = anonymous.get(f"/console/{name}")
    assert response.status_code == 200, name
    assert response.content == (CONSOLE_DIR / name).read_bytes()
    expected = {"html": "text/html", "js": "text/javascript", "css": "text/css", "svg": "image/svg+xml"}
    assert response.headers["content-type"].startswith(expected[name.rsplit(".", 1)[1]])
    assert "content-security-policy" in response.headers


@pytest.mark.parametrize(
    "path", ["/console/nope.js", "/console/..%2Fapp.py", "/console/%2e%2e/routes/console.py", "/console/x/app.js"]
)
def test_only_listed_files_are_served(anonymous: TestClient, path: str) -> None:
    response = anonymous.get(path)
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_the_listed_files_are_exactly_the_packaged_ones() -> None:
    assert sorted(p.name for p in CONSOLE_DIR.iterdir()) == sorted(CONSOLE_FILES)


def test_the_console_loads_nothing_from_outside_and_nothing_inline() -> None:
    for path in CONSOLE_DIR.iterdir():
        text = path.read_text(encoding="utf-8").replace(SVG_NAMESPACE, "")
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.I), path.name
        assert "@import" not in text and "url(" not in text, path.name
    page = (CONSOLE_DIR / "index.html").read_text(encoding="utf-8")
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page)  # no inline script
    assert not re.search(r"<style|\sstyle=|\son[a-z]+=", page, re.I)  # no inline style or handler
    for path in CONSOLE_DIR.glob("*.js"):
        source = path.read_text(encoding="utf-8")
        assert not re.search(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function", source)
        assert "localStorage" not in source, path.name  # the key lives in sessionStorage only
