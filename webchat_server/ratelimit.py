"""In-process token buckets: per-account send limits and typing throttles."""

from __future__ import annotations

import time
from collections.abc import Hashable


class RateLimiter:
    """`rate` tokens per `per` seconds with bursts of `burst`; forgets idle keys."""

    def __init__(self, rate: float, per: float, burst: float | None = None, max_keys: int = 100_000) -> None:
        self.fill = rate / per
        self.burst = burst if burst is not None else rate
        self.max_keys = max_keys
        self._buckets: dict[Hashable, tuple[float, float]] = {}

    def allow(self, key: Hashable, cost: float = 1.0) -> bool:
        now = time.monotonic()
        tokens, at = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.fill)
        ok = tokens >= cost
        if ok:
            tokens -= cost
        if len(self._buckets) >= self.max_keys and key not in self._buckets:
            self._buckets.clear()  # crude but bounded: a flood of keys cannot grow memory
        self._buckets[key] = (tokens, now)
        return ok
