"""Money is append-only and balanced, enforced by the database itself: whoever connects, an entry cannot be
changed or removed, and a posting whose lines do not sum to zero cannot commit."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from leadnet_shared.settings import to_plain_url
from tests.ledger_harness import LedgerHarness, lead_accepted, lead_verified

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]

LEAD: dict[str, Any] = {"lead_id": "L1", "customer_id": "C1", "entered_by": "D002", "authorized": "D001"}


async def _paid(ledger: LedgerHarness) -> str:
    await ledger.deliver([lead_accepted(**LEAD), lead_verified(**LEAD)])
    [entry] = await ledger.entries()
    return str(entry["entry_id"])


def _url_as(url: str, user: str, password: str) -> str:
    parts = urlsplit(to_plain_url(url))
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, f"{user}:{password}@{host}", parts.path, parts.query, ""))


INSERT_POSTING = (
    "INSERT INTO postings (entry_id, idempotency_key, kind, dealer, amount_fen, rule, policy_version, "
    "posted_at) VALUES ($1, $1, 'info_fee', 'D009', $2, 'test', 'test', now())"
)
INSERT_LINE = "INSERT INTO lines (entry_id, account, amount_fen) VALUES ($1, $2, $3)"


class TestTheServiceConnectionCannotChangeEntries:
    @pytest.mark.parametrize(
        "statement",
        [
            "UPDATE postings SET amount_fen = amount_fen * 100",
            "DELETE FROM postings",
            "UPDATE lines SET amount_fen = 0",
            "DELETE FROM lines",
            "TRUNCATE postings CASCADE",
            "TRUNCATE lines",
        ],
    )
    async def test_refused(self, ledger: LedgerHarness, statement: str) -> None:
        await _paid(ledger)
        with pytest.raises(DBAPIError, match="append-only"):
            async with ledger.db.transaction() as session:  # the engine and role the service itself uses
                await session.execute(text(statement))
        assert await ledger.balances() == {"D002": 200}


class TestTheApplicationRoleHasNoPrivilegeToChangeEntries:
    @pytest.fixture
    async def app_conn(self, ledger: LedgerHarness) -> AsyncIterator[asyncpg.Connection]:
        """A real non-superuser role granted exactly what the migration grants `leadnet_ledger_app`."""
        role, password = f"ledger_app_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
        url = str(ledger.db.engine.url.render_as_string(hide_password=False))
        admin = await asyncpg.connect(to_plain_url(url))
        try:
            await admin.execute(f"CREATE ROLE {role} LOGIN NOSUPERUSER PASSWORD '{password}'")
            await admin.execute(f'GRANT CONNECT ON DATABASE "{ledger.db.engine.url.database}" TO {role}')
            await admin.execute("SELECT ledger_grant_app_role($1)", role)
            assert not await admin.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = $1", role)
            conn = await asyncpg.connect(_url_as(url, role, password))
            try:
                yield conn
            finally:
                await conn.close()
        finally:
            await admin.execute(f"DROP OWNED BY {role}")
            await admin.execute(f"DROP ROLE {role}")
            await admin.close()

    async def test_may_read_and_append_a_balanced_posting(
        self, ledger: LedgerHarness, app_conn: asyncpg.Connection
    ) -> None:
        await _paid(ledger)
        async with app_conn.transaction():
            await app_conn.execute(INSERT_POSTING, "E-app", 500)
            await app_conn.execute(INSERT_LINE, "E-app", "hq:reward_expense", 500)
            await app_conn.execute(INSERT_LINE, "E-app", "dealer:D009:payable", -500)
        assert await app_conn.fetchval("SELECT count(*) FROM postings") == 2

    async def test_every_table_is_granted_and_the_failure_book_is_writable(self, app_conn: asyncpg.Connection) -> None:
        # The role's grants come from one function each revision redefines; a table left out of it (the kit's
        # failure book once was) fails only in production, where the app does not run as the owner.
        ungranted = await app_conn.fetch(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relname <> 'alembic_version' "
            "AND NOT (has_table_privilege(current_user, c.oid, 'SELECT') "
            "AND has_table_privilege(current_user, c.oid, 'INSERT'))"
        )
        assert [r["relname"] for r in ungranted] == []
        await app_conn.execute(
            'INSERT INTO consumer_failures (consumer, event_id, event_type, event_key, topic, partition, "offset", '
            "payload, status, attempts, retryable, last_error) "
            "VALUES ('ledger', 'e1', 't', 'k', 'topic', 0, 1, '{}', 'failing', 1, true, 'x')"
        )
        await app_conn.execute("UPDATE consumer_failures SET attempts = 2 WHERE event_id = 'e1'")
        await app_conn.execute("DELETE FROM consumer_failures WHERE event_id = 'e1'")

    @pytest.mark.parametrize(
        "statement",
        [
            "UPDATE postings SET amount_fen = 1",
            "DELETE FROM postings",
            "UPDATE lines SET amount_fen = 0",
            "DELETE FROM lines",
            "TRUNCATE lines",
            "UPDATE payouts SET total_fen = 0",
            "DELETE FROM guarantee_settings",
        ],
    )
    async def test_update_delete_truncate_refused_by_privileges(
        self, ledger: LedgerHarness, app_conn: asyncpg.Connection, statement: str
    ) -> None:
        await _paid(ledger)
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
            await app_conn.execute(statement)
        assert await ledger.balances() == {"D002": 200}


class TestEveryPostingBalancesAtCommit:
    async def _commit(self, ledger: LedgerHarness, *statements: tuple[str, tuple[object, ...]]) -> None:
        url = to_plain_url(ledger.db.engine.url.render_as_string(hide_password=False))
        conn = await asyncpg.connect(url)
        try:
            async with conn.transaction():
                for sql, args in statements:
                    await conn.execute(sql, *args)
        finally:
            await conn.close()

    async def test_a_one_sided_posting_is_refused(self, ledger: LedgerHarness) -> None:
        with pytest.raises(asyncpg.CheckViolationError, match="not balanced"):
            await self._commit(ledger, (INSERT_POSTING, ("E1", 200)), (INSERT_LINE, ("E1", "hq:reward_expense", 200)))
        assert await ledger.entries() == []

    async def test_lines_summing_to_zero_but_not_crediting_the_dealer_are_refused(self, ledger: LedgerHarness) -> None:
        with pytest.raises(asyncpg.CheckViolationError, match="not balanced"):
            await self._commit(
                ledger,
                (INSERT_POSTING, ("E1", 200)),
                (INSERT_LINE, ("E1", "hq:reward_expense", 200)),
                (INSERT_LINE, ("E1", "dealer:D001:payable", -200)),
            )

    async def test_a_posting_without_lines_is_refused(self, ledger: LedgerHarness) -> None:
        with pytest.raises(asyncpg.CheckViolationError, match="not balanced"):
            await self._commit(ledger, (INSERT_POSTING, ("E1", 200)))

    async def test_a_line_added_later_to_a_posted_entry_is_refused(self, ledger: LedgerHarness) -> None:
        entry_id = await _paid(ledger)
        with pytest.raises(asyncpg.CheckViolationError, match="do not sum to zero"):
            await self._commit(ledger, (INSERT_LINE, (entry_id, "dealer:D002:payable", -1)))
        assert await ledger.balances() == {"D002": 200}

    async def test_a_reversal_must_undo_exactly_and_only_once(self, ledger: LedgerHarness) -> None:
        entry_id = await _paid(ledger)
        reversal = (
            "INSERT INTO postings (entry_id, idempotency_key, kind, dealer, amount_fen, rule, policy_version,"
            " posted_at, reverses) VALUES ($1, $1, 'reversal', 'D002', $2, 'test', 'test', now(), $3)"
        )

        def lines(eid: str, amount: int) -> list[tuple[str, tuple[object, ...]]]:
            return [
                (INSERT_LINE, (eid, "hq:reward_expense", amount)),
                (INSERT_LINE, (eid, "dealer:D002:payable", -amount)),
            ]

        with pytest.raises(asyncpg.CheckViolationError, match="does not undo"):
            await self._commit(ledger, (reversal, ("R0", -150, entry_id)), *lines("R0", -150))
        await self._commit(ledger, (reversal, ("R1", -200, entry_id)), *lines("R1", -200))
        with pytest.raises(asyncpg.UniqueViolationError):
            await self._commit(ledger, (reversal, ("R2", -200, entry_id)), *lines("R2", -200))
        assert await ledger.balances() == {}
