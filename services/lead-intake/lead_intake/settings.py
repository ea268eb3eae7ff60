"""lead-intake settings (env prefix `LEADNET_INTAKE_`)."""

from __future__ import annotations

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from leadnet_shared.settings import ServiceSettings


class IntakeSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LEADNET_INTAKE_", extra="ignore", populate_by_name=True)

    service: ClassVar[str] = "intake"
    database_name: ClassVar[str] = "leadnet_intake"
    default_port: ClassVar[int] = 8001

    wait_budget_seconds: float = 2.0
    max_record_bytes: int = 64 * 1024
    max_batch_bytes: int = 8 * 1024 * 1024
    max_batch_records: int = 1000
    rate_limit_per_second: float = 200.0
    rate_limit_burst: int = 400
    idempotency_ttl_hours: int = 48
