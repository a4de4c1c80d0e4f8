"""`webchat-server check`: the effective settings, and whether they can run (database, key, proxy trust)."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from pathlib import Path
from typing import Any

import asyncpg

from . import __version__, db
from .settings import Settings

SECRET_FIELDS = {"secret_key", "identity_secret", "metrics_token"}
URL_PASSWORD = re.compile(r"(://[^:/@]+:)[^@]*@")


def shown(name: str, value: Any) -> str:
    """A setting as printed: secrets as set/unset, passwords in URLs hidden."""
    if name in SECRET_FIELDS:
        return "(set)" if value else "(unset)"
    if isinstance(value, str):
        return URL_PASSWORD.sub(r"\1***@", value)
    return repr(value) if not isinstance(value, Path) else str(value)


async def _database(url: str, label: str) -> tuple[bool, str]:
    try:
        conn = await asyncio.wait_for(asyncpg.connect(url), 10)
    except (OSError, asyncpg.PostgresError, TimeoutError) as e:
        return False, f"{label}: cannot connect: {e.__class__.__name__}: {e}"
    try:
        version = await conn.fetchval("SHOW server_version")
    finally:
        await conn.close()
    return True, f"{label}: reachable (PostgreSQL {version})"


def _key(settings: Settings) -> tuple[bool, str]:
    from cryptography.fernet import Fernet

    if settings.secret_key:
        try:
            Fernet(settings.secret_key.encode())
        except (ValueError, TypeError):
            return False, "session key: WEBCHAT_SECRET_KEY is not a Fernet key"
        return True, "session key: WEBCHAT_SECRET_KEY (share it between every process and machine)"
    path = settings.data_dir / "secret_key"
    if not path.exists():
        return True, (f"session key: none yet; {path} will be generated at start (set WEBCHAT_SECRET_KEY "
                      "for more than one machine)")
    try:
        Fernet(path.read_bytes().strip())
    except (ValueError, TypeError, OSError):
        return False, f"session key: {path} is unreadable or not a Fernet key"
    return True, f"session key: {path}"


def _proxies(settings: Settings) -> tuple[bool, str]:
    if settings.trusted_proxies:
        return True, f"proxy trust: X-Forwarded-* believed from {', '.join(settings.trusted_proxies)}"
    return True, ("proxy trust: WEBCHAT_TRUSTED_PROXIES is unset: forwarding headers are ignored; behind a "
                  "reverse proxy every visitor would count as the proxy (warn)")


async def run(settings: Settings) -> int:
    """Print the report; 0 when everything needed to serve is in place, 1 otherwise."""
    print(f"webchat-server {__version__}")
    print("settings:")
    for field in dataclasses.fields(settings):
        print(f"  {field.name} = {shown(field.name, getattr(settings, field.name))}")
    results: list[tuple[bool, str]] = []
    if settings.database_url is None:
        results.append((True, f"database: embedded PostgreSQL in {settings.data_dir / 'pg'} (DATABASE_URL unset)"))
    else:
        results.append(await _database(settings.database_url, "database (DATABASE_URL)"))
        if settings.listen_database_url and settings.listen_database_url != settings.database_url:
            results.append(await _database(settings.listen_database_url,
                                           "LISTEN/migrations (WEBCHAT_LISTEN_DATABASE_URL)"))
        direct = settings.listen_database_url or settings.database_url
        if results[-1][0]:
            try:
                pending = [v for v, at in await db.migration_status(direct) if at is None]
                results.append((True, f"migrations: {len(pending)} pending ({', '.join(pending)})" if pending
                                else "migrations: up to date"))
            except (OSError, asyncpg.PostgresError) as e:
                results.append((False, f"migrations: cannot read: {e}"))
    results.append(_key(settings))
    results.append(_proxies(settings))
    if not settings.identity_secret:
        results.append((True, "identify: disabled (WEBCHAT_IDENTITY_SECRET unset): visitors stay guests"))
    for ok, line in results:
        print(("ok    " if ok else "FAIL  ") + line)
    return 0 if all(ok for ok, _ in results) else 1
