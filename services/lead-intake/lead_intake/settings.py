"""lead-intake settings (env prefix `LEADNET_INTAKE_`)."""

from __future__ import annotations

from pydantic import field_validator

from leadnet_shared.settings import ServiceSettings


class IntakeSettings(ServiceSettings, service="intake", default_port=8001):
    wait_budget_seconds: float = 2.0
    max_record_bytes: int = 64 * 1024
    max_batch_bytes: int = 8 * 1024 * 1024
    max_batch_records: int = 1000
    rate_limit_per_second: float = 200.0
    rate_limit_burst: int = 400
    # Batches have their own bucket per caller: 20 batches/s of 1000 records is 20,000 records/s.
    batch_rate_limit_per_second: float = 20.0
    batch_rate_limit_burst: int = 40
    # Single-record requests arriving together share a transaction (leadnet_shared.group_commit): at most this
    # many per transaction, with this many transactions in flight at once.
    group_commit_max: int = 256
    group_committers: int = 2
    # POST /v1/leads skips FastAPI's per-request layers (leadnet_shared.app.ServiceApp); off only to compare.
    fast_lane: bool = True
    idempotency_ttl_hours: int = 48  # the contract keeps keys at least 24 h
    idempotency_purge_interval_seconds: float = 600.0
    # A dealer found active may write for this long before the directory is asked again: a withdrawal stops its
    # writes at most this long after intake has read the event (leadnet_shared.dealer_directory.ActiveDealers).
    dealer_status_ttl_seconds: float = 5.0

    @field_validator("idempotency_ttl_hours")
    @classmethod
    def _keys_kept_a_day(cls, value: int) -> int:
        # contract.md: "Keys are kept at least 24 hours"; a shorter TTL would let a retry double-submit.
        if value < 24:
            raise ValueError("idempotency_ttl_hours must be at least 24 (contract.md)")
        return value
