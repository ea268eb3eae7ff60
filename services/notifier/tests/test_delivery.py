"""Deliveries: signed, at least once, in order per customer under retries, with backoff that honours Retry-After."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook as Verifier

from leadnet_shared.testing import eventually
from notifier import signing

from .conftest import Notifier, Receiver, envelope, lead_accepted, task_due

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]


async def test_a_lead_assigned_to_a_dealer_reaches_its_endpoint_signed(notifier: Notifier, receiver: Receiver) -> None:
    hook = await notifier.subscribe("D001", receiver.url())
    await notifier.feed(lead_accepted("L1", "C1", "D001"))
    await eventually(lambda: _count(receiver, 1))
    got = receiver.requests[0]
    # Standard Webhooks' own library accepts it (timestamp within its 5 minutes: the clock starts at now).
    payload = Verifier(hook["secret"]).verify(got.body.decode(), got.headers)
    assert payload["type"] == "lead.assigned"
    assert payload["data"]["lead_id"] == "L1" and payload["data"]["assigned_dealer"] == "D001"
    assert payload["data"]["customer"] == {"name": "张*", "phone": "138****8000"}  # masked, as on the topic
    assert got.msg_id.startswith("msg_")
    assert await eventually(lambda: _status(notifier, hook["webhook_id"], "delivered"))


async def _count(receiver: Receiver, n: int) -> bool:
    return len(receiver.requests) >= n


async def _status(notifier: Notifier, webhook_id: str, status: str) -> bool:
    return all(s == status for _, s, _ in await notifier.statuses(webhook_id))


def _customer(r: object) -> str:
    return str(r.json["data"].get("customer_id"))  # type: ignore[attr-defined]


async def test_a_failing_customer_holds_only_its_own_later_deliveries_and_each_arrives_once_succeeded(
    notifier: Notifier, receiver: Receiver
) -> None:
    """Receiver fails customer A's first delivery three times, then succeeds: A's message is sent once more (the
    same webhook-id), A's later messages follow it in order, customer B is never held, nothing is lost."""
    hook = await notifier.subscribe("D001", receiver.url())
    failures = {"n": 0}

    def decide(r: object) -> tuple[int, dict[str, str]] | None:
        if _customer(r) == "CA" and failures["n"] < 3:
            failures["n"] += 1
            return (500, {})
        return None

    receiver.decide = decide
    await notifier.feed(
        lead_accepted("A1", "CA", "D001"),
        lead_accepted("A2", "CA", "D001"),
        task_due("A3", "CA", "D001"),
        lead_accepted("B1", "CB", "D001"),
        lead_accepted("B2", "CB", "D001"),
    )
    # B's go out while A's first is failing; A's later ones wait.
    await eventually(lambda: _count_customer(receiver, "CB", 2))
    assert [r.json["data"]["lead_id"] for r in receiver.requests if _customer(r) == "CA"] == ["A1"]
    for attempt in (2, 3, 4):  # past each backoff
        await notifier.advance(3600)
        await eventually(lambda: _count_customer(receiver, "CA", attempt))  # noqa: B023
    await eventually(lambda: _count_customer(receiver, "CA", 6), within=20)
    seen = [(r.json["data"].get("lead_id") or r.json["data"].get("task_id"), r.msg_id) for r in receiver.requests]
    a = [x for x in seen if x[0].startswith("A")]
    assert [x[0] for x in a] == ["A1", "A1", "A1", "A1", "A2", "A3"]
    assert len({msg for lead, msg in a if lead == "A1"}) == 1  # one message, sent again
    assert [x[0] for x in seen if x[0].startswith("B")] == ["B1", "B2"]
    assert await eventually(lambda: _status(notifier, hook["webhook_id"], "delivered"))
    rows = await notifier.sql(
        "SELECT payload->'data'->>'lead_id' AS lead, attempts, response_code FROM deliveries ORDER BY seq"
    )
    assert next((r.lead, r.attempts, r.response_code) for r in rows) == ("A1", 4, 204)


async def _count_customer(receiver: Receiver, customer: str, n: int) -> bool:
    return sum(1 for r in receiver.requests if _customer(r) == customer) >= n


async def test_retry_after_is_honoured(notifier: Notifier, receiver: Receiver) -> None:
    hook = await notifier.subscribe("D001", receiver.url())
    receiver.answer("/hook", (429, {"Retry-After": "120"}))
    await notifier.feed(lead_accepted("L1", "C1", "D001"))
    await eventually(lambda: _count(receiver, 1))
    rows = await eventually(
        lambda: notifier.sql(
            "SELECT next_attempt_at, response_code FROM deliveries WHERE webhook_id = :w AND response_code = 429",
            w=hook["webhook_id"],
        )
    )
    assert (rows[0].next_attempt_at - notifier.clock.now()).total_seconds() == pytest.approx(120, abs=1)
    await notifier.advance(121)
    await eventually(lambda: _count(receiver, 2))
    assert await eventually(lambda: _status(notifier, hook["webhook_id"], "delivered"))
    assert receiver.requests[0].msg_id == receiver.requests[1].msg_id


async def test_during_a_rotation_both_secrets_sign_then_only_the_new_one(
    notifier: Notifier, receiver: Receiver
) -> None:
    hook = await notifier.subscribe("D001", receiver.url())
    r = await notifier.client.post(
        f"/v1/webhooks/{hook['webhook_id']}/secret/rotate", headers=notifier.infra.auth("dealer", "D001")
    )
    assert r.status_code == 200, r.text
    new = r.json()["secret"]
    await notifier.feed(lead_accepted("L1", "C1", "D001"))
    await eventually(lambda: _count(receiver, 1))
    got = receiver.requests[0]
    header = got.headers["webhook-signature"]
    assert len(header.split(" ")) == 2
    ts = int(got.headers["webhook-timestamp"])
    for secret in (hook["secret"], new):
        assert signing.verify(secret, msg_id=got.msg_id, timestamp=ts, body=got.body, header=header)
    await notifier.advance(25 * 3600)  # past the overlap (policy: 24 h)
    await notifier.feed(lead_accepted("L2", "C2", "D001"))
    await eventually(lambda: _count(receiver, 2))
    later = receiver.requests[1]
    assert len(later.headers["webhook-signature"].split(" ")) == 1
    ts = int(later.headers["webhook-timestamp"])
    sig = later.headers["webhook-signature"]
    assert signing.verify(new, msg_id=later.msg_id, timestamp=ts, body=later.body, header=sig)
    assert not signing.verify(hook["secret"], msg_id=later.msg_id, timestamp=ts, body=later.body, header=sig)
    assert datetime.now(UTC) < notifier.clock.now()


async def test_a_sale_waiting_for_confirmation_tells_its_confirmer_only(notifier: Notifier, receiver: Receiver) -> None:
    """`leadnet.sale.pending_confirmation` (its confirmer: the supplying dealer, or "hq"); an event type the
    notifier does not know and unknown fields are passed over."""
    await notifier.subscribe("D001", receiver.url("/d1"), ["sale.pending_confirmation"])
    await notifier.subscribe("D002", receiver.url("/d2"), ["sale.pending_confirmation"])
    await notifier.subscribe(None, receiver.url("/hq"), ["sale.pending_confirmation"])
    sale = {
        "sale_id": "S1",
        "customer_id": "C1",
        "seller": "D002",
        "supplied_by": "D001",
        "vehicle_count": 1,
        "sold_at": "2026-12-01T02:00:00Z",
        "reported_at": "2026-12-02T02:00:00Z",
        "a_field_from_later": {"x": 1},
    }
    await notifier.feed(
        envelope("leadnet.sale.pending_confirmation", sale | {"confirmer": "D001"}),
        envelope("leadnet.sale.pending_confirmation", sale | {"sale_id": "S2", "confirmer": "hq"}),
        envelope("leadnet.something.new", {"customer_id": "C1", "dealer": "D001"}),
    )  # fmt: skip
    await eventually(lambda: _count(receiver, 3))
    got = {(r.path, r.json["data"]["sale_id"]) for r in receiver.requests}
    assert got == {("/d1", "S1"), ("/hq", "S1"), ("/hq", "S2")}
    assert "a_field_from_later" not in receiver.at("/d1")[0].json["data"]  # an allow-list: ids and masked only
