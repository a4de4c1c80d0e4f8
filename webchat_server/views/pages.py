"""The demo page, health check and Prometheus metrics."""

from __future__ import annotations

import time

from aiohttp import web

from ..keys import listener_key, metrics_key, pool_key, settings_key

routes = web.RouteTableDef()


@routes.get("/")
async def index(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(request.app[settings_key].static_dir / "index.html",
                            headers={"Cache-Control": "no-cache"})


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    listener = request.app[listener_key]
    try:
        await request.app[pool_key].fetchval("SELECT 1", timeout=2)
        database = "ok"
    except Exception as e:  # any failure is "down", and the reason is worth showing
        database = f"down: {e.__class__.__name__}"
    age = time.time() - listener.last_probe_ok
    fresh = listener.healthy and age < 3 * max(listener.probe_interval, 1.0)
    body = {
        "status": "ok" if database == "ok" and fresh else "degraded",
        "database": database,
        "listener": "ok" if fresh else ("connected" if listener.connected else "down"),
        "last_probe_age_s": round(age, 3) if listener.last_probe_ok else None,
        "listener_reconnects": listener.reconnects,
    }
    return web.json_response(body, status=200 if body["status"] == "ok" else 503)


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    return web.Response(body=request.app[metrics_key].render(),
                        headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})
