"""Rate limits: Postgres token buckets (writes) (shared by all processes, leased in batches); in-process for typing."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import time
from collections.abc import AsyncIterator, Hashable
from dataclasses import dataclass

import asyncpg
from aiohttp import web

from ..db import pool_key, q
from ..errors import DATABASE_DOWN, RateLimited
from ..settings import Settings, settings_key

log = logging.getLogger(__name__)

# what each limit family counts, for the 429 message
WHAT = {
    "guests": "new guest sessions",
    "sends": "messages",
    "edits": "edits",
    "reactions": "reactions",
    "chats": "new chats",
    "upload_bytes": "upload bytes",
    "session_changes": "sign-ins and sign-outs",
}
PRUNE_EVERY = 300.0
# how often unused leased tokens are looked at, and how long a lease may sit unused before its
# tokens go back to Postgres for other processes. Long enough that a person chatting (a message
# every few seconds) pays from the lease rather than with a round trip per message; the tokens
# a process holds are at most a quarter of a bucket's burst
RETURN_EVERY = 0.5
LEASE_IDLE = 30.0


@dataclass(frozen=True, slots=True)
class Bucket:
    """One token bucket a write pays into: `cost` tokens of `key`, refilled at `rate` per second up to `burst`."""

    key: str
    rate: float
    burst: float
    cost: float
    limit: str  # the setting's name, e.g. sends_per_address (told in the 429)
    who: str  # "this account", "this address", "this network"


@dataclass(slots=True)
class _Lease:
    tokens: float
    rate: float
    burst: float
    used: float


class Limits:
    """Token buckets in Postgres (UNLOGGED webchat.rate_limits), shared by every process.

    A process leases tokens in small batches (`rate_lease`, a statement of its own whose row locks
    last microseconds) and spends them locally, so most writes make no database round trip for
    their limits, and no bucket row is ever locked while a write runs: one client's slow write
    cannot stall a stranger who shares its address. A lease is at most `lease_seconds` of a
    bucket's refill (and a quarter of its burst); tokens a process leased and did not use go back
    after LEASE_IDLE, so across processes a limit may refuse up to that quarter early for that long,
    never allow more than the bucket holds.
    """

    def __init__(self, pool: asyncpg.Pool, settings: Settings) -> None:
        self.pool = pool
        self.settings = settings
        self.lease_seconds = settings.rate_lease_seconds
        self._leases: dict[str, _Lease] = {}
        self._inflight: dict[str, asyncio.Future[None]] = {}
        self.lease_queries = 0

    def charge(self, account_id: int | None, address: str, **costs: float) -> Charge:
        return charge(self.settings, account_id, address, limits=self, **costs)

    async def take(self, buckets: tuple[Bucket, ...]) -> RateLimited | None:
        """Take every bucket's cost, or none of them; the refusal (not raised) when one cannot pay."""
        leases = 0
        while True:
            if self._spend(buckets):
                return None
            short = [b for b in buckets if self._local(b.key) + 1e-9 < b.cost]
            # one lease per bucket at a time: concurrent writes wait for it rather than each lease
            # their own (which would move a bucket's tokens here faster than this process spends them)
            waiting = {id(f): f for f in (self._inflight.get(b.key) for b in short) if f is not None}
            if waiting:
                await asyncio.wait(list(waiting.values()))
                continue
            if leases == 4:  # out-raced by concurrent writes again and again: come back in a moment
                return RateLimited("too many writes at once; slow down", retry_after=1, limit="concurrent")
            leases += 1
            refused = await self._lease(short)
            if refused is not None and not self._spend(buckets):
                return refused

    def _spend(self, buckets: tuple[Bucket, ...]) -> bool:
        if any(self._local(b.key) + 1e-9 < b.cost for b in buckets):
            return False
        now = time.monotonic()
        for b in buckets:
            lease = self._leases[b.key]
            lease.tokens -= b.cost
            lease.used = now
        return True

    async def _lease(self, short: list[Bucket]) -> RateLimited | None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        for b in short:
            self._inflight[b.key] = done
        try:
            needs = [b.cost - self._local(b.key) for b in short]
            wants = [max(need, min(b.rate * self.lease_seconds, b.burst / 4))
                     for b, need in zip(short, needs, strict=True)]
            rows = await self.pool.fetch(q("rate_lease"), [b.key for b in short], [b.rate for b in short],
                                         [b.burst for b in short], wants, needs)
            self.lease_queries += 1
            if not all(r["granted"] > 0 for r in rows):
                wait, worst = max((((need - r["tokens"]) / b.rate, b)
                                   for r, b, need in zip(rows, short, needs, strict=True) if r["tokens"] < need),
                                  key=lambda pair: pair[0])
                family = worst.limit.rsplit("_per_", 1)[0]
                return RateLimited(f"too many {WHAT.get(family, family)} from {worst.who}; slow down",
                                   retry_after=wait, limit=worst.limit)
            now = time.monotonic()
            for r, b in zip(rows, short, strict=True):
                lease = self._leases.setdefault(b.key, _Lease(0.0, b.rate, b.burst, now))
                lease.tokens += r["granted"]
                lease.used = now
            return None
        finally:
            for b in short:
                if self._inflight.get(b.key) is done:
                    del self._inflight[b.key]
            done.set_result(None)

    def give_back(self, buckets: tuple[Bucket, ...]) -> None:
        """A write that failed (or was not a new one) did not use its tokens: keep them for the next."""
        now = time.monotonic()
        for b in buckets:
            lease = self._leases.setdefault(b.key, _Lease(0.0, b.rate, b.burst, now))
            lease.tokens = min(lease.burst, lease.tokens + b.cost)

    def _local(self, key: str) -> float:
        lease = self._leases.get(key)
        return lease.tokens if lease is not None else 0.0

    async def return_idle(self, everything: bool = False) -> None:
        """Unused leased tokens back to Postgres, so other processes can spend them."""
        cutoff = time.monotonic() - (0.0 if everything else LEASE_IDLE)
        keys, amounts = [], []
        for key, lease in list(self._leases.items()):
            if lease.used <= cutoff:
                del self._leases[key]
                if lease.tokens > 1e-9:
                    keys.append(key)
                    amounts.append(lease.tokens)
        if keys:
            await self.pool.execute(q("rate_return"), keys, amounts)

    async def run(self) -> None:
        last_prune = time.monotonic()
        while True:
            await asyncio.sleep(RETURN_EVERY)
            try:
                await self.return_idle()
                if time.monotonic() - last_prune > PRUNE_EVERY:
                    last_prune = time.monotonic()
                    await self.pool.execute(q("rate_prune"))
            except DATABASE_DOWN as e:
                # one line, no traceback: an outage (a Postgres restart) fails it the same way each time
                log.warning("could not return leased rate limit tokens or prune buckets: %s: %s",
                            e.__class__.__name__, e)


@dataclass(frozen=True, slots=True)
class Charge:
    """What one write takes from which buckets, and the Limits it takes them through."""

    buckets: tuple[Bucket, ...] = ()
    limits: Limits | None = None

    async def take(self) -> RateLimited | None:
        if not self.buckets or self.limits is None:
            return None
        return await self.limits.take(self.buckets)

    def refund(self) -> None:
        if self.buckets and self.limits is not None:
            self.limits.give_back(self.buckets)

    @contextlib.asynccontextmanager
    async def paid(self) -> AsyncIterator[None]:
        """Raise RateLimited when a bucket cannot pay; a write that fails inside gets its tokens back."""
        refused = await self.take()
        if refused is not None:
            raise refused
        try:
            yield
        except BaseException:
            self.refund()
            raise


NO_CHARGE = Charge()


def networks(address: str, prefixes: tuple[tuple[int, float], ...]) -> list[tuple[str, float]]:
    """The wider IPv6 networks an address key (a /64, see http.proxies.address_key) also counts
    against, with how many times an address's limit each allows; none for IPv4."""
    if ":" not in address or not prefixes:
        return []
    try:
        net = ipaddress.ip_network(address, strict=False)
    except ValueError:
        return []
    if not isinstance(net, ipaddress.IPv6Network):
        return []
    return [(str(net.supernet(new_prefix=length)), factor) for length, factor in prefixes if length < net.prefixlen]


def charge(settings: Settings, account_id: int | None, address: str, limits: Limits | None = None,
           **costs: float) -> Charge:
    """The buckets a write by `account_id` from client `address` (see http.proxies.address_key)
    pays into, e.g. charge(settings, 7, "10.0.0.1", sends=1, upload_bytes=5000). Zero costs and
    limits switched off are left out. An IPv6 client pays its /64's bucket and those of the wider
    prefixes in settings.ipv6_prefix_limits (at a multiple of the address's limit)."""
    buckets: list[Bucket] = []
    wider = networks(address, settings.ipv6_prefix_limits)
    for family, cost in costs.items():
        if cost <= 0:
            continue
        account = settings.rate(f"{family}_per_account")
        if account is not None and account_id is not None:
            buckets.append(Bucket(f"{family}:a:{account_id}", account.per_second, account.burst, float(cost),
                                  f"{family}_per_account", "this account"))
        per_address = settings.rate(f"{family}_per_address")
        if per_address is not None:
            buckets.append(Bucket(f"{family}:ip:{address}", per_address.per_second, per_address.burst,
                                  float(cost), f"{family}_per_address", "this address"))
            for net, factor in wider:
                buckets.append(Bucket(f"{family}:ip:{net}", per_address.per_second * factor,
                                      per_address.burst * factor, float(cost), f"{family}_per_address",
                                      "this network"))
    return Charge(tuple(buckets), limits)


async def running(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: the Limits of this process; idle leases go back, full buckets are pruned."""
    limits = app[limits_key] = Limits(app[pool_key], app[settings_key])
    task = asyncio.create_task(limits.run())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    with contextlib.suppress(*DATABASE_DOWN):
        await limits.return_idle(everything=True)

limits_key = web.AppKey("limits", Limits)


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
