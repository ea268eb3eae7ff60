"""The webhook API: a dealer's own subscriptions only (another dealer's are 404), every field problem at once,
server-side request forgery refused, the delivery log, replays, tests, disabling and enabling again."""

from __future__ import annotations

import socket
from datetime import timedelta
from typing import Any

import pytest

from leadnet_shared.testing import Infra, eventually
from notifier.delivery import log_purge_step

from .conftest import EVENTS, Notifier, Receiver, lead_accepted, opened_notifier

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]


async def test_a_dealer_neither_sees_nor_subscribes_to_another_dealers_events(
    notifier: Notifier, receiver: Receiver
) -> None:
    d1 = await notifier.subscribe("D001", receiver.url("/d1"))
    d2 = await notifier.subscribe("D002", receiver.url("/d2"))
    hq = await notifier.subscribe(None, receiver.url("/hq"))
    assert "secret" in d1 and d1["secret"].startswith("whsec_")
    as_d2 = notifier.infra.auth("dealer", "D002")
    for method, path in [
        ("GET", ""),
        ("PATCH", ""),
        ("DELETE", ""),
        ("GET", "/deliveries"),
        ("POST", "/test"),
        ("POST", "/secret/rotate"),
    ]:
        r = await notifier.client.request(
            method, f"/v1/webhooks/{d1['webhook_id']}{path}", headers=as_d2, json={} if method == "PATCH" else None
        )
        assert r.status_code == 404, (method, path, r.text)
    r = await notifier.client.post(
        "/v1/webhooks", json={"url": receiver.url(), "events": ["lead.assigned"], "dealer": "D001"}, headers=as_d2
    )
    assert r.status_code == 404
    listed = (await notifier.client.get("/v1/webhooks", headers=as_d2)).json()
    assert [w["webhook_id"] for w in listed["items"]] == [d2["webhook_id"]] and listed["total"] == 1
    assert "secret" not in listed["items"][0]
    # D001's lead reaches D001 and HQ, never D002.
    await notifier.feed(lead_accepted("L1", "C1", "D001"))
    await eventually(lambda: _paths(receiver, {"/d1", "/hq"}))
    await notifier.feed(lead_accepted("L2", "C2", "D002"))
    await eventually(lambda: _n(receiver, 4))
    assert [r.json["data"]["lead_id"] for r in receiver.at("/d2")] == ["L2"]
    assert [r.json["data"]["lead_id"] for r in receiver.at("/d1")] == ["L1"]
    assert sorted(r.json["data"]["lead_id"] for r in receiver.at("/hq")) == ["L1", "L2"]
    assert hq["owner"] == "hq"
    # A withdrawn dealer's token still reads, but no longer writes.
    withdrawn = notifier.infra.auth("dealer", "D009")
    r = await notifier.client.post("/v1/webhooks", json={"url": receiver.url(), "events": EVENTS}, headers=withdrawn)
    assert r.status_code == 403 and r.json()["code"] == "dealer_not_active"
    assert (await notifier.client.get("/v1/webhooks", headers=withdrawn)).status_code == 200
    # An analyst manages none.
    r = await notifier.client.get("/v1/webhooks", headers=notifier.infra.auth("hq_analyst"))
    assert r.status_code == 403


async def _paths(receiver: Receiver, paths: set[str]) -> bool:
    return {r.path for r in receiver.requests} == paths


async def test_every_field_problem_at_once_and_forged_targets_refused(notifier: Notifier) -> None:
    auth = notifier.infra.auth("dealer", "D001")
    r = await notifier.client.post(
        "/v1/webhooks", json={"url": "ftp://example.com/x", "events": ["lead.assigned", "lead.eaten"]}, headers=auth
    )
    assert r.status_code == 422
    assert {(e["field"], e["code"]) for e in r.json()["errors"]} == {
        ("/url", "invalid_url"),
        ("/events/1", "invalid_enum"),
    }
    for url in [
        "http://10.0.0.5/hook",
        "http://192.168.1.1/hook",
        "http://172.16.0.1/hook",
        "http://169.254.169.254/latest/meta-data",  # the cloud's metadata service
        "http://[::1]:8080/hook",
        "http://[fe80::1]/hook",
        "http://[::ffff:10.0.0.1]/hook",
        "http://0.0.0.0:8006/hook",
        "http://224.0.0.1/hook",
        "http://100.64.0.1/hook",
        "http://localhost:8006/hook",
        "http://127.0.0.2:8006/hook",  # development allows 127.0.0.1 only
        "https://user:pw@example.com/hook",
    ]:
        r = await notifier.client.post("/v1/webhooks", json={"url": url, "events": EVENTS}, headers=auth)
        assert r.status_code == 422, url
        assert r.json()["errors"][0]["field"] == "/url"


async def test_production_rules_refuse_http_and_loopback() -> None:
    from notifier.targets import TargetRefused, TargetRules

    rules = TargetRules.of(allow_http=False, allowed_networks=[])
    with pytest.raises(TargetRefused, match="https"):
        rules.check_url("http://example.com/hook")
    with pytest.raises(TargetRefused):
        rules.check_url("https://127.0.0.1/hook")
    assert rules.check_url("https://dms.example.com:8443/hook") == ("https", "dms.example.com", 8443)
    with pytest.raises(TargetRefused):
        await rules.resolve("127.0.0.1", 443)


async def test_a_name_resolving_to_a_private_address_is_refused_at_delivery(infra: Infra, receiver: Receiver) -> None:
    """The URL's name was fine when saved; at delivery it resolves to this machine: nothing is sent."""
    name = socket.gethostname()
    try:
        socket.gethostbyname(name)
    except OSError:
        pytest.skip("this machine's name does not resolve")
    async with opened_notifier(infra, webhook_allowed_networks=[]) as notifier:
        hook = await notifier.subscribe("D001", "http://dms.example.com/hook")
        await notifier.sql(
            "UPDATE webhooks SET url = :u WHERE webhook_id = :w", u=f"http://{name}:{receiver.port}/hook",
            w=hook["webhook_id"],
        )  # fmt: skip
        await notifier.feed(lead_accepted("L1", "C1", "D001"))
        rows = await eventually(
            lambda: notifier.sql("SELECT last_error FROM deliveries WHERE last_error IS NOT NULL"), within=10
        )
        assert rows[0].last_error.startswith("forbidden_address")
        assert receiver.requests == []


async def test_delivery_log_test_replay_of_one_and_of_a_range(notifier: Notifier, receiver: Receiver) -> None:
    hook = await notifier.subscribe("D001", receiver.url())
    auth = notifier.infra.auth("dealer", "D001")
    base = f"/v1/webhooks/{hook['webhook_id']}"
    r = await notifier.client.post(f"{base}/test", headers=auth)
    assert r.status_code == 202 and r.json()["event_type"] == "webhook.test"
    await eventually(lambda: _n(receiver, 1))
    assert receiver.requests[0].json["type"] == "webhook.test"
    await notifier.advance(1)
    start = notifier.clock.now()
    await notifier.feed(*(lead_accepted(f"L{i}", f"C{i}", "D001") for i in range(3)))
    await eventually(lambda: _n(receiver, 4))
    page = await eventually(lambda: _delivered(notifier, base, auth, 4))
    assert page["total"] == 4
    first = page["items"][1]
    assert (first["status"], first["attempts"], first["response_code"]) == ("delivered", 1, 204)
    # Keyset pages of 2, and what changed since an instant.
    p1 = (await notifier.client.get(f"{base}/deliveries?limit=2", headers=auth)).json()
    p2 = (await notifier.client.get(f"{base}/deliveries?limit=2&cursor={p1['next_cursor']}", headers=auth)).json()
    assert len(p1["items"]) == 2 and len(p2["items"]) == 2 and p2["next_cursor"] is None
    # Replay one: the same message id again.
    r = await notifier.client.post(f"{base}/deliveries/{first['delivery_id']}/replay", headers=auth)
    assert r.status_code == 202
    await eventually(lambda: _n(receiver, 5))
    assert receiver.requests[-1].msg_id == first["delivery_id"]
    # Replay a range: the three lead deliveries (the test message was before `start`).
    await notifier.advance(1)
    r = await notifier.client.post(
        f"{base}/replay",
        json={"since": start.isoformat(), "until": (start + timedelta(seconds=1)).isoformat()},
        headers=auth,
    )
    assert r.status_code == 202 and r.json() == {"replayed": 3}, r.text
    await eventually(lambda: _n(receiver, 8))
    # (three customers: no order among them)
    assert sorted(x.json["data"]["lead_id"] for x in receiver.requests[-3:]) == ["L0", "L1", "L2"]
    changed = (
        await notifier.client.get(
            f"{base}/deliveries", params={"updated_since": notifier.clock.now().isoformat()}, headers=auth
        )
    ).json()
    assert changed["total"] == 3
    r = await notifier.client.post(f"{base}/deliveries/msg_nope/replay", headers=auth)
    assert r.status_code == 404
    # The log keeps what was delivered for the policy's 30 days, then forgets it.
    await eventually(lambda: _none_pending(notifier))
    await notifier.advance(29 * 86400)
    await log_purge_step(notifier.runtime)()
    assert (await notifier.client.get(f"{base}/deliveries", headers=auth)).json()["total"] == 4
    await notifier.advance(2 * 86400)
    await log_purge_step(notifier.runtime)()
    assert (await notifier.client.get(f"{base}/deliveries", headers=auth)).json()["total"] == 0


async def _n(receiver: Receiver, n: int) -> bool:
    return len(receiver.requests) >= n


async def _delivered(notifier: Notifier, base: str, auth: dict[str, str], n: int) -> object:
    page = (await notifier.client.get(f"{base}/deliveries", headers=auth)).json()
    return page if sum(1 for d in page["items"] if d["status"] == "delivered") >= n else None


async def test_an_endpoint_failing_for_days_is_disabled_its_owner_told_and_enabled_again(
    notifier: Notifier, receiver: Receiver
) -> None:
    hook = await notifier.subscribe("D001", receiver.url())
    auth = notifier.infra.auth("dealer", "D001")
    base = f"/v1/webhooks/{hook['webhook_id']}"
    ops = await notifier.subscribe("D001", receiver.url("/ops"), ["webhook.disabled"])  # its second endpoint
    down = {"down": True}
    receiver.decide = lambda r: (503, {}) if down["down"] and r.path == "/hook" else None
    await notifier.feed(lead_accepted("L1", "C1", "D001"))
    await eventually(lambda: _n(receiver, 1))
    for _ in range(6):  # a day at a time: the retries end after 3 days, the endpoint is disabled after 5
        await notifier.advance(24 * 3600)
        await notifier.feed(lead_accepted(f"L{notifier.clock.now().day}", "C9", "D001"))
        await eventually(lambda: _attempted_all(notifier))
    got = (await notifier.client.get(base, headers=auth)).json()
    assert (got["status"], got["disabled_reason"]) == ("disabled", "failing")
    notices = await notifier.sql("SELECT owner, kind, webhook_id FROM owner_notices")
    assert [(n.owner, n.kind, n.webhook_id) for n in notices] == [("D001", "webhook.disabled", hook["webhook_id"])]
    told = await eventually(lambda: _at(receiver, "/ops"))
    assert [(t.json["type"], t.json["data"]["webhook_id"]) for t in told] == [("webhook.disabled", hook["webhook_id"])]
    assert ops["webhook_id"] != hook["webhook_id"]
    statuses = {d["status"] for d in (await notifier.client.get(f"{base}/deliveries", headers=auth)).json()["items"]}
    assert "failed" in statuses  # retries of the first ones ended
    # Back up: enabling sends what waited, in order.
    down["down"] = False
    before = len(receiver.requests)
    r = await notifier.client.patch(base, json={"status": "enabled"}, headers=auth)
    assert r.status_code == 200 and r.json()["status"] == "enabled" and r.json()["failing_since"] is None
    await eventually(lambda: _none_pending(notifier))
    assert len(receiver.requests) > before
    r = await notifier.client.post(f"{base}/replay", json={"since": "2000-01-01T00:00:00Z",
                                   "until": "2100-01-01T00:00:00Z", "failed_only": True}, headers=auth)  # fmt: skip
    assert r.json()["replayed"] >= 1
    await eventually(lambda: _none_pending(notifier))
    rows = await notifier.sql("SELECT DISTINCT status FROM deliveries")
    assert {r.status for r in rows} == {"delivered"}


async def _at(receiver: Receiver, path: str) -> list[Any]:
    return list(receiver.at(path))


async def _attempted_all(notifier: Notifier) -> bool:
    """Every pending delivery that is due has been tried at this clock (none due and untried), and none is in
    flight."""
    return await notifier.in_flight(or_due=True) == 0


async def _none_pending(notifier: Notifier) -> bool:
    rows = await notifier.sql("SELECT count(*) AS n FROM deliveries WHERE status = 'pending'")
    return int(rows[0].n) == 0


async def test_a_repeated_create_with_its_key_answers_the_first_time_again(
    notifier: Notifier, receiver: Receiver
) -> None:
    auth = notifier.infra.auth("dealer", "D001") | {"Idempotency-Key": "k-1"}
    body = {"url": receiver.url(), "events": ["task.due"]}
    first = await notifier.client.post("/v1/webhooks", json=body, headers=auth)
    again = await notifier.client.post("/v1/webhooks", json=body, headers=auth)
    assert first.status_code == again.status_code == 201 and first.json() == again.json()
    other = await notifier.client.post("/v1/webhooks", json=body | {"events": ["task.overdue"]}, headers=auth)
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    # A changed URL is checked like a new one.
    r = await notifier.client.patch(
        f"/v1/webhooks/{first.json()['webhook_id']}", json={"url": "http://169.254.169.254/"}, headers=auth
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "/url"
