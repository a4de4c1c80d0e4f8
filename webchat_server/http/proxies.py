"""Trusted reverse proxies: X-Forwarded-For/-Proto/-Host are believed only from WEBCHAT_TRUSTED_PROXIES."""

from __future__ import annotations

import ipaddress
from ipaddress import ip_address

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware
from aiohttp_remotes import XForwardedFiltered, XForwardedRelaxed
from aiohttp_remotes.exceptions import UntrustedIP
from aiohttp_remotes.utils import check_ip, parse_trusted_element


def proxy_middleware(trusted: tuple[str, ...]) -> Middleware:
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
            return await handler(request)
        tool = filtered if hdrs.X_FORWARDED_FOR in request.headers else relaxed
        reached = False

        async def forwarded(req: web.Request) -> web.StreamResponse:
            nonlocal reached
            reached = True
            req[via_trusted_proxy_key] = True
            return await handler(req)

        try:
            return await tool.middleware(request, forwarded)
        except web.HTTPBadRequest:
            if reached:
                raise  # from a handler, not about the forwarded headers
            # aiohttp-remotes refuses a repeated header or an X-Forwarded-For entry that is not an
            # address; say so the way every other error is said
            return web.json_response({"success": False, "error": {
                "code": "bad_request", "message": "malformed or repeated X-Forwarded-* header from the proxy"}},
                status=400)

    return middleware

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
