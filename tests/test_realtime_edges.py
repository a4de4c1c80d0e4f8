"""Concurrent edits reach a reader once per change; typing frames cannot dodge the throttle."""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

import asyncpg

from .conftest import Api, collect, next_event, quiet
from .realtime_helpers import add_member


async def test_concurrent_edits_deliver_each_change_once(api: Api, new_api: Any, sql: asyncpg.Connection) -> None:
    sent = await api.send("draft")
    chat, message_id = sent["chat_id"], sent["message"]["id"]
    bob = await new_api()
    await add_member(sql, chat, bob.id)
    ws = await bob.ws()
    assert (await next_event(ws))["type"] == "connection"
    results = await asyncio.gather(*(api.patch(f"/webchat/messages/{message_id}/", {"text": f"edit {i}"})
                                     for i in range(20)))
    assert all(r.status == 200 for r in results)
    final = (await sql.fetchrow("SELECT text, change_seq FROM webchat.messages WHERE id = $1", message_id))
    got = await collect(ws, 1, types=("message_updated",))
    while got[-1]["message"]["change_seq"] != final["change_seq"]:
        got += await collect(ws, 1, types=("message_updated",))
    got += await quiet(ws, 1.0, types=("message_updated",))
    seqs = [e["message"]["change_seq"] for e in got]
    # each version at most once, in order, and the last one is the row as stored
    assert len(seqs) == len(set(seqs)) and seqs == sorted(seqs), seqs
    assert got[-1]["message"]["text"] == final["text"]
    await ws.close()


async def test_typing_with_random_chat_ids_is_throttled_per_sender(api: Api) -> None:
    ws = await api.ws()
    assert (await next_event(ws))["type"] == "connection"
    for _ in range(60):
        await ws.send_str(json.dumps({"type": "typing", "chat_id": random.randrange(10**6, 10**9),
                                      "is_typing": True}))
    # each frame that got through the throttle cost a database round trip and answers 404
    errors = await quiet(ws, 1.5, types=("error",))
    assert 0 < len(errors) <= 10, len(errors)
    # the HTTP form too: throttled frames answer {sent: false} without touching the database
    statuses = []
    for _ in range(20):
        r = await api.post("/webchat/typing/", {"chat_id": random.randrange(10**6, 10**9), "is_typing": True})
        statuses.append(r.status)
    # (the sender's bucket refilled while the socket test waited: at most a burst of 10 plus refill)
    assert statuses.count(404) <= 12 and statuses.count(200) >= 8, statuses
    await ws.close()
