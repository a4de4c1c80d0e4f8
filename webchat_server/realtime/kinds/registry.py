"""The event-kind registry: one Kind per NOTIFY code, registered once, found by code or by note type.

The triggers (sql/migrations/0002_notify.sql) send {"t": code, "r": [row, ...]} or a single-event
code. Anything on the channel that does not match a registered kind exactly raises BadNotification:
any database user can NOTIFY, so a payload is input, not a trusted message.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import asyncpg

from ..events import Event
from ..hub import Hub
from ..subscriber import Subscriber

N = TypeVar("N")

MAX_ID = 2**63 - 1


class BadNotification(ValueError):
    """A payload that is not one of the registered kinds; `kind` names what it claimed to be."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(f"{kind}: {reason}")
        self.kind = kind


def ident(v: Any, code: str) -> int:
    # bool is an int subclass: true is not an id
    if type(v) is not int or not 0 <= v <= MAX_ID:
        raise BadNotification(code, f"not an id: {v!r}"[:80])
    return v


def id_rows(note: dict[str, Any], code: str, width: int) -> list[tuple[int, ...]]:
    """The 'r' list of a row kind: non-empty, each row `width` ids."""
    rows = note.get("r")
    if not isinstance(rows, list) or not rows:
        raise BadNotification(code, "'r' is not a non-empty list")
    out = []
    for row in rows:
        if not isinstance(row, list) or len(row) != width:
            raise BadNotification(code, f"row is not a list of {width}")
        out.append(tuple(ident(v, code) for v in row))
    return out


@dataclass
class Batch:
    """What one slice of notifications needs: rows fetched once, members who just joined."""

    messages: dict[int, asyncpg.Record] = field(default_factory=dict)
    chats: dict[int, asyncpg.Record] = field(default_factory=dict)
    message_ids: set[int] = field(default_factory=set)
    newest: dict[int, int] = field(default_factory=dict)  # message -> the highest seq notified for it
    chat_ids: set[int] = field(default_factory=set)
    joined: dict[int, list[Subscriber]] = field(default_factory=dict)
    announced: set[int] = field(default_factory=set)  # chats with their own 'c' event in this slice
    readers: set[int] = field(default_factory=set)  # accounts whose read position moved here
    private_readers: set[int] = field(default_factory=set)  # of those, the ones not sharing receipts


def _no_prepare(hub: Hub, note: Any, batch: Batch) -> None:
    pass


def _no_events(hub: Hub, note: Any, batch: Batch) -> Iterable[Event]:
    return ()


def _no_rows(note: Any) -> int:
    return 0


@dataclass(frozen=True, slots=True)
class Kind(Generic[N]):
    """Everything about one NOTIFY code. The fan-out runs, per slice: every note's `prepare`
    (membership effects, ids to fetch), one fetch for all, then every note's `build`, in order.
    Who receives an event is the chat it names (the hub's subscribers of that chat); how a paging
    reader holds it is the event's own `hold` key, set where the kind builds it."""

    code: str  # the "t" of the payload
    note: type[N]  # its decoded, typed form
    decode: Callable[[dict[str, Any]], N]
    # the event types it makes (README "Events", the OpenAPI Event type) and the OpenAPI
    # component their body carries, if any
    events: tuple[str, ...] = ()
    schema: str | None = None
    prepare: Callable[[Hub, N, Batch], None] = _no_prepare
    build: Callable[[Hub, N, Batch], Iterable[Event]] = _no_events
    rows: Callable[[N], int] = _no_rows  # message rows it fetches: the fan-out slices by these
    # a payload of this kind, as the SQL sends it: documents the shape, and the unit floor decodes it
    example: dict[str, Any] = field(default_factory=dict)


KINDS: dict[str, Kind[Any]] = {}
BY_NOTE: dict[type, Kind[Any]] = {}


def register(kind: Kind[N]) -> Kind[N]:
    """Add a kind; a second kind for a code or a note type is a programming error."""
    if kind.code in KINDS or kind.note in BY_NOTE:
        raise ValueError(f"event kind {kind.code!r} ({kind.note.__name__}) is registered twice")
    KINDS[kind.code] = BY_NOTE[kind.note] = kind
    return kind


def kind_of(note: object) -> Kind[Any]:
    return BY_NOTE[type(note)]


def decode(payload: str) -> object:
    try:
        note = json.loads(payload)
    except ValueError:
        raise BadNotification("?", "not JSON") from None
    if not isinstance(note, dict):
        raise BadNotification("?", "not a JSON object")
    code = note.get("t")
    kind = KINDS.get(code) if isinstance(code, str) else None
    if kind is None:
        raise BadNotification("?", f"unknown kind {code!r}"[:80])
    decoded: object = kind.decode(note)
    return decoded
