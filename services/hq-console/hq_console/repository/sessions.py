"""The console's sessions (see the package docstring for the style): they are signed cookies, not rows; the one
thing kept is the secret that signs them, shared by every replica."""

from __future__ import annotations

import json

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

_KEY = "console_session_secret"
_CLAIM = text("INSERT INTO kit_state (key, value) VALUES (:key, CAST(:value AS jsonb)) ON CONFLICT (key) DO NOTHING")
_READ = text("SELECT value #>> '{}' FROM kit_state WHERE key = :key")


async def shared_secret(session: AsyncSession, candidate: str) -> str:
    """The session-signing secret: `candidate` when this replica is the first to store one, else the stored one."""
    await session.execute(_CLAIM, {"key": _KEY, "value": json.dumps(candidate)})
    return str((await session.execute(_READ, {"key": _KEY})).scalar())
