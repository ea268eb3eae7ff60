"""dedup-router settings (env prefix `LEADNET_ROUTER_`)."""

from __future__ import annotations

from leadnet_shared.settings import ServiceSettings


class RouterSettings(ServiceSettings, service="router", default_port=8002):
    # The protection timer (protection.py): how often it looks for ended protections, and how many per transaction.
    protection_poll_seconds: float = 1.0
    protection_batch_size: int = 200

    # Per caller and replica (rate_limit.py): reported sales and protection lookups per minute, and the burst.
    sales_per_minute: float = 60.0
    sales_burst: int = 30
    protection_lookups_per_minute: float = 30.0
    protection_lookups_burst: int = 20
