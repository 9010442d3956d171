"""GET /console and its static files: the operator console, served from the package.

The page is static, so these routes need no gateway key; every API call the page makes sends the
key it was given as a bearer header. Only the files listed in CONSOLE_FILES are served (no path is
ever joined from the request), with a strict Content-Security-Policy: nothing inline, nothing from
another origin, never framed.
"""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter
from starlette.responses import Response

from routeway.errors import NotFound

router = APIRouter()

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "font-src 'none'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cache-control": "no-cache",
}
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
CONSOLE_FILES = (
    "index.html",
    "console.css",
    "icon.svg",
    "app.js",
    "api.js",
    "dom.js",
    "view_models.js",
    "view_preview.js",
    "view_explain.js",
    "view_key.js",
    "admin.js",
    "chart.js",
    "teams_forms.js",
    "view_teams.js",
    "view_spend.js",
)


def console_file(name: str) -> Response:
    """One packaged console file with its media type and the security headers."""
    if name not in CONSOLE_FILES:
        raise NotFound("No such console file.")
    content = resources.files("routeway").joinpath("console", name).read_bytes()
    media_type = MEDIA_TYPES[name[name.rindex(".") :]]
    return Response(content, media_type=media_type, headers=SECURITY_HEADERS)


@router.get("/console", include_in_schema=False)
async def console_page() -> Response:
    return console_file("index.html")


@router.get("/console/{name}", include_in_schema=False)
async def console_asset(name: str) -> Response:
    return console_file(name)
