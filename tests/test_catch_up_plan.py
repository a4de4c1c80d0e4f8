"""The catch-up query reads each chat's own index range, not the whole messages index."""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from webchat_server.db import q

from .conftest import Api

PER_CHAT = 200
CHATS = 500  # 100,000 messages: enough that a join over the whole index shows


def index_scans(node: dict[str, Any]) -> list[dict[str, Any]]:
    """The plan's reads of the messages table's indexes (index or bitmap index scans) that find the
    rows; not the per-row subqueries of message_view (a reply's quote, its reactions)."""
    own = [node] if str(node.get("Index Name", "")).startswith("messages_") else []
    return own + [n for child in node.get("Plans", []) if child.get("Parent Relationship") != "SubPlan"
                  for n in index_scans(child)]


async def test_catch_up_reads_only_the_rows_behind(api: Api, sql: asyncpg.Connection) -> None:
    sender = api.id
    # a fixture, not traffic: rows written with their seqs, without the triggers
    await sql.execute("SET session_replication_role = replica")
    await sql.execute(f"INSERT INTO webchat.chats (title, last_seq) SELECT 'c', {PER_CHAT} "
                      f"FROM generate_series(1, {CHATS})")
    await sql.execute(
        "INSERT INTO webchat.messages (chat_id, sender_id, text, seq, change_seq) "
        f"SELECT c.id, $1, 'x', s, s FROM webchat.chats c, generate_series(1, {PER_CHAT}) s", sender)
    await sql.execute("RESET session_replication_role")
    await sql.execute("ANALYZE webchat.messages")
    chats = await sql.fetch("SELECT id FROM webchat.chats ORDER BY id")
    # a reader in 20 chats spread over the table, each one message behind
    mine = [r["id"] for r in chats[:: len(chats) // 20]][:20]
    plan = json.loads(await sql.fetchval(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {q('catch_up')}",
                                         mine, [PER_CHAT - 1] * len(mine), 100))[0]["Plan"]
    assert plan["Actual Rows"] == len(mine)
    scans = index_scans(plan)
    # one range scan per chat, bounded by the chat and its position
    assert len(scans) == 1, scans
    assert scans[0]["Index Name"] == "messages_chat_change_seq"
    assert scans[0]["Actual Loops"] == len(mine)
    assert "chat_id" in scans[0]["Index Cond"] and "change_seq" in scans[0]["Index Cond"]
    # entries read: the rows returned, not the 100,000 in the table
    assert scans[0]["Actual Rows"] * scans[0]["Actual Loops"] == len(mine)
