"""Content-Security-Policy for our HTML pages (our scripts only, framed only by allowed origins), and nosniff."""

from __future__ import annotations

import base64
import hashlib
import re
from functools import lru_cache
from pathlib import Path

from aiohttp import web

from ..settings import settings_key

# pages served at a path of their own, by the file under web/ they are
PAGES = {"/": "index.html", "/inbox/": "inbox.html"}
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.DOTALL | re.IGNORECASE)


@lru_cache(maxsize=32)
def _script_hashes(path: Path, mtime: float) -> str:
    text = path.read_text()
    return " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
        for body in INLINE_SCRIPT.findall(text)
    )


def policy(request: web.Request, page: Path) -> str:
    # message text is rendered as text already; this stops any script we did not ship, should
    # something ever slip through
    hashes = _script_hashes(page, page.stat().st_mtime)
    host = request.host
    # pages may be framed by us and by the sites allowed to embed the chat, nobody else (clickjacking)
    ancestors = " ".join(["'self'", *request.app[settings_key].allowed_origins])
    return "; ".join([
        "default-src 'self'",
        f"script-src 'self' {hashes}".strip(),
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' blob: data:",
        "media-src 'self' blob:",
        f"connect-src 'self' ws://{host} wss://{host}",
        "object-src 'none'",
        "base-uri 'none'",
        f"frame-ancestors {ancestors}",
    ])


async def add_csp(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: every HTML page we serve from web/ gets its policy, every response nosniff."""
    # browsers must not guess a type other than the one we send (a text upload run as a script)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    # decide by path, not by response.content_type: reading that parses and caches the header on
    # every response, WebSockets included, and a WebSocket keeps its response for its whole life
    path = request.path
    name = PAGES.get(path)
    if name is None and not (path.startswith("/web/") and path.endswith(".html")):
        return
    static = request.app[settings_key].static_dir
    name = name or path.removeprefix("/web/")
    try:
        page = (static / name).resolve()
        if not (page.is_file() and page.is_relative_to(static.resolve())):
            return
    except (OSError, ValueError):  # a NUL or an over-long name: not a page (the route said 404)
        return
    response.headers["Content-Security-Policy"] = policy(request, page)
