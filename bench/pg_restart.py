"""The Postgres-restart drill behind PgBouncer (tests/restart_drill.py): loss, duplicates, resyncs, the error window."""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from tests.restart_drill import run

from .common import emit


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--server-login-retry", type=int, default=1)
    args = parser.parse_args()
    runs = [asyncio.run(run(Path(tempfile.mkdtemp(prefix="webchat-bench-")),
                            server_login_retry=args.server_login_retry)) for _ in range(args.runs)]
    emit("pg_restart", {"runs": runs})


if __name__ == "__main__":
    main()
