"""hq-console settings (env prefix `LEADNET_CONSOLE_`)."""

from __future__ import annotations

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from leadnet_shared.settings import ServiceSettings


class ConsoleSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LEADNET_CONSOLE_", extra="ignore", populate_by_name=True)

    service: ClassVar[str] = "console"
    database_name: ClassVar[str] = "leadnet_console"
    default_port: ClassVar[int] = 8005
