"""Behind PgBouncer (transaction pooling): queries through Debian's pgbouncer, LISTEN direct to Postgres."""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import asyncpg
import pytest
from cryptography.fernet import Fernet

from webchat_server.db import pool_key
from webchat_server.realtime.listener import listener_key
from webchat_server.settings import Settings

from .browser_support import free_port

# The real-time suite's core scenarios, collected again here so they run with this module's
# fixtures: the app's pool and the integrator's SQL connection go through PgBouncer.
from .test_realtime import (  # noqa: F401
    test_concurrent_writers_while_client_reconnects,
    test_each_session_gets_each_event_once,
    test_listener_killed_while_inserting,
    test_resume_after_disconnect_poll_and_switching,
    test_resume_after_disconnect_ws,
    test_sql_insert_reaches_ws_and_parked_poll,
)

pytestmark = pytest.mark.slow

PASSWORD = "bouncer-secret"
# fewer server connections than the app's pool has clients, so transactions really do move between
# server connections (what breaks named prepared statements and session state)
SERVER_POOL_SIZE = 3


class PgBouncer:
    """Debian's pgbouncer in transaction mode in front of the test Postgres (its unix socket)."""

    def __init__(self, socket_dir: str) -> None:
        self.port = free_port()
        # not under pytest's tmp dir: that is root-only, and pgbouncer refuses to run as root
        self.dir = Path(tempfile.mkdtemp(prefix="webchat-pgbouncer-"))
        self.user = "embedded_postgres" if os.geteuid() == 0 else None  # the user that owns the socket
        (self.dir / "userlist.txt").write_text(f'"postgres" "{PASSWORD}"\n')
        (self.dir / "pgbouncer.ini").write_text(
            "[databases]\n"
            f"* = host={socket_dir} port=5432\n"
            "[pgbouncer]\n"
            "listen_addr = 127.0.0.1\n"
            f"listen_port = {self.port}\n"
            "unix_socket_dir =\n"
            "auth_type = scram-sha-256\n"
            f"auth_file = {self.dir / 'userlist.txt'}\n"
            "pool_mode = transaction\n"
            f"default_pool_size = {SERVER_POOL_SIZE}\n"
            "max_client_conn = 500\n"
            f"logfile = {self.dir / 'pgbouncer.log'}\n"
        )
        if self.user:
            pw = pwd.getpwnam(self.user)
            for p in (self.dir, *self.dir.iterdir()):
                os.chown(p, pw.pw_uid, pw.pw_gid)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
        if not os.path.exists(binary):
            # fail, never skip: CI installs Debian's pgbouncer and this must run there
            raise RuntimeError("Debian's pgbouncer is required: apt-get install -y pgbouncer")
        self.proc = subprocess.Popen([binary, str(self.dir / "pgbouncer.ini")], user=self.user,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"pgbouncer did not start: {self.log()}")

    def log(self) -> str:
        path = self.dir / "pgbouncer.log"
        return path.read_text()[-2000:] if path.exists() else ""

    def url(self, direct_url: str) -> str:
        """The same database as direct_url (a unix-socket URL), reached through this PgBouncer."""
        database = urlsplit(direct_url).path.lstrip("/")
        return f"postgresql://postgres:{PASSWORD}@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def pgbouncer(pg_uri: str) -> Iterator[PgBouncer]:
    socket_dir = parse_qs(urlsplit(pg_uri).query).get("host", [""])[0]
    if not socket_dir.startswith("/"):
        pytest.fail(f"expected the embedded Postgres on a unix socket, got {pg_uri}")
    bouncer = PgBouncer(socket_dir)
    bouncer.start()
    yield bouncer
    bouncer.stop()


@pytest.fixture
def settings(settings: Settings, database_url: str, pgbouncer: PgBouncer) -> Settings:
    """conftest's settings, with queries through PgBouncer and LISTEN/migrations direct."""
    return replace(settings, database_url=pgbouncer.url(database_url), listen_database_url=database_url)


@pytest.fixture
async def sql(database_url: str, pgbouncer: PgBouncer) -> AsyncIterator[asyncpg.Connection]:
    """The integrator's connection, through PgBouncer too (so without asyncpg's statement cache)."""
    conn = await asyncpg.connect(pgbouncer.url(database_url), statement_cache_size=0)
    yield conn
    await conn.close()


async def test_pool_is_multiplexed_by_pgbouncer_listener_is_direct(client: Any, settings: Settings,
                                                                    sql: asyncpg.Connection) -> None:
    assert settings.statement_cache == 0  # decided by the separate LISTEN URL
    app = client.server.app
    pool = app[pool_key]

    async def backend() -> int:
        async with pool.acquire() as conn, conn.transaction():
            pid: int = await conn.fetchval("SELECT pg_backend_pid()")
            await asyncio.sleep(0.05)  # hold the server connection so the others need theirs
            return pid

    pids = set(await asyncio.gather(*(backend() for _ in range(settings.pool_max))))
    # ten client connections shared a few server connections: transaction pooling is in effect
    assert 1 <= len(pids) <= SERVER_POOL_SIZE
    listener_pid = app[listener_key].backend_pid
    assert listener_pid is not None and listener_pid not in pids
    listening = await sql.fetchval("SELECT query FROM pg_stat_activity WHERE pid = $1", listener_pid)
    assert listening is not None and listening.startswith("LISTEN")


def test_statement_cache_follows_the_direct_url_setting() -> None:
    direct = "postgresql://webchat@db:5432/webchat"
    pooled = "postgresql://webchat@127.0.0.1:6432/webchat"
    assert Settings.from_env({"DATABASE_URL": direct}).statement_cache == 100
    behind = Settings.from_env({"DATABASE_URL": pooled, "WEBCHAT_LISTEN_DATABASE_URL": direct})
    assert behind.listen_database_url == direct and behind.statement_cache == 0
    # PgBouncer >= 1.21 with max_prepared_statements: the operator turns the cache back on
    tracked = Settings.from_env({"DATABASE_URL": pooled, "WEBCHAT_LISTEN_DATABASE_URL": direct,
                                 "WEBCHAT_STATEMENT_CACHE_SIZE": "100"})
    assert tracked.statement_cache == 100


def test_served_from_the_environment_migrates_direct_and_queries_through_pgbouncer(
        pg_uri: str, pgbouncer: PgBouncer, tmp_path: Path) -> None:
    """`webchat-server serve` as an operator configures it, on an empty database."""
    import urllib.request

    from .browser_support import ServerProcess, sql
    from .conftest import _counter, _with_database, admin, run_sync

    name = f"bouncer_{os.getpid()}_{next(_counter)}"
    run_sync(admin(pg_uri, f"CREATE DATABASE {name}"))
    direct = _with_database(pg_uri, name)
    srv = ServerProcess(pgbouncer.url(direct), tmp_path, {"WEBCHAT_LISTEN_DATABASE_URL": direct,
                                                          "WEBCHAT_SECRET_KEY": Fernet.generate_key().decode()})
    try:
        srv.start()  # the migrations' session lock would not hold through transaction pooling
        with urllib.request.urlopen(srv.base + "/webchat/me", timeout=10) as r:
            assert r.status == 200
        assert sql(direct, "SELECT count(*) FROM public.webchat_migrations") >= 2
        assert sql(direct, "SELECT count(*) FROM webchat.accounts") == 1  # the guest, written via PgBouncer
        # the listener's self-NOTIFY probe comes back: through transaction pooling it would not
        # (the LISTEN stays on a server session that other clients' transactions then borrow)
        with urllib.request.urlopen(srv.base + "/healthz", timeout=10) as r:
            assert json.loads(r.read())["listener"] == "ok"
    finally:
        srv.stop()
        run_sync(admin(pg_uri, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
