"""Sessions ended ('s'): a session id signed out or into another account; its readers end everywhere.

Sent by the trigger on webchat.revoked_sessions (sql/migrations/0008_identity_tokens.sql), so
every server process closes the sockets and answers the parked polls that session opened. Before,
a socket opened before sign-out (or before signing in as someone else) kept receiving the old
account's messages, including chats it joined later, for as long as it stayed open.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..events import Event
from ..hub import Hub
from .registry import BadNotification, Batch, Kind, register

# session ids are 24 url-safe characters (http/auth.py); anything much longer is not one
MAX_SID = 64


@dataclass(frozen=True, slots=True)
class SessionsEnded:
    """s: session ids revoked."""

    sids: frozenset[str]


def _decode(note: dict[str, Any]) -> SessionsEnded:
    rows = note.get("r")
    if not isinstance(rows, list) or not rows:
        raise BadNotification("s", "'r' is not a non-empty list")
    sids = set()
    for row in rows:
        if (not isinstance(row, list) or len(row) != 1 or not isinstance(row[0], str)
                or not 0 < len(row[0]) <= MAX_SID):
            raise BadNotification("s", "row is not [session id]")
        sids.add(row[0])
    return SessionsEnded(frozenset(sids))


def _build(hub: Hub, note: SessionsEnded, batch: Batch) -> Iterable[Event]:
    # no event: the reader ends (a socket closes with CLOSE_SESSION_ENDED, a poll answers now)
    for sub in hub.subscribers():
        if sub.sid is not None and sub.sid in note.sids:
            sub.end_session()
    return ()


register(Kind("s", SessionsEnded, _decode, build=_build, example={"t": "s", "r": [["k3ZQ9nq2Vx0aTf7LwP1bYc4d"]]}))
