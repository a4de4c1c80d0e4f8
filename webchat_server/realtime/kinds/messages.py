"""Messages inserted ('m') and changed ('u'): decoded, fetched once per slice, built as one event each."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from asyncpg import Record

from ...domain.model import message_json
from ..events import Event, make_event
from ..hub import Hub
from .registry import Batch, Kind, id_rows, register


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


def message_event(row: Record, is_new: bool, seq: int) -> Event:
    # sequenced: a paging reader reads it again from the database, so it is never held
    kind = "new_message" if is_new else "message_updated"
    return make_event(kind, row["chat_id"], {"message": message_json(row)}, seq)


def _decode(code: str, note: dict[str, Any]) -> tuple[MessageRow, ...]:
    return tuple(MessageRow(*r) for r in id_rows(note, code, 4))


def _prepare(hub: Hub, note: Inserted | Updated, batch: Batch) -> None:
    for r in note.rows:
        if r.chat_id in hub.by_chat:
            batch.message_ids.add(r.message_id)
            batch.newest[r.message_id] = max(batch.newest.get(r.message_id, 0), r.seq)


def _build(note: Inserted | Updated, batch: Batch, is_new: bool) -> Iterable[Event]:
    for r in note.rows:
        row = batch.messages.get(r.message_id)
        # a row gone since (chat deleted) is not delivered; its chat is gone for readers too
        if row is not None and row["chat_id"] == r.chat_id:
            yield message_event(row, is_new, r.seq)


INSERTED = register(Kind(
    "m", Inserted, lambda n: Inserted(_decode("m", n)), events=("new_message",), schema="Message",
    prepare=_prepare, build=lambda hub, note, batch: _build(note, batch, True), rows=lambda n: len(n.rows),
    example={"t": "m", "r": [[1, 2, 3, 4]]}))
UPDATED = register(Kind(
    "u", Updated, lambda n: Updated(_decode("u", n)), events=("message_updated",), schema="Message",
    prepare=_prepare, build=lambda hub, note, batch: _build(note, batch, False), rows=lambda n: len(n.rows),
    example={"t": "u", "r": [[1, 2, 5, 4]]}))
