"""The console on a fresh database (cloned from the template its real migrations built), and the events it reads."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from hq_console.app import create_app
from hq_console.settings import ConsoleSettings
from leadnet_shared.clock import FrozenClock
from leadnet_shared.events import Envelope, new_event_id
from leadnet_shared.testing import Infra, fresh_database, running, service_settings

# A Wednesday in December 2026, 10:00 in Shanghai: the console's "now" in these tests.
NOW = datetime(2026, 12, 16, 2, 0, tzinfo=UTC)
SOURCES = {
    "lead": "/leadnet/router",
    "customer": "/leadnet/router",
    "dealer": "/leadnet/router",
    "sale": "/leadnet/router",
    "task": "/leadnet/scheduler",
    "ledger": "/leadnet/ledger",
    "network": "/leadnet/intake",
}


def envelope(event_type: str, data: dict[str, Any], *, at: datetime, subject: str | None = None) -> Envelope:
    """A public event as its producer would publish it (JSON data, CloudEvents envelope)."""
    family = event_type.split(".")[1]
    return Envelope(
        id=new_event_id(),
        type=event_type,
        source=SOURCES.get(family, "/leadnet/router"),
        time=at,
        subject=subject,
        dataschema=f"/schemas/{event_type}/v1",
        data=data,
    )


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture
async def console_url(infra: Infra) -> str:
    return await fresh_database(infra.database_server_url, "hq_console")


@pytest.fixture
async def console(infra: Infra, console_url: str, clock: FrozenClock) -> AsyncIterator[httpx.AsyncClient]:
    """The console's API without its consumer (tests feed the handler directly)."""
    settings = service_settings(ConsoleSettings, infra, database_url=console_url, topic_prefix="unused.")
    app = create_app(settings, clock=clock, consume=False)
    async with running(app) as client:
        client.app = app  # type: ignore[attr-defined]
        yield client
