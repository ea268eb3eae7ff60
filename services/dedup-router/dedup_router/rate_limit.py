"""Per-caller rate limits (token bucket, per replica) on the endpoints that probe or claim money: a dealer's script
cannot report sales or look up phone numbers by the thousand (429 `rate_limited` with Retry-After)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from dedup_router.settings import RouterSettings
from dedup_router.state import router_state
from leadnet_shared.app import runtime_of
from leadnet_shared.auth import Principal, bearer_principal
from leadnet_shared.problems import RateLimited


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    def __init__(self, *, per_minute: float, burst: int) -> None:
        self.rate = per_minute / 60.0
        self.burst = burst
        self._buckets: dict[str, _Bucket] = {}

    def take(self, caller: str, *, now: float | None = None) -> float:
        """Take one token; 0 when allowed, else the whole seconds to wait (for `Retry-After`)."""
        now = time.monotonic() if now is None else now
        bucket = self._buckets.setdefault(caller, _Bucket(float(self.burst), now))
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return float(max(1, math.ceil((1.0 - bucket.tokens) / self.rate)))


def _limiter(request: Request, name: str) -> RateLimiter:
    runtime = runtime_of(request)
    limiters = router_state(runtime).limiters
    limiter = limiters.get(name)
    if limiter is None:
        settings = runtime.settings
        assert isinstance(settings, RouterSettings)
        per_minute, burst = {
            "sales_limiter": (settings.sales_per_minute, settings.sales_burst),
            "lookup_limiter": (settings.protection_lookups_per_minute, settings.protection_lookups_burst),
        }[name]
        limiter = limiters[name] = RateLimiter(per_minute=per_minute, burst=burst)
    assert isinstance(limiter, RateLimiter)
    return limiter


def _take(request: Request, principal: Principal, name: str) -> None:
    wait = _limiter(request, name).take(principal.caller_key)
    if wait:
        raise RateLimited("Too many requests from this caller; slow down.", headers={"Retry-After": str(int(wait))})


async def limit_sales(request: Request, principal: Annotated[Principal, Depends(bearer_principal)]) -> None:
    _take(request, principal, "sales_limiter")


async def limit_protection_lookups(
    request: Request, principal: Annotated[Principal, Depends(bearer_principal)]
) -> None:
    _take(request, principal, "lookup_limiter")
