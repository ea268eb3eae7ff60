"""The people policy (people.toml): which event goes to whom, when its digest goes out, how digests are cut, and
that a line never carries personal data."""

from __future__ import annotations

import string
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadnet_shared.policy import PolicyError, load_policy
from notifier.channels.config import check_channels
from notifier.people import DigestLine, PeoplePolicy, digests, lines_for_event, parse_people_policy

EVE = datetime(2026, 12, 6, 22, 0, tzinfo=UTC)  # 06:00 on 7 December in Shanghai
EVERYONE = {"id": "all", "kind": "wecom", "dealers": ["*"], "positions": ["*"], "key_env": "K"}


def policy_with(*channels: dict[str, Any], **overrides: Any) -> PeoplePolicy:
    return parse_people_policy({**load_policy("notifier", "people"), "channels": list(channels), **overrides})


def task(
    kind: str = "callback", *, due_at: datetime = EVE + timedelta(hours=4), dealer: str = "D001"
) -> dict[str, Any]:
    return {"task_id": "T1", "customer_id": "C1", "dealer": dealer, "kind": kind, "due_at": due_at.isoformat(),
            "status": "open", "phone": "13800138000", "name": "张三"}  # fmt: skip


def test_the_shipped_policy_loads_and_names_no_channel() -> None:
    policy = policy_with()
    assert policy.channels == () and policy.per_minute["wecom"] == 20 and policy.per_minute["dingtalk"] == 20
    assert {t.name for t in policy.triggers} >= {"task_due_today", "task_overdue", "overdue_digest", "plan_deadline",
                                                 "plan_approval", "plan_late", "network_deadline",
                                                 "sale_confirmation"}  # fmt: skip


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"channels": [EVERYONE | {"kind": "fax"}]}, "unknown kind"),
        ({"channels": [EVERYONE, EVERYONE]}, "unique"),
        ({"channels": [EVERYONE | {"triggers": ["birthdays"]}]}, "unknown triggers"),
        ({"max_lines": 0}, "max_lines"),
    ],
)
def test_a_bad_policy_stops_the_service(change: dict[str, Any], complaint: str) -> None:
    with pytest.raises(PolicyError, match=complaint):
        parse_people_policy({**load_policy("notifier", "people"), **change})


def test_a_channel_without_its_secrets_stops_the_service() -> None:
    sms = {"id": "sms", "kind": "aliyun_sms", "access_key_id_env": "ID", "access_key_secret_env": "SECRET",
           "phone_numbers_env": "PHONES", "sign_name": "某某汽车"}  # fmt: skip
    policy = policy_with(EVERYONE, sms)
    with pytest.raises(PolicyError) as refused:
        check_channels(policy.channels, {"K": "key", "ID": "id"})
    assert str(refused.value) == (
        "people channels: sms: access_key_secret_env names no set variable; "
        "sms: phone_numbers_env names no set variable; sms: template_code is missing"
    )
    complete = policy_with(EVERYONE, sms | {"template_code": "SMS_1"})
    check_channels(complete.channels, {"K": "k", "ID": "i", "SECRET": "s", "PHONES": "13800138000"})


def test_a_trigger_needs_one_schedule() -> None:
    data = load_policy("notifier", "people")
    both = {**data["triggers"]["task_overdue"], "daily_at": "08:00"}
    with pytest.raises(PolicyError, match="exactly one"):
        parse_people_policy({**data, "triggers": {**data["triggers"], "task_overdue": both}})


def test_a_task_goes_to_the_position_that_works_its_kind_on_the_morning_it_is_due() -> None:
    policy = policy_with(EVERYONE)
    staffed, _ = lines_for_event(
        policy, "leadnet.task.scheduled", task() | {"position": "precall_agent"}, received_at=EVE
    )
    assert [line.position for line in staffed] == ["precall_agent"]  # the scheduler's staff matrix decides
    lines, _ = lines_for_event(policy, "leadnet.task.scheduled", task("maintenance"), received_at=EVE)
    assert [(line.trigger, line.position, line.dealer) for line in lines] == [
        ("task_due_today", "customer_manager", "D001")
    ]
    assert lines[0].flush_at == datetime(2026, 12, 7, 0, 0, tzinfo=UTC)  # 08:00 Shanghai
    later, _ = lines_for_event(policy, "leadnet.task.scheduled", task(), received_at=EVE + timedelta(hours=3))
    assert later[0].flush_at == EVE + timedelta(hours=3)  # after the morning digest: with the next pass


def test_lines_carry_ids_and_never_the_personal_data_an_event_might_hold() -> None:
    policy = policy_with(EVERYONE)
    lines, _ = lines_for_event(policy, "leadnet.task.overdue", task(), received_at=EVE)
    assert lines and all("13800138000" not in line.line and "张三" not in line.line for line in lines)
    personal = {"phone", "name", "address", "id_number", "contact", "customer"}
    for trigger in policy.triggers:
        for template in (trigger.line, trigger.title):
            fields = {name for _, name, _, _ in string.Formatter().parse(template) if name}
            assert not fields & personal, (trigger.name, fields)


def test_a_channel_reaches_only_its_dealers_positions_and_triggers() -> None:
    consultants = {"id": "c", "kind": "dingtalk", "dealers": ["D001"], "positions": ["marketing_consultant"],
                   "triggers": ["task_due_today"], "access_token_env": "T"}  # fmt: skip
    policy = policy_with(consultants)
    assert len(lines_for_event(policy, "leadnet.task.scheduled", task(), received_at=EVE)[0]) == 1
    assert lines_for_event(policy, "leadnet.task.scheduled", task(dealer="D002"), received_at=EVE)[0] == []
    assert lines_for_event(policy, "leadnet.task.overdue", task(), received_at=EVE)[0] == []


def test_plans_networks_and_sales_reach_the_people_who_must_act() -> None:
    policy = policy_with(EVERYONE)
    approval = {"plan_id": "P1", "plan": "callback", "period": "2027-01", "dealer": "D001", "status": "submitted",
                "stage": "market_approval", "lines": 40}  # fmt: skip
    lines, _ = lines_for_event(policy, "leadnet.plan.submitted", approval, received_at=EVE)
    assert [(line.dealer, line.position) for line in lines] == [("HQ", "market_manager")]
    assert lines[0].line == "callback 计划 2027-01 待审批（D001，40 行）"
    at_dealer, _ = lines_for_event(policy, "leadnet.plan.submitted", approval | {"stage": "dealer_review"},
                                   received_at=EVE)  # fmt: skip
    assert [(line.dealer, line.position) for line in at_dealer] == [("D001", "customer_manager")]
    reminder = {"dealer": "D001", "plan": "callback", "period": "2027-01", "positions": ["plan_clerk"],
                "due_by": "2026-12-30T15:59:59+00:00"}  # fmt: skip
    lines, _ = lines_for_event(policy, "leadnet.plan.reminder", reminder, received_at=EVE)
    assert [(line.trigger, line.position) for line in lines] == [("plan_deadline", "plan_clerk")]
    _, taken = lines_for_event(policy, "leadnet.plan.approved", approval | {"status": "approved"}, received_at=EVE)
    assert [(w.trigger, w.subject) for w in taken] == [("plan_approval", "P1")]
    reminder = {"owner": "D003", "plan": "temporary_network_development", "period": "2027-01",
                "due_by": "2027-01-05T15:59:59+00:00"}  # fmt: skip
    lines, _ = lines_for_event(policy, "leadnet.network.plan_reminder", reminder, received_at=EVE)
    assert {(line.dealer, line.position) for line in lines} == {("D003", "channel_admin"), ("D003", "general_manager")}
    assert "01-05 23:59" in lines[0].line  # shown in Shanghai time
    sale = {"sale_id": "S1", "customer_id": "C1", "seller": "D001", "supplied_by": "D002", "confirmer": "D002",
            "vehicle_count": 2}  # fmt: skip
    lines, _ = lines_for_event(policy, "leadnet.sale.pending_confirmation", sale, received_at=EVE)
    assert {line.dealer for line in lines} == {"D002"}
    assert lines[0].line == "销售 S1 · 客户 C1 · D001 上报 2 辆，待确认"
    for_hq, _ = lines_for_event(
        policy, "leadnet.sale.pending_confirmation", sale | {"confirmer": "hq"}, received_at=EVE
    )
    assert [(line.dealer, line.position) for line in for_hq] == [("HQ", "market_manager")]
    _, taken = lines_for_event(policy, "leadnet.sale.rejected", sale | {"rejected_by": "D002"}, received_at=EVE)
    assert [(w.trigger, w.subject) for w in taken] == [("sale_confirmation", "S1")]
    flagged = {"dealer": "D004", "month": "2027-01", "due_by": "2027-01-25T15:59:59+00:00", "target": 30,
               "handed_on": 12}  # fmt: skip
    lines, _ = lines_for_event(policy, "leadnet.collection.hand_on_flagged", flagged, received_at=EVE)
    assert {line.position for line in lines} == {"channel_admin", "general_manager"} and "12 条" in lines[0].line
    assert lines_for_event(policy, "leadnet.something.new", sale, received_at=EVE) == ([], [])


@given(offsets=st.lists(st.integers(min_value=0, max_value=6 * 3600), min_size=2, max_size=30))
def test_lines_of_one_window_share_one_flush_time_that_closes_the_window(offsets: list[int]) -> None:
    policy = policy_with(EVERYONE)
    flushes = {}
    for offset in offsets:
        received = EVE + timedelta(seconds=offset)
        lines, _ = lines_for_event(policy, "leadnet.task.overdue", task(), received_at=received)
        flush = lines[0].flush_at
        assert timedelta(0) < flush - received <= timedelta(hours=1)
        flushes[offset // 3600] = flushes.get(offset // 3600, flush)
        assert flushes[offset // 3600] == flush


@given(
    count=st.integers(min_value=0, max_value=120),
    max_lines=st.integers(min_value=1, max_value=40),
    positions=st.lists(st.sampled_from(["general_manager", "customer_manager"]), min_size=1, max_size=1),
)
def test_digests_keep_every_line_once_in_order_and_within_the_size(
    count: int, max_lines: int, positions: list[str]
) -> None:
    policy = policy_with(EVERYONE, max_lines=max_lines)
    lines = [DigestLine("task_overdue", "all", "D001", positions[0], f"T{i}", f"line {i}", EVE) for i in range(count)]
    made = digests(policy, lines)
    assert [text for d in made for text in d.message.lines] == [f"line {i}" for i in range(count)]
    assert all(len(d.message.lines) <= max_lines for d in made)
    assert all(d.message.params["count"] == str(count) for d in made)
