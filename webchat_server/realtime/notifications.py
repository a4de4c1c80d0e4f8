"""Typed NOTIFY payloads: one definition per kind, decoded and validated before anyone acts on them.

The triggers (sql/migrations/0002_notify.sql) send {"t": kind, "r": [row, ...]} or a single-event
kind. Anything on the channel that does not match one of these exactly raises BadNotification:
any database user can NOTIFY, so a payload is input, not a trusted message.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


class BadNotification(ValueError):
    """A payload that is not one of the kinds below; `kind` names what it claimed to be."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(f"{kind}: {reason}")
        self.kind = kind


@dataclass(frozen=True, slots=True)
class MessageRow:
    chat_id: int
    message_id: int
    seq: int  # the insert's seq ('m') or the new change_seq ('u'): where a reader moves to
    sender_id: int


@dataclass(frozen=True, slots=True)
class Inserted:
    """m: messages inserted."""

    rows: tuple[MessageRow, ...]


@dataclass(frozen=True, slots=True)
class Updated:
    """u: messages edited or deleted."""

    rows: tuple[MessageRow, ...]


@dataclass(frozen=True, slots=True)
class ChatsChanged:
    """c: chats created or updated."""

    chat_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ChatsDeleted:
    """d: chats deleted (their members are gone with them)."""

    chat_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Joined:
    """j: (chat_id, account_id) memberships added."""

    pairs: tuple[tuple[int, int], ...]


@dataclass(frozen=True, slots=True)
class Left:
    """l: (chat_id, account_id) memberships removed."""

    pairs: tuple[tuple[int, int], ...]


@dataclass(frozen=True, slots=True)
class ReadMoved:
    """r: (chat_id, account_id, last_read_seq) read positions moved."""

    rows: tuple[tuple[int, int, int], ...]


@dataclass(frozen=True, slots=True)
class Typing:
    """y: someone started or stopped typing (never stored)."""

    chat_id: int
    account_id: int
    name: str
    on: bool


@dataclass(frozen=True, slots=True)
class Probe:
    """p: the listener's own health probe."""

    nonce: str


Notification = Inserted | Updated | ChatsChanged | ChatsDeleted | Joined | Left | ReadMoved | Typing | Probe

MAX_ID = 2**63 - 1


def _id(v: Any, kind: str) -> int:
    # bool is an int subclass: true is not an id
    if type(v) is not int or not 0 <= v <= MAX_ID:
        raise BadNotification(kind, f"not an id: {v!r}"[:80])
    return v


def _rows(note: dict[str, Any], kind: str, width: int) -> list[tuple[int, ...]]:
    rows = note.get("r")
    if not isinstance(rows, list) or not rows:
        raise BadNotification(kind, "'r' is not a non-empty list")
    out = []
    for row in rows:
        if not isinstance(row, list) or len(row) != width:
            raise BadNotification(kind, f"row is not a list of {width}")
        out.append(tuple(_id(v, kind) for v in row))
    return out


def _messages(note: dict[str, Any], kind: str) -> tuple[MessageRow, ...]:
    return tuple(MessageRow(*r) for r in _rows(note, kind, 4))


def _typing(note: dict[str, Any]) -> Typing:
    name, on = note.get("n"), note.get("on")
    if not isinstance(name, str) or not isinstance(on, bool):
        raise BadNotification("y", "'n' must be a string and 'on' a boolean")
    return Typing(_id(note.get("c"), "y"), _id(note.get("a"), "y"), name[:100], on)


def _probe(note: dict[str, Any]) -> Probe:
    nonce = note.get("n")
    if not isinstance(nonce, str):
        raise BadNotification("p", "'n' is not a string")
    return Probe(nonce)


# the registry: payload kind -> its decoder (and so its one typed definition)
DECODERS: dict[str, Callable[[dict[str, Any]], Notification]] = {
    "m": lambda n: Inserted(_messages(n, "m")),
    "u": lambda n: Updated(_messages(n, "u")),
    "c": lambda n: ChatsChanged(tuple(r[0] for r in _rows(n, "c", 1))),
    "d": lambda n: ChatsDeleted(tuple(r[0] for r in _rows(n, "d", 1))),
    "j": lambda n: Joined(tuple((r[0], r[1]) for r in _rows(n, "j", 2))),
    "l": lambda n: Left(tuple((r[0], r[1]) for r in _rows(n, "l", 2))),
    "r": lambda n: ReadMoved(tuple((r[0], r[1], r[2]) for r in _rows(n, "r", 3))),
    "y": _typing,
    "p": _probe,
}


def decode(payload: str) -> Notification:
    try:
        note = json.loads(payload)
    except ValueError:
        raise BadNotification("?", "not JSON") from None
    if not isinstance(note, dict):
        raise BadNotification("?", "not a JSON object")
    kind = note.get("t")
    decoder = DECODERS.get(kind) if isinstance(kind, str) else None
    if decoder is None:
        raise BadNotification("?", f"unknown kind {kind!r}"[:80])
    return decoder(note)
