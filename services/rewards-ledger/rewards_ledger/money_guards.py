"""The ledger refuses to run with a database role that could rewrite money (review M10).

Append-only holds for the role the service connects as only if that role cannot UPDATE, DELETE or TRUNCATE the money
tables and cannot switch their triggers off: a superuser can `SET session_replication_role = replica`, a table
owner can `ALTER TABLE … DISABLE TRIGGER`. Checked at every start; in production such a role is a refusal to start,
elsewhere (the embedded development server runs as its superuser) a warning.
"""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from leadnet_shared.app import Runtime
from rewards_ledger.repository import roles

log = logging.getLogger(__name__)

# The tables whose rows are money or its settings: never changed, only appended to (migrations 0001-0003).
MONEY_TABLES = ("postings", "lines", "guarantee_settings", "payouts", "payout_approvals")


async def money_guard_problems(session: AsyncSession) -> list[str]:
    """What the connected role could do to the money tables that it must not (empty: the role is safe)."""
    problems = []
    if await roles.role_is_superuser(session):
        problems.append("is a superuser (can switch the append-only triggers off)")
    for row in await roles.table_privileges(session, MONEY_TABLES):
        if row["owns"]:
            problems.append(f"owns {row['relname']} (can ALTER TABLE … DISABLE TRIGGER)")
        for action in ("update", "delete", "truncate"):
            if row[f"can_{action}"]:
                problems.append(f"may {action.upper()} {row['relname']}")
    return problems


class UnsafeLedgerRole(RuntimeError):
    """The service's database role could rewrite money; in production the service does not start."""


async def check_money_guards(runtime: Runtime) -> None:
    """Startup hook: refuse (production) or warn (elsewhere) when the service's role could rewrite money."""
    async with runtime.db.sessions() as session:
        problems = await money_guard_problems(session)
    if not problems:
        return
    message = (
        "the ledger's database role " + "; ".join(problems) + ". Connect as the application role the "
        "migrations grant (ledger_grant_app_role), not as the owner or a superuser (docs/operations.md)."
    )
    if runtime.settings.env == "production":
        raise UnsafeLedgerRole(message)
    log.warning("%s (allowed outside production)", message)
