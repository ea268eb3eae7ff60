"""Retention of task notes (policy/retention.toml): the free text staff type about a customer is cleared once it
is older than the policy's `keep_days`, by a periodic worker; the task itself (ids, kind, outcome, dates) stays."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from leadnet_shared.app import Runtime
from leadnet_shared.policy import cached_policy
from leadnet_shared.workers import Step

from .policy_values import policy_int, policy_section
from .repository.tasks import clear_old_notes
from .vocabulary import PACKAGE

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NotesRetention:
    version: str
    keep: timedelta
    batch: int
    interval_seconds: int


def parse_retention_policy(data: Mapping[str, Any]) -> NotesRetention:
    """Check and type a retention policy document."""
    notes = policy_section(data, "notes", policy="retention")
    return NotesRetention(
        version=str(data["version"]),
        keep=timedelta(days=policy_int(notes, "keep_days", policy="retention", minimum=1)),
        batch=policy_int(notes, "batch", policy="retention", minimum=1),
        interval_seconds=policy_int(notes, "interval_seconds", policy="retention", minimum=1),
    )


def notes_retention() -> NotesRetention:
    """The retention in force."""
    return parse_retention_policy(cached_policy(PACKAGE, "retention"))


def notes_retention_step(runtime: Runtime) -> Step:
    """A `workers.periodic` step: a batch per pass while notes are due, then a pause."""

    async def step() -> float:
        policy = notes_retention()
        async with runtime.db.transaction() as session:
            # Up to a batch of the notes older than the retention.
            cleared = await clear_old_notes(session, before=runtime.clock.now() - policy.keep, batch=policy.batch)
        if cleared:
            log.info("cleared the notes of %d tasks older than %s", cleared, policy.keep)
        return 0.0 if cleared >= policy.batch else float(policy.interval_seconds)

    return step
