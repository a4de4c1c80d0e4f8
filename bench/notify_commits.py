"""What one Postgres carries: message commits/s by concurrent writers, with and without the NOTIFY trigger."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg

from webchat_server import db

from .common import RESULTS


async def _writer(url: str, chat: int, bot: int, stop_at: float, sync_commit: bool, rows: int = 1) -> int:
    conn = await asyncpg.connect(url)
    try:
        if not sync_commit:
            await conn.execute("SET synchronous_commit = off")
        n = 0
        while time.monotonic() < stop_at:
            if rows == 1:
                # one message, one transaction: what an API send without group commit or a bot's plain INSERT does
                await conn.execute("INSERT INTO webchat.messages (chat_id, sender_id, text) VALUES ($1, $2, 'bench')",
                                   chat, bot)
            else:
                # several messages in one statement: one commit, one flush, one NOTIFY
                await conn.execute("INSERT INTO webchat.messages (chat_id, sender_id, text)"
                                   " SELECT $1, $2, 'bench' FROM generate_series(1, $3)", chat, bot, rows)
            n += rows
        return n
    finally:
        await conn.close()


async def _step(url: str, chats: list[tuple[int, int]], writers: int, seconds: float, sync_commit: bool,
                notify: bool, rows: int = 1) -> dict[str, Any]:
    admin = await asyncpg.connect(url)
    listener = await asyncpg.connect(url)
    received = 0

    def count(*_: object) -> None:
        nonlocal received
        received += 1

    try:
        verb = "ENABLE" if notify else "DISABLE"
        await admin.execute(f"ALTER TABLE webchat.messages {verb} TRIGGER messages_after_insert")
        # a server process's LISTEN, draining the queue as it would in production
        await listener.add_listener("webchat", count)
        stop_at = time.monotonic() + seconds
        started = time.monotonic()
        counts = await asyncio.gather(*(_writer(url, chats[i][0], chats[i][1], stop_at, sync_commit, rows)
                                        for i in range(writers)))
        elapsed = time.monotonic() - started
        await asyncio.sleep(0.2)
        return {"writers": writers, "notify": notify, "synchronous_commit": sync_commit, "rows_per_statement": rows,
                "messages_per_s": round(sum(counts) / elapsed), "commits_per_s": round(sum(counts) / rows / elapsed),
                "notifications": received, "load": [round(x, 2) for x in os.getloadavg()]}
    finally:
        await listener.close()
        await admin.close()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    # the embedded server stops when this process exits (its data stays in /tmp, like the other benches')
    tmp = Path(tempfile.mkdtemp(prefix="webchat-notify-bench-"))
    url = args.database_url or db.start_embedded_postgres(tmp)
    await db.migrate(url)
    conn = await asyncpg.connect(url)
    try:
        # one chat per writer: writers then contend only for what all commits share, not a chat row lock
        chats: list[tuple[int, int]] = []
        for i in range(max(args.writers)):
            chat = await conn.fetchval("INSERT INTO webchat.chats (title) VALUES ($1) RETURNING id", f"bench {i}")
            bot = await conn.fetchval(
                "INSERT INTO webchat.accounts (kind, display_name) VALUES ('bot', 'bench') RETURNING id")
            await conn.execute("INSERT INTO webchat.chat_members (chat_id, account_id) VALUES ($1, $2)", chat, bot)
            chats.append((chat, bot))
    finally:
        await conn.close()
    steps = []
    for sync_commit in (True, False):
        for writers in args.writers:
            for notify in (True, False):
                steps.append(await _step(url, chats, writers, args.seconds, sync_commit, notify))
    # what an integrator gets by writing several messages per statement (durable commits, NOTIFY on)
    multi = [await _step(url, chats, writers, args.seconds, True, True, rows)
             for writers in args.writers for rows in args.rows]
    return {"name": args.name, "seconds_per_step": args.seconds, "steps": steps, "rows_per_statement": multi}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--writers", type=int, action="append", help="concurrent writer connections (repeatable)")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rows", type=int, action="append", help="messages per statement (repeatable)")
    parser.add_argument("--database-url", help="an external Postgres (default: a fresh embedded one)")
    parser.add_argument("--name", default="notify_commits")
    args = parser.parse_args()
    args.writers = args.writers or [1, 4, 16]
    args.rows = args.rows or [1, 10, 50]
    result = asyncio.run(run(args))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
