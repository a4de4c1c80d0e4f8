"""Exactly-once under random interleavings (tests/stress.py): a bounded number of seeds."""

from __future__ import annotations

import os

import pytest

from webchat_server.settings import Settings

from .stress import run_seed

pytestmark = pytest.mark.slow

SEEDS = int(os.environ.get("WEBCHAT_STRESS_SEEDS", "10"))


async def test_every_reader_gets_every_message_once_in_order(database_url: str, settings: Settings) -> None:
    outcomes = [await run_seed(seed, database_url, settings) for seed in range(SEEDS)]
    problems = [p for o in outcomes for p in o.problems]
    assert problems == []
    assert sum(o.resyncs for o in outcomes) == 0
    # the seeds did exercise what they are meant to
    assert sum(o.listener_kills for o in outcomes) > 0
    assert sum(o.reconnects for o in outcomes) > SEEDS
    assert sum(o.paging for o in outcomes) > 0
    # and sends through the API shared transactions (group commit)
    assert sum(o.api_sends for o in outcomes) > 0 and sum(o.shared_batches for o in outcomes) > 0
