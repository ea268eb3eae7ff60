"""Deliveries: signed, at least once, in order per customer under retries, with backoff that honours Retry-After."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook as Verifier

from leadnet_shared.testing import eventually
from notifier import signing

from .conftest import Notifier, Receiver, lead_accepted, task_due

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
