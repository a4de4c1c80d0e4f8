"""Field validation for request bodies and query strings: every failure is a 4xx domain error."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from ..errors import BadInput, TooLarge

MAX_JSON_BYTES = 256 * 1024
MAX_ID = 2**63 - 1


async def read_capped(request: web.Request, cap: int, what: str) -> bytes:
    """The whole body, however many TCP segments it came in, or TooLarge past `cap` bytes.

    StreamReader.read(n) returns whatever is buffered (often one segment), so read until EOF."""
    if request.content_length is not None and request.content_length > cap:
        raise TooLarge(f"{what} is larger than {cap} bytes")
    data = bytearray()
    while chunk := await request.content.read(cap + 1 - len(data)):
        data += chunk
        if len(data) > cap:
            raise TooLarge(f"{what} is larger than {cap} bytes")
    return bytes(data)


def parse_json(raw: bytes | str) -> Any:
    """json.loads with every failure (bad syntax, bad UTF-8, nesting past the recursion limit)
    as a 400: a hostile body must never become a 500."""
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise BadInput("body is not valid JSON (or is nested too deeply)") from None


async def json_body(request: web.Request) -> dict[str, Any]:
    raw = await read_capped(request, MAX_JSON_BYTES, "JSON body")
    if not raw.strip():
        return {}
    body = parse_json(raw)
    if not isinstance(body, dict):
        raise BadInput("body must be a JSON object")
    return body


def _ascii_digits(value: str) -> bool:
    # str.isdigit() also accepts "²" and "٣", which int() then refuses or reads as a number
    return value.isascii() and value.isdigit()


def opt_id(value: Any, name: str) -> int | None:
    """An optional positive integer id; numeric strings are accepted (forms, query strings)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise BadInput(f"{name} must be a positive integer")
    if isinstance(value, str):
        value = value.strip()
        if not _ascii_digits(value) or len(value) > 19:
            raise BadInput(f"{name} must be a positive integer")
        value = int(value)
    if not isinstance(value, int) or value < 1 or value > MAX_ID:
        raise BadInput(f"{name} must be a positive integer")
    return value


def req_id(value: Any, name: str) -> int:
    v = opt_id(value, name)
    if v is None:
        raise BadInput(f"{name} is required")
    return v


def opt_seq(value: Any, name: str) -> int | None:
    """A sequence number: like an id but 0 is allowed."""
    if value in ("0", 0) and not isinstance(value, bool):
        return 0
    return opt_id(value, name)


def opt_int(value: Any, name: str, lo: int, hi: int, default: int) -> int:
    if value is None or value == "":
        return default
    v: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        v = value
    elif isinstance(value, str) and len(value) <= 20:
        text = value.strip()
        if _ascii_digits(text.removeprefix("-")):
            v = int(text)
    if v is None or v < lo or v > hi:
        raise BadInput(f"{name} must be an integer from {lo} to {hi}")
    return v


def opt_float(value: Any, name: str, lo: float, hi: float, default: float) -> float:
    if value is None or value == "":
        return default
    v: float | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        v = float(value)
    elif isinstance(value, str) and value.isascii() and len(value) <= 32:
        try:
            v = float(value)
        except ValueError:
            v = None
    if v is None:
        raise BadInput(f"{name} must be a number")
    if not (lo <= v <= hi):  # also refuses nan
        raise BadInput(f"{name} must be between {lo:g} and {hi:g}")
    return v


def opt_bool(value: Any, name: str) -> bool | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "1", "false", "0"):
        return value.lower() in ("true", "1")
    raise BadInput(f"{name} must be true or false")


def opt_text(value: Any, name: str, max_chars: int, *, strip: bool = True) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadInput(f"{name} must be a string")
    text = value.strip() if strip else value
    if "\x00" in text:
        raise BadInput(f"{name} must not contain NUL characters")
    if len(text) > max_chars:
        raise TooLarge(f"{name} is longer than {max_chars} characters")
    try:
        # JSON may escape a lone surrogate ("\ud800"); it is not a character and has no UTF-8 form,
        # so refuse it as GitHub and Stripe refuse invalid text, instead of storing mojibake
        text.encode()
    except UnicodeEncodeError:
        raise BadInput(f"{name} must be valid Unicode text (no lone surrogates)") from None
    return text


def client_id(value: Any) -> str | None:
    v = opt_text(value, "client_id", 100)
    if v is None or v == "":
        return None
    if not all(c.isalnum() or c in "-_.:" for c in v):
        raise BadInput("client_id may contain letters, digits and - _ . : only")
    return v
