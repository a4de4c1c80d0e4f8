"""The demo page and Prometheus metrics (health checks: health.py)."""

from __future__ import annotations

from aiohttp import web

from ..keys import metrics_key, settings_key

routes = web.RouteTableDef()


@routes.get("/")
async def index(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(request.app[settings_key].static_dir / "index.html",
                            headers={"Cache-Control": "no-cache"})


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    return web.Response(body=request.app[metrics_key].render(),
                        headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})
