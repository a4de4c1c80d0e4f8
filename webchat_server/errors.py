"""API errors as JSON: one exception type and the middleware that renders every failure."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

log = logging.getLogger(__name__)

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


class ApiError(Exception):
    """A client error with an HTTP status, a stable code and a human message."""

    def __init__(self, status: int, message: str, code: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or _CODES.get(status, "error")
        self.message = message
        self.extra = extra


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)


def not_found(what: str = "chat") -> ApiError:
    return ApiError(404, f"{what} not found")


def error_response(status: int, code: str, message: str, **extra: Any) -> web.Response:
    body: dict[str, Any] = {"code": code, "message": message, **extra}
    return web.json_response({"success": False, "error": body}, status=status)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as e:
        return error_response(e.status, e.code, e.message, **e.extra)
    except web.HTTPException as e:
        if e.status < 400 or not request.path.startswith(("/webchat", "/ws")):
            raise
        message = e.reason if e.status != 413 else "request body too large"
        return error_response(e.status, _CODES.get(e.status, "error"), message)
    except Exception:
        # the traceback goes to the log, never to the client
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal", "internal server error")
