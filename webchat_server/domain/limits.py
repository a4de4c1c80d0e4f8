"""Rate limits: token buckets in Postgres for writes (shared by every process), in-process for typing."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Hashable
from dataclasses import dataclass

from aiohttp import web

from ..db import Conn, pool_key, q
from ..errors import DATABASE_DOWN, RateLimited
from ..settings import Settings

log = logging.getLogger(__name__)

# what each limit family counts, for the 429 message
WHAT = {
    "guests": "new guest sessions",
    "sends": "messages",
    "edits": "edits",
    "chats": "new chats",
    "upload_bytes": "upload bytes",
}
PRUNE_EVERY = 300.0


@dataclass(frozen=True, slots=True)
class Charge:
    """What one write takes from which buckets; `take` runs inside the write's transaction."""

    keys: tuple[str, ...] = ()
    rates: tuple[float, ...] = ()
    bursts: tuple[float, ...] = ()
    costs: tuple[float, ...] = ()

    async def take(self, conn: Conn) -> None:
        """Raise RateLimited (the caller's transaction then rolls back, refunding every bucket)
        when any bucket cannot pay."""
        if not self.keys:
            return
        rows = await conn.fetch(q("rate_take"), self.keys, self.rates, self.bursts, self.costs)
        worst, wait = "", 0.0
        for row in rows:
            if row["tokens"] < 0:
                needed = -row["tokens"] / row["rate"]
                if needed > wait:
                    worst, wait = row["key"], needed
        if worst:
            family, scope, _ = worst.split(":", 2)
            who = "this account" if scope == "a" else "this address"
            raise RateLimited(f"too many {WHAT.get(family, family)} from {who}; slow down",
                              retry_after=wait, limit=f"{family}_per_{'account' if scope == 'a' else 'address'}")


NO_CHARGE = Charge()


def charge(settings: Settings, account_id: int | None, address: str, **costs: float) -> Charge:
    """The buckets a write by `account_id` from client `address` (see http.proxies.address_key)
    pays into, e.g. charge(settings, 7, "10.0.0.1", sends=1, upload_bytes=5000). Zero costs and
    limits switched off are left out."""
    keys: list[str] = []
    rates: list[float] = []
    bursts: list[float] = []
    amounts: list[float] = []
    for family, cost in costs.items():
        if cost <= 0:
            continue
        for scope, who in (("account", account_id), ("address", address)):
            rate = settings.rate(f"{family}_per_{scope}")
            if rate is None or who is None:
                continue
            keys.append(f"{family}:{'a' if scope == 'account' else 'ip'}:{who}")
            rates.append(rate.per_second)
            bursts.append(rate.burst)
            amounts.append(float(cost))
    return Charge(tuple(keys), tuple(rates), tuple(bursts), tuple(amounts))


async def pruning(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: delete full buckets now and then, so the table holds only recent writers."""

    async def loop() -> None:
        while True:
            await asyncio.sleep(PRUNE_EVERY)
            try:
                await app[pool_key].execute(q("rate_prune"))
            except DATABASE_DOWN:
                log.warning("could not prune rate limit buckets", exc_info=True)

    task = asyncio.create_task(loop())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


class RateLimiter:
    """In-process token buckets: `rate` tokens per `per` seconds with bursts of `burst`; forgets idle keys.

    Only for typing indicators: they are ephemeral and lossy by design, and a Postgres round trip
    per keystroke burst would cost more than the pg_notify it guards. With N processes a sender
    could reach N x 1/s by spreading connections, which an indicator that lives 6 s shrugs off.
    """

    def __init__(self, rate: float, per: float, burst: float | None = None, max_keys: int = 100_000) -> None:
        self.fill = rate / per
        self.burst = burst if burst is not None else rate
        self.max_keys = max_keys
        self._buckets: dict[Hashable, tuple[float, float]] = {}

    def allow(self, key: Hashable, cost: float = 1.0) -> bool:
        now = time.monotonic()
        tokens, at = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.fill)
        ok = tokens >= cost
        if ok:
            tokens -= cost
        if len(self._buckets) >= self.max_keys and key not in self._buckets:
            self._buckets.clear()  # crude but bounded: a flood of keys cannot grow memory
        self._buckets[key] = (tokens, now)
        return ok
