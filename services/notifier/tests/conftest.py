"""The notifier on a fresh database, a local webhook receiver, and builders of the public events it reads."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest
import uvicorn
from sqlalchemy import text

from leadnet_shared.app import Runtime
from leadnet_shared.clock import FrozenClock
from leadnet_shared.events import Envelope
from leadnet_shared.testing import Infra, eventually, fresh_database, running, service_settings
from notifier.app import create_app
from notifier.handlers import webhook_handler
from notifier.settings import NotifierSettings

# As the router's dealers topic would have told the directory (leadnet_shared.dealer_directory).
ACTIVE_DEALERS = (
    "INSERT INTO dealers (code, status, updated_at) VALUES "
    "('D001', 'active', now()), ('D002', 'active', now()), ('D009', 'withdrawn', now())"
)
EVENTS = ["lead.assigned", "lead.reassigned", "task.due", "task.overdue", "ledger.entry_posted"]


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return orjson.loads(self.body)

    @property
    def msg_id(self) -> str:
        return self.headers["webhook-id"]


@dataclass
class Receiver:
    """An HTTP server on 127.0.0.1 that records every request and answers from a script per path (status and
    headers), 204 once the script is used up; `hold` keeps requests unanswered until it is set."""

    port: int = 0
    requests: list[Received] = field(default_factory=list)
    script: dict[str, deque[tuple[int, dict[str, str]]]] = field(default_factory=dict)
    hold: asyncio.Event | None = None
    decide: Callable[[Received], tuple[int, dict[str, str]] | None] | None = None  # before the script
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def answer(self, path: str, *answers: int | tuple[int, dict[str, str]]) -> None:
        queue = self.script.setdefault(path, deque())
        for a in answers:
            queue.append(a if isinstance(a, tuple) else (a, {}))

    def at(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path == path]

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.requests.append(Received(scope["path"], headers, body))
        self.arrived.set()
        if self.hold is not None:
            await self.hold.wait()
        decided = self.decide(self.requests[-1]) if self.decide else None
        queue = self.script.get(scope["path"])
        status, extra = decided or (queue.popleft() if queue else (204, {}))
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(k.encode(), v.encode()) for k, v in extra.items()],
            }
        )
        await send({"type": "http.response.body", "body": b""})


@asynccontextmanager
async def receiving() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    receiver.port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(receiver, lifespan="off", log_level="warning", access_log=False))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await eventually(lambda: _true(server.started), within=10)
        yield receiver
    finally:
        if receiver.hold is not None:
            receiver.hold.set()
        server.should_exit = True
        await asyncio.wait_for(task, timeout=10)
        sock.close()


async def _none(count: Any) -> bool:
    return await count == 0


async def _true(value: bool) -> bool:
    return value


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with receiving() as r:
        yield r


def envelope(
    event_type: str, data: dict[str, Any], *, when: datetime | None = None, source: str = "router"
) -> Envelope:
    return Envelope(
        id=str(uuid.uuid4()),
        type=event_type,
        source=f"/leadnet/{source}",
        time=when or datetime.now(UTC),
        data=data,
    )


def lead_accepted(lead: str, customer: str, dealer: str | None, **extra: Any) -> Envelope:
    data = {
        "lead_id": lead,
        "customer_id": customer,
        "assigned_dealer": dealer,
        "accepted_at": datetime.now(UTC).isoformat(),
        "customer": {"name": "张*", "phone": "138****8000"},
        "lead_version": 1,
        **extra,
    }
    return envelope("leadnet.lead.accepted", data)


def task_due(task: str, customer: str, dealer: str) -> Envelope:
    now = datetime.now(UTC).isoformat()
    data = {"task_id": task, "customer_id": customer, "dealer": dealer, "kind": "callback", "due_at": now,
            "status": "open", "occurred_at": now}  # fmt: skip
    return envelope("leadnet.task.due", data, source="scheduler")


@dataclass
class Notifier:
    runtime: Runtime
    client: httpx.AsyncClient
    clock: FrozenClock
    infra: Infra

    async def feed(self, *envelopes: Envelope) -> None:
        """Events as the consumer hands them over, one batch, in one transaction."""
        handle = webhook_handler(self.runtime)
        async with self.runtime.db.transaction() as session:
            await handle(session, list(envelopes))

    async def subscribe(self, dealer: str | None, url: str, events: list[str] | None = None) -> dict[str, Any]:
        auth = self.infra.auth("dealer", dealer) if dealer else self.infra.auth("hq_admin")
        r = await self.client.post("/v1/webhooks", json={"url": url, "events": events or EVENTS}, headers=auth)
        assert r.status_code == 201, r.text
        body: dict[str, Any] = r.json()
        return body

    async def sql(self, statement: str, **params: Any) -> list[Any]:
        async with self.runtime.db.transaction() as session:
            result = await session.execute(text(statement), params)
            return list(result.all()) if result.returns_rows else []

    async def wake(self) -> None:
        await self.sql("SELECT pg_notify('notifier_deliveries', '')")

    async def in_flight(self, *, or_due: bool = False) -> int:
        """Deliveries claimed whose outcome is not recorded yet (their next attempt is still the lease's end); with
        `or_due`, also those due and not tried yet at this clock, counted in the same statement: two statements
        could each see none while a round's commit turns an attempt in flight into a new due delivery (the
        `webhook.disabled` message), and the clock would then move past that delivery's first claim."""
        rows = await self.sql(
            "SELECT count(*) AS n FROM deliveries d JOIN webhooks w USING (webhook_id) WHERE d.status = 'pending' "
            "AND ((d.attempts > 0 AND d.next_attempt_at = d.last_attempt_at + make_interval(secs => :lease)) "
            "OR (:or_due AND w.status = 'enabled' AND d.next_attempt_at <= :now AND NOT EXISTS (SELECT 1 "
            "FROM deliveries e WHERE e.webhook_id = d.webhook_id AND e.order_key = d.order_key "
            "AND e.status = 'pending' AND e.seq < d.seq)))",
            lease=self.runtime.settings.delivery_lease_seconds,  # type: ignore[attr-defined]
            or_due=or_due,
            now=self.clock.now(),
        )
        return int(rows[0].n)

    async def advance(self, seconds: float) -> None:
        """Move the clock once every attempt under way has its outcome (whose retry is counted from the time the
        outcome was recorded)."""
        await eventually(lambda: _none(self.in_flight()))
        self.clock.advance(seconds)
        await self.wake()

    async def statuses(self, webhook_id: str) -> list[tuple[str, str, int]]:
        rows = await self.sql(
            "SELECT delivery_id, status, attempts FROM deliveries WHERE webhook_id = :w ORDER BY seq", w=webhook_id
        )
        return [(r.delivery_id, r.status, r.attempts) for r in rows]


@asynccontextmanager
async def opened_notifier(
    infra: Infra, *, clock: FrozenClock | None = None, **overrides: Any
) -> AsyncIterator[Notifier]:
    url = await fresh_database(infra.database_server_url, "notifier")
    settings = service_settings(
        NotifierSettings,
        infra,
        database_url=url,
        topic_prefix=f"t{uuid.uuid4().hex[:10]}.",
        delivery_poll_seconds=0.05,
        **overrides,
    )
    clock = clock or FrozenClock(datetime.now(UTC))
    app = create_app(settings, clock=clock, consume=False)
    async with running(app) as client:
        notifier = Notifier(app.state.runtime, client, clock, infra)
        await notifier.sql(ACTIVE_DEALERS)
        yield notifier


@pytest.fixture
async def notifier(infra: Infra) -> AsyncIterator[Notifier]:
    async with opened_notifier(infra) as n:
        yield n
