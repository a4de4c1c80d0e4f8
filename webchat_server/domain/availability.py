"""Whether an agent is online: each process stamps the agents it has connected; the launcher asks."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable

import asyncpg
from aiohttp import web

from ..db import pool_key, q
from ..errors import DATABASE_DOWN

log = logging.getLogger(__name__)

# a connected agent is stamped this often; one stamped within ONLINE_WINDOW is online, so an agent
# whose last connection closed shows as online for at most that long (any process may answer)
STAMP_EVERY = 20.0
ONLINE_WINDOW = 45.0
# the launcher's question is answered from memory for this long (one query per process, not per visitor)
CACHE_SECONDS = 5.0


class Availability:
    def __init__(self, pool: asyncpg.Pool, connected: Callable[[], Iterable[int]]) -> None:
        self.pool = pool
        # the agents with a live reader in this process
        self.connected = connected
        self._cached: tuple[float, int] | None = None

    async def seen(self, agent_ids: Iterable[int]) -> None:
        ids = sorted(set(agent_ids))
        if ids:
            await self.pool.execute(q("agents_seen"), ids)
            self._cached = None

    async def online(self) -> int:
        """How many agents are online (across every process)."""
        now = time.monotonic()
        if self._cached is not None and now - self._cached[0] < CACHE_SECONDS:
            return self._cached[1]
        count = int(await self.pool.fetchval(q("agents_online"), ONLINE_WINDOW))
        self._cached = (now, count)
        return count

    async def stamp_forever(self) -> None:
        while True:
            await asyncio.sleep(STAMP_EVERY)
            try:
                await self.seen(self.connected())
            except DATABASE_DOWN:
                log.warning("could not stamp the connected agents", exc_info=True)


availability_key = web.AppKey("availability", Availability)


def running(connected: Callable[[web.Application], Iterable[int]]) -> Callable[[web.Application],
                                                                               AsyncIterator[None]]:
    """cleanup_ctx: the stamping loop of this process."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        app[availability_key] = availability = Availability(app[pool_key], lambda: connected(app))
        task = asyncio.create_task(availability.stamp_forever())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return ctx
