"""hq-console settings (env prefix `LEADNET_CONSOLE_`)."""

from __future__ import annotations

from leadnet_shared.settings import ServiceSettings


class ConsoleSettings(ServiceSettings, service="console", default_port=8005):
    """No settings of its own: the common ones serve."""
