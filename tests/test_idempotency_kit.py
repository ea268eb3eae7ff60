"""The kit's Idempotency-Key on a creating POST that had none (`POST /v1/tasks`, contract.md): the same key and body
replay the first answer without planning a second task, another body is a 422, and keys are purged after retention.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from followup_scheduler.endpoints import TASK_KEYS
from leadnet_shared.testing import Infra
from tests.scheduler_harness import scheduler

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]

MONDAY = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)


async def test_a_manual_task_with_an_idempotency_key_is_planned_once(infra: Infra) -> None:
    async with scheduler(infra, start=MONDAY) as s:
        lead = await s.accept_lead(horizon="uncertain")
        body = {"lead_id": lead, "kind": "maintenance", "due_at": (MONDAY + timedelta(hours=5)).isoformat()}
        dealer = {**s.auth("dealer", "D001"), "Idempotency-Key": "k-1"}
        first = await s.http.post("/v1/tasks", json=body, headers=dealer)
        assert first.status_code == 201, first.text
        again = await s.http.post("/v1/tasks", json=body, headers=dealer)
        assert (again.status_code, again.json()) == (201, first.json())
        manual = "SELECT count(*) FROM tasks WHERE lead_id = :l AND reason = 'manual'"
        assert await s.scalar(manual, l=lead) == 1
        other = await s.http.post("/v1/tasks", json={**body, "kind": "promotion"}, headers=dealer)
        assert (other.status_code, other.json()["code"]) == (422, "idempotency_key_reused")
        # Keys are per caller: HQ's "k-1" is its own.
        hq = await s.http.post("/v1/tasks", json=body, headers={**s.auth("hq_admin"), "Idempotency-Key": "k-1"})
        assert hq.status_code == 201 and hq.json()["task_id"] != first.json()["task_id"]
        # A refused request leaves its key free: nothing was stored under it.
        unknown = {**body, "lead_id": "no-such-lead"}
        assert (
            await s.http.post("/v1/tasks", json=unknown, headers={**dealer, "Idempotency-Key": "k-2"})
        ).status_code == 404
        assert (
            await s.http.post("/v1/tasks", json=body, headers={**dealer, "Idempotency-Key": "k-2"})
        ).status_code == 201
        async with s.runtime.db.transaction() as session:
            assert await TASK_KEYS.purge(session, older_than=datetime.now(UTC) - timedelta(hours=1)) == 0
            assert await TASK_KEYS.purge(session, older_than=datetime.now(UTC) + timedelta(seconds=1)) == 3
        assert await s.scalar("SELECT count(*) FROM task_idempotency_keys") == 0
