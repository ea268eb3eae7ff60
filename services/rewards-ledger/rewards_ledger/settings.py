"""rewards-ledger settings (env prefix `LEADNET_LEDGER_`)."""

from __future__ import annotations

from leadnet_shared.settings import ServiceSettings


class LedgerSettings(ServiceSettings, service="ledger", default_port=8004):
    """No settings of its own: the common ones serve."""
