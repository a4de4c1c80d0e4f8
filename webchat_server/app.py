"""The application factory: middlewares, routes and the resources each app owns."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web
from aiohttp_session import session_middleware

from . import db, health
from .auth import SessionStorage, load_secret_key
from .csp import add_csp
from .health import Lifecycle, drain, lifecycle_ctx, lifecycle_key
from .hub import Hub
from .identity import demo_secret
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
from .middleware import api_middleware, quiet_client_protocol_errors
from .proxies import proxy_middleware
from .ratelimit import RateLimiter
from .settings import Settings
from .views import api, identity, pages, realtime

log = logging.getLogger(__name__)


async def _database(app: web.Application) -> AsyncIterator[None]:
    settings = app[settings_key]
    url = settings.database_url
    if url is None:
        url = await asyncio.to_thread(db.start_embedded_postgres, settings.data_dir)
    app[database_url_key] = url
    if settings.migrate_on_start:  # off in workers: the master migrated once before forking
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


def create_app(settings: Settings | None = None) -> web.Application:
    settings = settings or Settings.from_env()
    session_key = load_secret_key(settings)
    if settings.demo and not settings.identity_secret:
        settings = dataclasses.replace(settings, identity_secret=demo_secret(session_key))
    quiet_client_protocol_errors()
    app = web.Application(
        middlewares=[
            # first, so that request.remote and request.secure are the client's for everything after
            proxy_middleware(settings.trusted_proxies),
            # the session comes before the API middleware, which reads the CSRF token from it
            session_middleware(SessionStorage(session_key, settings.session_max_age)),
            api_middleware,
        ],
        client_max_size=settings.max_media_bytes + 256 * 1024,
    )
    app[settings_key] = settings
    app[sockets_key] = OpenSockets()
    app[send_limiter_key] = RateLimiter(settings.sends_per_minute, 60.0, burst=max(10, settings.sends_per_minute // 4))
    app[typing_limiter_key] = RateLimiter(1, 1.0, burst=1)
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_realtime)
    app[lifecycle_key] = Lifecycle()
    app.cleanup_ctx.append(lifecycle_ctx)
    # on shutdown: readiness false, parked polls answered, sockets closed with GOING_AWAY
    app.on_shutdown.append(drain)
    app.on_response_prepare.append(add_csp)
    app.add_routes(api.routes)
    app.add_routes(identity.routes)
    app.add_routes(realtime.routes)
    app.add_routes(pages.routes)
    app.add_routes(health.routes)
    static: Path = settings.static_dir
    if static.is_dir():
        app.router.add_static("/web/", static, follow_symlinks=False)
    return app
