"""Who works a task and how, who acted, the facts task events carry, promotion results, the daily overdue digest.

issue 18 items 2, 4 (result within 2 days), 6 (overdue without floods); issue 20 item 1 (task events for dashboards).
Real PostgreSQL and Kafka; time is the harness's FrozenClock.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import text

from followup_scheduler.models import Task
from followup_scheduler.staffing import assignment_for
from followup_scheduler.tasks import Actor, reschedule_task, restaff_open_tasks, timer_event_id
from leadnet_shared.clock import SHANGHAI
from leadnet_shared.events import TASKS
from leadnet_shared.testing import Infra, read_from_beginning, topic_reader
from tests.scheduler_harness import Scheduler, scheduler

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]

MONDAY = datetime(2026, 3, 2, 10, 0, tzinfo=SHANGHAI)  # an ordinary working Monday
RECORD_FACTS = ("region_code", "product_line", "tier", "horizon", "entered_by")
STAFF_FACTS = ("position", "method", "accompany")


def at(value: Any) -> datetime:
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(SHANGHAI)


async def task_row(s: Scheduler, lead_id: str) -> dict[str, Any]:
    [row] = await s.rows(
        "SELECT task_id, kind, due_at, escalate_at, position, method, accompany FROM tasks WHERE lead_id = :l",
        l=lead_id,
    )
    return dict(row._mapping)


async def read_topic(bootstrap: str, topic: str, *, until: set[str], within: float = 20.0) -> list[dict[str, Any]]:
    """The envelopes on `topic` (from the beginning) once every type in `until` has been seen, or at `within`."""
    events: list[dict[str, Any]] = []
    async with topic_reader(bootstrap) as consumer:
        deadline = time.monotonic() + within
        await read_from_beginning(consumer, topic, within=within)
        while time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=200, max_records=5000)
            for records in batches.values():
                events.extend(orjson.loads(r.value) for r in records if r.value is not None)
            if until <= {e["type"] for e in events} and not batches:
                break
        return events


class TestWhoWorksATask:
    async def test_tasks_carry_the_matrices_answer_and_events_the_records_facts(self, infra: Infra) -> None:
        async with scheduler(infra, start=MONDAY) as s:
            gold = await s.accept_lead(
                tier="gold_silver",
                nature="own_brand",
                horizon="within_2_weeks",
                region_code="370102",
                product_line="tractor",
            )
            rival = await s.accept_lead(tier="retail", nature="competitor", horizon="none")
            for lead, (kind, nature, tier, horizon) in {
                gold: ("promotion", "own_brand", "gold_silver", "within_2_weeks"),
                rival: ("callback", "competitor", "retail", "none"),
            }.items():
                row = await task_row(s, lead)
                want = assignment_for(kind=kind, nature=nature, tier=tier, horizon=horizon)
                assert (row["kind"], row["position"], row["method"], row["accompany"]) == (
                    kind,
                    want.position,
                    want.method,
                    list(want.accompany),
                )
            row = await task_row(s, gold)
            assert (row["position"], row["method"]) == ("general_manager", "visit")
            assert row["accompany"] == ["regional_manager", "market_manager"]

            # task.scheduled is built in Python, task.due in the timers' SQL: the same facts either way.
            [scheduled] = [e for e in await s.outbox("leadnet.task.scheduled") if e["data"]["lead_id"] == gold]
            s.clock.set(at(row["due_at"].isoformat()))
            assert await s.tick() == 1
            [due] = await s.outbox("leadnet.task.due")
            for event in (scheduled, due):
                facts = {k: event["data"][k] for k in (*STAFF_FACTS, *RECORD_FACTS)}
                assert facts == {
                    "position": "general_manager",
                    "method": "visit",
                    "accompany": ["regional_manager", "market_manager"],
                    "region_code": "370102",
                    "product_line": "tractor",
                    "tier": "gold_silver",
                    "horizon": "within_2_weeks",
                    "entered_by": "D002",
                }
            assert "customer" not in due["data"] and "phone" not in str(due["data"])  # ids and codes only
            # the escalation moment, in Python and in SQL alike: HQ's escalated figure is counted per task from it
            assert at(scheduled["data"]["escalate_at"]) == at(due["data"]["escalate_at"]) == row["escalate_at"]

    async def test_a_position_sees_its_own_work_list_in_the_seeds_order(self, infra: Infra) -> None:
        async with scheduler(infra, start=MONDAY) as s:
            not_reached = await s.accept_lead(tier="retail", horizon=None)  # 30 days
            uncertain = await s.accept_lead(tier="retail", horizon="uncertain")  # 20 days
            no_demand = await s.accept_lead(tier="retail", horizon="none")  # 20 days
            demand = await s.accept_lead(tier="retail", horizon="within_2_months")  # 7 days
            await s.accept_lead(tier="general_big", horizon="within_2_months")  # the customer manager's
            gold = await s.accept_lead(tier="gold_silver", nature="own_brand", horizon="uncertain")
            consultant = s.infra.auth("dealer", "D001", position="marketing_consultant")
            r = await s.http.get("/v1/tasks", params={"position": "marketing_consultant"}, headers=consultant)
            assert r.status_code == 200, r.text
            items = r.json()["items"]
            assert {t["position"] for t in items} == {"marketing_consultant"}
            listed = [t["lead_id"] for t in items]
            assert (listed[0], listed[-1]) == (demand, not_reached)
            assert {t["lead_id"] for t in items[1:3]} == {uncertain, no_demand}
            # Earliest due first, then demand, reachable, big customer (tie_break), then the id.
            rows = await s.rows(
                "SELECT task_id FROM tasks WHERE position = 'marketing_consultant' ORDER BY due_at, tie_break, task_id"
            )
            assert [t["task_id"] for t in items] == [row[0] for row in rows]
            # HQ's regional manager lists the tasks it accompanies (參陪人).
            r = await s.http.get("/v1/tasks", params={"position": "regional_manager"}, headers=s.auth("hq_admin"))
            assert [t["lead_id"] for t in r.json()["items"]] == [gold]
            r = await s.http.get("/v1/tasks", params={"position": "janitor"}, headers=consultant)
            assert r.status_code == 422

            # Open tasks planned before the matrices get their answer once (the timer worker, after each start).
            async with s.runtime.db.transaction() as session:
                await session.execute(text("UPDATE tasks SET position = NULL, method = NULL, accompany = NULL"))
            async with s.runtime.db.transaction() as session:
                assert await restaff_open_tasks(session, after="", limit=2) is not None
                assert await restaff_open_tasks(session, after="", limit=1000) is None
            r = await s.http.get("/v1/tasks", params={"position": "marketing_consultant"}, headers=consultant)
            assert [t["task_id"] for t in r.json()["items"]] == [row[0] for row in rows]

    async def test_hq_regional_staff_list_and_read_only_their_regions_tasks(self, infra: Infra) -> None:
        async with scheduler(infra, start=MONDAY) as s:
            jinan = await s.accept_lead(tier="retail", horizon="uncertain", region_code="370102")
            shijiazhuang = await s.accept_lead(tier="retail", horizon="uncertain", region_code="130102")
            unknown = await s.accept_lead(tier="retail", horizon="uncertain")  # no region: outside every region
            task_of = {
                t["lead_id"]: t["task_id"]
                for t in (await s.http.get("/v1/tasks", headers=s.auth("hq_admin"))).json()["items"]
            }
            assert set(task_of) == {jinan, shijiazhuang, unknown}  # HQ without a regions claim: everything

            hebei = s.infra.auth("hq_admin", position="regional_manager", regions=["13"])
            r = await s.http.get("/v1/tasks", headers=hebei)
            assert (r.status_code, [t["lead_id"] for t in r.json()["items"]], r.json()["total"]) == (
                200,
                [shijiazhuang],
                1,
            )
            assert (await s.http.get(f"/v1/tasks/{task_of[shijiazhuang]}", headers=hebei)).status_code == 200
            for outside in (jinan, unknown):
                r = await s.http.get(f"/v1/tasks/{task_of[outside]}", headers=hebei)
                assert (r.status_code, r.json()["code"]) == (404, "not_found")
            both = s.infra.auth("hq_analyst", regions=["13", "3701"])
            listed = {t["lead_id"] for t in (await s.http.get("/v1/tasks", headers=both)).json()["items"]}
            assert listed == {jinan, shijiazhuang}

    async def test_every_action_records_the_person_and_position(self, infra: Infra) -> None:
        async with scheduler(infra, start=MONDAY) as s:
            lead = await s.accept_lead(tier="retail", horizon="uncertain")
            clerk = s.infra.auth("dealer", "D001", position="customer_manager", sub="li.manager")
            r = await s.http.post(
                "/v1/tasks",
                json={"lead_id": lead, "kind": "maintenance", "due_at": (MONDAY + timedelta(days=1)).isoformat()},
                headers=clerk,
            )
            assert r.status_code == 201, r.text
            manual = r.json()["task_id"]
            [callback] = [t for t in await s.tasks_of(lead) if t["kind"] == "callback"]
            consultant = s.infra.auth("dealer", "D001", position="marketing_consultant", sub="wang.consultant")
            r = await s.http.post(
                f"/v1/tasks/{callback['task_id']}/complete", json={"outcome": "within_1_year"}, headers=consultant
            )
            assert r.status_code == 200, r.text
            [action] = r.json()["task"]["actions"]
            assert (action["action"], action["by"], action["position"]) == (
                "completed",
                "wang.consultant",
                "marketing_consultant",
            )
            r = await s.http.get(f"/v1/tasks/{manual}", headers=s.auth("dealer", "D001"))
            assert [(a["action"], a["by"], a["position"]) for a in r.json()["actions"]] == [
                ("created", "li.manager", "customer_manager")
            ]
            [completed] = await s.outbox("leadnet.task.completed")
            assert completed["data"]["completed_by_position"] == "marketing_consultant"
            assert "wang.consultant" not in str(completed)  # the person stays in the service; the topic is public

            # A reschedule re-arms the timers under a new id and records who moved the task.
            lead = await s.accept_lead(tier="general_big", nature="own_brand", horizon="within_1_week")
            row = await task_row(s, lead)
            s.clock.set(at(row["due_at"].isoformat()))
            await s.tick()
            later = s.clock.now() + timedelta(days=3)
            actor = Actor(sub="zhao.gm", position="general_manager")
            async with s.runtime.db.transaction() as session:
                task = await session.get(Task, row["task_id"], with_for_update=True)
                assert task is not None
                await reschedule_task(
                    session, s.runtime.outbox, task=task, due_at=later, actor=actor, now=s.clock.now(), method="phone"
                )
            s.clock.set(later)
            await s.tick()
            await s.advance(timedelta(hours=1))
            ids = [e["id"] for e in await s.outbox("leadnet.task.due") if e["data"]["task_id"] == row["task_id"]]
            assert ids == [  # fired again after the reschedule, once, under a new id
                timer_event_id(row["task_id"], "leadnet.task.due"),
                timer_event_id(row["task_id"], "leadnet.task.due", 1),
            ]
            [_, moved] = [e for e in await s.outbox("leadnet.task.scheduled") if e["data"]["task_id"] == row["task_id"]]
            assert (moved["data"]["method"], moved["data"]["position"]) == ("phone", "customer_manager")
            assert at(moved["data"]["due_at"]) == later
            r = await s.http.get(f"/v1/tasks/{row['task_id']}", headers=s.auth("hq_admin"))
            assert [(a["action"], a["by"], a["position"]) for a in r.json()["actions"]] == [
                ("rescheduled", "zhao.gm", "general_manager")
            ]


class TestPromotionResult:
    async def test_a_result_later_than_two_days_after_the_action_is_flagged(self, infra: Infra) -> None:
        async with scheduler(infra, start=MONDAY) as s:
            leads = [await s.accept_lead(tier="retail", horizon="within_1_week") for _ in range(3)]
            tasks = [(await task_row(s, lead))["task_id"] for lead in leads]
            acted = MONDAY + timedelta(hours=2)
            outcomes = []
            for task_id, reported in zip(
                tasks, (acted + timedelta(days=2), acted + timedelta(days=2, seconds=1)), strict=False
            ):
                s.clock.set(reported)
                r = await s.complete(task_id, outcome="within_2_months", action_at=acted.isoformat())
                assert r.status_code == 200, r.text
                outcomes.append(r.json()["task"])
            on_time, late = outcomes
            assert at(on_time["result_due_at"]) == acted + timedelta(days=2) == at(late["result_due_at"])
            assert (on_time["result_late"], late["result_late"]) == (False, True)
            events = {e["data"]["task_id"]: e["data"] for e in await s.outbox("leadnet.task.completed")}
            assert (events[tasks[0]]["result_late"], events[tasks[1]]["result_late"]) == (False, True)

            # Without action_at the action is taken to have happened at the task's due time.
            third = await task_row(s, leads[2])
            s.clock.set(third["due_at"].astimezone(SHANGHAI) + timedelta(days=2, seconds=1))
            r = await s.complete(tasks[2], outcome="within_2_months")
            assert (at(r.json()["task"]["action_at"]), r.json()["task"]["result_late"]) == (
                third["due_at"].astimezone(SHANGHAI),
                True,
            )

            # action_at completes a promotion only, and names a moment that has passed.
            s.clock.set(MONDAY)
            callback = (await task_row(s, await s.accept_lead(horizon="uncertain")))["task_id"]
            promotion = (await task_row(s, await s.accept_lead(horizon="within_1_week")))["task_id"]
            for task_id, action_at, code in (
                (callback, MONDAY, "not_allowed"),
                (promotion, MONDAY + timedelta(hours=1), "out_of_range"),
            ):
                r = await s.complete(task_id, outcome="within_2_months", action_at=action_at.isoformat())
                assert r.status_code == 422, r.text
                assert [(e["field"], e["code"]) for e in r.json()["errors"]] == [("/action_at", code)]


# A dealer's imported passive records, all overdue past the escalation delay at once.
_OVERDUE_BULK = """
    INSERT INTO tasks (task_id, lead_id, customer_id, dealer, kind, due_at, overdue_at, escalate_at, status, reason,
                       tier, tie_break, unreachable_streak, fired_at, planned_at)
    SELECT gen_random_uuid()::text, t.lead_id, t.customer_id, :dealer,
           CASE WHEN g % 3 = 0 THEN 'promotion' ELSE 'callback' END,
           CAST(:due AS timestamptz) - make_interval(mins => g), :due, :due, 'open', 'imported',
           t.tier, t.tie_break, 0, :due, :due
    FROM tasks t, generate_series(1, :n) g WHERE t.task_id = :template"""


class TestOverdueDigest:
    async def test_a_digest_per_dealer_and_day_replaces_per_task_escalations(self, infra: Infra) -> None:
        async with scheduler(infra, start=MONDAY, dealers=("D001", "D003")) as s:
            template = (await task_row(s, await s.accept_lead(horizon="uncertain")))["task_id"]
            due = MONDAY - timedelta(days=3)
            async with s.runtime.db.transaction() as session:
                for dealer, n in (("D001", 1500), ("D003", 2)):
                    await session.execute(
                        text(_OVERDUE_BULK), {"dealer": dealer, "n": n, "due": due, "template": template}
                    )
            await s.tick(batch=5000)
            overdue = await s.outbox("leadnet.task.overdue")
            assert len(overdue) == 1502  # per task, for the dealer's own systems
            # each carries its escalation moment (the digest has no task ids): HQ counts escalations per task from it
            assert {at(e["data"]["escalate_at"]) for e in overdue} == {due}
            digests = {d["data"]["dealer"]: d["data"] for d in await s.outbox("leadnet.task.overdue_digest")}
            assert set(digests) == {"D001", "D003"}
            d001 = digests["D001"]
            assert (d001["overdue"], d001["newly_escalated"], d001["overdue_by_kind"]) == (
                1500,
                1500,
                {"callback": 1000, "promotion": 500},
            )
            oldest = await s.rows(
                "SELECT task_id, due_at FROM tasks WHERE dealer = 'D001' AND status = 'overdue' "
                "ORDER BY due_at, task_id LIMIT 1"
            )
            assert (d001["oldest_task_id"], at(d001["oldest_due_at"])) == (oldest[0][0], oldest[0][1])
            assert d001["day"] == MONDAY.date().isoformat()
            assert set(d001) == {
                "dealer",
                "day",
                "overdue",
                "overdue_by_kind",
                "newly_escalated",
                "oldest_task_id",
                "oldest_due_at",
                "occurred_at",
            }  # no personal data: ids, counts, dates
            # The same day: nothing more; the next day: one digest per dealer again, none of it new.
            await s.advance(timedelta(hours=6))
            assert len(await s.outbox("leadnet.task.overdue_digest")) == 2
            await s.advance(timedelta(days=1))
            later = [d["data"] for d in await s.outbox("leadnet.task.overdue_digest")][2:]
            assert sorted((d["dealer"], d["overdue"], d["newly_escalated"]) for d in later) == [
                ("D001", 1500, 0),
                ("D003", 2, 0),
            ]
            assert await s.outbox("leadnet.task.escalated") == []

            # On the broker: four digests and no per-task escalation.
            events = await read_topic(
                infra.bootstrap_servers, s.prefix + TASKS, until={"leadnet.task.overdue_digest"}, within=30
            )
            types = [e["type"] for e in events]
            assert types.count("leadnet.task.overdue_digest") == 4 and "leadnet.task.escalated" not in types
