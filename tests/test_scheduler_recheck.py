"""followup-scheduler's recheck task (recheck.py) with the real consumer: once per HQ return round however often the
return is delivered, with the entering dealer even when the lead moves, and what each outcome publishes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from leadnet_shared.events import LeadReturned
from leadnet_shared.testing import Infra, eventually, lead_event, reassigned_event
from tests.scheduler_harness import Scheduler, scheduler

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]

T0 = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)  # a Monday, 10:00 in Shanghai


async def _return(s: Scheduler, lead_id: str, customer_id: str, round_: int) -> None:
    returned = {"return_round": round_, "reason": "空号", "returned_at": s.clock.now()}
    await s.publish(lead_event(LeadReturned, lead_id, customer_id, entered_by="D002", **returned), key=customer_id)


async def _rechecks(s: Scheduler, lead_id: str) -> list[dict[str, object]]:
    return [t for t in await s.tasks_of(lead_id) if t["kind"] == "recheck"]


class TestRecheckTask:
    async def test_one_task_per_round_for_the_entrant_which_stays_with_it_when_the_lead_moves(
        self, infra: Infra
    ) -> None:
        async with scheduler(infra, start=T0, dealers=("D001", "D002", "D003")) as s:
            lead_id = await s.accept_lead(dealer="D001", entered_by="D002")
            customer_id = await s.scalar("SELECT customer_id FROM leads WHERE lead_id = :l", l=lead_id)
            for _ in range(2):  # a redelivery under a new event id
                await _return(s, lead_id, customer_id, 1)
            [task] = await eventually(lambda: _rechecks(s, lead_id))
            await eventually(lambda: s.scalar("SELECT status = 'returned' FROM leads WHERE lead_id = :l", l=lead_id))
            assert await s.scalar("SELECT dealer FROM tasks WHERE task_id = :t", t=task["task_id"]) == "D002"
            assert task["due_at"] == T0 + timedelta(days=3)  # policy recheck.toml, a working day
            assert str(task["reason"]).startswith("hq_return #1: 空号")

            moved = reassigned_event(
                lead_id,
                customer_id,
                entered_by="D002",
                from_dealer="D001",
                to_dealer="D003",
                at=s.clock.now(),
                lead_version=2,
            )
            await s.publish(moved, key=customer_id)
            await eventually(
                lambda: s.scalar("SELECT assigned_dealer = 'D003' FROM leads WHERE lead_id = :l", l=lead_id)
            )
            assert await s.scalar("SELECT dealer FROM tasks WHERE task_id = :t", t=task["task_id"]) == "D002"
            assert len(await _rechecks(s, lead_id)) == 1

            tier_corrected = {"customer": {"tier": "gold_silver"}}
            r = await s.complete(task["task_id"], "D003", outcome="confirmed", corrections=tier_corrected)
            assert r.status_code == 404  # the lead's new dealer does not see the entrant's recheck
            phone = {"customer": {"phone": "13900139000"}}
            r = await s.complete(task["task_id"], "D002", outcome="confirmed", corrections=phone)
            assert r.status_code == 422 and r.json()["errors"][0]["field"] == "/corrections/customer/phone"
            r = await s.complete(task["task_id"], "D002", outcome="confirmed", corrections=tier_corrected)
            assert r.status_code == 200, r.text
            [reopened] = await s.outbox("leadnet.lead.reopened")
            assert reopened["data"]["return_round"] == 1 and reopened["data"]["corrected"] == ["customer"]
            [corrected] = await s.outbox("leadnet.lead.corrected")
            assert corrected["data"]["corrections"] == {"customer": {"tier": "gold_silver"}}
            assert corrected["data"]["corrected_by"] == "D002"
            assert await s.scalar("SELECT status FROM leads WHERE lead_id = :l", l=lead_id) == "open"
            topics = await s.rows("SELECT event_type, topic FROM outbox WHERE event_type LIKE 'leadnet.lead.%'")
            assert {(t, topic.removeprefix(s.prefix)) for t, topic in topics} == {
                ("leadnet.lead.reopened", "leadnet.public.leads.v1"),
                ("leadnet.lead.corrected", "leadnet.internal.leads.v1"),  # personal data stays internal
            }
