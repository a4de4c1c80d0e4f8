"""The agents' inbox list with 100,000 visitor conversations: query time per filter, and its plan."""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg

from webchat_server import db
from webchat_server.db import q
from webchat_server.domain.staff import FIRST_PAGE

from .common import RESULTS, percentiles

LOADAVG = Path("/proc/loadavg")
INBOX_INDEXES = """
CREATE INDEX chats_inbox ON webchat.chats (status, updated_at DESC, id DESC)
    WHERE visitor_id IS NOT NULL AND last_seq > 0;
CREATE INDEX chats_inbox_assignee ON webchat.chats (assignee_id, status, updated_at DESC, id DESC)
    WHERE visitor_id IS NOT NULL AND last_seq > 0;"""
AGENTS = 20
PAGE = 50


async def _populate(conn: asyncpg.Connection, conversations: int) -> list[int]:
    agents = [r["id"] for r in await conn.fetch(
        "INSERT INTO webchat.accounts (kind, external_id, display_name) "
        "SELECT 'agent', 'bench-' || i, 'Agent ' || i FROM generate_series(1, $1) i RETURNING id", AGENTS)]
    await conn.execute(
        "INSERT INTO webchat.accounts (kind, display_name) SELECT 'guest', 'Guest ' || i FROM generate_series(1, $1) i",
        conversations)
    await conn.execute(
        "INSERT INTO webchat.chats (title, created_by) SELECT 'Question ' || a.id, a.id "
        "FROM webchat.accounts a WHERE a.kind = 'guest'")
    await conn.execute(
        "INSERT INTO webchat.chat_members (chat_id, account_id) SELECT id, created_by FROM webchat.chats")
    # one visitor message per conversation, in one statement (one NOTIFY per 200 rows)
    await conn.execute(
        "INSERT INTO webchat.messages (chat_id, sender_id, text) SELECT id, created_by, 'hello' FROM webchat.chats")
    # activity spread over 30 days; a third resolved; half assigned, spread over the agents
    await conn.execute(
        "UPDATE webchat.chats SET updated_at = now() - random() * interval '30 days', "
        "status = CASE WHEN random() < 0.33 THEN 'resolved' ELSE 'open' END, "
        "assignee_id = CASE WHEN random() < 0.5 THEN ($1::bigint[])[1 + floor(random() * $2)::int] END",
        agents, AGENTS)
    await conn.execute("VACUUM ANALYZE webchat.chats")
    return agents


async def _time(conn: asyncpg.Connection, name: str, args: tuple[Any, ...], rounds: int) -> dict[str, Any]:
    sql = q(name)
    stmt = await conn.prepare(sql)
    rows_stmt = await conn.prepare(q("inbox_rows"))
    listed, paged = [], []
    for _ in range(rounds):
        t0 = time.perf_counter()
        ids = await stmt.fetch(*args)
        t1 = time.perf_counter()
        rows = await rows_stmt.fetch(args[-1] if name == "inbox_mine" else 0, [r["id"] for r in ids][:PAGE])
        t2 = time.perf_counter()
        listed.append((t1 - t0) * 1000)
        paged.append((t2 - t0) * 1000)
    plan = "\n".join(r[0] for r in await conn.fetch("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql, *args))
    return {"list_ms": percentiles(listed), "page_ms": percentiles(paged), "rows": len(rows),
            # the list: a range scan of an inbox index that stops after a page, no sort, no table scan
            "index_plan": "Scan using chats_inbox" in plan and "Seq Scan" not in plan and "Sort" not in plan,
            "plan": plan}


async def _insert_cost(conn: asyncpg.Connection, chat: int, sender: int, n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        await conn.execute("INSERT INTO webchat.messages (chat_id, sender_id, text) VALUES ($1, $2, 'x')", chat, sender)
    return round(n / (time.perf_counter() - t0), 1)


async def main(conversations: int, rounds: int) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="webchat-bench-inbox-"))
    url = db.start_embedded_postgres(tmp)
    await db.migrate(url)
    conn = await asyncpg.connect(url)
    try:
        t0 = time.perf_counter()
        agents = await _populate(conn, conversations)
        populated = round(time.perf_counter() - t0, 1)
        far = (await conn.fetchrow("SELECT updated_at, id FROM webchat.chats WHERE status = 'open' "
                                   "ORDER BY updated_at DESC, id DESC OFFSET 1000 LIMIT 1"))
        top = FIRST_PAGE
        cases = {
            "open_any_first_page": ("inbox_any", ("open", *top, PAGE + 1)),
            "open_any_page_21": ("inbox_any", ("open", far["updated_at"], far["id"], PAGE + 1)),
            "resolved_any": ("inbox_any", ("resolved", *top, PAGE + 1)),
            "open_unassigned": ("inbox_unassigned", ("open", *top, PAGE + 1)),
            "open_mine": ("inbox_mine", ("open", *top, PAGE + 1, agents[0])),
        }
        out: dict[str, Any] = {}
        for name, (query, args) in cases.items():
            out[name] = await _time(conn, query, args, rounds)
        # what the inbox indexes cost every message: chats.updated_at is indexed now, so the
        # per-message UPDATE of the chat row is no longer a HOT update
        chat, sender = await conn.fetchrow("SELECT id, created_by FROM webchat.chats LIMIT 1")
        with_idx, without_idx = [], []
        for _ in range(3):  # interleaved: the machine's load moves between rounds
            with_idx.append(await _insert_cost(conn, chat, sender, 1000))
            await conn.execute("ALTER INDEX webchat.chats_inbox RENAME TO chats_inbox_off; "
                               "DROP INDEX webchat.chats_inbox_off; DROP INDEX webchat.chats_inbox_assignee")
            without_idx.append(await _insert_cost(conn, chat, sender, 1000))
            await conn.execute(INBOX_INDEXES)
        load = LOADAVG.read_text().split()[:3]  # noqa: ASYNC240 - a bench's last step, not a request path
        result = {"name": "inbox", "conversations": conversations, "agents": AGENTS, "page": PAGE,
                  "populate_s": populated, "queries": {k: {kk: vv for kk, vv in v.items() if kk != "plan"}
                                                       for k, v in out.items()},
                  "message_inserts_per_s": {"with_inbox_indexes": with_idx, "without": without_idx,
                                            "note": "one writer, one message per transaction, 3 interleaved rounds"},
                  "loadavg": " ".join(load),
                  "plans": {k: v["plan"] for k, v in out.items()}}
        return result
    finally:
        await conn.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=50)
    a = parser.parse_args()
    res = asyncio.run(main(a.conversations, a.rounds))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "inbox.json").write_text(json.dumps(res, indent=2))
    print(json.dumps({k: v for k, v in res.items() if k != "plans"}))
    print(res["plans"]["open_any_page_21"])
    print(res["plans"]["open_mine"])
