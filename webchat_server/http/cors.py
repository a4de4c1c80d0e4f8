"""CORS for the widget on another origin of the same site (listed in WEBCHAT_ALLOWED_ORIGINS)."""

from __future__ import annotations

from aiohttp import hdrs, web

from ..settings import settings_key

ALLOW_METHODS = "GET, POST, PATCH, DELETE"
ALLOW_HEADERS = "Content-Type, X-CSRF-Token"


def _allowed_origin(request: web.Request) -> str | None:
    origin = request.headers.get(hdrs.ORIGIN)
    if origin is None or origin.rstrip("/") not in request.app[settings_key].allowed_origins:
        return None
    return origin


async def add_cors(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: let a listed origin read our answers, with its session cookie."""
    # a header, not a middleware: every open WebSocket keeps its middleware frames alive
    origin = _allowed_origin(request)
    if origin is None or not request.path.startswith(("/webchat/", "/healthz", "/livez", "/readyz")):
        return
    response.headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = origin
    response.headers[hdrs.ACCESS_CONTROL_ALLOW_CREDENTIALS] = "true"
    response.headers[hdrs.ACCESS_CONTROL_EXPOSE_HEADERS] = "Retry-After"
    vary = response.headers.get(hdrs.VARY)
    response.headers[hdrs.VARY] = f"{vary}, Origin" if vary else "Origin"


async def preflight(request: web.Request) -> web.Response:
    """OPTIONS before a JSON or CSRF-carrying request from a listed origin; others get no grant."""
    if _allowed_origin(request) is None:
        return web.Response(status=403)
    return web.Response(status=204, headers={
        hdrs.ACCESS_CONTROL_ALLOW_METHODS: ALLOW_METHODS,
        hdrs.ACCESS_CONTROL_ALLOW_HEADERS: ALLOW_HEADERS,
        hdrs.ACCESS_CONTROL_MAX_AGE: "600",
    })


def setup_cors(app: web.Application) -> None:
    app.on_response_prepare.append(add_cors)
    # after every other route: the router only falls through to these for OPTIONS
    app.router.add_route("OPTIONS", "/webchat/{tail:.*}", preflight)
