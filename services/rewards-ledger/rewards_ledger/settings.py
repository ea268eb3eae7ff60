"""rewards-ledger settings (env prefix `LEADNET_LEDGER_`)."""

from __future__ import annotations

from typing import ClassVar

from leadnet_shared.settings import ServiceSettings


class LedgerSettings(ServiceSettings):
    service: ClassVar[str] = "ledger"
    default_port: ClassVar[int] = 8004
