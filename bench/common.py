"""Bench plumbing: an embedded Postgres, one server process, many browser-like clients."""

from __future__ import annotations

import asyncio
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import psutil

from webchat_server import db

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def raise_fd_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentiles(samples: list[float]) -> dict[str, float | None]:
    if not samples:
        return {"p50": None, "p90": None, "p99": None, "max": None}
    qs = statistics.quantiles(samples, n=100, method="inclusive") if len(samples) > 1 else [samples[0]] * 99
    return {"p50": round(qs[49], 3), "p90": round(qs[89], 3), "p99": round(qs[98], 3), "max": round(max(samples), 3)}


class Bench:
    """A fresh database on an embedded Postgres and one `webchat-server serve` process."""

    def __init__(self, workers: int = 1) -> None:
        raise_fd_limit()
        self.workers = workers
        self.tmp = Path(tempfile.mkdtemp(prefix="webchat-bench-"))
        self.pg_uri = db.start_embedded_postgres(self.tmp)
        self.database_url = self.pg_uri
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    async def start(self, env: dict[str, str] | None = None) -> None:
        conn = await asyncpg.connect(self.pg_uri)
        await conn.execute("ALTER SYSTEM SET max_connections = 300")
        await conn.close()
        await db.migrate(self.database_url)
        full_env = {**os.environ, "DATABASE_URL": self.database_url, "WEBCHAT_PORT": str(self.port),
                    "WEBCHAT_DATA_DIR": str(self.tmp), "WEBCHAT_SENDS_PER_MINUTE": "1000000",
                    # load generators run from one address: lift the per-address caps and rate limits
                    # (bench.flood and bench.ratelimit set their own)
                    "WEBCHAT_RATE_LIMIT_SCALE": "1000000", "WEBCHAT_MAX_SOCKETS_PER_ADDRESS": "0",
                    "WEBCHAT_MAX_CONNECTIONS_PER_ADDRESS": "0", "WEBCHAT_DEMO_PAGE": "1",
                    "WEBCHAT_MAX_SOCKETS_PER_ACCOUNT": "0",
                    **(env or {})}
        # a bench setup step, not a request path: blocking here is fine
        self.log = open(self.tmp / "server.log", "wb")  # noqa: SIM115, ASYNC230 - closed in stop()
        self.proc = subprocess.Popen(  # noqa: ASYNC220
            [sys.executable, "-m", "webchat_server", "serve", "--workers", str(self.workers)], env=full_env,
            stdout=self.log, stderr=self.log)
        async with aiohttp.ClientSession() as s:
            for _ in range(400):
                try:
                    async with s.get(self.base + "/healthz") as r:
                        if r.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)
        raise RuntimeError("server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:  # closing tens of thousands of sockets takes a while
                self.proc.kill()
                self.proc.wait()
            self.log.close()

    def _processes(self) -> list[psutil.Process]:
        # with --workers N: Gunicorn's master and its workers (not Postgres: started beforehand)
        assert self.proc is not None
        master = psutil.Process(self.proc.pid)
        return [master, *master.children()]

    def connections_per_process(self) -> list[int]:
        """Established client connections each server process holds (how the kernel spread them)."""
        return [sum(1 for c in p.net_connections("tcp") if c.laddr and c.laddr.port == self.port
                    and c.status == psutil.CONN_ESTABLISHED) for p in self._processes()]

    def server_rss(self) -> int:
        return sum(int(p.memory_info().rss) for p in self._processes())

    def server_cpu(self) -> float:
        return sum(float(p.cpu_times().user + p.cpu_times().system) for p in self._processes())

    async def xact_commits(self, conn: asyncpg.Connection) -> int:
        await conn.execute("SELECT pg_stat_clear_snapshot()")
        return int(await conn.fetchval(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"))


class Guest:
    """One browser: its own cookie jar, account and CSRF token."""

    def __init__(self, base: str, connector: aiohttp.TCPConnector | None = None) -> None:
        self.base = base
        self.session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True), connector=connector,
                                             connector_owner=connector is None,
                                             timeout=aiohttp.ClientTimeout(total=None))
        self.id = 0
        self.csrf = ""

    async def start(self) -> Guest:
        async with self.session.get(self.base + "/webchat/me") as r:
            body = await r.json()
        self.id, self.csrf = body["account"]["id"], body["csrf_token"]
        return self

    async def send(self, text: str, chat_id: int | None = None) -> dict[str, Any]:
        async with self.session.post(self.base + "/webchat/send/", json={"text": text, "chat_id": chat_id},
                                     headers={"X-CSRF-Token": self.csrf}) as r:
            data: dict[str, Any] = await r.json()
            return data

    async def close(self) -> None:
        await self.session.close()


async def close_guests(people: list[Guest], connector: aiohttp.TCPConnector) -> None:
    for g in people:
        await g.session.close()
    await connector.close()


async def guests(base: str, n: int, connector: aiohttp.TCPConnector | None = None) -> list[Guest]:
    out: list[Guest] = []
    for i in range(0, n, 100):
        out += await asyncio.gather(*(Guest(base, connector).start() for _ in range(min(100, n - i))))
    return out


async def join_all(conn: asyncpg.Connection, chat_id: int, account_ids: list[int]) -> None:
    await conn.execute(
        "INSERT INTO webchat.chat_members (chat_id, account_id) SELECT $1, unnest($2::bigint[])"
        " ON CONFLICT DO NOTHING", chat_id, account_ids)


async def make_bot(conn: asyncpg.Connection, chat_id: int) -> int:
    bot: int = await conn.fetchval(
        "INSERT INTO webchat.accounts (kind, display_name) VALUES ('bot', 'Bench Bot') RETURNING id")
    await join_all(conn, chat_id, [bot])
    return bot


def emit(name: str, summary: dict[str, Any]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    summary = {"bench": name, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **summary}
    (RESULTS / f"{name}.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary))


def upgrade_request(host: str, cookie: str) -> bytes:
    """A WebSocket upgrade of /ws/webchat/ by hand (raw-socket clients: benches, floods), with the
    session cookie header's value."""
    return (f"GET /ws/webchat/ HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            f"Cookie: {cookie}\r\n\r\n").encode()


def ws_frames(buf: bytes) -> tuple[list[tuple[int, bytes]], bytes]:
    """The whole (unmasked, server-sent) WebSocket frames at the front of buf as (opcode, payload),
    and the bytes left over for the next read."""
    frames = []
    while len(buf) >= 2:
        n, at = buf[1] & 0x7F, 2
        if n == 126:
            n, at = int.from_bytes(buf[2:4], "big"), 4
        elif n == 127:
            n, at = int.from_bytes(buf[2:10], "big"), 10
        if len(buf) < at + n:
            break
        frames.append((buf[0] & 0x0F, buf[at:at + n]))
        buf = buf[at + n:]
    return frames, buf
