"""Stateless resume cursors: per-chat positions any server process can answer.

A cursor is a comma-separated list of tokens, one per chat. Each event carries the token of its
own chat; a client that keeps the last `connection`/poll cursor plus the newest event token per
chat and sends them all back (comma-joined) resumes exactly where it was. Later tokens for one
chat win (the highest position). Clients must treat tokens as opaque strings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import BadInput

MAX_CURSOR_CHARS = 16_000
EMPTY = "-"


def token(chat_id: int, seq: int) -> str:
    return f"{chat_id}.{seq}"


def encode(positions: Mapping[int, int | None]) -> str:
    parts = [token(c, s) for c, s in sorted(positions.items()) if s is not None]
    return ",".join(parts) or EMPTY


def parse(raw: str | None, max_chars: int = MAX_CURSOR_CHARS) -> dict[int, int] | None:
    """None when no cursor was given (start from now); else the merged positions.

    max_chars: URLs keep the default; a cursor in a POST body or a WebSocket resume frame may be
    larger (views/realtime.py)."""
    if raw is None:
        return None
    if len(raw) > max_chars:
        raise BadInput(f"cursor is too long (over {max_chars} characters): send it in the body of "
                       "POST /webchat/poll/ or in a WebSocket resume frame")
    positions: dict[int, int] = {}
    for part in raw.split(","):
        part = part.strip()
        if part in ("", EMPTY):
            continue
        chat, dot, seq = part.partition(".")
        # isascii: str.isdigit() accepts "²", which int() refuses (a 500 before)
        if (not dot or not (chat + seq).isascii() or not chat.isdigit() or not seq.isdigit()
                or len(chat) > 18 or len(seq) > 18):
            raise BadInput("cursor is malformed")
        c, s = int(chat), int(seq)
        if s > positions.get(c, -1):
            positions[c] = s
    return positions


class Keeper:
    """What a client keeps to resume: the last full cursor plus the newest token per chat.

    For Python clients (the tests, bots); web/lib/transport.js keeps the same, and both are held
    to one table of cases (tests/unit/cursor_cases.json)."""

    def __init__(self, base: str | None = None) -> None:
        self.base = base
        self.tokens: dict[int, str] = {}

    def see(self, ev: Mapping[str, Any]) -> None:
        if ev["type"] == "connection":
            self.base, self.tokens = ev["cursor"], {}
        elif ev.get("cursor") and ev.get("chat_id") is not None:
            self.tokens[ev["chat_id"]] = ev["cursor"]

    def reset(self, cursor: str | None = None) -> None:
        self.base, self.tokens = cursor, {}

    @property
    def value(self) -> str | None:
        """None before any cursor: start from now."""
        if self.base is None:
            return None
        return ",".join([self.base, *self.tokens.values()])
