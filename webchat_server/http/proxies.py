"""Trusted reverse proxies: X-Forwarded-For/-Proto/-Host are believed only from WEBCHAT_TRUSTED_PROXIES."""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Iterator
from ipaddress import ip_address

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware
from aiohttp_remotes import XForwardedFiltered, XForwardedRelaxed
from aiohttp_remotes.exceptions import UntrustedIP
from aiohttp_remotes.utils import check_ip, parse_trusted_element
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

# headers only a proxy adds: their presence means a proxy is in front, whether or not it is trusted
FORWARDING_HEADERS = (hdrs.X_FORWARDED_FOR, hdrs.X_FORWARDED_PROTO, hdrs.X_FORWARDED_HOST, hdrs.FORWARDED,
                      "X-Real-IP", hdrs.VIA)
WARN_EVERY = 60.0
# /readyz shows the warning while forwarded requests from an untrusted peer were seen this recently
RECENT = 3600.0


def forwarded(request: web.BaseRequest) -> bool:
    """True when the request carries a header that only a proxy adds."""
    return any(h in request.headers for h in FORWARDING_HEADERS)


class UntrustedForwarding(Collector):
    """Requests with forwarding headers from a peer not in WEBCHAT_TRUSTED_PROXIES. Those headers are
    ignored, so every visitor behind that proxy looks like the proxy: one address for the guest limit,
    the connection caps and the logs, and no Secure cookie. Silent before; now a WARNING at most once
    a minute, a counter, and a line in /readyz."""

    def __init__(self, trusted: tuple[str, ...]) -> None:
        self.trusted = trusted
        self.count = 0
        self.last_peer = ""
        self.last_seen = 0.0
        self._warned = -WARN_EVERY

    def saw(self, request: web.BaseRequest) -> None:
        now = time.monotonic()
        self.count += 1
        self.last_peer, self.last_seen = request.remote or "", now
        if now - self._warned >= WARN_EVERY:
            self._warned = now
            log.warning("%s", self.message())

    def message(self) -> str:
        listed = ",".join(self.trusted) or "unset"
        return (f"requests from {self.last_peer} carry forwarding headers (X-Forwarded-For, ...) but "
                f"WEBCHAT_TRUSTED_PROXIES ({listed}) does not list it: they are ignored, so every visitor "
                f"behind it counts as {self.last_peer} (guest limit, connection caps, logs) and cookies "
                f"lose Secure; if it is your reverse proxy, add {self.last_peer} to WEBCHAT_TRUSTED_PROXIES "
                f"({self.count} such requests so far)")

    def recent(self) -> str | None:
        """The warning, while such requests were seen within the last hour."""
        if self.count and time.monotonic() - self.last_seen < RECENT:
            return self.message()
        return None

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily("webchat_untrusted_forwarded_requests",
                                  "Requests with X-Forwarded-*/Forwarded/Via headers from a peer not in "
                                  "WEBCHAT_TRUSTED_PROXIES (headers ignored)", self.count)


def proxy_middleware(trusted: tuple[str, ...], untrusted: UntrustedForwarding | None = None) -> Middleware:
    """Outermost middleware: behind a trusted proxy, request.remote becomes the client's address and
    request.scheme/secure what the client used, for every later middleware and handler. Headers from
    anyone else are ignored: a client cannot claim another address or HTTPS."""
    networks = parse_trusted_element(trusted)
    # the client is the right-most X-Forwarded-For entry that is not one of our proxies
    filtered = XForwardedFiltered(networks)
    # a proxy that sends X-Forwarded-Proto but no X-Forwarded-For: take its scheme/host only
    relaxed = XForwardedRelaxed()

    def peer_trusted(request: web.Request) -> bool:
        try:
            check_ip(networks, ip_address(request.remote or ""))
        except (ValueError, UntrustedIP):  # unix socket peers have no address
            return False
        return True

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not networks or not peer_trusted(request):
            if untrusted is not None and forwarded(request):
                untrusted.saw(request)
            return await handler(request)
        tool = filtered if hdrs.X_FORWARDED_FOR in request.headers else relaxed
        reached = False

        async def via_proxy(req: web.Request) -> web.StreamResponse:
            nonlocal reached
            reached = True
            req[via_trusted_proxy_key] = True
            return await handler(req)

        try:
            return await tool.middleware(request, via_proxy)
        except web.HTTPBadRequest:
            if reached:
                raise  # from a handler, not about the forwarded headers
            # aiohttp-remotes refuses a repeated header or an X-Forwarded-For entry that is not an
            # address; say so the way every other error is said
            return web.json_response({"success": False, "error": {
                "code": "bad_request", "message": "malformed or repeated X-Forwarded-* header from the proxy"}},
                status=400)

    return middleware

def startup_note(trusted: tuple[str, ...], host: str, demo: bool) -> None:
    """One line at start saying whose forwarding headers are believed. A WARNING when none are and
    the server listens on loopback without --demo: that is how it runs behind a reverse proxy on
    the same host, where an unset WEBCHAT_TRUSTED_PROXIES makes every visitor one address."""
    if trusted:
        log.info("proxy trust: X-Forwarded-For/-Proto/-Host believed from %s only", ",".join(trusted))
        return
    level = logging.WARNING if host in ("127.0.0.1", "::1", "localhost") and not demo else logging.INFO
    log.log(level, "proxy trust: WEBCHAT_TRUSTED_PROXIES is unset, so X-Forwarded-* headers are ignored and "
            "every client is its TCP peer; behind a reverse proxy, set it to the proxy's address (else every "
            "visitor counts as the proxy: one guest limit, one connection cap, no Secure cookie)")


untrusted_forwarding_key = web.AppKey("untrusted_forwarding", UntrustedForwarding)
# set on a request whose client address and scheme came from a trusted proxy's X-Forwarded-* headers
via_trusted_proxy_key = web.RequestKey("via_trusted_proxy", bool)


def address_key(remote: str | None) -> str:
    """The client address a per-address limit counts against. IPv6 counts per /64: one
    subscriber usually holds a whole /64, so single addresses would be free to rotate."""
    if not remote:
        return "unknown"
    try:
        ip = ipaddress.ip_address(remote)
    except ValueError:
        return remote
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)
