"""followup-scheduler wired end to end: lead events in, tasks by the tables, outcomes, timers, order, plans.

Real PostgreSQL and Kafka; time is a FrozenClock the tests move (domain.md §3-6, contract.md "followup-scheduler").
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest

from followup_scheduler.tasks import timer_event_id
from leadnet_shared.clock import SHANGHAI
from leadnet_shared.events import (
    LEADS,
    Envelope,
    FleetLine,
    LeadClosed,
    TaskEvent,
)
from leadnet_shared.testing import Infra, envelope, eventually, lead_event, reassigned_event
from tests.scheduler_harness import Scheduler, accepted_lead, scheduler

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]

MONDAY = datetime(2026, 3, 2, 10, 0, tzinfo=SHANGHAI)  # an ordinary working Monday, 10:00 in Shanghai


def at(value: Any) -> datetime:
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed.astimezone(SHANGHAI)


async def complete(
    s: Scheduler, task_id: str, outcome: str, *, dealer: str = "D001", verified: bool = False
) -> dict[str, Any]:
    r = await s.complete(task_id, dealer, outcome=outcome, info_verified=verified)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


class TestFirstTaskOfARoutedLead:
    async def test_by_the_tables_and_not_yet_reached_without_intent(self, infra: Infra) -> None:
        async with scheduler(infra, start=MONDAY) as s:
            gold = await s.accept_lead(tier="gold_silver", horizon="within_2_weeks")
            big = await s.accept_lead(tier="general_big", horizon="within_2_months")
            passive = await s.accept_lead(tier="retail", horizon=None)
            queued = await s.accept_lead(dealer=None, horizon="within_1_week")

            [promotion] = await s.tasks_of(gold)
            assert (promotion["kind"], at(promotion["due_at"])) == ("promotion", MONDAY + timedelta(days=2))
            [callback] = await s.tasks_of(big)
            # 5 days lands on Saturday 2026-03-07: moved earlier to Friday, never later than the table.
            assert (callback["kind"], at(callback["due_at"])) == ("callback", MONDAY + timedelta(days=4))
            assert "moved earlier" in callback["reason"]
            [not_reached] = await s.tasks_of(passive)
            assert (not_reached["kind"], at(not_reached["due_at"])) == ("callback", MONDAY + timedelta(days=30))
            assert "not yet reached" in not_reached["reason"]
            assert await s.tasks_of(queued) == []  # waiting in the HQ queue: HQ plans by hand
            assert len(await s.outbox("leadnet.task.scheduled")) == 3

    async def test_a_lead_routed_before_a_holiday_is_due_before_it_over_http(self, infra: Infra) -> None:
        routed = datetime(2025, 9, 29, 10, 0, tzinfo=SHANGHAI)  # the Monday before National Day 2025
        async with scheduler(infra, start=routed) as s:
            lead = await s.accept_lead(tier="retail", horizon="within_1_week")
            r = await s.http.get("/v1/tasks", headers=s.auth("dealer", "D001"))
            [task] = r.json()["items"]
            # retail within 1 week: 3 days -> 2025-10-02, a statutory holiday -> the previous working day.
            assert task["lead_id"] == lead
            assert at(task["due_at"]) == datetime(2025, 9, 30, 10, 0, tzinfo=SHANGHAI)
            assert "moved earlier off a non-working day" in task["reason"]

    async def test_manual_task_with_explicit_due_time(self, infra: Infra) -> None:
        async with scheduler(infra, start=MONDAY) as s:
            lead = await s.accept_lead(horizon="uncertain")
            due = (MONDAY + timedelta(hours=5)).isoformat()
            body = {"lead_id": lead, "kind": "maintenance", "due_at": due}
            r = await s.http.post("/v1/tasks", json=body, headers=s.auth("dealer", "D001"))
            assert r.status_code == 201, r.text
            assert (r.json()["kind"], r.json()["reason"], at(r.json()["due_at"])) == (
                "maintenance",
                "manual",
                MONDAY + timedelta(hours=5),
            )
            await s.add_dealer("D009")
            r = await s.http.post("/v1/tasks", json=body, headers=s.auth("dealer", "D009"))
            assert r.status_code == 404  # another dealer's lead is not revealed
            r = await s.http.post("/v1/tasks", json={**body, "dealer": "D009"}, headers=s.auth("hq_admin"))
            assert r.status_code == 422 and r.json()["errors"][0]["code"] == "unknown_field"
            # Past, far-future and naive due times are refused, naming the field (review L10).
            for due_at in (
                (MONDAY - timedelta(days=1)).isoformat(),
                (MONDAY + timedelta(days=400)).isoformat(),
                "2030-01-01T10:00:00",
            ):
                r = await s.http.post("/v1/tasks", json={**body, "due_at": due_at}, headers=s.auth("dealer", "D001"))
                assert r.status_code == 422, (due_at, r.text)
                assert [e["field"] for e in r.json()["errors"]] == ["/due_at"]


class TestTimers:
    async def test_due_fires_once_then_overdue_then_escalated(self, infra: Infra) -> None:
        async with scheduler(infra, start=MONDAY) as s:
            lead = await s.accept_lead(tier="gold_silver", horizon="within_1_week")  # promotion in 2 days
            [task] = await s.tasks_of(lead)
            due = at(task["due_at"])
            s.clock.set(due - timedelta(milliseconds=1))
            assert await s.tick() == 0
            s.clock.set(due)
            assert await s.tick() == 1
            assert await s.tick() == 0 and await s.advance(timedelta(hours=1)) == 0  # once
            [event] = await s.outbox("leadnet.task.due")
            assert (event["data"]["task_id"], at(event["time"])) == (task["task_id"], due)
            assert event["id"] == timer_event_id(task["task_id"], "leadnet.task.due")  # one possible id per task
            # The envelope built in SQL is the kit's envelope with a TaskEvent payload.
            parsed = TaskEvent.model_validate(Envelope.model_validate(event).data)
            assert (parsed.kind, parsed.status, parsed.dealer, parsed.due_at, parsed.occurred_at) == (
                "promotion",
                "open",
                "D001",
                due,
                due,
            )

            # Overdue at the end of the due business day (deadlines.toml becomes_overdue = end_of_due_day).
            end_of_day = datetime.combine(due.date() + timedelta(days=1), datetime.min.time(), tzinfo=SHANGHAI)
            s.clock.set(end_of_day - timedelta(seconds=1))
            await s.tick()
            assert await s.outbox("leadnet.task.overdue") == []
            s.clock.set(end_of_day)
            await s.tick()
            [overdue] = await s.outbox("leadnet.task.overdue")
            assert overdue["data"]["status"] == "overdue"
            # Escalated 24 h after it became overdue (escalate_after_hours): in the dealer's daily digest for HQ
            # (deadlines.toml [overdue_digest]), never a `task.escalated` of its own; each later day's digest counts
            # it again while it stays overdue, as no longer new.
            s.clock.set(end_of_day + timedelta(hours=24) - timedelta(seconds=1))
            await s.tick()
            assert await s.outbox("leadnet.task.overdue_digest") == []
            await s.advance(timedelta(seconds=1))
            [digest] = await s.outbox("leadnet.task.overdue_digest")
            assert (digest["data"]["oldest_task_id"], digest["data"]["overdue"]) == (task["task_id"], 1)
            assert (digest["data"]["newly_escalated"], digest["data"]["dealer"]) == (1, "D001")
            for _ in range(3):
                await s.advance(timedelta(hours=12))
                await s.advance(timedelta(hours=12))  # twice a day: still one digest a day
            digests = await s.outbox("leadnet.task.overdue_digest")
            assert [d["data"]["newly_escalated"] for d in digests] == [1, 0, 0, 0]
            assert await s.outbox("leadnet.task.escalated") == []
            # An overdue task can still be done.
            assert (await complete(s, task["task_id"], "within_2_months"))["task"]["status"] == "done"

    async def test_done_and_cancelled_tasks_never_fire(self, infra: Infra) -> None:
        async with scheduler(infra, start=MONDAY) as s:
            lead = await s.accept_lead(horizon="within_1_week")
            [task] = await s.tasks_of(lead)
            await complete(s, task["task_id"], "within_2_months")
            s.clock.set(at(task["due_at"]) + timedelta(days=2))
            await s.tick()
            assert [e["data"]["task_id"] for e in await s.outbox("leadnet.task.due")] == []


class TestOutcomes:
    async def test_three_unreachable_in_a_row_close_the_lead_and_tell_the_entering_dealer(self, infra: Infra) -> None:
        async with scheduler(infra, start=MONDAY) as s:
            lead = await s.accept_lead(tier="retail", horizon="within_2_months", entered_by="D002")
            extra = await s.http.post(
                "/v1/tasks",
                json={"lead_id": lead, "kind": "promotion", "due_at": (MONDAY + timedelta(days=9)).isoformat()},
                headers=s.auth("dealer", "D001"),
            )
            [first] = [t for t in await s.tasks_of(lead) if t["task_id"] != extra.json()["task_id"]]
            nxt = (await complete(s, first["task_id"], "unreachable"))["next_task"]
            assert nxt["kind"] == "callback" and at(nxt["due_at"]) == MONDAY + timedelta(days=30)  # not yet reached
            streaks = {t["task_id"]: t["unreachable_streak"] for t in await s.tasks_of(lead)}
            assert streaks[nxt["task_id"]] == 1
            s.clock.advance(timedelta(days=1))
            nxt = (await complete(s, nxt["task_id"], "unreachable"))["next_task"]
            assert {t["task_id"]: t["unreachable_streak"] for t in await s.tasks_of(lead)}[nxt["task_id"]] == 2
            assert await s.outbox("leadnet.lead.closed") == []
            s.clock.advance(timedelta(days=1))
            assert (await complete(s, nxt["task_id"], "unreachable"))["next_task"] is None
            [closed] = await s.outbox("leadnet.lead.closed")
            assert closed["data"]["lead_id"] == lead
            assert closed["data"]["reason"] == "invalid_information"
            assert closed["data"]["entered_by"] == "D002"  # the entering dealer learns it from this event
            r = await s.http.get(f"/v1/tasks/{extra.json()['task_id']}", headers=s.auth("dealer", "D001"))
            assert r.json()["status"] == "cancelled"  # nothing more fires for a closed lead

    async def test_an_answer_resets_the_unreachable_streak(self, infra: Infra) -> None:
        async with scheduler(infra, start=MONDAY) as s:
            lead = await s.accept_lead(horizon="uncertain")
            [task] = await s.tasks_of(lead)
            task = (await complete(s, task["task_id"], "unreachable"))["next_task"]
            task = (await complete(s, task["task_id"], "unreachable"))["next_task"]
            task = (await complete(s, task["task_id"], "within_1_year"))["next_task"]
            task = (await complete(s, task["task_id"], "unreachable"))["next_task"]
            task = (await complete(s, task["task_id"], "unreachable"))["next_task"]
            assert task is not None and await s.outbox("leadnet.lead.closed") == []  # 2 in a row, not 3

    async def test_verified_once_per_lead_even_when_confirmed_twice(self, infra: Infra) -> None:
        async with scheduler(infra, start=MONDAY) as s:
            lead = await s.accept_lead(horizon="within_2_months")
            [task] = await s.tasks_of(lead)
            nxt = (await complete(s, task["task_id"], "within_1_month", verified=True))["next_task"]
            assert nxt["kind"] == "promotion" and at(nxt["due_at"]) == MONDAY + timedelta(days=7)
            await complete(s, nxt["task_id"], "within_2_months", verified=True)
            [verified] = await s.outbox("leadnet.lead.verified")
            assert (verified["data"]["lead_id"], verified["data"]["task_id"]) == (lead, task["task_id"])
            r = await s.complete(task["task_id"], outcome="bought")
            assert r.status_code == 409 and r.json()["code"] == "task_not_open"

    async def test_bought_starts_maintenance_and_a_repurchase_reminder_from_the_fleet(self, infra: Infra) -> None:
        async with scheduler(infra, start=MONDAY) as s:
            fleet = [
                FleetLine(brand="欧曼", model="EST 6", quantity=8),
                FleetLine(brand="解放", model="J6", quantity=3),
            ]
            lead = await s.accept_lead(tier="general_big", horizon="within_1_week", fleet=fleet)
            [task] = await s.tasks_of(lead)
            care = (await complete(s, task["task_id"], "bought"))["next_task"]
            assert care["kind"] == "maintenance" and at(care["due_at"]) == MONDAY + timedelta(days=7)
            [repurchase] = [t for t in await s.tasks_of(lead) if t["kind"] == "repurchase"]
            # 11 in use + 1 bought = a large fleet (>= 10): reviewed every 180 days (moved off a Saturday).
            assert at(repurchase["due_at"]).date() == (MONDAY + timedelta(days=179)).date()
            assert "large fleet of 12" in repurchase["reason"]
            s.clock.advance(timedelta(days=7))
            periodic = (await complete(s, care["task_id"], "no_demand"))["next_task"]
            assert periodic["kind"] == "maintenance" and "every 90 days" in periodic["reason"]
            silent = (await complete(s, periodic["task_id"], "unreachable"))["next_task"]
            assert silent["kind"] == "maintenance"  # a buyer who went silent is not invalid information
            assert len([t for t in await s.tasks_of(lead) if t["kind"] == "repurchase"]) == 1


class TestOrderOverHttp:
    async def test_earliest_due_then_demand_reachable_big(self, infra: Infra) -> None:
        async with scheduler(infra, start=MONDAY) as s:
            demand_retail = await s.accept_lead(tier="retail", horizon="within_2_months")
            no_demand_gold = await s.accept_lead(tier="gold_silver", horizon="uncertain")
            unreachable_gold = await s.accept_lead(tier="gold_silver", horizon="within_6_months")
            demand_gold = await s.accept_lead(tier="gold_silver", horizon="within_1_year")
            [first] = await s.tasks_of(unreachable_gold)
            await complete(s, first["task_id"], "unreachable")  # horizon kept, but now not reachable
            same = (MONDAY + timedelta(hours=3)).isoformat()
            names = {}
            for name, lead in (
                ("demand_retail", demand_retail),
                ("no_demand_gold", no_demand_gold),
                ("unreachable_gold", unreachable_gold),
                ("demand_gold", demand_gold),
            ):
                r = await s.http.post(
                    "/v1/tasks",
                    json={"lead_id": lead, "kind": "callback", "due_at": same},
                    headers=s.auth("dealer", "D001"),
                )
                names[r.json()["task_id"]] = name
            earlier = await s.http.post(
                "/v1/tasks",
                json={
                    "lead_id": no_demand_gold,
                    "kind": "callback",
                    "due_at": (MONDAY + timedelta(hours=2)).isoformat(),
                },
                headers=s.auth("dealer", "D001"),
            )
            names[earlier.json()["task_id"]] = "earlier"
            r = await s.http.get(
                "/v1/tasks",
                params={"status": "open", "due_before": (MONDAY + timedelta(days=1)).isoformat()},
                headers=s.auth("dealer", "D001"),
            )
            order = [names[t["task_id"]] for t in r.json()["items"]]
            assert order == ["earlier", "demand_gold", "demand_retail", "unreachable_gold", "no_demand_gold"]
            # Paging keeps the order.
            page1 = await s.http.get(
                "/v1/tasks", params={"limit": 2, "kind": "callback", "status": "open"}, headers=s.auth("dealer", "D001")
            )
            page2 = await s.http.get(
                "/v1/tasks",
                params={"limit": 3, "kind": "callback", "status": "open", "cursor": page1.json()["next_cursor"]},
                headers=s.auth("dealer", "D001"),
            )
            paged = [names.get(t["task_id"]) for t in page1.json()["items"] + page2.json()["items"]]
            assert paged == order


class TestPlansAndQuotas:
    async def test_quotas_planned_and_done(self, infra: Infra) -> None:
        start = datetime(2026, 10, 20, 10, 0, tzinfo=SHANGHAI)
        async with scheduler(infra, start=start) as s:
            r = await s.http.put("/v1/plans/D001/2026-11", json={"sales_plan": 40}, headers=s.auth("dealer", "D001"))
            assert r.status_code == 200, r.text
            plan = r.json()
            assert (plan["callbacks"]["minimum"], plan["callbacks"]["maximum"]) == (120, 200)
            assert (plan["promotions"]["minimum"], plan["promotions"]["maximum"]) == (80, 160)
            assert (
                await s.http.put("/v1/plans/D001/2026-11", json={"sales_plan": 4}, headers=s.auth("dealer", "D002"))
            ).status_code == 404
            assert (
                await s.http.put("/v1/plans/D001/2026-11", json={"sales_plan": 4}, headers=s.auth("hq_analyst"))
            ).status_code == 403
            assert (await s.http.get("/v1/plans/D001/2026-13", headers=s.auth("hq_admin"))).status_code == 422
            assert (await s.http.get("/v1/plans/D001/2026-12", headers=s.auth("hq_admin"))).status_code == 404

            # Three customers with demand within one month in October; one of them is served before November.
            leads = [await s.accept_lead(horizon="within_4_weeks") for _ in range(3)]
            served = (await s.tasks_of(leads[0]))[0]
            await complete(s, served["task_id"], "no_demand")
            callbacks = [await s.accept_lead(horizon="within_2_months") for _ in range(3)]
            s.clock.set(datetime(2026, 11, 3, 10, 0, tzinfo=SHANGHAI))
            for lead in callbacks[:2]:
                await complete(s, (await s.tasks_of(lead))[0]["task_id"], "within_1_year")
            r = await s.http.put(
                "/v1/plans/D001/2026-11", json={"sales_plan": 1, "callbacks_planned": 4}, headers=s.auth("hq_admin")
            )
            plan = r.json()
            assert plan["promotions"]["one_month_demand_at_last_month_end"] == 2
            assert (plan["promotions"]["minimum"], plan["promotions"]["maximum"]) == (2, 4)
            assert (plan["callbacks"]["minimum"], plan["callbacks"]["maximum"]) == (3, 5)
            assert plan["callbacks"]["planned"] == 4 and plan["callbacks"]["planned_source"] == "plan"
            assert plan["callbacks"]["done"] == 2 and plan["callbacks"]["done_short_by"] == 1
            # Promotions planned = tasks falling due in November (none: they were due in October).
            assert (plan["promotions"]["planned"], plan["promotions"]["planned_source"]) == (0, "scheduled_tasks")
            assert plan["promotions"]["planned_meets_quota"] is False
            r = await s.http.get("/v1/plans/D001/2026-11", headers=s.auth("dealer", "D001"))
            assert r.json()["callbacks"]["done"] == 2

    async def test_reminders_before_the_30th_and_fridays_once_each(self, infra: Infra) -> None:
        thursday = datetime(2026, 11, 26, 8, 0, tzinfo=SHANGHAI)
        async with scheduler(infra, start=thursday) as s:
            await s.add_dealer("D001")
            await s.add_dealer("D002")
            await s.http.put(
                "/v1/plans/D002/2026-12",
                json={"sales_plan": 5, "callbacks_planned": 20},
                headers=s.auth("dealer", "D002"),
            )
            await s.tick()
            assert await s.outbox("leadnet.plan.reminder") == []
            await s.advance(timedelta(hours=1))  # Thursday 09:00: next week's promotion plan is due tomorrow
            reminders = await s.outbox("leadnet.plan.reminder")
            assert sorted(
                (e["data"]["dealer"], e["data"]["plan"], e["data"]["period"], e["data"]["days_before"])
                for e in reminders
            ) == [("D001", "promotion", "2026-W49", 1), ("D002", "promotion", "2026-W49", 1)]
            await s.advance(timedelta(hours=1))
            assert len(await s.outbox("leadnet.plan.reminder")) == 2  # once
            s.clock.set(datetime(2026, 11, 27, 9, 0, tzinfo=SHANGHAI))  # Friday, 3 days before the 30th
            await s.tick()
            await s.tick()
            new = (await s.outbox("leadnet.plan.reminder"))[2:]
            assert sorted(
                (e["data"]["dealer"], e["data"]["plan"], e["data"]["period"], e["data"]["days_before"]) for e in new
            ) == [
                ("D001", "callback", "2026-12", 3),
                ("D001", "promotion", "2026-W49", 0),
                ("D002", "promotion", "2026-W49", 0),
            ]  # D002 filed its callbacks
            assert await s.scalar("SELECT count(*) FROM plan_reminders") == 5


class TestABurstOfLeadEvents:
    async def test_a_burst_is_taken_in_order_once_as_if_one_at_a_time(self, infra: Infra) -> None:
        """After a bulk import the lead events arrive by the hundred: the batch path must keep delivery order
        (a lead accepted, then reassigned or closed, in one poll) and take a repeated event once."""
        async with scheduler(infra, start=MONDAY) as s:
            leads = []
            envelopes = []
            for i in range(60):
                lead_id, customer_id = str(uuid.uuid4()), str(uuid.uuid4())
                dealer = None if i % 4 == 0 else "D001"  # every fourth waits in the HQ queue
                leads.append((lead_id, customer_id, dealer))
                envelopes.append(
                    accepted_lead(lead_id, customer_id, dealer, tier="gold_silver", horizon="within_2_weeks", at=MONDAY)
                )
            queued_id, queued_customer, _ = leads[0]
            closed_id, closed_customer, _ = leads[1]
            moved = reassigned_event(queued_id, queued_customer, to_dealer="D003", at=MONDAY)
            closed = lead_event(LeadClosed, closed_id, closed_customer, reason="invalid_information", closed_at=MONDAY)
            envelopes += [envelope(moved, at=MONDAY), envelope(closed, at=MONDAY), envelopes[5]]  # [5]: a redelivery
            # One key, one partition: the consumer sees them in this order, most of them in one poll.
            for event in envelopes:
                await s.producer.send(s.prefix + LEADS, event.to_bytes(), key=b"burst")
            await s.producer.flush()

            async def all_taken_in() -> bool:
                return bool(await s.scalar("SELECT count(*) FROM inbox") >= len(envelopes) - 1)

            await eventually(all_taken_in)

            assert await s.scalar("SELECT count(*) FROM leads") == 60
            for lead_id, _, dealer in leads[2:]:
                tasks = await s.tasks_of(lead_id)
                if dealer is None:
                    assert tasks == []
                else:
                    [task] = tasks
                    assert (task["kind"], at(task["due_at"])) == ("promotion", MONDAY + timedelta(days=2))
            [moved] = await s.tasks_of(queued_id)  # planned once it had a dealer
            assert moved["status"] == "open"
            assert await s.scalar("SELECT dealer FROM tasks WHERE lead_id = :l", l=queued_id) == "D003"
            [cancelled] = await s.tasks_of(closed_id)
            assert cancelled["status"] == "cancelled"
            assert await s.scalar("SELECT status FROM leads WHERE lead_id = :l", l=closed_id) == "closed"
            assigned = sum(1 for _, _, dealer in leads if dealer is not None)
            assert len(await s.outbox("leadnet.task.scheduled")) == assigned + 1
