"""The demo page, the agents' inbox page and Prometheus metrics (health checks: health.py)."""

from __future__ import annotations

import hmac
import ipaddress

from aiohttp import hdrs, web

from ..errors import error_response
from ..http.metrics import metrics_key
from ..http.proxies import forwarded
from ..settings import settings_key

routes = web.RouteTableDef()


# the demo page: only under `serve --demo` (or WEBCHAT_DEMO_PAGE=1); static.py refuses its /web/ name too
DEMO_PAGE = "index.html"


@routes.get("/")
async def index(request: web.Request) -> web.StreamResponse:
    settings = request.app[settings_key]
    if not settings.demo_page:
        # production: no demo page and no "Sign in as" form; the widget lives at /web/webchat.js
        raise web.HTTPNotFound()
    return web.FileResponse(settings.static_dir / DEMO_PAGE, headers={"Cache-Control": "no-cache"})


@routes.get("/inbox/")
async def inbox(request: web.Request) -> web.StreamResponse:
    # the same page for everyone: the data comes from the API, which answers agents only, and the
    # page tells anyone else how to sign in
    return web.FileResponse(request.app[settings_key].static_dir / "inbox.html",
                            headers={"Cache-Control": "no-cache"})


def _metrics_refusal(request: web.Request) -> web.Response | None:
    """With WEBCHAT_METRICS_TOKEN: the bearer token, from anywhere. Without: loopback clients that
    connect directly. Nothing that came through a proxy, trusted or not, gets in without the token:
    a proxy on this host makes every visitor look like loopback, and one that adds no
    X-Forwarded-For still adds another forwarding header (X-Forwarded-Proto, X-Real-IP, Via, ...)."""
    token = request.app[settings_key].metrics_token
    if token:
        sent = request.headers.get(hdrs.AUTHORIZATION, "")
        if hmac.compare_digest(sent.encode(errors="replace"), f"Bearer {token}".encode()):
            return None
        response = error_response(401, "unauthorized", "/metrics needs Authorization: Bearer <WEBCHAT_METRICS_TOKEN>")
        response.headers[hdrs.WWW_AUTHENTICATE] = 'Bearer realm="metrics"'
        return response
    try:
        loopback = ipaddress.ip_address(request.remote or "").is_loopback
    except ValueError:
        loopback = False
    # by the headers, not by via_trusted_proxy_key: a trusted peer's request without any forwarding
    # header is the same as a direct one (Prometheus on the proxy's host)
    if loopback and not forwarded(request):
        return None
    return error_response(403, "forbidden", "/metrics answers loopback clients that connect directly; through "
                          "a proxy (or from elsewhere) it needs WEBCHAT_METRICS_TOKEN")


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    refusal = _metrics_refusal(request)
    if refusal is not None:
        return refusal
    return web.Response(body=request.app[metrics_key].render(),
                        headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})
