"""What a running router holds besides the kit's runtime: typed, made on first use."""

from __future__ import annotations

from dataclasses import dataclass, field

from dedup_router.dealer_index import DealerIndexCache
from leadnet_shared.app import Runtime, state_of


@dataclass(frozen=True, slots=True)
class RouterState:
    # One cache per process: the endpoints that change dealers invalidate the one the handlers read.
    dealers: DealerIndexCache = field(default_factory=DealerIndexCache)
    # Per-caller rate limits of sales and protection lookups, by name (rate_limit.py), made on first use.
    limiters: dict[str, object] = field(default_factory=dict)


def router_state(runtime: Runtime) -> RouterState:
    return state_of(runtime, RouterState, create=RouterState)


def dealer_cache(runtime: Runtime) -> DealerIndexCache:
    """The process's one cache: routing, sales, the protection timer and the dealer endpoints (which invalidate it
    on a write) must share it, or a replica would route on an index its own endpoint just changed."""
    return router_state(runtime).dealers
