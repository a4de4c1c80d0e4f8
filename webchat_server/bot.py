"""The demo bot: integrates the way any app can, by LISTENing and inserting rows with plain SQL."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime
from typing import Any

import asyncpg

log = logging.getLogger(__name__)

# everything the bot does is plain SQL against the documented contract (README "SQL integration")
ENSURE_BOT = """
INSERT INTO webchat.accounts (kind, external_id, display_name) VALUES ('bot', 'demo-bot', 'Demo Bot')
ON CONFLICT (kind, external_id) WHERE external_id IS NOT NULL DO UPDATE SET display_name = EXCLUDED.display_name
RETURNING id"""
JOIN_CHAT = "INSERT INTO webchat.chat_members (chat_id, account_id) VALUES ($1, $2) ON CONFLICT DO NOTHING"
# handoff: a conversation an agent has taken (metadata.automation = 'human') is left to the agent;
# internal notes are for agents, never something to answer
READ_MESSAGE = """
SELECT m.id, m.chat_id, m.text, m.media_type, a.kind AS sender_kind, a.display_name AS sender_name
  FROM webchat.messages m JOIN webchat.accounts a ON a.id = m.sender_id
  JOIN webchat.chats c ON c.id = m.chat_id
 WHERE m.id = $1 AND m.visibility = 'public'
   AND coalesce(c.metadata->>'automation', 'bot') <> 'human'
   AND EXISTS (SELECT 1 FROM webchat.chat_members WHERE chat_id = m.chat_id AND account_id = $2)"""
STILL_MINE = "SELECT coalesce(metadata->>'automation', 'bot') <> 'human' FROM webchat.chats WHERE id = $1"
REPLY = "INSERT INTO webchat.messages (chat_id, sender_id, text) VALUES ($1, $2, $3)"
TYPING = "SELECT webchat.typing($1, $2, $3)"


def answer(text: str, media_type: str | None, name: str) -> str:
    words = text.strip().lower()
    if media_type == "image":
        return "Nice picture! (I'm a demo bot: I can't see it, but it was stored and delivered.)"
    if media_type == "audio":
        return "Got your voice message. (I'm a demo bot: I can't listen, but it arrived.)"
    if words in ("hi", "hello", "hey"):
        return f"Hello {name}! Ask me for 'help'."
    if words == "help":
        return ("I'm the demo bot. I read your message through LISTEN, show typing with "
                "webchat.typing(), and reply with a plain INSERT. Try 'time' or say anything.")
    if words == "time":
        return f"It is {datetime.now(UTC):%H:%M:%S} UTC."
    return f"You said: {text.strip()}"


class DemoBot:
    def __init__(self, url: str, reply_delay: float = 0.6) -> None:
        self.url = url
        self.reply_delay = reply_delay
        self.bot_id = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        while True:
            try:
                await self._session()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as e:
                log.warning("demo bot lost its connection (%s); reconnecting", e)
            await asyncio.sleep(1)

    async def _session(self) -> None:
        listen: asyncpg.Connection = await asyncpg.connect(self.url)
        pool = await asyncpg.create_pool(self.url, min_size=1, max_size=3)
        assert pool is not None
        dead = asyncio.Event()
        listen.add_termination_listener(lambda _c: dead.set())
        try:
            self.bot_id = await pool.fetchval(ENSURE_BOT)

            notes: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

            def on_notify(_conn: object, _pid: int, _channel: str, payload: object) -> None:
                notes.put_nowait(json.loads(str(payload)))

            await listen.add_listener("webchat", on_notify)
            log.info("demo bot (account %s) is listening", self.bot_id)
            worker = asyncio.create_task(self._work(pool, notes))
            try:
                await dead.wait()
            finally:
                worker.cancel()
        finally:
            await pool.close()
            if not listen.is_closed():
                listen.terminate()

    async def _work(self, pool: asyncpg.Pool, notes: asyncio.Queue[dict[str, Any]]) -> None:
        """Notes in order (a chat's creation before its first message); replies run alongside."""
        while True:
            note = await notes.get()
            try:
                if note.get("t") == "c":
                    # the demo joins every new chat so there is always someone to answer
                    for (chat_id,) in note["r"]:
                        await pool.execute(JOIN_CHAT, chat_id, self.bot_id)
                elif note.get("t") == "m":
                    for chat_id, message_id, _seq, sender_id in note["r"]:
                        if sender_id != self.bot_id:
                            task = asyncio.create_task(self._reply(pool, chat_id, message_id))
                            self._tasks.add(task)
                            task.add_done_callback(self._tasks.discard)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                log.exception("demo bot failed to handle %s", note)

    async def _reply(self, pool: asyncpg.Pool, chat_id: int, message_id: int) -> None:
        try:
            row = await pool.fetchrow(READ_MESSAGE, message_id, self.bot_id)
            if row is None or row["sender_kind"] not in ("guest", "user"):
                return
            await pool.execute(TYPING, chat_id, self.bot_id, True)
            await asyncio.sleep(self.reply_delay)
            text = answer(row["text"], row["media_type"], row["sender_name"])
            # an agent may have taken the conversation while the bot was "typing"
            if await pool.fetchval(STILL_MINE, chat_id):
                await pool.execute(REPLY, chat_id, self.bot_id, text)
            await pool.execute(TYPING, chat_id, self.bot_id, False)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            log.exception("demo bot failed to answer message %s", message_id)
