"""Caps that protect everyone else: live connections per account and address, read timeouts, fd budget."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import gc
import logging
import os
import resource
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import aiohttp_session
from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ..errors import RateLimited, Unavailable, error_response
from ..settings import Settings, settings_key
from .metrics import metrics_key
from .proxies import address_key

log = logging.getLogger(__name__)

# requests that hold their connection open for long: a WebSocket, a parked long-poll
LIVE_PATHS = frozenset({"/ws/webchat/", "/webchat/poll/"})
# below this many descriptors the process cannot hold a useful number of clients
LOW_FD_LIMIT = 4096
RETRY_AFTER = 10
TRIM_EVERY = 10.0
TRIM_AFTER_CHURN = 200


class BodyTimeout(TimeoutError):
    """The request body did not arrive in time. A TimeoutError, so aiohttp's lingering read after
    the response treats it as the end of the body and closes the connection without logging."""


def raise_fd_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit (the soft one is often 1024); return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft != target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            log.warning("could not raise the open file limit from %d to %d", soft, target)
    return soft


def open_fds() -> int | None:
    for path in ("/proc/self/fd", "/dev/fd"):
        try:
            return len(os.listdir(path))
        except OSError:
            continue
    return None


class FdBudget:
    """How many descriptors the process may fill with live connections, keeping a reserve so
    short requests (/healthz, sends, the database pool) still get one when the budget is spent."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.reserve = max(64, limit // 10)
        self._counted = 0
        self._held_then = 0
        self._at = -1e9

    @property
    def budget(self) -> int:
        return self.limit - self.reserve

    def spent(self, held: int) -> bool:
        """True when admitting one more live connection would eat into the reserve. Counting the
        descriptors lists /proc/self/fd, so it is done at most every second (every 0.1 s past half
        the budget); in between, the change in live connections held stands in for it."""
        estimate = self._counted + held - self._held_then
        now = time.monotonic()
        if now - self._at > (0.1 if estimate > self.budget // 2 else 1.0):
            counted = open_fds()
            self._counted = counted if counted is not None else held
            self._held_then, self._at = held, now
            estimate = self._counted
        return estimate >= self.budget


class Caps:
    """Live connections per account and per client address in this process. Per process on purpose:
    what they protect (descriptors, memory, the event loop) is per process too."""

    def __init__(self, settings: Settings, fd_limit: int | None = None) -> None:
        self.per_account = settings.max_sockets_per_account
        self.per_address = settings.max_sockets_per_address
        self.fds = FdBudget(fd_limit if fd_limit is not None else resource.getrlimit(resource.RLIMIT_NOFILE)[0])
        self.by_account: dict[int, int] = {}
        self.by_address: dict[str, int] = {}
        self.held = 0
        self.refused: dict[str, int] = {"sockets_per_account": 0, "sockets_per_address": 0, "fd_budget": 0,
                                        # at accept, before any request (accept.py)
                                        "connections_per_address": 0, "fd_reserve_at_accept": 0}
        self.body_timeouts = 0
        # connections that came and went (or were turned away) since memory was last handed back
        self.churn = 0

    def admit(self, address: str, account_id: int | None) -> None:
        """Count one more live connection, or raise (429 over a cap, 503 over the fd budget)."""
        self.churn += 1
        if self.by_address.get(address, 0) >= self.per_address > 0:
            self.refused["sockets_per_address"] += 1
            raise RateLimited(f"too many open connections from this address (at most {self.per_address})",
                              retry_after=RETRY_AFTER, limit="sockets_per_address")
        if account_id is not None and self.by_account.get(account_id, 0) >= self.per_account > 0:
            self.refused["sockets_per_account"] += 1
            raise RateLimited(f"too many open connections for this account (at most {self.per_account})",
                              retry_after=RETRY_AFTER, limit="sockets_per_account")
        if self.fds.spent(self.held):
            self.refused["fd_budget"] += 1
            raise Unavailable("the server is at its connection budget; try again shortly", retry_after=RETRY_AFTER)
        self.by_address[address] = self.by_address.get(address, 0) + 1
        if account_id is not None:
            self.by_account[account_id] = self.by_account.get(account_id, 0) + 1
        self.held += 1

    def release(self, address: str, account_id: int | None) -> None:
        self.held -= 1
        _decrement(self.by_address, address)
        if account_id is not None:
            _decrement(self.by_account, account_id)


def _decrement(counts: dict[Any, int], key: Any) -> None:
    left = counts[key] - 1
    if left:
        counts[key] = left
    else:
        del counts[key]  # idle keys go, so a flood of addresses leaves nothing behind


MAX_REQUEST_LINE = 64 * 1024


def handler_args(settings: Settings) -> dict[str, Any]:
    """Arguments for aiohttp's per-connection protocol, through web.Application(handler_args=...)
    so they apply under web.run_app, the test server and gunicorn's aiohttp worker alike.

    aiohttp starts its keep-alive timer when a connection opens and restarts it after each response;
    it fires only while no complete request head has arrived. So the keep-alive timeout is also the
    header read timeout: a slowloris connection trickling headers is closed when it runs out.

    The request line may be up to 64 KiB (aiohttp's default is 8 KiB): a long resume cursor in a
    URL then reaches the route and gets a JSON error saying to use POST, instead of a text/plain
    400 from the parser that no client can act on. Still bounded, and the head timeout holds.

    Request bodies are never inflated (auto_decompress off): aiohttp would otherwise expand a
    `Content-Encoding: gzip` body as it arrives, past every body cap (1 MB of multipart became
    1 GB and 3.8 s of CPU). guard() refuses such a body instead."""
    return {"keepalive_timeout": settings.header_timeout, "max_line_size": MAX_REQUEST_LINE,
            "auto_decompress": False}


def _malloc_trim() -> Callable[[], object] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim: Callable[[int], int] = libc.malloc_trim
    except (OSError, AttributeError):
        return None  # not glibc: nothing to hand back this way
    return lambda: trim(0)


async def give_back_memory(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: after a surge of connections has passed, hand freed heap pages back to the OS.

    A connection's request and response objects hold reference cycles, which only the full
    collection frees (and that runs rarely on its own); then its buffers' pages stay in the process
    until malloc_trim releases them. A full collection takes time in proportion to the objects
    alive, so it runs at most every TRIM_EVERY seconds, and only once the connections that came
    and went since the last one outnumber those still open."""
    trim = _malloc_trim()
    caps = app[caps_key]

    async def loop() -> None:
        while True:
            await asyncio.sleep(TRIM_EVERY)
            if caps.churn >= max(TRIM_AFTER_CHURN, caps.held):
                caps.churn = 0
                gc.collect()
                if trim is not None:
                    trim()

    task = asyncio.create_task(loop())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


class _Collector(Collector):
    def __init__(self, caps: Caps) -> None:
        self.caps = caps

    def collect(self) -> Iterator[Metric]:
        caps = self.caps
        yield GaugeMetricFamily("webchat_live_connections", "WebSockets and parked polls held", caps.held)
        yield GaugeMetricFamily("webchat_fd_budget", "Descriptors live connections may use", caps.fds.budget)
        refused = CounterMetricFamily("webchat_connections_refused", "Live connections refused, by cap",
                                      labels=["cap"])
        for cap, count in caps.refused.items():
            refused.add_metric([cap], count)
        yield refused
        yield CounterMetricFamily("webchat_body_timeouts", "Requests answered 408: body too slow",
                                  caps.body_timeouts)


async def startup(app: web.Application) -> None:
    settings = app[settings_key]
    limit = raise_fd_limit()
    app[caps_key].fds = FdBudget(limit)
    if metrics_key in app:
        app[metrics_key].registry.register(_Collector(app[caps_key]))
    if limit < LOW_FD_LIMIT:
        log.warning("the open file limit is %d: this process can hold about %d live connections; "
                    "raise it (ulimit -n, systemd LimitNOFILE=) to hold more", limit, app[caps_key].fds.budget)
    log.info("fd budget for live connections: %d of %d descriptors; at most %d per account, %d per address",
             app[caps_key].fds.budget, limit, settings.max_sockets_per_account, settings.max_sockets_per_address)


def _body_expired(request: web.Request) -> None:
    if not request.content.is_eof():
        request.content.set_exception(BodyTimeout())


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Live-connection caps before a WebSocket upgrade or a parked poll, and the body read timeout.
    One middleware for both: a WebSocket keeps its middleware frames alive while it is open."""
    caps = request.app[caps_key]
    if request.can_read_body and request.headers.get("Content-Encoding", "identity").strip().lower() != "identity":
        # refuse rather than inflate (handler_args), and close: the body is not read
        response = error_response(415, "unsupported_media_type",
                                  "compressed request bodies (Content-Encoding) are not accepted; send the body as is")
        response.force_close()
        return response
    held: tuple[str, int | None] | None = None
    if request.path in LIVE_PATHS:
        session = await aiohttp_session.get_session(request)
        account = session.get("account_id")
        held = (address_key(request.remote), account if isinstance(account, int) else None)
        caps.admit(*held)
    timer = None
    if request.can_read_body:
        timer = asyncio.get_running_loop().call_later(request.app[settings_key].body_timeout, _body_expired, request)
    try:
        return await handler(request)
    except BodyTimeout:
        caps.body_timeouts += 1
        response = error_response(408, "timeout", "the request body did not arrive in time")
        response.force_close()
        return response
    finally:
        if timer is not None:
            timer.cancel()
        if held is not None:
            caps.release(*held)


def install(app: web.Application, settings: Settings) -> None:
    """Give the app its caps (the fd budget is measured at startup, after raising the limit)."""
    app[caps_key] = Caps(settings)
    app.cleanup_ctx.append(give_back_memory)
    app.on_startup.append(startup)

caps_key = web.AppKey("caps", Caps)
