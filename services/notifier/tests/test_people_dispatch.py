"""Messages to people on the real notifier database: events become digest lines, the morning digest goes out at its
time, a burst larger than the channel's limit is spread over minutes and survives a restart of the dispatcher,
transient failures are retried; and the whole path through the running service (Kafka → consumer → digest →
channel)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import text

from leadnet_shared.app import Runtime
from leadnet_shared.clock import FrozenClock
from leadnet_shared.db import Database, make_engine
from leadnet_shared.events import TASKS, Envelope
from leadnet_shared.policy import load_policy
from leadnet_shared.settings import to_asyncpg_url
from leadnet_shared.testing import Infra, eventually, fresh_database, new_topic_prefix, running, service_settings
from notifier.app import create_app
from notifier.channels.wecom import WeComRobot
from notifier.people import PeoplePolicy, parse_people_policy, people_policy
from notifier.people_dispatch import PeopleDispatcher, people_handler
from notifier.settings import NotifierSettings

from .provider_fakes import FakeProvider, serving, wecom_app

pytestmark = [pytest.mark.postgres]

EVE = datetime(2026, 12, 6, 22, 0, tzinfo=UTC)  # 06:00 on 7 December in Shanghai
MORNING = datetime(2026, 12, 7, 0, 0, tzinfo=UTC)  # 08:00 in Shanghai: the due-today digest


def policy_with(channels: list[dict[str, Any]], **overrides: Any) -> PeoplePolicy:
    return parse_people_policy({**load_policy("notifier", "people"), "channels": channels, **overrides})


def envelope(event_type: str, data: dict[str, Any], when: datetime) -> Envelope:
    return Envelope(id=str(uuid.uuid4()), type=event_type, source="/scheduler", time=when, data=data)


def scheduled(task: str, *, due_at: datetime, kind: str = "callback", dealer: str = "D001") -> dict[str, Any]:
    return {
        "task_id": task, "lead_id": f"L-{task}", "customer_id": f"C-{task}", "dealer": dealer, "kind": kind,
        "due_at": due_at.isoformat(), "status": "open", "occurred_at": EVE.isoformat(),
    }  # fmt: skip


@pytest.fixture
async def db(infra: Infra) -> AsyncIterator[Database]:
    url = await fresh_database(infra.database_server_url, "notifier")
    database = Database(make_engine(to_asyncpg_url(url), pool_size=4, max_overflow=2))
    try:
        yield database
    finally:
        await database.dispose()


async def feed(db: Database, clock: FrozenClock, *envelopes: Envelope) -> None:
    handle = people_handler(cast(Runtime, SimpleNamespace(clock=clock)))
    async with db.transaction() as session:
        await handle(session, list(envelopes))


async def count(db: Database, sql: str) -> int:
    async with db.sessions() as session:
        return int((await session.execute(text(sql))).scalar_one())


async def test_a_morning_digest_burst_is_spread_over_minutes_and_survives_a_restart(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FrozenClock(EVE)
    wecom = {"id": "d001-wecom", "kind": "wecom", "dealers": ["D001"], "positions": ["*"], "key_env": "K"}
    # One line per message, so 45 tasks make a burst of messages larger than the robot's 20 a minute.
    policy = policy_with([wecom], max_lines=1)
    monkeypatch.setattr("notifier.people_dispatch.people_policy", lambda: policy)
    fake = FakeProvider(now=clock.now)
    async with serving(wecom_app(fake, key="k")) as url:
        due = MORNING + timedelta(hours=2)
        events = [envelope("leadnet.task.scheduled", scheduled(f"T{i:02d}", due_at=due), EVE) for i in range(45)]
        events.append(envelope("leadnet.task.scheduled", scheduled("T99", due_at=due + timedelta(days=1)), EVE))
        events.append(envelope("leadnet.task.completed", scheduled("T00", due_at=due) | {"status": "done"}, EVE))
        await feed(db, clock, *events)

        def dispatcher() -> PeopleDispatcher:
            return PeopleDispatcher(
                db, clock, policy=policy, channels={"d001-wecom": WeComRobot("d001-wecom", key="k", base_url=url)}
            )

        first = dispatcher()
        await first.step()
        assert fake.received == []  # before 08:00 nothing goes out
        clock.set(MORNING)
        await first.step()
        assert len(fake.received) == 20
        assert await count(db, "SELECT count(*) FROM people_messages WHERE status = 'queued'") == 24
        await first.aclose()

        restarted = dispatcher()  # a new process: its window comes from the database, not a fresh allowance
        await restarted.step()
        assert len(fake.received) == 20
        clock.advance(61)
        await restarted.step()
        assert len(fake.received) == 40
        clock.advance(61)
        await restarted.step()
        await restarted.aclose()
    assert len(fake.received) == 44 and fake.refused == []  # T00 was completed before the morning: withdrawn
    contents = [m["markdown"]["content"] for m in fake.received]
    assert not any("T00 " in c for c in contents) and not any("T99" in c for c in contents)  # T99 is tomorrow's
    assert (
        contents[0].startswith("### 今日到期任务 D001")
        and "callback 任务 T01 · 客户 C-T01 · 12-07 10:00" in contents[0]
    )
    assert await count(db, "SELECT count(*) FROM people_messages WHERE status = 'sent'") == 44
    assert await count(db, "SELECT count(*) FROM people_lines") == 1  # T99 waits for its own morning


async def test_a_provider_failing_three_times_gets_the_digest_on_the_fourth_attempt(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FrozenClock(EVE)
    wecom = {"id": "gm", "kind": "wecom", "dealers": ["*"], "positions": ["customer_manager"], "key_env": "K"}
    policy = policy_with([wecom])
    monkeypatch.setattr("notifier.people_dispatch.people_policy", lambda: policy)
    overdue = [
        envelope(
            "leadnet.task.overdue", scheduled(f"T{i}", due_at=EVE - timedelta(days=1)) | {"status": "overdue"}, EVE
        )
        for i in range(3)
    ]
    await feed(db, clock, *overdue)
    fake = FakeProvider(now=clock.now, fail_next=3)
    async with serving(wecom_app(fake, key="k")) as url:
        dispatcher = PeopleDispatcher(
            db, clock, policy=policy, channels={"gm": WeComRobot("gm", key="k", base_url=url)}
        )
        clock.advance(timedelta(hours=1))  # the overdue digest's hourly window has closed
        for _ in range(20):
            await dispatcher.step()
            if fake.received:
                break
            clock.advance(timedelta(minutes=15))
        await dispatcher.aclose()
    assert len(fake.received) == 1  # one digest for the three tasks, delivered once
    content = fake.received[0]["markdown"]["content"]
    assert content.startswith("### 逾期任务汇总 D001（3 项）") and all(f"T{i}" in content for i in range(3))
    async with db.sessions() as session:
        row = (await session.execute(text("SELECT status, attempts FROM people_messages"))).one()
    assert tuple(row) == ("sent", 4)


async def test_a_disabled_webhook_is_told_to_its_owner_once(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FrozenClock(EVE)
    wecom = {"id": "admins", "kind": "wecom", "dealers": ["D001"], "positions": ["channel_admin"], "key_env": "K"}
    policy = policy_with([wecom])
    async with db.transaction() as session:
        await session.execute(
            text(
                "INSERT INTO owner_notices (owner, kind, webhook_id, detail, created_at) "
                "VALUES ('D001', 'webhook.disabled', 'wh_1', 'failing since ...', :now)"
            ),
            {"now": EVE},
        )
    fake = FakeProvider(now=clock.now)
    async with serving(wecom_app(fake, key="k")) as url:
        dispatcher = PeopleDispatcher(
            db, clock, policy=policy, channels={"admins": WeComRobot("admins", key="k", base_url=url)}
        )
        await dispatcher.step()
        clock.advance(timedelta(minutes=5))
        await dispatcher.step()
        await dispatcher.step()
        await dispatcher.aclose()
    assert len(fake.received) == 1 and "wh_1" in fake.received[0]["markdown"]["content"]
    assert await count(db, "SELECT count(*) FROM owner_notices WHERE told_at IS NULL") == 0


async def test_the_running_service_turns_topic_events_into_a_digest_on_the_channel(
    infra: Infra, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FrozenClock(EVE)
    fake = FakeProvider(now=clock.now)
    async with serving(wecom_app(fake, key="svc-key")) as url:
        override = (Path(__file__).parents[1] / "notifier" / "policy" / "people.toml").read_text(encoding="utf-8")
        override = override.replace(
            "channels = []",
            f'channels = [{{ id = "svc", kind = "wecom", dealers = ["D007"], positions = ["customer_manager"], '
            f'key_env = "LEADNET_TEST_WECOM_KEY", base_url = "{url}" }}]',
        )
        (tmp_path / "people.toml").write_text(override, encoding="utf-8")
        monkeypatch.setenv("LEADNET_POLICY_DIR", str(tmp_path))
        monkeypatch.setenv("LEADNET_TEST_WECOM_KEY", "svc-key")
        people_policy.cache_clear()
        prefix = await new_topic_prefix(infra.bootstrap_servers)
        database = await fresh_database(infra.database_server_url, "notifier")
        settings = service_settings(NotifierSettings, infra, database_url=database, topic_prefix=prefix)
        app = create_app(settings, clock=clock)
        producer = AIOKafkaProducer(bootstrap_servers=infra.bootstrap_servers)
        await producer.start()
        try:
            async with running(app):
                for i in range(3):
                    data = scheduled(f"K{i}", due_at=EVE - timedelta(days=1), dealer="D007") | {"status": "overdue"}
                    event = envelope("leadnet.task.overdue", data, EVE)
                    await producer.send_and_wait(prefix + TASKS, event.to_bytes(), key=f"C-K{i}".encode())
                runtime: Runtime = app.state.runtime

                async def waiting() -> bool:
                    async with runtime.db.sessions() as session:
                        return (await session.execute(text("SELECT count(*) FROM people_lines"))).scalar_one() == 3

                await eventually(waiting, within=30)
                clock.advance(timedelta(hours=1))

                async def arrived() -> bool:
                    return len(fake.received) == 1

                await eventually(arrived, within=15)
        finally:
            await producer.stop()
            people_policy.cache_clear()
    content = fake.received[0]["markdown"]["content"]
    assert content.startswith("### 逾期任务汇总 D007（3 项）") and "K2" in content
    assert "138" not in content  # ids and masked data only: no phone number reaches a group chat
