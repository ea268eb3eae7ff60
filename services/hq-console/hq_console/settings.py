"""hq-console settings (env prefix `LEADNET_CONSOLE_`)."""

from __future__ import annotations

from typing import ClassVar

from leadnet_shared.settings import ServiceSettings


class ConsoleSettings(ServiceSettings):
    service: ClassVar[str] = "console"
    default_port: ClassVar[int] = 8005
