"""What one catch-up query costs Postgres as the table grows: the old join against per-chat range scans."""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

import asyncpg

from webchat_server import db
from webchat_server.db import q

from .common import emit

# the query before issue 18: one join of the positions against the whole (chat_id, change_seq) index
OLD_CATCH_UP = """
SELECT v.* FROM unnest($1::bigint[], $2::bigint[]) AS p(chat_id, pos)
  JOIN webchat.message_view v ON v.chat_id = p.chat_id AND v.change_seq > p.pos
 ORDER BY v.chat_id, v.change_seq
 LIMIT $3"""

PER_CHAT = 200  # messages per chat: the table grows by chats, as a real one does


async def fill(conn: asyncpg.Connection, rows: int) -> None:
    """Grow the table to `rows` messages, PER_CHAT per chat, without the triggers (a bench fixture)."""
    have = await conn.fetchval("SELECT count(*) FROM webchat.chats")
    want = rows // PER_CHAT
    if want <= have:
        return
    await conn.execute("SET session_replication_role = replica")
    sender = await conn.fetchval("SELECT id FROM webchat.accounts LIMIT 1") or await conn.fetchval(
        "INSERT INTO webchat.accounts (kind, display_name) VALUES ('bot', 'Bench') RETURNING id")
    await conn.execute(f"INSERT INTO webchat.chats (title, last_seq) SELECT 'c', {PER_CHAT} "
                       f"FROM generate_series(1, {want - have})")
    await conn.execute(
        f"INSERT INTO webchat.messages (chat_id, sender_id, text, seq, change_seq) "
        f"SELECT c.id, $1, repeat('x', 60), s, s FROM webchat.chats c, generate_series(1, {PER_CHAT}) s "
        f"WHERE c.id > (SELECT coalesce(max(chat_id), 0) FROM webchat.messages) ORDER BY c.id, s", sender)
    await conn.execute("RESET session_replication_role")
    await conn.execute("VACUUM ANALYZE webchat.messages")
    await conn.execute("VACUUM ANALYZE webchat.chats")


def messages_read(node: dict[str, Any]) -> int:
    """Entries the plan read from the messages table or its indexes, over all loops."""
    own = node["Actual Rows"] * node["Actual Loops"] if node.get("Relation Name") == "messages" else 0
    return int(own + sum(messages_read(child) for child in node.get("Plans", [])))


async def measure(conn: asyncpg.Connection, sql: str, chats: list[int], behind: int,
                  limit: int, runs: int) -> dict[str, Any]:
    """Median execution time and the buffers the plan touched (EXPLAIN (ANALYZE, BUFFERS))."""
    positions = [PER_CHAT - behind] * len(chats)
    times, buffers, returned, read = [], 0, 0, 0
    for _ in range(runs):
        plan = json.loads(await conn.fetchval(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}",
                                              chats, positions, limit))[0]
        times.append(plan["Execution Time"])
        top = plan["Plan"]
        buffers = top.get("Shared Hit Blocks", 0) + top.get("Shared Read Blocks", 0)
        returned = top["Actual Rows"]
        read = messages_read(top)
    return {"ms": round(statistics.median(times), 3), "buffers": buffers, "rows": int(returned),
            "entries_read": read}


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[22_000, 400_000, 1_000_000])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="webchat-bench-"))
    uri = db.start_embedded_postgres(tmp)
    await db.migrate(uri)
    conn = await asyncpg.connect(uri)
    new = q("catch_up")
    # (chats the reader is in, rows behind in each, the page size the server asks for)
    cases = [(3, 1, 100), (10, 1, 100), (10, 50, 100), (2000, 1, 100), (2000, 1, 5000)]
    table = []
    try:
        for size in args.sizes:
            await fill(conn, size)
            total = size // PER_CHAT
            for n_chats, behind, limit in cases:
                # a reader's chats are spread over the table, as chats joined over months are
                chats = sorted({1 + i * total // n_chats for i in range(n_chats)})
                row: dict[str, Any] = {"table_rows": size, "chats": n_chats, "behind": behind, "limit": limit}
                row["before"] = await measure(conn, OLD_CATCH_UP, chats, behind, limit, args.runs)
                row["after"] = await measure(conn, new, chats, behind, limit, args.runs)
                table.append(row)
    finally:
        await conn.close()
    emit("catchup", {"per_chat": PER_CHAT, "cases": table})


if __name__ == "__main__":
    asyncio.run(main())
