"""rewards-ledger settings (env prefix `LEADNET_LEDGER_`)."""

from __future__ import annotations

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from leadnet_shared.settings import ServiceSettings


class LedgerSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LEADNET_LEDGER_", extra="ignore", populate_by_name=True)

    service: ClassVar[str] = "ledger"
    database_name: ClassVar[str] = "leadnet_ledger"
    default_port: ClassVar[int] = 8004
