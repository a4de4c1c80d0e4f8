"""Errors: domain exceptions (no HTTP in them), the API error type, and their JSON rendering."""

from __future__ import annotations

from typing import Any

import asyncpg
import asyncpg.exceptions
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


# the database is down, restarting or gone: 503, not 500
DATABASE_DOWN = (
    OSError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InvalidCatalogNameError,
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
            return HTTP_STATUS[cls]  # type: ignore[index]
    return 400


class ApiError(Exception):
    """A client error with an HTTP status, a stable code and a human message."""

    def __init__(self, status: int, message: str, code: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or CODES.get(status, "error")
        self.message = message
        self.extra = extra


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)


def not_found(what: str = "chat") -> ApiError:
    return ApiError(404, f"{what} not found")


def error_response(status: int, code: str, message: str, **extra: Any) -> web.Response:
    body: dict[str, Any] = {"code": code, "message": message, **extra}
    response = web.json_response({"success": False, "error": body}, status=status)
    if "retry_after" in extra:
        response.headers["Retry-After"] = str(extra["retry_after"])
    return response
