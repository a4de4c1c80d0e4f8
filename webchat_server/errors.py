"""Errors: domain exceptions (no HTTP in them), the API error type, and their JSON rendering."""

from __future__ import annotations

from typing import Any

import asyncpg
import asyncpg.exceptions
import asyncpg.exceptions._base
from aiohttp import web

CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    503: "unavailable",
}


# The database is down, restarting, failing over, overloaded or gone: 503 with Retry-After, not
# 500. Each is a state of the server's surroundings that trying again later can fix, never a bug
# in the request. OSError covers refused/reset sockets and TimeoutError (a subclass).
DATABASE_DOWN = (
    OSError,
    asyncpg.InterfaceError,  # includes ConnectionDoesNotExistError ("connection was closed")
    asyncpg.exceptions.InternalClientError,  # the protocol lost its connection mid-query
    asyncpg.PostgresConnectionError,  # SQLSTATE class 08
    asyncpg.exceptions.OperatorInterventionError,  # class 57: admin/crash shutdown, starting up
    asyncpg.exceptions.InsufficientResourcesError,  # class 53: too many connections, disk full
    asyncpg.exceptions.ReadOnlySQLTransactionError,  # a failover left us on a standby
    asyncpg.exceptions.InvalidCatalogNameError,  # the database was dropped
)

# A value the database cannot take (out of range, not valid text, a lone surrogate asyncpg cannot
# encode): bad input that validation missed, so a 400, not a 500 -- and not a 503: asyncpg's
# client-side DataError is an InterfaceError, which DATABASE_DOWN would otherwise catch.
BAD_VALUE = (
    asyncpg.exceptions._base.DataError,
    asyncpg.exceptions.DataError,  # SQLSTATE class 22
    UnicodeEncodeError,
)


class DomainError(Exception):
    """Something the caller asked for cannot be done; the middleware maps the class to HTTP
    (and the WebSocket handler to an error frame). Domain modules raise these, never HTTP."""

    code = "error"

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra


class BadInput(DomainError):
    code = "bad_request"


class Unauthorized(DomainError):
    code = "unauthorized"


class NotFound(DomainError):
    code = "not_found"

    def __init__(self, what: str = "chat", **extra: Any) -> None:
        super().__init__(f"{what} not found", **extra)


class Forbidden(DomainError):
    code = "forbidden"


class Conflict(DomainError):
    code = "conflict"


class TooLarge(DomainError):
    code = "too_large"


class Unsupported(DomainError):
    code = "unsupported_media_type"


class RateLimited(DomainError):
    """Over a limit; `retry_after` seconds is sent as the Retry-After header and in the body."""

    code = "rate_limited"

    def __init__(self, message: str, retry_after: float, **extra: Any) -> None:
        super().__init__(message, retry_after=max(1, int(retry_after + 0.999)), **extra)


class Unavailable(DomainError):
    code = "unavailable"


HTTP_STATUS: dict[type[DomainError], int] = {
    BadInput: 400,
    Unauthorized: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    TooLarge: 413,
    Unsupported: 415,
    RateLimited: 429,
    Unavailable: 503,
}


def http_status(error: DomainError) -> int:
    for cls in type(error).__mro__:
        if cls in HTTP_STATUS:
            return HTTP_STATUS[cls]
    return 400


class ApiError(Exception):
    """A client error with an HTTP status, a stable code and a human message."""

    def __init__(self, status: int, message: str, code: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or CODES.get(status, "error")
        self.message = message
        self.extra = extra


def error_response(status: int, code: str, message: str, **extra: Any) -> web.Response:
    body: dict[str, Any] = {"code": code, "message": message, **extra}
    response = web.json_response({"success": False, "error": body}, status=status)
    if "retry_after" in extra:
        response.headers["Retry-After"] = str(extra["retry_after"])
    return response
