"""`Outbox.publish`, the one way out: the row it writes takes topic, aggregate, type and dataschema from the
catalogue, the prefix and source from the deployment; the set-based writer builds the same envelope in SQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from sqlalchemy import MetaData, text

from leadnet_shared.db import Database
from leadnet_shared.events import (
    LEADS,
    TASKS,
    DealerWithdrawn,
    Envelope,
    LeadClosed,
    TaskDue,
    TaskEvent,
    TaskOverdue,
    parse_event,
)
from leadnet_shared.outbox import Outbox, Outgoing, define_kit_tables, insert_select_sql
from leadnet_shared.testing import Infra, tables_db

pytestmark = [pytest.mark.postgres]

metadata = MetaData()
OUTBOX, _INBOX, _STATE = define_kit_tables(metadata)
NOW = datetime(2026, 12, 5, 3, 0, 0, 123456, tzinfo=UTC)


async def _database(infra: Infra) -> Database:
    return await tables_db(infra, metadata, pool_size=2)


async def _rows(db: Database) -> list[dict[str, object]]:
    async with db.sessions() as session:
        rows = await session.execute(
            text("SELECT event_id, topic, aggregate_type, aggregate_id, event_type, payload FROM outbox ORDER BY seq")
        )
        return [dict(r) for r in rows.mappings().all()]


def _closed(lead_id: str) -> LeadClosed:
    return LeadClosed(lead_id=lead_id, customer_id="C1", reason="invalid_information", closed_at=NOW)


class TestPublish:
    async def test_the_row_carries_the_catalogues_topic_aggregate_type_and_dataschema(self, infra: Infra) -> None:
        db = await _database(infra)
        outbox = Outbox(OUTBOX, topic_prefix="t1.", source="/leadnet/test")
        async with db.transaction() as session:
            await outbox.publish(session, _closed("L1"), key="C1", subject="C1", time=NOW)
            await outbox.publish(
                session,
                DealerWithdrawn(code="D001", withdrawn_at=NOW),
                key="D001",
                subject="D001",
                time=NOW,
                event_id="withdrawn-D001",
            )
            assert session.info["outbox_dirty"], "the relay is woken at the commit"
        lead, dealer = await _rows(db)
        assert (lead["topic"], lead["aggregate_type"], lead["aggregate_id"], lead["event_type"]) == (
            "t1." + LEADS,
            "lead",
            "C1",
            "leadnet.lead.closed",
        )
        assert (dealer["topic"], dealer["aggregate_type"], dealer["aggregate_id"], dealer["event_id"]) == (
            "t1.leadnet.public.dealers.v1",
            "dealer",
            "D001",
            "withdrawn-D001",
        )
        envelope = Envelope.from_bytes(str(lead["payload"]).encode())
        assert (envelope.id, envelope.type, envelope.source, envelope.subject, envelope.time) == (
            lead["event_id"],
            "leadnet.lead.closed",
            "/leadnet/test",
            "C1",
            NOW,
        )
        assert envelope.dataschema == "/schemas/leadnet.lead.closed/v1"
        assert parse_event(envelope) == _closed("L1")
        await db.dispose()

    async def test_publish_many_writes_a_batch_in_order_in_one_statement(self, infra: Infra) -> None:
        db = await _database(infra)
        outbox = Outbox(OUTBOX)
        async with db.transaction() as session:
            await outbox.publish_many(
                session, [Outgoing(_closed(f"L{i}"), key=f"C{i % 2}", subject=None) for i in range(5)], time=NOW
            )
            await outbox.publish_many(session, [], time=NOW)
        rows = await _rows(db)
        assert [r["aggregate_id"] for r in rows] == ["C0", "C1", "C0", "C1", "C0"]
        assert [
            parse_event(Envelope.from_bytes(str(r["payload"]).encode())).lead_id  # type: ignore[union-attr]
            for r in rows
        ] == [f"L{i}" for i in range(5)]
        assert all("subject" not in orjson.loads(str(r["payload"])) for r in rows), "no null attribute"
        await db.dispose()


# What the scheduler's timers do: one statement claims rows and writes their events, envelope built in SQL.
_TASK_ROWS = """
    WITH events AS (
        SELECT * FROM (VALUES
            ('T1', 'L1', 'C1', 'D001', 'callback', CAST(:due AS timestamptz), 'open', 'manual', NULL, 'E1',
             'marketing_consultant', 'phone', ARRAY['salesman'], '370782', 'tractor', 'gold', 'within_2_weeks',
             'D002', CAST(:due AS timestamptz)),
            ('T2', NULL, 'C2', NULL, 'callback', CAST(:due AS timestamptz), 'open', NULL, NULL, 'E2',
             NULL, NULL, CAST('{{}}' AS text[]), NULL, NULL, NULL, NULL, NULL, CAST(NULL AS timestamptz)))
        AS t(task_id, lead_id, customer_id, dealer, kind, due_at, status, reason, outcome, event_id,
             position, method, accompany, region_code, product_line, tier, horizon, entered_by, escalate_at)
    ), written AS (
        {insert}
        RETURNING 1
    )
    SELECT count(*) FROM written"""


def _task_events_sql(event: type[TaskEvent], *, time: str, **data: str) -> str:
    """The set-based writer over `_TASK_ROWS`' rows, keyed by and about each row's customer."""
    return insert_select_sql(
        event, rows="events", event_id="event_id", key="customer_id", subject="customer_id", time=time, data=data
    )


def _overdue(event_id: str, **task: Any) -> Outgoing:
    """What a row of `_TASK_ROWS` is as an event built in Python: an open callback due and overdue `NOW`."""
    event = TaskOverdue(**task, kind="callback", due_at=NOW, status="open", occurred_at=NOW)
    return Outgoing(event, key=event.customer_id, subject=event.customer_id, event_id=event_id)


class TestPublishSelected:
    async def test_sql_built_events_are_the_envelopes_publish_builds(self, infra: Infra) -> None:
        db = await _database(infra)
        outbox = Outbox(OUTBOX, topic_prefix="t2.", source="/leadnet/scheduler")
        statement = text(
            _TASK_ROWS.format(
                insert=_task_events_sql(
                    TaskEvent, time="CAST(:now AS timestamptz)", occurred_at="CAST(:now AS timestamptz)"
                )
            )
        )
        async with db.transaction() as session:
            written = await outbox.publish_selected(
                session, statement, event=TaskOverdue, params={"now": NOW, "due": NOW}
            )
            assert written == 2
            assert session.info["outbox_dirty"]
        sql_rows = await _rows(db)

        t1 = {
            "task_id": "T1",
            "lead_id": "L1",
            "customer_id": "C1",
            "dealer": "D001",
            "reason": "manual",
            "position": "marketing_consultant",
            "method": "phone",
            "accompany": ["salesman"],
            "region_code": "370782",
            "product_line": "tractor",
            "tier": "gold",
            "horizon": "within_2_weeks",
            "entered_by": "D002",
            "escalate_at": NOW,
        }
        expected = [_overdue("E1", **t1), _overdue("E2", task_id="T2", customer_id="C2")]
        for row, outgoing in zip(sql_rows, expected, strict=True):
            python = outbox.row(outgoing, time=NOW)
            assert (row["topic"], row["aggregate_type"], row["aggregate_id"], row["event_type"]) == (
                python.topic,
                python.aggregate_type,
                python.key,
                python.envelope.type,
            )
            from_sql = Envelope.from_bytes(str(row["payload"]).encode())
            assert from_sql.model_dump(exclude={"data"}) == python.envelope.model_dump(exclude={"data"})
            # The same keys in the same order; times are RFC 3339 either way ("+00:00" from SQL, "Z" from Python).
            assert list(from_sql.data) == list(python.envelope.data)
            assert parse_event(from_sql) == outgoing.event
        await db.dispose()

    def test_a_payload_field_without_a_column_expression_is_refused(self) -> None:
        with pytest.raises(ValueError, match="has no fields"):
            _task_events_sql(TaskDue, time="now()", due="now()")

    def test_the_sql_envelope_names_every_field_of_a_task_payload(self) -> None:
        sql = _task_events_sql(TaskEvent, time="now()")
        for name in TaskEvent.model_fields:
            assert f"'{name}', {name}" in sql
        assert TASKS not in sql, "the topic (with its prefix) is bound at run time, not baked into the text"
