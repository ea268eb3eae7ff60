"""Monthly callback and weekly promotion plans over HTTP on the real database and broker (issue 18 §3-5,
contract.md "Plans"): the approval chain per tier with the right positions (wrong position 403, a regional manager
outside its regions 404), rejection and resubmission, the quota, late submission flagged on the 1st, approved lines
planning the tasks, the plan events masked on the broker, the roll-up against an independent count."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import text

from leadnet_shared.clock import SHANGHAI
from leadnet_shared.events import PLANS, CustomerTierChanged, DealerUpserted
from leadnet_shared.testing import Infra, eventually, topic_reader
from tests.pipeline import personal_data_on_topics
from tests.scheduler_harness import Scheduler, scheduler

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]

NOV_20 = datetime(2026, 11, 20, 10, 0, tzinfo=SHANGHAI)  # a Friday; December's callback plan is due by the 30th


def who(
    s: Scheduler, role: str, position: str | None = None, *, dealer: str | None = None, **kw: Any
) -> dict[str, str]:
    return s.infra.auth(role, dealer, position=position, sub=f"{position or role}@{dealer or 'hq'}", **kw)  # type: ignore[arg-type]


async def call(s: Scheduler, method: str, path: str, headers: dict[str, str], expect: int, **kw: Any) -> Any:
    r = await s.http.request(method, path, headers=headers, **kw)
    assert r.status_code == expect, (path, r.status_code, r.text)
    return r.json()


async def dealer_in(s: Scheduler, code: str, territory: str) -> None:
    event = DealerUpserted(
        code=code,
        name=code,
        territories=[territory],
        product_lines=["tractor"],
        capability=50,
        updated_at=s.clock.now(),
    )
    await s.publish(event, key=code)
    await eventually(lambda: s.scalar("SELECT count(*) FROM plan_dealer_units WHERE dealer = :c", c=code))


async def draft_and_submit(s: Scheduler, dealer: str, month: str = "2026-12", drop: int = 0) -> dict[str, Any]:
    clerk = who(s, "dealer", "plan_clerk", dealer=dealer)
    draft = await call(s, "GET", f"/v1/plans/{dealer}/{month}/callbacks/draft", clerk, 200)
    lines = [{"customer_id": line["customer_id"], "target_date": line["target_date"]} for line in draft["lines"]]
    await call(
        s, "PUT", f"/v1/plans/{dealer}/{month}/callbacks", clerk, 200, json={"lines": lines[: len(lines) - drop]}
    )
    plan: dict[str, Any] = await call(s, "POST", f"/v1/plans/{dealer}/{month}/callbacks/submit", clerk, 200)
    return plan


class TestApprovalChain:
    async def test_each_tier_up_its_chain_with_the_right_positions_then_the_rollup(self, infra: Infra) -> None:
        async with scheduler(infra, start=NOV_20, dealers=("D001", "D002", "D003")) as s:
            await dealer_in(s, "D004", "13")  # region 13: outside the regional manager's 37
            tiers = {"D001": "retail", "D002": "general_big", "D003": "gold_silver"}
            for dealer, tier in tiers.items():
                await call(
                    s,
                    "PUT",
                    f"/v1/plans/{dealer}/2026-12",
                    who(s, "dealer", dealer=dealer),
                    200,
                    json={"sales_plan": 1},
                )  # quota 3
                for _ in range(3):  # no current demand: due in December (20 / 40 / 30 days by tier)
                    await s.accept_lead(dealer=dealer, tier=tier, horizon="none")
            # one more retail customer of D001, due in December, that D001's plan leaves out: unplanned
            await s.accept_lead(dealer="D001", tier="retail", horizon="uncertain")

            clerk = who(s, "dealer", "plan_clerk", dealer="D003")
            draft = await call(s, "GET", "/v1/plans/D003/2026-12/callbacks/draft", clerk, 200)
            assert (draft["quota"], len(draft["lines"])) == (3, 3)
            assert {line["tier"] for line in draft["lines"]} == {"gold_silver"}
            lines = [{"customer_id": x["customer_id"], "target_date": "2026-12-03"} for x in draft["lines"]]
            consultant = who(s, "dealer", "marketing_consultant", dealer="D003")
            await call(s, "PUT", "/v1/plans/D003/2026-12/callbacks", consultant, 403, json={"lines": lines})
            await call(
                s,
                "PUT",
                "/v1/plans/D003/2026-12/callbacks",
                who(s, "dealer", dealer="D001"),
                404,
                json={"lines": lines},
            )
            bad = [{"customer_id": "nobody", "target_date": "2027-01-01"}]
            problem = await call(s, "PUT", "/v1/plans/D003/2026-12/callbacks", clerk, 422, json={"lines": bad})
            assert {e["field"] for e in problem["errors"]} == {"/lines/0/customer_id", "/lines/0/target_date"}
            await call(s, "PUT", "/v1/plans/D003/2026-12/callbacks", clerk, 200, json={"lines": lines})
            plan = await call(s, "POST", "/v1/plans/D003/2026-12/callbacks/submit", clerk, 200)
            assert (plan["status"], plan["stage"], plan["waiting_for"], plan["late"]) == (
                "submitted",
                "dealer_review",
                ["customer_manager"],
                False,
            )

            path = "/v1/plans/D003/2026-12/callbacks"
            cm, gm = (
                who(s, "dealer", "customer_manager", dealer="D003"),
                who(s, "dealer", "general_manager", dealer="D003"),
            )
            assert (await call(s, "POST", f"{path}/approve", cm, 409))["code"] == "plan_wrong_stage"
            await call(s, "POST", f"{path}/review", gm, 403)
            assert (await call(s, "POST", f"{path}/review", cm, 200))["stage"] == "dealer_approval"
            assert (await call(s, "POST", f"{path}/approve", gm, 200))["stage"] == "market_approval"
            await call(s, "POST", f"{path}/approve", gm, 403)  # an HQ stage now
            market = who(s, "hq_analyst", "market_manager")
            assert (await call(s, "POST", f"{path}/approve", market, 200))["stage"] == "regional_review"
            elsewhere = who(s, "hq_analyst", "regional_manager", regions=["13"])
            await call(s, "POST", f"{path}/review", elsewhere, 404)  # not its region: the plan is not found
            await call(s, "GET", path, elsewhere, 404)
            regional = who(s, "hq_analyst", "regional_manager", regions=["37"])
            await call(s, "POST", f"{path}/approve", regional, 409)
            assert (await call(s, "POST", f"{path}/review", regional, 200))["stage"] == "department_approval"
            await call(s, "POST", f"{path}/approve", regional, 403)
            head = who(s, "hq_analyst", "department_head")
            approved = await call(s, "POST", f"{path}/approve", head, 200)
            assert approved["status"] == "approved" and approved["approved_at"]
            assert [(x["action"], x["position"]) for x in approved["steps"]] == [
                ("saved", "plan_clerk"),
                ("submitted", "plan_clerk"),
                ("reviewed", "customer_manager"),
                ("approved", "general_manager"),
                ("approved", "market_manager"),
                ("reviewed", "regional_manager"),
                ("approved", "department_head"),
            ]
            assert approved["steps"][-1]["sub"] == "department_head@hq"
            # the approved lines planned the customers' tasks: date, plan, due time moved to the planned date
            rows = await s.rows(
                "SELECT t.plan_id, t.planned_for, t.due_at FROM work_plan_lines l JOIN tasks t ON t.task_id = l.task_id"
                " WHERE l.plan_id = :p",
                p=approved["plan_id"],
            )
            assert len(rows) == 3
            assert all(r.plan_id == approved["plan_id"] and str(r.planned_for) == "2026-12-03" for r in rows)
            assert all(r.due_at.astimezone(SHANGHAI).date().isoformat() == "2026-12-03" for r in rows)
            staffed = await s.rows(
                "SELECT t.position AS task_position, l.position, t.method AS task_method, l.method"
                " FROM work_plan_lines l JOIN tasks t ON t.task_id = l.task_id WHERE l.plan_id = :p",
                p=approved["plan_id"],
            )
            assert all((r.task_position, r.task_method) == (r.position, r.method) for r in staffed)
            assert {line["position"] for line in approved["lines"]} <= {"general_manager", "brand_manager"}
            moved = await s.scalar(
                "SELECT count(*) FROM task_actions WHERE action = 'rescheduled' AND actor = 'department_head@hq'"
                " AND actor_position = 'department_head'"
            )
            assert moved == 3  # the approver who planned them is recorded on each task
            # a later tier change re-staffs open work by the matrices, but not what the approved plan placed
            line = next(x for x in approved["lines"] if x["tier"] != "retail")
            change = CustomerTierChanged(
                customer_id=line["customer_id"],
                old_tier=line["tier"],
                new_tier="retail",
                new_nature="new",
                reason="correction",
                changed_at=s.clock.now(),
            )
            await s.publish(change, key=line["customer_id"])

            async def retiered() -> bool:
                tier = await s.scalar("SELECT tier FROM tasks WHERE task_id = :t", t=line["task_id"])
                return bool(tier == "retail")

            await eventually(retiered, within=30)
            kept = await s.rows("SELECT position, method FROM tasks WHERE task_id = :t", t=line["task_id"])
            assert (kept[0].position, kept[0].method) == (line["position"], line["method"])

            # the month's sales plan report counts the approved plan's lines (the number it stood for before)
            report = await call(s, "GET", "/v1/plans/D003/2026-12", who(s, "hq_admin"), 200)
            assert (report["callbacks"]["planned"], report["callbacks"]["planned_source"]) == (3, "approved_plans")
            assert report["callbacks"]["planned_meets_quota"] is True

            # retail stays inside the dealer; organizational lines end at HQ's market manager (hq_admin: any HQ post)
            await draft_and_submit(s, "D001", drop=1)
            d1 = "/v1/plans/D001/2026-12/callbacks"
            await call(s, "POST", f"{d1}/review", who(s, "dealer", "customer_manager", dealer="D001"), 200)
            done = await call(s, "POST", f"{d1}/approve", who(s, "dealer", "general_manager", dealer="D001"), 200)
            assert done["status"] == "approved" and done["line_count"] == 3
            await draft_and_submit(s, "D002")
            d2 = "/v1/plans/D002/2026-12/callbacks"
            await call(
                s, "POST", f"{d2}/review", who(s, "dealer", dealer="D002"), 200
            )  # no position: the role's rights
            await call(s, "POST", f"{d2}/approve", who(s, "dealer", dealer="D002"), 200)
            await call(s, "POST", f"{d2}/approve", who(s, "hq_analyst"), 403)  # reads only
            assert (await call(s, "POST", f"{d2}/approve", who(s, "hq_admin"), 200))["status"] == "approved"

            # the roll-up against an independent count
            hq = await call(s, "GET", "/v1/plans/rollup/2026-12?level=hq", who(s, "hq_analyst"), 200)
            [unit] = hq["units"]
            lines_total = await s.scalar(
                "SELECT count(*) FROM work_plan_lines l JOIN work_plans p USING (plan_id) WHERE p.period = '2026-12'"
            )
            unplanned = await s.scalar(
                "SELECT count(*) FROM tasks WHERE kind = 'callback' AND plan_id IS NULL AND status <> 'cancelled'"
                " AND due_at >= '2026-12-01T00:00:00+08:00' AND due_at < '2027-01-01T00:00:00+08:00'"
            )
            assert unit["callbacks"] == {
                "plans": 3,
                "submitted": 3,
                "approved": 3,
                "late": 0,
                "planned": lines_total,
                "approved_lines": lines_total,
                "done": 0,
                "unplanned": unplanned,
            }
            assert (lines_total, unplanned) == (9, 1)
            by_dealer = await call(s, "GET", "/v1/plans/rollup/2026-12?level=dealer", who(s, "hq_admin"), 200)
            assert {u["unit"]: u["callbacks"]["unplanned"] for u in by_dealer["units"]} == {
                "D001": 1,
                "D002": 0,
                "D003": 0,
            }
            regional = await call(s, "GET", "/v1/plans/rollup/2026-12?level=region", regional, 200)
            assert [u["unit"] for u in regional["units"]] == ["37"] and regional["units"][0]["dealers"] == 3
            await call(s, "GET", "/v1/plans/rollup/2026-12?level=region", who(s, "dealer", dealer="D001"), 403)
            own = await call(s, "GET", "/v1/plans/rollup/2026-12", who(s, "dealer", dealer="D001"), 200)
            assert [u["unit"] for u in own["units"]] == ["D001"]
            channel = await call(s, "GET", "/v1/plans/rollup/2026-12?level=channel", who(s, "hq_admin"), 200)
            assert [u["unit"] for u in channel["units"]] == ["heavy_truck"]

            # a planned customer's task cancelled (its lead closed, or it bought: the life cycle cancels open work)
            # leaves the plan: the roll-up no longer counts that line as planned
            before = {u["unit"]: u["callbacks"] for u in by_dealer["units"]}["D003"]
            async with s.runtime.db.transaction() as session:
                cancel = "UPDATE tasks SET status = 'cancelled' WHERE task_id = :t"
                await session.execute(text(cancel), {"t": approved["lines"][0]["task_id"]})
            after = await call(s, "GET", "/v1/plans/rollup/2026-12?level=dealer", who(s, "hq_admin"), 200)
            now_d3 = {u["unit"]: u["callbacks"] for u in after["units"]}["D003"]
            assert now_d3["planned"] == before["planned"] - 1
            assert now_d3["approved_lines"] == before["approved_lines"] - 1


class TestRejectionQuotaAndEvents:
    async def test_under_quota_refused_rejected_with_a_reason_resubmitted_and_the_events_masked(
        self, infra: Infra
    ) -> None:
        async with scheduler(infra, start=NOV_20) as s:
            owner = who(s, "dealer", dealer="D001")
            await call(s, "PUT", "/v1/plans/D001/2026-12", owner, 200, json={"sales_plan": 2})  # quota 6
            for _ in range(3):
                await s.accept_lead(tier="retail", horizon="none")  # due 10 December
            plan = await draft_and_submit(s, "D001")
            assert (plan["quota"], plan["line_count"]) == (6, 3)
            path = "/v1/plans/D001/2026-12/callbacks"
            gm = who(s, "dealer", "general_manager", dealer="D001")
            await call(s, "POST", f"{path}/review", who(s, "dealer", "customer_manager", dealer="D001"), 200)
            problem = await call(s, "POST", f"{path}/approve", gm, 422)
            assert (problem["type"], problem["quota"], problem["lines"]) == ("/problems/plan-under-quota", 6, 3)
            rejected = await call(
                s, "POST", f"{path}/reject", gm, 200, json={"reason": "too few; call 13800138000 about it"}
            )
            assert (rejected["status"], rejected["rejected_reason"]) == (
                "rejected",
                "too few; call 13800138000 about it",
            )
            analyst = await call(s, "GET", path, who(s, "hq_analyst"), 200)  # personal data masked for an analyst
            assert "13800138000" not in str(analyst["rejected_reason"]) + str(analyst["steps"])
            await call(s, "POST", f"{path}/review", gm, 409)  # back with the makers
            await call(s, "PUT", "/v1/plans/D001/2026-12", owner, 200, json={"sales_plan": 1})  # quota 3
            again = await draft_and_submit(s, "D001")
            assert (again["status"], again["stage"]) == ("submitted", "dealer_review")
            await call(s, "POST", f"{path}/review", who(s, "dealer", "customer_manager", dealer="D001"), 200)
            assert (await call(s, "POST", f"{path}/approve", gm, 200))["status"] == "approved"
            await call(s, "PUT", path, owner, 409, json={"lines": []})  # an approved plan is not edited

            # a week's promotion plan: every customer with demand within one month must be in it
            demand = [await s.accept_lead(tier="gold_silver", horizon="within_4_weeks") for _ in range(2)]
            week = "/v1/plans/D001/weeks/2026-W49/promotions"
            clerk = who(s, "dealer", "plan_clerk", dealer="D001")
            draft = await call(s, "GET", f"{week}/draft", clerk, 200)
            assert draft["quota"] == 2 and {x["reason"] for x in draft["lines"]} == {"demand_within_one_month"}
            assert await call(s, "GET", f"{week}/draft", who(s, "dealer", dealer="D009"), 404)
            lines = [{"customer_id": x["customer_id"], "target_date": x["target_date"]} for x in draft["lines"]]
            # as many lines as the quota, but one customer with demand within one month left out: refused
            other = {"customer_id": again["lines"][0]["customer_id"], "target_date": "2026-12-02"}
            await call(s, "PUT", week, clerk, 200, json={"lines": [lines[0], other]})
            await call(s, "POST", f"{week}/submit", clerk, 200)
            await call(s, "POST", f"{week}/review", who(s, "dealer", "customer_manager", dealer="D001"), 200)
            gm_week = who(s, "dealer", "general_manager", dealer="D001")
            missing = await call(s, "POST", f"{week}/approve", gm_week, 422)
            assert (missing["code"], missing["missing"]) == ("plan_misses_demand_customers", 1)
            await call(s, "POST", f"{week}/reject", gm_week, 200, json={"reason": "all demand customers"})
            await call(s, "PUT", week, clerk, 200, json={"lines": lines})
            await call(s, "POST", f"{week}/submit", clerk, 200)
            for step, token in (("review", "customer_manager"), ("approve", "general_manager")):
                await call(s, "POST", f"{week}/{step}", who(s, "dealer", token, dealer="D001"), 200)
            await call(s, "POST", f"{week}/approve", who(s, "hq_analyst", "market_manager"), 200)
            await call(s, "POST", f"{week}/review", who(s, "hq_analyst", "regional_manager", regions=["37"]), 200)
            done = await call(s, "POST", f"{week}/approve", who(s, "hq_analyst", "department_head"), 200)
            assert done["status"] == "approved" and len(demand) == 2
            # the week's approved lines planned the two promotion tasks; the roll-up shows the week
            planned = await s.rows("SELECT plan_id FROM tasks WHERE kind = 'promotion' AND status = 'open'")
            assert [row.plan_id for row in planned] == [done["plan_id"]] * 2
            rollup = await call(s, "GET", "/v1/plans/rollup/2026-12", owner, 200)
            [w49] = [w for w in rollup["units"][0]["weeks"] if w["week"] == "2026-W49"]
            assert (w49["plans"], w49["approved"], w49["planned"], w49["approved_lines"]) == (1, 1, 2, 2)

            # on the broker: the plan events, keyed by dealer, counts only, the reason redacted
            seen: list[dict[str, Any]] = []
            async with topic_reader(infra.bootstrap_servers, s.prefix + PLANS) as consumer:

                async def enough() -> bool:
                    batch = await consumer.getmany(timeout_ms=200)
                    seen.extend(orjson.loads(m.value) | {"key": m.key.decode()} for ms in batch.values() for m in ms)
                    return sum(e["type"] == "leadnet.plan.approved" for e in seen) >= 2

                await eventually(enough, within=20)
            types = [e["type"] for e in seen]
            assert types.count("leadnet.plan.submitted") == 4 and types.count("leadnet.plan.rejected") == 2
            assert {e["key"] for e in seen} == {"D001"}
            [rejected_event, _] = [e for e in seen if e["type"] == "leadnet.plan.rejected"]
            assert "13800138000" not in orjson.dumps(rejected_event).decode()
            assert rejected_event["data"]["acted_by_position"] == "general_manager"
            assert rejected_event["data"]["lines_by_tier"] == {"retail": 3}
            for event in seen:
                assert not {"customer_id", "lead_id", "sub", "lines_detail"} & set(event["data"])
            assert await personal_data_on_topics(infra.bootstrap_servers, s.prefix) == []


class TestLate:
    async def test_a_plan_not_in_by_the_30th_is_flagged_late_on_the_1st_once(self, infra: Infra) -> None:
        eve = datetime(2026, 11, 30, 23, 59, tzinfo=SHANGHAI)
        async with scheduler(infra, start=eve, dealers=("D001", "D002")) as s:
            await s.accept_lead(dealer="D002", tier="retail", horizon="within_2_months")
            on_time = await draft_and_submit(s, "D002")
            assert on_time["late"] is False
            await s.tick()
            # November's plans and this week's promotion plans were due earlier: flagged; December's not yet
            assert "2026-12" not in {e["data"]["period"] for e in await s.outbox("leadnet.plan.late")}
            s.clock.set(datetime(2026, 12, 1, 0, 0, tzinfo=SHANGHAI))
            await s.tick()
            await s.tick()
            late = [e for e in await s.outbox("leadnet.plan.late") if e["data"]["period"] == "2026-12"]
            assert [(e["data"]["dealer"], e["data"]["period"]) for e in late] == [("D001", "2026-12")]
            await s.accept_lead(dealer="D001", tier="retail", horizon="within_2_months")
            submitted = await draft_and_submit(s, "D001")
            assert submitted["late"] is True and submitted["submitted_at"]
            assert [x["action"] for x in submitted["steps"]][:1] == ["late"]
            assert len([e for e in await s.outbox("leadnet.plan.late") if e["data"]["period"] == "2026-12"]) == 1
            rollup = await call(s, "GET", "/v1/plans/rollup/2026-12?level=dealer", who(s, "hq_admin"), 200)
            assert {u["unit"]: u["callbacks"]["late"] for u in rollup["units"]} == {"D001": 1, "D002": 0}

    async def test_reminders_name_the_positions_that_must_act(self, infra: Infra) -> None:
        async with scheduler(infra, start=datetime(2026, 11, 27, 8, 0, tzinfo=SHANGHAI)) as s:
            await s.advance(timedelta(hours=2))  # 3 days before the 30th, 09:00
            [reminder] = [e for e in await s.outbox("leadnet.plan.reminder") if e["data"]["plan"] == "callback"]
            assert reminder["data"]["positions"] == ["customer_manager", "general_manager", "plan_clerk"]
            await s.accept_lead(tier="retail", horizon="within_2_months")
            await draft_and_submit(s, "D001")
            s.clock.set(datetime(2026, 11, 29, 9, 0, tzinfo=SHANGHAI))  # 2 days before December: the reviewer
            await s.tick()
            approvals = [e["data"] for e in await s.outbox("leadnet.plan.reminder") if e["data"].get("stage")]
            assert [(a["stage"], a["positions"], a["period"]) for a in approvals] == [
                ("dealer_review", ["customer_manager"], "2026-12")
            ]
