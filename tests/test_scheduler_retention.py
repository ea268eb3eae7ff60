"""Task notes retention (followup_scheduler/policy/retention.toml) on a real scheduler: notes staff typed are cleared
once older than the policy's days, by the periodic worker's step; younger notes and the tasks themselves stay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from followup_scheduler.retention import notes_retention, notes_retention_step
from leadnet_shared.testing import Infra
from tests.scheduler_harness import Scheduler, scheduler

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]

T0 = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)
NOTES = "张三丰说下个月再联系, 电话 13800138000"


async def _complete_first_task(s: Scheduler, lead_id: str, notes: str) -> str:
    task = (await s.tasks_of(lead_id))[0]
    r = await s.complete(task["task_id"], outcome="within_6_months", info_verified=False, notes=notes)
    assert r.status_code == 200, r.text
    return str(task["task_id"])


class TestNotesRetention:
    async def test_notes_older_than_the_policy_are_cleared_and_younger_ones_kept(self, infra: Infra) -> None:
        keep = notes_retention().keep
        assert keep == timedelta(days=400)  # the policy's default (domain.md gives none)
        async with scheduler(infra, start=T0) as s:
            await s.add_dealer("D001")
            old = await _complete_first_task(s, await s.accept_lead(), NOTES)
            s.clock.advance(timedelta(days=30))
            young = await _complete_first_task(s, await s.accept_lead(), "第二位客户")
            step = notes_retention_step(s.runtime)

            s.clock.set(T0 + keep - timedelta(minutes=1))  # the old notes are not quite 400 days old
            await step()
            assert await s.scalar("SELECT count(*) FROM tasks WHERE notes IS NOT NULL") == 2

            s.clock.set(T0 + keep + timedelta(minutes=1))
            await step()
            notes = dict(await s.rows("SELECT task_id, notes FROM tasks WHERE task_id IN (:a, :b)", a=old, b=young))
            assert notes == {old: None, young: "第二位客户"}
            # The task itself stays: its outcome and dates are what the counts read.
            assert await s.scalar("SELECT status FROM tasks WHERE task_id = :t", t=old) == "done"
