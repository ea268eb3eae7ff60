"""The access log: one row per answer that showed someone unmasked, none for a masked one; the retention is policy
data, checked when a service starts; the purge removes only rows past it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import DeclarativeBase

from leadnet_shared.access_log import AccessLog, AccessLogColumns, access_log_retention
from leadnet_shared.auth import Principal
from leadnet_shared.db import new_metadata
from leadnet_shared.policy import PolicyError, cached_policy
from leadnet_shared.testing import Infra, tables_db

T0 = datetime(2026, 11, 2, tzinfo=UTC)
HQ = Principal(sub="alice@hq", role="hq_admin", dealer=None)


class Base(DeclarativeBase):
    metadata = new_metadata()


class Entry(AccessLogColumns, Base):
    pass


LOG = AccessLog(Entry)


def test_the_default_retention_is_400_days_and_a_bad_policy_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert access_log_retention() == timedelta(days=400)
    for bad in (0, -1, True, "400", None):  # values HQ might type by mistake, and none at all
        with pytest.raises(PolicyError, match="retention_days"):
            access_log_retention({"version": "x", "retention_days": bad})
    (tmp_path / "access_log.toml").write_text('version = "hq-1"\nretention_days = 1096\n')
    monkeypatch.setenv("LEADNET_POLICY_DIR", str(tmp_path))
    cached_policy.cache_clear()
    try:
        assert access_log_retention() == timedelta(days=1096)
    finally:
        monkeypatch.delenv("LEADNET_POLICY_DIR")
        cached_policy.cache_clear()


@pytest.mark.postgres
async def test_rows_for_unmasked_answers_only_and_the_purge_keeps_what_is_within_retention(infra: Infra) -> None:
    db = await tables_db(infra, Base.metadata, pool_size=2)
    try:
        async with db.transaction() as session:
            await LOG.record(session, principal=HQ, endpoint="GET /v1/x", at=T0, customer_ids=[None])  # masked: none
            await LOG.record(session, principal=HQ, endpoint="GET /v1/x", at=T0, customer_ids=["C2", "C1", "C2"])
            later = T0 + timedelta(days=401)
            await LOG.record(session, principal=HQ, endpoint="GET /v1/y/{id}", at=later, lead_ids=["L1"])
        async with db.sessions() as session:
            rows = (await session.execute(select(Entry).order_by(Entry.access_id))).scalars().all()
        assert [(r.sub, r.role, r.dealer, r.endpoint, r.customer_ids, r.lead_ids, r.at) for r in rows] == [
            ("alice@hq", "hq_admin", None, "GET /v1/x", ["C1", "C2"], [], T0),
            ("alice@hq", "hq_admin", None, "GET /v1/y/{id}", [], ["L1"], later),
        ]
        async with db.transaction() as session:
            assert await LOG.purge(session, older_than=later - timedelta(days=400)) == 1
        async with db.sessions() as session:
            assert (await session.execute(select(Entry.lead_ids))).scalars().all() == [["L1"]]
    finally:
        await db.dispose()
