"""What one process knows about presence: its own connections' activity and what the others said.

Pure state with the clock passed in, so every rule here is plain to test: a connection is
"active" for ACTIVE_FOR seconds after its page last reported input, an account whose last
connection closed stays as it was for OFFLINE_GRACE seconds (a reload or a long-poll's gap is not
"offline"), and another process's word expires after REMOTE_TTL seconds unless it repeats it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# online = a live connection and activity in the last 2 minutes
ACTIVE_FOR = 120.0
OFFLINE_GRACE = 5.0
# every process repeats what it knows of its own accounts each REFRESH; a word not repeated for
# REMOTE_TTL (a process that died) no longer counts
REFRESH = 60.0
REMOTE_TTL = 150.0

OFFLINE, AWAY, ONLINE = 0, 1, 2
NAMES = ("offline", "away", "online")
CODES = {name: code for code, name in enumerate(NAMES)}
# what a page may say about itself
PAGE_STATES = frozenset({"active", "idle", "hidden"})


@dataclass(slots=True)
class _Activity:
    state: str  # active | idle | hidden
    active_at: float  # the last time the page said it was in use


@dataclass(slots=True)
class _Remote:
    status: int
    last_seen: float  # epoch seconds, 0 when unknown
    expires: float


@dataclass
class Book:
    # connection (a hub subscriber) -> what its page last said; pruned of closed connections
    activity: dict[Any, _Activity] = field(default_factory=dict)
    # account -> this process's own view of it: status, and when its last connection closed
    local: dict[int, int] = field(default_factory=dict)
    gone_at: dict[int, float] = field(default_factory=dict)
    # account -> process token -> what that process said
    remote: dict[int, dict[str, _Remote]] = field(default_factory=dict)
    # account -> the newest last-seen time (epoch seconds) heard or made here
    last_seen: dict[int, float] = field(default_factory=dict)

    def page_said(self, conn: Any, state: str, now: float) -> None:
        """A page reported active, idle or hidden over its connection."""
        act = self.activity.get(conn)
        if act is None:
            self.activity[conn] = act = _Activity(state, now)
        act.state = state
        if state == "active":
            act.active_at = now

    def connection_status(self, conn: Any, now: float, polling: bool) -> int:
        act = self.activity.get(conn)
        if act is None:
            # a page that has not said anything yet (it just connected, or it long-polls, which
            # only a visible page does): connecting is activity
            self.activity[conn] = act = _Activity("active", now)
        if polling:
            act.active_at = now
        if act.state == "active" and now - act.active_at <= ACTIVE_FOR:
            return ONLINE
        return AWAY

    def prune(self, live: set[Any]) -> None:
        """Forget the connections that are gone."""
        for conn in [c for c in self.activity if c not in live]:
            del self.activity[conn]

    def observe(self, connected: dict[int, int], now: float, wall: float) -> dict[int, int]:
        """This process's accounts and their status from their connections (account -> ONLINE/AWAY);
        returns the accounts whose local status changed, with the new status."""
        changed: dict[int, int] = {}
        for account, status in connected.items():
            self.gone_at.pop(account, None)
            if self.local.get(account) != status:
                self.local[account] = status
                changed[account] = status
        for account in [a for a in self.local if a not in connected]:
            gone = self.gone_at.setdefault(account, now)
            if now - gone >= OFFLINE_GRACE:
                del self.local[account], self.gone_at[account]
                # last seen: when its last connection closed, not when the grace ran out
                self.last_seen[account] = max(self.last_seen.get(account, 0.0), wall - (now - gone))
                changed[account] = OFFLINE
        return changed

    def heard(self, process: str, account: int, status: int, last_seen: float, now: float) -> None:
        """Another process's word about one of its accounts."""
        if last_seen:
            self.last_seen[account] = max(self.last_seen.get(account, 0.0), last_seen)
        if status == OFFLINE:
            procs = self.remote.get(account)
            if procs is not None:
                procs.pop(process, None)
                if not procs:
                    del self.remote[account]
            return
        self.remote.setdefault(account, {})[process] = _Remote(status, last_seen, now + REMOTE_TTL)

    def expire(self, now: float) -> list[int]:
        """Forget what processes did not repeat in time; returns the accounts that lost a word."""
        lost = []
        for account, procs in list(self.remote.items()):
            for process in [p for p, r in procs.items() if r.expires <= now]:
                del procs[process]
                lost.append(account)
            if not procs:
                del self.remote[account]
        return lost

    def status(self, account: int) -> int:
        """The best any process knows: online anywhere is online."""
        best = self.local.get(account, OFFLINE)
        for r in self.remote.get(account, {}).values():
            best = max(best, r.status)
        return best

    def json(self, account: int, stored_last_seen: Any = None) -> dict[str, Any]:
        """{"status", "last_seen_at"} as clients see it; stored_last_seen from the database."""
        known = self.last_seen.get(account)
        seen: Any = stored_last_seen
        if known and (seen is None or _epoch(seen) < known):
            seen = datetime.fromtimestamp(known, UTC)
        return {"status": NAMES[self.status(account)], "last_seen_at": _iso(seen)}


def _epoch(value: Any) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    return datetime.fromisoformat(str(value)).timestamp()


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    return value.isoformat() if isinstance(value, datetime) else str(value)
