"""The application factory: middlewares, routes and the resources each app owns."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import WSCloseCode, web
from aiohttp_session import session_middleware

from . import db
from .auth import session_storage
from .cors import setup_cors
from .csp import add_csp
from .hub import Hub
from .keys import (
    OpenSockets,
    database_url_key,
    hub_key,
    listener_key,
    metrics_key,
    pool_key,
    send_limiter_key,
    settings_key,
    sockets_key,
    typing_limiter_key,
)
from .listener import Listener
from .metrics import Metrics
from .middleware import api_middleware
from .ratelimit import RateLimiter
from .settings import Settings
from .static import add_static
from .views import api, pages, realtime

log = logging.getLogger(__name__)


async def _database(app: web.Application) -> AsyncIterator[None]:
    settings = app[settings_key]
    url = settings.database_url
    if url is None:
        url = await asyncio.to_thread(db.start_embedded_postgres, settings.data_dir)
    app[database_url_key] = url
    await db.migrate(url)
    async with db.pool_context(url, settings.pool_min, settings.pool_max) as pool:
        app[pool_key] = pool
        yield


async def _realtime(app: web.Application) -> AsyncIterator[None]:
    hub = Hub()
    listener = Listener(app[database_url_key], app[pool_key], hub, app[settings_key].probe_interval)
    app[hub_key] = hub
    app[listener_key] = listener
    app[metrics_key] = Metrics(hub, listener)
    await listener.start()
    yield
    await listener.stop()


async def _close_sockets(app: web.Application) -> None:
    # on shutdown tell browsers we are going away so they reconnect (to us or another process),
    # and answer parked long-polls rather than keep the process alive for their timeout
    app[hub_key].release_waiters()
    for ws in set(app[sockets_key].items):
        await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")


def create_app(settings: Settings | None = None) -> web.Application:
    settings = settings or Settings.from_env()
    app = web.Application(
        # the session is outermost so the API middleware can read the CSRF token from it
        middlewares=[session_middleware(session_storage(settings)), api_middleware],
        client_max_size=settings.max_media_bytes + 256 * 1024,
    )
    app[settings_key] = settings
    app[sockets_key] = OpenSockets()
    app[send_limiter_key] = RateLimiter(settings.sends_per_minute, 60.0, burst=max(10, settings.sends_per_minute // 4))
    app[typing_limiter_key] = RateLimiter(1, 1.0, burst=1)
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_realtime)
    app.on_shutdown.append(_close_sockets)
    app.on_response_prepare.append(add_csp)
    app.add_routes(api.routes)
    app.add_routes(realtime.routes)
    app.add_routes(pages.routes)
    static: Path = settings.static_dir
    if static.is_dir():
        add_static(app, "/web/", static)
    setup_cors(app)
    return app
