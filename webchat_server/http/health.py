"""Liveness, readiness and the drain that runs when the process is told to stop."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator

from aiohttp import WSCloseCode, web

from ..db import pool_key
from ..realtime.hub import hub_key, sockets_key
from ..realtime.listener import listener_key
from .accept import accept_gate_key
from .proxies import untrusted_forwarding_key

routes = web.RouteTableDef()


class Lifecycle:
    """Whether this process is draining: readiness turns false before the listening socket closes."""

    def __init__(self) -> None:
        self.draining = False
        self.sweeper: asyncio.Task[None] | None = None


lifecycle_key = web.AppKey("lifecycle", Lifecycle)


def begin_drain(app: web.Application) -> None:
    """Called on SIGTERM: from now on /readyz answers 503 so load balancers stop sending here, and
    kept-alive connections close: idle ones now, busy ones after their response. A proxy would
    otherwise send its next request down an idle upstream connection just as the process closes
    it, and a POST is not retried: nginx answered 502 to a long-poll that way."""
    app[lifecycle_key].draining = True
    for handler in list(app[accept_gate_key].open):
        # a connection waiting for its next request is closed now; aiohttp's close() only cancels
        # that wait and leaves the socket open, so an idle one takes force_close(). A busy one
        # closes after the response it is writing.
        if handler._waiter is not None:
            handler.force_close()
        else:
            handler.close()


async def close_when_draining(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: while draining, every response says Connection: close."""
    if request.app[lifecycle_key].draining and not isinstance(response, web.WebSocketResponse):
        # the hook runs after aiohttp has written the Connection header into the headers: say it
        # here, and force_close() makes the connection end after this response
        response.force_close()
        response.headers["Connection"] = "close"


@routes.get("/livez")
async def livez(request: web.Request) -> web.Response:
    # a running event loop is all liveness means: a restart would not fix a database that is down
    return web.json_response({"status": "ok", "pid": os.getpid()})


@routes.get("/readyz")
@routes.get("/healthz")
async def readyz(request: web.Request) -> web.Response:
    app = request.app
    listener = app[listener_key]
    try:
        await app[pool_key].fetchval("SELECT 1", timeout=2)
        database = "ok"
    except Exception as e:  # any failure is "down", and the reason is worth showing
        database = f"down: {e.__class__.__name__}"
    age = time.time() - listener.last_probe_ok
    fresh = listener.healthy and age < 3 * max(listener.probe_interval, 1.0)
    draining = app[lifecycle_key].draining
    status = "draining" if draining else ("ok" if database == "ok" and fresh else "degraded")
    body = {
        "status": status,
        "database": database,
        "listener": "ok" if fresh else ("connected" if listener.connected else "down"),
        "last_probe_age_s": round(age, 3) if listener.last_probe_ok else None,
        "listener_reconnects": listener.reconnects,
    }
    # not a reason to send no traffic, but the first place an operator looks
    proxy_warning = app[untrusted_forwarding_key].recent()
    if proxy_warning:
        body["proxy_warning"] = proxy_warning
    return web.json_response(body, status=200 if status == "ok" else 503)


async def _let_go(app: web.Application) -> None:
    # parked long-polls are answered (clients poll again from their cursor, reaching another
    # process) and sockets closed with GOING_AWAY (clients reconnect and resume by cursor)
    app[hub_key].release_waiters()
    sockets = [ws for ws in set(app[sockets_key].items) if not ws.closed]
    await asyncio.gather(*(ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown") for ws in sockets),
                         return_exceptions=True)


async def _sweep(app: web.Application) -> None:
    # a poll still in its catch-up query or a socket mid-upgrade registers after the first pass;
    # let those go too while in-flight requests finish
    while True:
        await asyncio.sleep(0.1)
        await _let_go(app)


async def drain(app: web.Application) -> None:
    """on_shutdown: aiohttp has closed the listening socket; in-flight requests may still finish."""
    state = app[lifecycle_key]
    state.draining = True
    await _let_go(app)
    state.sweeper = asyncio.create_task(_sweep(app))


async def lifecycle_ctx(app: web.Application) -> AsyncIterator[None]:
    """Registered last, so its exit runs first: the sweeper stops before the pool closes."""
    yield
    state = app[lifecycle_key]
    if state.sweeper is not None:
        state.sweeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await state.sweeper
