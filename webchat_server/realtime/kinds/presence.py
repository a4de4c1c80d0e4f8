"""Presence ('pr'): what another server process says about its accounts, taken into this one's book.

Presence is not stored: each process announces the statuses of its own accounts with pg_notify
(webchat_server/presence/service.py), so every process knows them. The `presence` events
themselves are made by this process's presence ticker, coalesced and sent only to chat partners;
a notification makes none directly.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol
from weakref import WeakKeyDictionary

from ...presence.service import CODE, decode_rows
from ..events import Event
from ..hub import Hub
from .registry import BadNotification, Batch, Kind, register


class Listening(Protocol):
    def heard(self, process: str, rows: Iterable[tuple[int, int, int]]) -> None: ...


# the presence service of each hub (one per application; none when WEBCHAT_PRESENCE=off)
LISTENING: WeakKeyDictionary[Hub, Listening] = WeakKeyDictionary()


@dataclass(frozen=True, slots=True)
class PresenceHeard:
    """pr: a process's accounts and their status (0 offline, 1 away, 2 online) and last-seen time."""

    process: str
    rows: tuple[tuple[int, int, int], ...]


def _decode(note: dict[str, Any]) -> PresenceHeard:
    try:
        return PresenceHeard(*decode_rows(note))
    except ValueError as e:
        raise BadNotification(CODE, str(e)) from None


def _prepare(hub: Hub, note: PresenceHeard, batch: Batch) -> None:
    listening = LISTENING.get(hub)
    if listening is not None:
        listening.heard(note.process, note.rows)


def _build(hub: Hub, note: PresenceHeard, batch: Batch) -> Iterable[Event]:
    return ()


register(Kind(CODE, PresenceHeard, _decode, events=("presence",), prepare=_prepare, build=_build,
              example={"t": CODE, "x": "5f1c2a9b7e30", "r": [[7, 2, 0], [8, 0, 1767225600]]}))
