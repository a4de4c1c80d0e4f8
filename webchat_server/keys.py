"""Every web.AppKey the application stores, in one place."""

from __future__ import annotations

from typing import TYPE_CHECKING
from weakref import WeakSet

import asyncpg
from aiohttp import web

from .settings import Settings

if TYPE_CHECKING:
    from .caps import Caps
    from .delivery import Delivery
    from .hub import Hub
    from .listener import Listener
    from .metrics import Metrics
    from .ratelimit import RateLimiter

settings_key = web.AppKey("settings", Settings)
# the direct Postgres URL (LISTEN connections, migrations); the pool may go through PgBouncer instead
database_url_key = web.AppKey("database_url", str)
pool_key = web.AppKey("pool", asyncpg.Pool)
hub_key: web.AppKey[Hub] = web.AppKey("hub")
delivery_key: web.AppKey[Delivery] = web.AppKey("delivery")
listener_key: web.AppKey[Listener] = web.AppKey("listener")
metrics_key: web.AppKey[Metrics] = web.AppKey("metrics")
typing_limiter_key: web.AppKey[RateLimiter] = web.AppKey("typing_limiter")
# set on a request whose client address and scheme came from a trusted proxy's X-Forwarded-* headers
via_trusted_proxy_key = web.RequestKey("via_trusted_proxy", bool)
caps_key: web.AppKey[Caps] = web.AppKey("caps")


class OpenSockets:
    """The open WebSockets, closed with GOING_AWAY on shutdown."""

    def __init__(self) -> None:
        self.items: WeakSet[web.WebSocketResponse] = WeakSet()


sockets_key = web.AppKey("sockets", OpenSockets)
