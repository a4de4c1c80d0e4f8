"""The API middleware: CSRF check, and every failure rendered as a JSON error."""

from __future__ import annotations

import logging

from aiohttp import hdrs, web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.typedefs import Handler

from ..errors import BAD_VALUE, CODES, DATABASE_DOWN, ApiError, DomainError, error_response, http_status
from .auth import check_csrf

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
    except BAD_VALUE:
        # validation should have refused it: answer 400, and keep the traceback so the gap is fixed
        log.warning("a value the database refused on %s %s", request.method, request.path, exc_info=True)
        return error_response(400, "bad_request", "a value in the request is out of range or not valid text")
    except DATABASE_DOWN as e:
        if isinstance(e, ConnectionResetError) and (request.transport is None or request.transport.is_closing()):
            # aiohttp's "Connection lost": the client went away mid-body; the database is fine
            log.info("client closed the connection during %s %s", request.method, request.path)
            return error_response(400, "bad_request", "the connection closed before the body arrived")
        # not the client's fault and not a bug: say so, and that trying again later makes sense.
        # One line, no traceback: an outage fails every request the same way.
        log.warning("database unavailable on %s %s: %s: %s", request.method, request.path, e.__class__.__name__, e)
        return error_response(503, "unavailable", "the database is unavailable; try again shortly", retry_after=2)
    except web.HTTPException as e:
        if e.status < 400 or not request.path.startswith(("/webchat", "/ws")):
            raise
        message = e.reason if e.status != 413 else "request body too large"
        response = error_response(e.status, CODES.get(e.status, "error"), message)
        if hdrs.ALLOW in e.headers:  # a 405 says which methods the path has (RFC 9110 15.5.6)
            response.headers[hdrs.ALLOW] = e.headers[hdrs.ALLOW]
        return response
    except Exception:
        # the traceback goes to the log, never to the client
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal", "internal server error")


class ClientProtocolErrors(logging.Filter):
    """aiohttp logs a request it cannot parse (a URL or header over 8 kB, a bad request line) as
    an ERROR with a traceback, though it is the client's mistake and already answered 400.
    Keep one INFO line for it, so ERROR stays meaning "a bug or an outage"."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.msg = f"{record.getMessage()}: {exc.__class__.__name__} {exc.code} {exc.message}"
            record.args, record.exc_info, record.exc_text = None, None, None
        return True


def quiet_client_protocol_errors() -> None:
    server_log = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, ClientProtocolErrors) for f in server_log.filters):
        server_log.addFilter(ClientProtocolErrors())
