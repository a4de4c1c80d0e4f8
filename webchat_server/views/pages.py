"""The demo page, the agents' inbox page and Prometheus metrics (health checks: health.py)."""

from __future__ import annotations

import hmac
import ipaddress

from aiohttp import hdrs, web

from ..errors import error_response
from ..http.metrics import metrics_key
from ..http.proxies import via_trusted_proxy_key
from ..settings import settings_key

routes = web.RouteTableDef()


@routes.get("/")
async def index(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(request.app[settings_key].static_dir / "index.html",
                            headers={"Cache-Control": "no-cache"})


@routes.get("/inbox/")
async def inbox(request: web.Request) -> web.StreamResponse:
    # the same page for everyone: the data comes from the API, which answers agents only, and the
    # page tells anyone else how to sign in
    return web.FileResponse(request.app[settings_key].static_dir / "inbox.html",
                            headers={"Cache-Control": "no-cache"})


def _metrics_refusal(request: web.Request) -> web.Response | None:
    """With WEBCHAT_METRICS_TOKEN: the bearer token, from anywhere. Without: loopback clients only
    (request.remote is the real client behind a trusted proxy) that did not come through an
    untrusted proxy: one on this host, not listed in WEBCHAT_TRUSTED_PROXIES, would otherwise make
    every visitor look like loopback."""
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
    forwarded = hdrs.X_FORWARDED_FOR in request.headers or hdrs.FORWARDED in request.headers
    if loopback and (not forwarded or request.get(via_trusted_proxy_key, False)):
        return None
    return error_response(403, "forbidden",
                          "/metrics answers loopback clients only unless WEBCHAT_METRICS_TOKEN is set")


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    refusal = _metrics_refusal(request)
    if refusal is not None:
        return refusal
    return web.Response(body=request.app[metrics_key].render(),
                        headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})
