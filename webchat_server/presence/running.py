"""Presence in the application: started with the server unless WEBCHAT_PRESENCE=off."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from ..db import pool_key
from ..domain.members import PresenceOf, stored_presence
from ..http.metrics import metrics_key
from ..realtime.events import make_event
from ..realtime.hub import hub_key
from ..realtime.kinds.presence import LISTENING
from ..realtime.subscriber import PollWaiter
from ..settings import settings_key
from .book import PAGE_STATES
from .service import Presence, PresenceMetrics

presence_key = web.AppKey("presence", Presence)


def presence_event(account_id: int, body: dict[str, Any]) -> Any:
    # a paging reader keeps the latest status of each account
    return make_event("presence", None, {"account_id": account_id, **body}, hold=("presence", account_id))


async def presence_ctx(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx (after the hub exists): the ticker runs while the server does."""
    if not app[settings_key].presence:
        yield
        return
    presence = Presence(app[pool_key], app[hub_key], presence_event,
                        is_polling=lambda sub: isinstance(sub, PollWaiter))
    app[presence_key] = presence
    app[metrics_key].registry.register(PresenceMetrics(presence))
    LISTENING[app[hub_key]] = presence
    presence.start()
    yield
    LISTENING.pop(app[hub_key], None)
    await presence.stop()


def _off(account_id: int, last_seen_at: Any) -> dict[str, Any]:
    # presence off: nothing is known, and an old last-seen would only mislead
    return {"status": "offline", "last_seen_at": None}


def presence_of(app: web.Application) -> PresenceOf:
    """What chat JSON says of each member's presence."""
    presence = app.get(presence_key)
    if presence is not None:
        return presence.json
    return _off if not app[settings_key].presence else stored_presence


def page_said(app: web.Application, sub: Any, state: Any) -> None:
    """A page's {"type": "activity", "state": ...} frame; anything else is ignored."""
    presence = app.get(presence_key)
    # a str first: a list or object state is unhashable, and `in` a frozenset raised TypeError,
    # which ended the socket with a traceback
    if presence is not None and isinstance(state, str) and state in PAGE_STATES:
        presence.page_said(sub, state)
