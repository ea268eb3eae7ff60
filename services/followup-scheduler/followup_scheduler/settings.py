"""followup-scheduler settings (env prefix `LEADNET_SCHEDULER_`)."""

from __future__ import annotations

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from leadnet_shared.settings import ServiceSettings


class SchedulerSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LEADNET_SCHEDULER_", extra="ignore", populate_by_name=True)

    service: ClassVar[str] = "scheduler"
    database_name: ClassVar[str] = "leadnet_scheduler"
    default_port: ClassVar[int] = 8003

    fire_batch_size: int = 1000
    fire_idle_poll_seconds: float = 0.1
