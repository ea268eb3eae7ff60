"""followup-scheduler on the session's real PostgreSQL and Kafka, with a FrozenClock the test moves.

Dealer D001 is registered (its `leadnet.dealer.upserted` read), since only a registered dealer's token writes
(leadnet_shared.dealer_directory); `dealers=` names others.

The timer worker does not run on its own here: a test moves the clock and calls `tick()` (the worker's one pass),
so deadlines are reached by moving time, never by sleeping. Lead events arrive through Kafka and the real consumer.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import orjson
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI
from sqlalchemy import text

from followup_scheduler.app import create_app
from followup_scheduler.firing import timer_tick
from followup_scheduler.handlers import lead_handler
from followup_scheduler.models import INBOX, KIT_STATE, OUTBOX
from followup_scheduler.settings import SchedulerSettings
from followup_scheduler.tasks import send_plan_reminders
from followup_scheduler.work_plans import plan_timers
from leadnet_shared.app import Runtime
from leadnet_shared.clock import FrozenClock
from leadnet_shared.consumer import BatchHandler
from leadnet_shared.db import Database, make_engine
from leadnet_shared.events import (
    DealerUpserted,
    Envelope,
    EventData,
)
from leadnet_shared.settings import to_asyncpg_url
from leadnet_shared.testing import (
    Infra,
    accepted_event,
    envelope,
    eventually,
    fresh_database,
    handler_runtime,
    new_topic_prefix,
    running,
    service_settings,
)

# The columns of the scheduler's `tasks` a bulk load fills (`open_callback_row`).
TASK_COLUMNS = [
    "task_id",
    "lead_id",
    "customer_id",
    "dealer",
    "kind",
    "due_at",
    "overdue_at",
    "escalate_at",
    "status",
    "reason",
    "tier",
    "tie_break",
    "unreachable_streak",
    "planned_at",
]
_DAY = timedelta(days=1)


def open_callback_row(
    task_id: str, lead_id: str, customer_id: str, dealer: str, *, due: datetime, reason: str, planned: datetime
) -> tuple[Any, ...]:
    """A row of `tasks` (`TASK_COLUMNS`): an open retail callback due at `due`, overdue a day later, escalated after
    two days."""
    overdue, escalate = due + _DAY, due + 2 * _DAY
    return (
        task_id,
        lead_id,
        customer_id,
        dealer,
        "callback",
        due,
        overdue,
        escalate,
        "open",
        reason,
        "retail",
        11,
        0,
        planned,
    )


def accepted_lead(
    lead_id: str,
    customer_id: str,
    dealer: str | None,
    *,
    tier: str,
    horizon: str | None,
    at: datetime,
    source: str | None = None,
) -> Envelope:
    """`lead.accepted` of a cross-region lead D002 entered, assigned to `dealer` (None: it waits in the HQ queue)."""
    facts = {"cross_region": True, "reward_eligible": True, "tier": tier, "horizon": horizon}
    return envelope(
        accepted_event(lead_id, customer_id, dealer=dealer, entered_by="D002", at=at, **facts), at=at, source=source
    )


_handlers: dict[datetime, tuple[Runtime, BatchHandler]] = {}


async def lead_handler_at(infra: Infra, now: datetime) -> tuple[Runtime, BatchHandler]:
    """The scheduler's lead-event handler with its clock frozen at `now`, on one migrated database per `now` for
    the whole session (property tests hand it every example, each about new leads)."""
    if now not in _handlers:
        url = await fresh_database(infra.database_server_url, "followup_scheduler")
        db = Database(make_engine(to_asyncpg_url(url), pool_size=2))
        settings = SchedulerSettings(env="test", topic_prefix="")
        runtime = handler_runtime(settings, db, (OUTBOX, INBOX, KIT_STATE), clock=FrozenClock(now))
        _handlers[now] = (runtime, lead_handler(runtime))
    return _handlers[now]


@dataclass
class Scheduler:
    app: FastAPI
    http: httpx.AsyncClient
    clock: FrozenClock
    prefix: str
    infra: Infra
    producer: AIOKafkaProducer

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.runtime
        return runtime

    def auth(self, role: str, dealer: str | None = None) -> dict[str, str]:
        return self.infra.auth(role, dealer)  # type: ignore[arg-type]

    async def complete(self, task_id: str, dealer: str = "D001", **body: Any) -> httpx.Response:
        """`POST /v1/tasks/{task_id}/complete` with `body`, as `dealer`'s staff."""
        return await self.http.post(f"/v1/tasks/{task_id}/complete", json=body, headers=self.auth("dealer", dealer))

    async def publish(self, data: EventData, *, key: str) -> None:
        """`data` onto its topic now, as its producer would publish it (keyed and with the subject `key`)."""
        event = envelope(data, at=self.clock.now(), subject=key)
        await self.producer.send_and_wait(self.prefix + type(data).event_topic, event.to_bytes(), key=key.encode())

    async def accept_lead(
        self,
        *,
        dealer: str | None = "D001",
        entered_by: str = "D002",
        accepted_at: datetime | None = None,
        **facts: Any,
    ) -> str:
        """Publish `lead.accepted` of a reward-eligible lead as the router would and wait until the scheduler has
        taken it in; `facts`: the other fields of `LeadAccepted` (tier, horizon, fleet, nature, ...)."""
        lead_id, customer_id = str(uuid.uuid4()), str(uuid.uuid4())
        at = accepted_at or self.clock.now()
        facts |= {"cross_region": entered_by != dealer, "reward_eligible": True}
        await self.publish(
            accepted_event(lead_id, customer_id, dealer=dealer, entered_by=entered_by, at=at, **facts), key=customer_id
        )
        await eventually(lambda: self.scalar("SELECT count(*) FROM leads WHERE lead_id = :id", id=lead_id))
        return lead_id

    async def add_dealer(self, code: str) -> None:
        event = DealerUpserted(
            code=code,
            name=code,
            territories=["37"],
            product_lines=["tractor"],
            capability=50,
            updated_at=self.clock.now(),
        )
        await self.publish(event, key=code)
        await eventually(lambda: self.scalar("SELECT count(*) FROM dealers WHERE code = :c", c=code))

    async def scalar(self, sql: str, **params: Any) -> Any:
        async with self.runtime.db.sessions() as session:
            return (await session.execute(text(sql), params)).scalar()

    async def rows(self, sql: str, **params: Any) -> list[Any]:
        async with self.runtime.db.sessions() as session:
            return list((await session.execute(text(sql), params)).all())

    async def tick(self, *, batch: int = 1000) -> int:
        """One pass of the timer worker at the clock's time (with the plan reminders)."""
        now = self.clock.now()
        fired = await timer_tick(self.runtime, now=now, batch=batch)
        async with self.runtime.db.transaction() as session:
            await send_plan_reminders(session, self.runtime.outbox, now=now)
            await plan_timers(session, self.runtime.outbox, now=now)
        return fired

    async def advance(self, delta: timedelta) -> int:
        self.clock.advance(delta)
        return await self.tick()

    async def outbox(self, event_type: str) -> list[dict[str, Any]]:
        """The envelopes of `event_type` this scheduler has published (its outbox, in order)."""
        rows = await self.rows("SELECT payload FROM outbox WHERE event_type = :t ORDER BY seq", t=event_type)
        return [orjson.loads(row[0]) for row in rows]

    async def tasks_of(self, lead_id: str) -> list[dict[str, Any]]:
        rows = await self.rows(
            "SELECT task_id, kind, status, due_at, reason, unreachable_streak FROM tasks "
            "WHERE lead_id = :l ORDER BY planned_at, created_at",
            l=lead_id,
        )
        return [dict(row._mapping) for row in rows]


@asynccontextmanager
async def scheduler(
    infra: Infra, *, start: datetime | None = None, dealers: tuple[str, ...] = ("D001",), **overrides: Any
) -> AsyncIterator[Scheduler]:
    prefix = await new_topic_prefix(infra.bootstrap_servers)
    url = await fresh_database(infra.database_server_url, "followup_scheduler")
    settings = service_settings(
        SchedulerSettings, infra, database_url=url, topic_prefix=prefix, **{"kafka_idempotence": "off", **overrides}
    )
    clock = FrozenClock(start)
    app = create_app(settings, clock=clock, run_timer_worker=False)
    producer = AIOKafkaProducer(bootstrap_servers=infra.bootstrap_servers)
    await producer.start()
    try:
        async with running(app) as http:
            harness = Scheduler(app=app, http=http, clock=clock, prefix=prefix, infra=infra, producer=producer)
            for code in dealers:
                await harness.add_dealer(code)
            yield harness
    finally:
        await producer.stop()
