"""Money guarded by the database and by the service's own start (issue 16 §2; review M10): CHECKs refuse what
Python would have refused, whoever writes; a role that could rewrite money is refused in production."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any, cast

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from leadnet_shared.app import Runtime
from leadnet_shared.db import Database, make_engine
from leadnet_shared.settings import to_plain_url
from rewards_ledger.money_guards import UnsafeLedgerRole, check_money_guards, money_guard_problems
from tests.ledger_harness import LedgerHarness

from .test_append_only import _url_as

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]


def posting(entry: str, kind: str, amount: int) -> str:
    reverses = "'E-earlier'" if kind == "reversal" else "NULL"  # a reversal points back (an older CHECK)
    return (
        f"INSERT INTO postings (entry_id, idempotency_key, kind, dealer, amount_fen, rule, policy_version, "
        f"posted_at, reverses) VALUES ('{entry}', '{entry}', '{kind}', 'D009', {amount}, 't', 't', now(), "
        f"{reverses})"
    )


class TestChecks:
    @pytest.mark.parametrize(
        ("kind", "amount"),
        [
            ("info_fee", -200),
            ("purchase_reward", 0),
            ("profit_guarantee", -1),
            ("bonus", 200),
            ("reversal", 200),
        ],
    )
    async def test_a_posting_of_an_unknown_kind_or_the_wrong_sign_is_refused(
        self, ledger: LedgerHarness, kind: str, amount: int
    ) -> None:
        conn = await asyncpg.connect(to_plain_url(ledger.db.engine.url.render_as_string(hide_password=False)))
        try:
            with pytest.raises(asyncpg.CheckViolationError, match=r"amount_sign_by_kind|kind_known"):
                await conn.execute(posting(f"E-{uuid.uuid4().hex[:8]}", kind, amount))
        finally:
            await conn.close()

    @pytest.mark.parametrize("amount", [99_999, 300_001, -150_000])
    async def test_a_guarantee_outside_1000_to_3000_cny_is_refused(self, ledger: LedgerHarness, amount: int) -> None:
        conn = await asyncpg.connect(to_plain_url(ledger.db.engine.url.render_as_string(hide_password=False)))
        try:
            with pytest.raises(asyncpg.CheckViolationError):
                await conn.execute(
                    "INSERT INTO guarantee_settings (sale_id, vin, amount_fen, set_by, set_at) "
                    "VALUES ('S1', 'LFWSRXRJ0N1000001', $1, 'hq', now())",
                    amount,
                )
        finally:
            await conn.close()

    async def test_a_32_character_product_line_fits(self, ledger: LedgerHarness) -> None:
        conn = await asyncpg.connect(to_plain_url(ledger.db.engine.url.render_as_string(hide_password=False)))
        try:
            await conn.execute(
                "INSERT INTO sale_vehicles (sale_id, vin, product_line) VALUES ('S1', 'V1', $1)", "x" * 32
            )
        finally:
            await conn.close()

    async def test_the_migration_created_and_granted_the_application_role(self, ledger: LedgerHarness) -> None:
        conn = await asyncpg.connect(to_plain_url(ledger.db.engine.url.render_as_string(hide_password=False)))
        try:
            assert await conn.fetchval("SELECT has_table_privilege('leadnet_ledger_app', 'postings', 'INSERT')")
            assert not await conn.fetchval("SELECT has_table_privilege('leadnet_ledger_app', 'postings', 'UPDATE')")
        finally:
            await conn.close()


def runtime_on(db: Database, env: str) -> Runtime:
    return cast(Runtime, SimpleNamespace(db=db, settings=SimpleNamespace(env=env)))


class TestTheServiceRole:
    @pytest.fixture
    async def role_db(self, ledger: LedgerHarness) -> AsyncIterator[Any]:
        """A login role granted what the migrations grant, and a way to grant it more."""
        url = ledger.db.engine.url.render_as_string(hide_password=False)
        role, password = f"ledger_svc_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
        admin = await asyncpg.connect(to_plain_url(url))
        await admin.execute(f"CREATE ROLE {role} LOGIN NOSUPERUSER PASSWORD '{password}'")
        await admin.execute(f"GRANT leadnet_ledger_app TO {role}")
        await admin.execute(f'GRANT CONNECT ON DATABASE "{ledger.db.engine.url.database}" TO {role}')
        db = Database(make_engine(_url_as(url, role, password).replace("postgresql://", "postgresql+asyncpg://")))
        try:
            yield SimpleNamespace(db=db, admin=admin, role=role)
        finally:
            await db.dispose()
            await admin.execute(f"DROP OWNED BY {role}")
            await admin.execute(f"DROP ROLE {role}")
            await admin.close()

    async def test_the_application_role_is_safe(self, role_db: Any) -> None:
        async with role_db.db.sessions() as session:
            assert await money_guard_problems(cast(AsyncSession, session)) == []
        await check_money_guards(runtime_on(role_db.db, "production"))  # starts

    async def test_a_role_that_may_update_money_is_refused_in_production(self, role_db: Any) -> None:
        await role_db.admin.execute(f"GRANT UPDATE ON postings TO {role_db.role}")
        async with role_db.db.sessions() as session:
            assert await money_guard_problems(cast(AsyncSession, session)) == ["may UPDATE postings"]
        with pytest.raises(UnsafeLedgerRole, match="may UPDATE postings"):
            await check_money_guards(runtime_on(role_db.db, "production"))
        await check_money_guards(runtime_on(role_db.db, "development"))  # a warning only

    async def test_the_superuser_and_owner_is_refused_in_production(self, ledger: LedgerHarness) -> None:
        async with ledger.db.sessions() as session:
            problems = await money_guard_problems(session)
        assert problems[0].startswith("is a superuser") and any(p.startswith("owns postings") for p in problems)
        with pytest.raises(UnsafeLedgerRole):
            await check_money_guards(runtime_on(ledger.db, "production"))
