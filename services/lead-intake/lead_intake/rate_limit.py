"""Per-caller rate limit (token bucket, per replica): one dealer's runaway DMS must not starve the others."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    def __init__(self, *, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets: dict[str, _Bucket] = {}

    def take(self, caller: str, cost: float = 1.0, *, now: float | None = None) -> float:
        """Take `cost` tokens; returns 0 when allowed, else the seconds to wait (for `Retry-After`)."""
        now = time.monotonic() if now is None else now
        bucket = self._buckets.get(caller)
        if bucket is None:
            bucket = self._buckets[caller] = _Bucket(float(self.burst), now)
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        if bucket.tokens >= cost:
            bucket.tokens -= cost
            return 0.0
        return max(1.0, math.ceil((cost - bucket.tokens) / self.rate))
