"""What a running router holds besides the kit's runtime: typed, made on first use."""

from __future__ import annotations

from dataclasses import dataclass, field

from dedup_router.dealer_index import DealerIndexCache
from leadnet_shared.app import Runtime, state_of


@dataclass(frozen=True, slots=True)
class RouterState:
    # One cache per process: the endpoints that change dealers invalidate the one the handlers read.
    dealers: DealerIndexCache = field(default_factory=DealerIndexCache)


def dealer_cache(runtime: Runtime) -> DealerIndexCache:
    return state_of(runtime, RouterState, create=RouterState).dealers
