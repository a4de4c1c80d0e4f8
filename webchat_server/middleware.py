"""The API middleware: CSRF check, and every failure rendered as a JSON error."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from .auth import check_csrf
from .errors import CODES, DATABASE_DOWN, ApiError, DomainError, error_response, http_status

log = logging.getLogger(__name__)



@web.middleware
async def api_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """CSRF check plus JSON errors, in one middleware: every WebSocket keeps its request's
    middleware frames alive for as long as it is open, so fewer frames is less memory per socket."""
    try:
        await check_csrf(request)
        return await handler(request)
    except ApiError as e:
        return error_response(e.status, e.code, e.message, **e.extra)
    except DomainError as e:
        return error_response(http_status(e), e.code, e.message, **e.extra)
    except DATABASE_DOWN:
        # not the client's fault and not a bug: say so, and that trying again later makes sense
        log.warning("database unavailable on %s %s", request.method, request.path, exc_info=True)
        return error_response(503, "unavailable", "the database is unavailable; try again shortly", retry_after=2)
    except web.HTTPException as e:
        if e.status < 400 or not request.path.startswith(("/webchat", "/ws")):
            raise
        message = e.reason if e.status != 413 else "request body too large"
        return error_response(e.status, CODES.get(e.status, "error"), message)
    except Exception:
        # the traceback goes to the log, never to the client
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal", "internal server error")
