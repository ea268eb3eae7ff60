"""docker compose's PostgreSQL roles, on a real PostgreSQL (issue 16 §2, §5): deploy/compose/postgres-init.sh makes
a migration role that owns the four databases and one application role per service; the migrations run as the
former, each service connects as the latter, to its own database only, and the ledger's role cannot rewrite money.
The script runs here as it runs in the postgres container's entrypoint (psql as the superuser)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

import leadnet.services
from leadnet_shared.db import Database, make_engine
from leadnet_shared.settings import database_url_for, to_asyncpg_url, to_plain_url
from leadnet_shared.testing import Infra, _run_in_thread

pytestmark = [pytest.mark.postgres]

REPO = Path(__file__).resolve().parents[1]
SERVICES = {service.name: service.package for service in leadnet.services.SERVICES}
PASSWORDS = {f"LEADNET_DB_{s.upper()}_PASSWORD": f"{s}-pw" for s in SERVICES} | {"LEADNET_DB_MIGRATE_PASSWORD": "m-pw"}


def as_role(server_url: str, role: str, password: str, database: str) -> str:
    parts = urlsplit(server_url)
    return database_url_for(f"postgresql://{role}:{password}@{parts.hostname}:{parts.port}/", database)


@pytest.fixture(scope="module")
def compose_roles(infra: Infra) -> str:
    psql = shutil.which("psql")
    if psql is None:
        pytest.skip("psql is needed to run the compose init script")
    parts = urlsplit(infra.database_server_url)
    env = {
        **os.environ,
        **PASSWORDS,
        "POSTGRES_USER": parts.username or "postgres",
        "PGHOST": parts.hostname or "127.0.0.1",
        "PGPORT": str(parts.port or 5432),
        "PGPASSWORD": parts.password or "",
    }
    script = REPO / "deploy" / "compose" / "postgres-init.sh"
    result = subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    from leadnet_shared.migrate import upgrade

    for service, package in SERVICES.items():
        url = as_role(infra.database_server_url, "leadnet_migrate", "m-pw", f"leadnet_{service}")
        _run_in_thread(upgrade, package, to_asyncpg_url(url))
    return infra.database_server_url


async def test_the_migration_role_is_no_superuser_and_owns_the_databases(compose_roles: str) -> None:
    admin = await asyncpg.connect(to_plain_url(database_url_for(compose_roles, "postgres")))
    try:
        rows = await admin.fetch(
            "SELECT d.datname, r.rolname FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba "
            "WHERE d.datname LIKE 'leadnet\\_%'"
        )
        assert {r["datname"]: r["rolname"] for r in rows} == {f"leadnet_{s}": "leadnet_migrate" for s in SERVICES}
        flags = await admin.fetch(
            "SELECT rolname, rolsuper, rolcreaterole, rolcreatedb FROM pg_roles "
            "WHERE rolname = 'leadnet_migrate' OR rolname LIKE 'leadnet\\_%\\_svc'"
        )
        assert len(flags) == 1 + len(SERVICES)
        assert not any(r["rolsuper"] or r["rolcreaterole"] or r["rolcreatedb"] for r in flags)
    finally:
        await admin.close()


@pytest.mark.parametrize("service", SERVICES)
async def test_each_service_role_reaches_its_own_database_only(compose_roles: str, service: str) -> None:
    own = await asyncpg.connect(
        to_plain_url(as_role(compose_roles, f"leadnet_{service}_svc", f"{service}-pw", f"leadnet_{service}"))
    )
    try:
        # It reads and writes the kit's tables the migrations made (the outbox every service writes).
        tx = own.transaction()
        await tx.start()
        await own.execute(
            "INSERT INTO outbox (event_id, topic, aggregate_type, aggregate_id, event_type, payload) "
            "VALUES ('e1', 't', 'a', 'k', 'x', '{}')"
        )
        assert await own.fetchval("SELECT count(*) FROM outbox") == 1
        await tx.rollback()
        assert not await own.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    finally:
        await own.close()
    other = next(s for s in SERVICES if s != service)
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await asyncpg.connect(
            to_plain_url(as_role(compose_roles, f"leadnet_{service}_svc", f"{service}-pw", f"leadnet_{other}"))
        )


async def test_the_ledger_role_passes_the_ledgers_own_money_guard(compose_roles: str) -> None:
    from rewards_ledger.money_guards import money_guard_problems

    url = as_role(compose_roles, "leadnet_ledger_svc", "ledger-pw", "leadnet_ledger")
    db = Database(make_engine(to_asyncpg_url(url), pool_size=1))
    try:
        async with db.sessions() as session:
            assert await money_guard_problems(session) == []
        async with db.sessions() as session:
            with pytest.raises(DBAPIError, match="permission denied"):
                await session.execute(text("UPDATE postings SET amount_fen = amount_fen"))
    finally:
        await db.dispose()
