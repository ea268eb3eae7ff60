"""What the connected database role may do to the money tables (see the package docstring for the style); the
verdict on it is `rewards_ledger.money_guards`."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import RowMapping, text
from sqlalchemy.ext.asyncio import AsyncSession

_ROLE = text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
_TABLES = text(
    "SELECT c.relname, pg_has_role(current_user, c.relowner, 'MEMBER') AS owns, "
    "has_table_privilege(current_user, c.oid, 'UPDATE') AS can_update, "
    "has_table_privilege(current_user, c.oid, 'DELETE') AS can_delete, "
    "has_table_privilege(current_user, c.oid, 'TRUNCATE') AS can_truncate "
    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = current_schema() AND c.relname = ANY(:tables) ORDER BY c.relname"
)


async def role_is_superuser(session: AsyncSession) -> bool:
    return bool((await session.execute(_ROLE)).scalar_one())


async def table_privileges(session: AsyncSession, tables: Sequence[str]) -> Sequence[RowMapping]:
    """Per table (by name): whether the role owns it and may UPDATE, DELETE or TRUNCATE it."""
    return (await session.execute(_TABLES, {"tables": list(tables)})).mappings().all()
