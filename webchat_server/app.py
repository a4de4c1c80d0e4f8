"""The application factory: middlewares, routes and the resources each app owns."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

from aiohttp import web
from aiohttp_session import session_middleware

from . import db
from .db import database_url_key, pool_key
from .domain import accounts, availability, limits, offline_mail
from .domain.identity import demo_secret
from .domain.limits import RateLimiter
from .domain.sending import SendMetrics, SendQueue, send_queue_key
from .http import accept, caps, health
from .http.auth import SessionStorage, load_secret_key
from .http.cors import setup_cors
from .http.csp import add_csp
from .http.health import Lifecycle, drain, lifecycle_ctx, lifecycle_key
from .http.logs import RequestStats, echo_request_id, request_context, request_stats_key
from .http.metrics import Metrics, metrics_key
from .http.middleware import api_middleware, quiet_client_protocol_errors
from .http.proxies import UntrustedForwarding, proxy_middleware, startup_note, untrusted_forwarding_key
from .http.static import add_static
from .presence.running import presence_ctx
from .realtime.delivery import Delivery, delivery_key
from .realtime.hub import Hub, OpenSockets, hub_key, sockets_key
from .realtime.kinds.typing import typing_limiter_key, typing_sender_limiter_key
from .realtime.listener import Listener, listener_key
from .settings import Settings, settings_key
from .views import api, identity, inbox, pages, realtime
from .views import availability as availability_views

log = logging.getLogger(__name__)


async def _database(app: web.Application) -> AsyncIterator[None]:
    settings = app[settings_key]
    url = settings.database_url
    if url is None:
        url = await asyncio.to_thread(db.start_embedded_postgres, settings.data_dir)
    # LISTEN and the migrations' session-level lock need a real session: when DATABASE_URL goes
    # through PgBouncer in transaction mode they take the direct URL, queries take the pooler
    direct = settings.listen_database_url or url
    app[database_url_key] = direct
    if settings.migrate_on_start:  # off in workers: the master migrated once before forking
        await db.migrate(direct)
    async with db.pool_context(url, settings.pool_min, settings.pool_max,
                               statement_cache_size=settings.statement_cache) as pool:
        app[pool_key] = pool
        yield


class NotificationSource(Protocol):
    """What tells this process about committed events and feeds them to the hub.

    Today one LISTEN connection to Postgres (listener.Listener). Past one primary it can be one
    LISTEN per Citus worker node, or a subscriber to a relay publishing on NATS/Redis with Postgres
    still the source of truth (docs/scaling.md): the hub, cursors and catch-up do not change.
    start() returns once nothing committed from then on can be missed; healthy feeds /readyz.
    """

    healthy: bool

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


async def _realtime(app: web.Application) -> AsyncIterator[None]:
    settings = app[settings_key]
    hub = Hub()
    delivery = Delivery(app[pool_key], hub, stall_timeout=settings.ws_stall_timeout,
                        low_water=settings.ws_high_water // 4)
    listener = Listener(app[database_url_key], app[pool_key], hub, settings.probe_interval, delivery)
    source: NotificationSource = listener
    app[hub_key] = hub
    app[delivery_key] = delivery
    app[listener_key] = listener
    app[metrics_key] = Metrics(hub, listener)
    app[metrics_key].registry.register(app[request_stats_key])
    app[metrics_key].registry.register(app[untrusted_forwarding_key])
    await source.start()
    yield
    await source.stop()


async def _sending(app: web.Application) -> AsyncIterator[None]:
    settings = app[settings_key]
    queue = SendQueue(app[pool_key], settings.send_batch_max, settings.send_batch_wait,
                      on_stored=app[delivery_key].remember)
    app[send_queue_key] = queue
    app[metrics_key].registry.register(SendMetrics(queue))
    yield
    await queue.stop()


async def _proxy_note(app: web.Application) -> None:
    settings = app[settings_key]
    startup_note(settings.trusted_proxies, settings.host, settings.demo)
def _connected_agents(app: web.Application) -> list[int]:
    return [s.account_id for s in app[hub_key].agents]


def create_app(settings: Settings | None = None) -> web.Application:
    settings = settings or Settings.from_env()
    session_key = load_secret_key(settings)
    if settings.demo and not settings.identity_secret:
        settings = dataclasses.replace(settings, identity_secret=demo_secret(session_key))
    quiet_client_protocol_errors()
    untrusted = UntrustedForwarding(settings.trusted_proxies)
    app = web.Application(
        middlewares=[
            # first, so that request.remote and request.secure are the client's for everything after
            proxy_middleware(settings.trusted_proxies, untrusted),
            # next, so its request id is on every log line the others write
            request_context,
            # the session comes before the API middleware, which reads the CSRF token from it
            session_middleware(SessionStorage(session_key, settings.session_max_age)),
            api_middleware,
            # innermost: its refusals are domain errors the API middleware renders
            caps.guard,
        ],
        client_max_size=settings.max_media_bytes + 256 * 1024,
        handler_args=caps.handler_args(settings),
    )
    app[settings_key] = settings
    app[untrusted_forwarding_key] = untrusted
    app[request_stats_key] = RequestStats()
    app[sockets_key] = OpenSockets()
    app[typing_limiter_key] = RateLimiter(1, 1.0, burst=1)
    # a person types in one or two chats at a time: 5 a second over all of them, bursts of 10
    app[typing_sender_limiter_key] = RateLimiter(5, 1.0, burst=10)
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_realtime)
    app.cleanup_ctx.append(presence_ctx)
    app.cleanup_ctx.append(limits.running)
    app.cleanup_ctx.append(accounts.guest_retention)
    app.cleanup_ctx.append(_sending)
    app[offline_mail.links_key] = offline_mail.links_fernet(session_key)
    app.cleanup_ctx.append(availability.running(_connected_agents))
    app.cleanup_ctx.append(offline_mail.running)
    caps.install(app, settings)
    app.on_startup.append(_proxy_note)
    accept.install(app, settings)
    app[lifecycle_key] = Lifecycle()
    app.cleanup_ctx.append(lifecycle_ctx)
    # on shutdown: readiness false, parked polls answered, sockets closed with GOING_AWAY
    app.on_shutdown.append(drain)
    app.on_response_prepare.append(add_csp)
    app.on_response_prepare.append(health.close_when_draining)
    app.on_response_prepare.append(echo_request_id)
    app.add_routes(api.routes)
    app.add_routes(identity.routes)
    app.add_routes(inbox.routes)
    app.add_routes(availability_views.routes)
    app.add_routes(realtime.routes)
    app.add_routes(pages.routes)
    app.add_routes(health.routes)
    static: Path = settings.static_dir
    if static.is_dir():
        # the demo page (with its "Sign in as" form) is not served in production
        add_static(app, "/web/", static, frozenset() if settings.demo_page else frozenset({pages.DEMO_PAGE}))
    setup_cors(app)
    return app
