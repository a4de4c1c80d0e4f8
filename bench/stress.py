"""Exactly-once stress (tests/stress.py) over many seeds at a larger scale; prints one JSON line."""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import asyncpg
from cryptography.fernet import Fernet

from tests.stress import run_seed
from webchat_server import db
from webchat_server.settings import Settings

from .common import emit


async def main(seeds: int, first: int, scale: float) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="webchat-stress-"))
    uri = db.start_embedded_postgres(tmp)
    conn = await asyncpg.connect(uri)
    await conn.execute("ALTER SYSTEM SET max_connections = 300")
    await conn.close()
    await db.migrate(uri)
    settings = Settings(database_url=uri, data_dir=tmp, secret_key=Fernet.generate_key().decode(),
                        identity_secret="stress", sends_per_minute=10**9,
                        # every seed makes its guests and sockets from one address: no limits here
                        rate_limit_scale=1e6, max_sockets_per_account=0, max_sockets_per_address=0)
    started = time.monotonic()
    outcomes = [await run_seed(seed, uri, settings, scale) for seed in range(first, first + seeds)]
    emit("stress_exactly_once", {
        "seeds": seeds, "first_seed": first, "scale": scale,
        "seconds": round(time.monotonic() - started, 1),
        "messages": sum(o.messages for o in outcomes),
        "reader_streams": sum(o.readers for o in outcomes),
        "reconnects": sum(o.reconnects for o in outcomes),
        "listener_kills": sum(o.listener_kills for o in outcomes),
        "paging": sum(o.paging for o in outcomes),
        "resyncs": sum(o.resyncs for o in outcomes),
        "api_sends": sum(o.api_sends for o in outcomes),
        "transactions_with_several_sends": sum(o.shared_batches for o in outcomes),
        "problems": [p for o in outcomes for p in o.problems],
        "ok": not any(o.problems for o in outcomes) and not any(o.resyncs for o in outcomes),
    })


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=40)
    ap.add_argument("--first", type=int, default=1000)
    ap.add_argument("--scale", type=float, default=2.0)
    a = ap.parse_args()
    asyncio.run(main(a.seeds, a.first, a.scale))
