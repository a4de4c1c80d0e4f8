"""A Postgres restart behind PgBouncer: nothing lost or repeated, and nobody resynced."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .restart_drill import run

pytestmark = pytest.mark.slow


async def test_postgres_restart_behind_pgbouncer_resyncs_nobody(tmp_path: Path) -> None:
    # PgBouncer's default server_login_retry (15 s), as before docs/deploy.md set it to 1: the
    # longest window in which the pool fails while the direct LISTEN connection is back
    figures = await run(tmp_path, ws_readers=20, poll_readers=10, api_writers=2, server_login_retry=None,
                        after=20.0)
    print("postgres restart drill:", json.dumps(figures))
    assert figures["acknowledged"] > 0
    assert figures["lost"] == 0 and figures["duplicated"] == 0
    assert figures["resyncs"] == 0
    assert figures["log_errors"] == 0
    # the listener reconnected once or a few times with a growing backoff, not hundreds of times,
    # and its probe (on its own connection) did not fail through PgBouncer's retries
    assert figures["log_listener_reconnecting"] <= 5 and figures["log_probe_failed"] == 0
