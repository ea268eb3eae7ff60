"""The embedded PostgreSQL of `leadnet up` and the tests asks for a password (the review's L2: it ran with trust
authentication, so any local user was a superuser over personal data and the ledger)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import asyncpg
import pytest

from leadnet_shared.infra import EmbeddedPostgres

pytestmark = [pytest.mark.postgres]


async def test_the_superuser_has_a_generated_password_kept_0600_and_none_gets_in_without_it(tmp_path: Path) -> None:
    server = EmbeddedPostgres(tmp_path / "pg").start()
    try:
        mode = stat.S_IMODE(server.password_file.stat().st_mode)
        assert mode == 0o600
        password = server.password_file.read_text().strip()
        assert len(password) >= 24 and password in server.url
        assert [n for n in os.listdir(tmp_path) if n.endswith("initdb-pw")] == []  # initdb's copy is gone

        conn = await asyncpg.connect(server.url + "postgres")
        assert await conn.fetchval("SELECT 1") == 1
        await conn.close()
        for wrong in ("", "not-the-password"):
            with pytest.raises((asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError)):
                await asyncpg.connect(
                    host="127.0.0.1", port=server.port, user="postgres", password=wrong, database="postgres"
                )

        server.stop()  # a restart keeps the same password
        again = EmbeddedPostgres(tmp_path / "pg", port=server.port).start()
        assert again.url == server.url
        conn = await asyncpg.connect(again.url + "postgres")
        await conn.close()
    finally:
        server.stop(quiet=True)
