"""Read positions moved ('r'): an unsequenced event per (chat, reader)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..events import Event, make_event
from ..hub import Hub
from .registry import Batch, Kind, id_rows, register


@dataclass(frozen=True, slots=True)
class ReadMoved:
    """r: (chat_id, account_id, last_read_seq) read positions moved."""

    rows: tuple[tuple[int, int, int], ...]


def read_event(chat_id: int, account_id: int, seq: int, private: bool = False) -> Event:
    # a paging reader keeps the latest position of each reader of each chat; the position of an
    # account that does not share read receipts goes to its own sessions only (their unread counts)
    return make_event("read", chat_id, {"account_id": account_id, "seq": seq}, hold=("read", chat_id, account_id),
                      only_account=account_id if private else None)


def _prepare(hub: Hub, note: ReadMoved, batch: Batch) -> None:
    batch.readers.update(a for c, a, _s in note.rows if c in hub.by_chat)


def _build(hub: Hub, note: ReadMoved, batch: Batch) -> Iterable[Event]:
    return [read_event(c, a, s, a in batch.private_readers) for c, a, s in note.rows if c in hub.by_chat]


register(Kind("r", ReadMoved, lambda n: ReadMoved(tuple((r[0], r[1], r[2]) for r in id_rows(n, "r", 3))),
              events=("read",), prepare=_prepare, build=_build, example={"t": "r", "r": [[1, 2, 3]]}))
