"""Migrations: applied once, recorded, safe when several processes start together."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator

import asyncpg
import pytest

from webchat_server import db

from .conftest import _with_database


@pytest.fixture
async def empty_db(pg_uri: str) -> AsyncIterator[str]:
    name = f"empty_{os.getpid()}"
    conn = await asyncpg.connect(pg_uri)
    await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    await conn.execute(f"CREATE DATABASE {name}")
    await conn.close()
    yield _with_database(pg_uri, name)
    conn = await asyncpg.connect(pg_uri)
    await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    await conn.close()


async def test_migrations_apply_once(empty_db: str) -> None:
    first = await db.migrate(empty_db)
    assert first == [v for v, _ in db.migration_files()] and first
    assert await db.migrate(empty_db) == []
    conn = await asyncpg.connect(empty_db)
    try:
        versions = await conn.fetch("SELECT version FROM public.webchat_migrations ORDER BY version")
        assert [r["version"] for r in versions] == first
    finally:
        await conn.close()


@pytest.mark.slow
async def test_two_processes_migrating_at_once(empty_db: str) -> None:
    env = {**os.environ, "DATABASE_URL": empty_db}
    procs = [
        await asyncio.create_subprocess_exec(sys.executable, "-m", "webchat_server", "migrate", env=env,
                                             stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        for _ in range(2)
    ]
    outs = [await p.communicate() for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    printed = sorted(o[0].decode().strip() for o in outs)
    # exactly one of them did the work, the other waited on the lock and found nothing to do
    assert printed[0].startswith("applied: 0001") and printed[1] == "applied: nothing (up to date)", printed
