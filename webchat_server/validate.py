"""Field validation for request bodies and query strings: every failure is a 400."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from .errors import ApiError, bad_request

MAX_JSON_BYTES = 256 * 1024
MAX_ID = 2**63 - 1


async def json_body(request: web.Request) -> dict[str, Any]:
    if request.content_length is not None and request.content_length > MAX_JSON_BYTES:
        raise ApiError(413, "JSON body too large")
    raw = await request.content.read(MAX_JSON_BYTES + 1)
    if len(raw) > MAX_JSON_BYTES:
        raise ApiError(413, "JSON body too large")
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise bad_request("body is not valid JSON") from None
    if not isinstance(body, dict):
        raise bad_request("body must be a JSON object")
    return body


def opt_id(value: Any, name: str) -> int | None:
    """An optional positive integer id; numeric strings are accepted (forms, query strings)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise bad_request(f"{name} must be a positive integer")
    if isinstance(value, str):
        value = value.strip()
        if not value.isdigit() or len(value) > 19:
            raise bad_request(f"{name} must be a positive integer")
        value = int(value)
    if not isinstance(value, int) or value < 1 or value > MAX_ID:
        raise bad_request(f"{name} must be a positive integer")
    return value


def req_id(value: Any, name: str) -> int:
    v = opt_id(value, name)
    if v is None:
        raise bad_request(f"{name} is required")
    return v


def opt_seq(value: Any, name: str) -> int | None:
    """A sequence number: like an id but 0 is allowed."""
    if value in ("0", 0) and not isinstance(value, bool):
        return 0
    return opt_id(value, name)


def opt_int(value: Any, name: str, lo: int, hi: int, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        v = int(value) if not isinstance(value, bool) else None
    except (TypeError, ValueError):
        v = None
    if v is None or v < lo or v > hi:
        raise bad_request(f"{name} must be an integer from {lo} to {hi}")
    return v


def opt_float(value: Any, name: str, lo: float, hi: float, default: float) -> float:
    if value is None or value == "":
        return default
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise bad_request(f"{name} must be a number") from None
    if not (lo <= v <= hi):
        raise bad_request(f"{name} must be between {lo:g} and {hi:g}")
    return v


def opt_bool(value: Any, name: str) -> bool | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "1", "false", "0"):
        return value.lower() in ("true", "1")
    raise bad_request(f"{name} must be true or false")


def opt_text(value: Any, name: str, max_chars: int, *, strip: bool = True) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise bad_request(f"{name} must be a string")
    text = value.strip() if strip else value
    if "\x00" in text:
        raise bad_request(f"{name} must not contain NUL characters")
    if len(text) > max_chars:
        raise ApiError(413, f"{name} is longer than {max_chars} characters")
    return text


def client_id(value: Any) -> str | None:
    v = opt_text(value, "client_id", 100)
    if v is None or v == "":
        return None
    if not all(c.isalnum() or c in "-_.:" for c in v):
        raise bad_request("client_id may contain letters, digits and - _ . : only")
    return v
