"""Email to visitors who are away: an agent's unread replies, batched, with a link back to the conversation."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import logging
from collections.abc import AsyncIterator
from email.message import EmailMessage
from typing import Any

import aiosmtplib
import asyncpg
from aiohttp import web
from cryptography.fernet import Fernet, InvalidToken

from ..db import pool_key, q
from ..errors import DATABASE_DOWN
from ..settings import Settings, settings_key

log = logging.getLogger(__name__)

# conversations one round takes at most; the rest wait for the next round
ROUND = 20
# how long the link in an email works
LINK_LIFETIME = 7 * 86400


def continue_token(fernet: Fernet, visitor_id: int, chat_id: int) -> str:
    return fernet.encrypt(json.dumps({"a": visitor_id, "c": chat_id}).encode()).decode()


def read_continue_token(fernet: Fernet, token: str) -> tuple[int, int] | None:
    """(visitor, chat) of a link that is ours and not older than LINK_LIFETIME; else None."""
    try:
        body = json.loads(fernet.decrypt(token.encode(errors="replace"), ttl=LINK_LIFETIME))
    except (InvalidToken, ValueError, TypeError):
        return None
    a, c = body.get("a") if isinstance(body, dict) else None, body.get("c") if isinstance(body, dict) else None
    if type(a) is not int or type(c) is not int:
        return None
    return a, c


def compose(settings: Settings, fernet: Fernet, chat_id: int, row: asyncpg.Record) -> EmailMessage | None:
    replies: list[dict[str, Any]] = row["replies"]
    if not replies:
        return None
    names = list(dict.fromkeys(r["sender_name"] for r in replies))
    link = f"{settings.base_url}/webchat/continue?t={continue_token(fernet, row['visitor_id'], chat_id)}"
    lines = [f"Hello {row['visitor_name']},", "", f"{' and '.join(names)} replied to your conversation"
             f" \u201c{row['title']}\u201d:", ""]
    for r in replies:
        text = r["text"] or {"image": "(a picture)", "audio": "(a voice message)"}.get(r["media_type"] or "", "")
        lines += [f"{r['sender_name']}: {text}", ""]
    lines += ["Continue the conversation:", link, "",
              "You get this email because you left your address in the chat while nobody was online."]
    msg = EmailMessage()
    msg["From"] = settings.smtp_from
    msg["To"] = row["email"]
    # one line: an agent made by `agent add` keeps its name as typed, line breaks too
    msg["Subject"] = f"{' '.join(names[0].split())} replied to your message" if len(replies) == 1 else \
        f"{len(replies)} replies to your message"
    msg.set_content("\n".join(lines))
    return msg


class Mailer:
    """One loop per process; a conversation is taken by one process only (SKIP LOCKED)."""

    def __init__(self, pool: asyncpg.Pool, settings: Settings, fernet: Fernet) -> None:
        self.pool = pool
        self.settings = settings
        self.fernet = fernet
        self.sent = 0
        self.failed = 0

    async def send(self, msg: EmailMessage) -> None:
        s = self.settings
        await aiosmtplib.send(msg, hostname=s.smtp_host, port=s.smtp_port, username=s.smtp_username,
                              password=s.smtp_password, use_tls=s.smtp_security == "tls",
                              start_tls=s.smtp_security == "starttls", timeout=30)

    async def round(self) -> int:
        """Email every conversation that is due; returns how many emails went out."""
        due = await self.pool.fetch(q("offline_mail_due"), self.settings.smtp_batch_seconds, ROUND)
        done = 0
        for d in due:
            chat_id = d["chat_id"]
            row = await self.pool.fetchrow(q("offline_mail_content"), chat_id, d["emailed_seq"])
            try:
                msg = compose(self.settings, self.fernet, chat_id, row) if row is not None else None
            except ValueError as e:
                # an address with a line break (a site's token may carry any email claim) fits in
                # no header: this conversation is not emailed, and the others still are
                log.warning("cannot email the visitor of conversation %s: %s", chat_id, e)
                continue
            if row is None or msg is None:
                continue  # read meanwhile, or the visitor's email is gone: nothing to say
            try:
                await self.send(msg)
            except (aiosmtplib.SMTPException, OSError) as e:
                self.failed += 1
                log.warning("could not email the visitor of conversation %s (%s); trying again later", chat_id, e)
                await self.pool.execute(q("offline_mail_retry"), chat_id)
                continue
            self.sent += 1
            done += 1
            await self.pool.execute(q("offline_mail_sent"), chat_id, max(r["seq"] for r in row["replies"]))
        return done

    async def run(self) -> None:
        every = max(0.2, min(5.0, self.settings.smtp_batch_seconds / 2))
        while True:
            try:
                while await self.round() == ROUND:
                    pass
            except DATABASE_DOWN:
                log.warning("offline email: database unavailable", exc_info=True)
            except Exception:  # a bug here must not stop email for every visitor, for good
                log.exception("offline email round failed")
            await asyncio.sleep(every)


mailer_key = web.AppKey("mailer", Mailer)


links_key = web.AppKey("offline_mail_links", Fernet)


def links_fernet(session_key: bytes) -> Fernet:
    """The key of the links in emails: derived from the session key (shared by every process), and
    not the same key, so a link is never a session cookie nor the other way round."""
    derived = hmac.new(session_key, b"webchat offline email links", hashlib.sha256).digest()
    return Fernet(base64.urlsafe_b64encode(derived))


async def running(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: the mail loop, when WEBCHAT_SMTP_HOST is set."""
    settings = app[settings_key]
    if not settings.smtp_host:
        yield
        return
    mailer = app[mailer_key] = Mailer(app[pool_key], settings, app[links_key])
    task = asyncio.create_task(mailer.run())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
