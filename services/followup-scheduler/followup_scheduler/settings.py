"""followup-scheduler settings (env prefix `LEADNET_SCHEDULER_`)."""

from __future__ import annotations

from leadnet_shared.settings import ServiceSettings


class SchedulerSettings(ServiceSettings, service="scheduler", default_port=8003):
    # Due tasks claimed per transaction; a burst is drained batch after batch without sleeping.
    fire_batch_size: int = 1000
    # Longest sleep of the timer worker between looks at the database (bounds lateness when idle).
    fire_idle_poll_seconds: float = 0.1
    # How often the worker checks for plan reminders whose time has come (reminders are to the minute, not second).
    reminder_poll_seconds: float = 30.0
