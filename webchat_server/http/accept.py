"""Caps at accept time: connections per peer address, and the descriptor reserve, before any request."""

from __future__ import annotations

import asyncio
import logging
from ipaddress import ip_address
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp_remotes.exceptions import UntrustedIP
from aiohttp_remotes.utils import check_ip, parse_trusted_element

from ..settings import Settings
from .caps import caps_key
from .proxies import address_key

log = logging.getLogger(__name__)

LOOPBACK = frozenset({"127.0.0.1", "::1"})


class AcceptGate:
    """Counts every open TCP connection by peer address and turns one away at once (closed before
    a byte is read) when its address already holds `per_address`, or when open descriptors reach
    the budget. An idle connection costs a descriptor for the whole header timeout: 100 new idle
    connections a second held a 512-descriptor process at its limit, and health checks, sends and
    the database pool all failed. The live-connection caps (caps.py) act only once a request
    arrives, which an idle connection never sends.

    Not capped per address: trusted proxies (every visitor arrives through them). Past the budget,
    only loopback and trusted proxies get in, up to half the reserve (health checks come from
    there); the other half stays for the database pool, which opens outgoing connections."""

    def __init__(self, app: web.Application, settings: Settings) -> None:
        self.app = app
        self.per_address = settings.max_connections_per_address
        self.trusted = parse_trusted_element(settings.trusted_proxies)
        self.by_address: dict[str, int] = {}
        self.open: dict[RequestHandler, str] = {}

    def _trusted(self, peer: str) -> bool:
        return bool(self.trusted) and _in(self.trusted, peer)

    def _exempt(self, peer: str) -> bool:
        return peer in LOOPBACK or self._trusted(peer)

    def admit(self, handler: RequestHandler, transport: asyncio.Transport) -> bool:
        peername = transport.get_extra_info("peername")
        peer = peername[0] if isinstance(peername, tuple) and peername else ""
        caps = self.app[caps_key]
        key = address_key(peer or None)
        if peer and not self._trusted(peer) and self.by_address.get(key, 0) >= self.per_address > 0:
            caps.refused["connections_per_address"] += 1
            return False
        held = len(self.open)
        if caps.fds.spent(held):
            # the reserve: only loopback and trusted proxies, and only its first half
            over_half = caps.fds.spent(held - caps.fds.reserve // 2)
            if not (peer and self._exempt(peer)) or over_half:
                caps.refused["fd_reserve_at_accept"] += 1
                return False
        self.open[handler] = key
        self.by_address[key] = self.by_address.get(key, 0) + 1
        caps.churn += 1
        return True

    def release(self, handler: RequestHandler) -> None:
        key = self.open.pop(handler, None)
        if key is None:
            return
        left = self.by_address[key] - 1
        if left:
            self.by_address[key] = left
        else:
            del self.by_address[key]


def _in(networks: Any, peer: str) -> bool:
    try:
        check_ip(networks, ip_address(peer))
    except (ValueError, UntrustedIP):
        return False
    return True


def install(app: web.Application, settings: Settings) -> None:
    """Put the gate in front of every connection the app's server accepts.

    aiohttp has no public accept hook; every runner (web.run_app, AppRunner, Gunicorn's aiohttp
    worker, the test server) makes its server through Application._make_handler, and every
    connection reports to that server's connection_made/connection_lost. Wrapping those two on
    the server the app makes covers all of them."""
    gate = AcceptGate(app, settings)
    app[accept_gate_key] = gate
    make_handler = app._make_handler

    def gated_make_handler(**kwargs: Any) -> web.Server:
        server = make_handler(**kwargs)
        made, lost = server.connection_made, server.connection_lost

        def connection_made(handler: RequestHandler, transport: asyncio.Transport) -> None:
            made(handler, transport)
            if not gate.admit(handler, transport):
                transport.abort()  # no answer: nothing has been read, and a reply costs more

        def connection_lost(handler: RequestHandler, exc: BaseException | None = None) -> None:
            gate.release(handler)
            lost(handler, exc)

        setattr(server, "connection_made", connection_made)  # noqa: B010 - an instance attribute on purpose
        setattr(server, "connection_lost", connection_lost)  # noqa: B010
        return server

    setattr(app, "_make_handler", gated_make_handler)  # noqa: B010


accept_gate_key = web.AppKey("accept_gate", AcceptGate)
