"""Idempotency-Key on every creating POST (contract.md): the same key with the same body replays the first answer
(same status, same body); with another body it is a 422 `idempotency_key_reused`; keys live at least 24 hours, per
caller, then a periodic worker purges them.

The claim is an insert in the request's own transaction: of two concurrent requests with one key, the second's
insert waits for the first's transaction and then reads its stored answer. Intake's hot route claims its keys in
batches inside its group commit (`lead_intake.service.claim_keys`); it shares the header, the error and the purge.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

import orjson
from fastapi import Header
from fastapi.responses import ORJSONResponse
from pydantic import BaseModel
from sqlalchemy import Column, DateTime, Index, Integer, MetaData, String, Table, delete, func, select, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from leadnet_shared.auth import Principal
from leadnet_shared.dealer_directory import require_active_dealer
from leadnet_shared.problems import IdempotencyKeyReused
from leadnet_shared.workers import Step

if TYPE_CHECKING:
    from leadnet_shared.app import Runtime
    from leadnet_shared.db import Database

log = logging.getLogger(__name__)

IDEMPOTENCY_KEY_MAX = 200
MIN_RETENTION = timedelta(hours=24)  # contract.md: keys are kept at least 24 hours
DEFAULT_RETENTION = timedelta(hours=48)

IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=IDEMPOTENCY_KEY_MAX,
        description="Repeat the request with the same key and body to get the first answer again (kept 24 h at least)",
    ),
]


def idempotency_table(metadata: MetaData, name: str) -> Table:
    """A service's table of keys: who sent the key, the request it named, and the answer it got."""
    return Table(
        name,
        metadata,
        Column("caller_key", String(80), primary_key=True),
        Column("key", String(IDEMPOTENCY_KEY_MAX), primary_key=True),
        Column("request_hash", String(64), nullable=False),
        Column("status_code", Integer),
        Column("response", JSONB),
        Column("created_at", DateTime(timezone=True), server_default=func.now(), nullable=False),
        Index(f"ix_{name}_created_at", "created_at"),
    )


def request_fingerprint(body: BaseModel | None, *, route: str) -> str:
    """The same request is the same route and the same body as parsed (key order and spacing do not matter)."""
    payload = orjson.dumps(body.model_dump(mode="json") if body is not None else None, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(route.encode() + b"\0" + payload).hexdigest()


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: dict[str, Any]


class IdempotencyKeys:
    """Claim, replay, remember and purge over one service's key table."""

    def __init__(self, table: Table, *, route: str, dealers: Table) -> None:
        self.table = table
        self.route = route  # the request a key names is this route and the body (`request_fingerprint`)
        self.dealers = dealers  # the service's dealer directory: only an active dealer creates

    async def answer_once(
        self,
        session: AsyncSession,
        *,
        caller_key: str,
        key: str | None,
        fingerprint: str,
        create: Callable[[], Awaitable[Answer]],
    ) -> Answer:
        """`create`'s answer, stored under the key in the same transaction; or the stored answer of the request
        that took the key first. Without a key, just `create`."""
        if key is None:
            return await create()
        replay = await self.claim(session, caller_key=caller_key, key=key, fingerprint=fingerprint)
        if replay is not None:
            return replay
        answer = await create()
        await session.execute(
            update(self.table)
            .where(self.table.c.caller_key == caller_key, self.table.c.key == key)
            .values(status_code=answer.status, response=answer.body)
        )
        return answer

    async def create_once(
        self,
        db: Database,
        principal: Principal,
        key: str | None,
        body: BaseModel,
        create: Callable[[AsyncSession], Awaitable[Answer]],
    ) -> ORJSONResponse:
        """A whole creating POST in one transaction: a dealer token whose dealer is not active is refused (403
        `dealer_not_active`), a repeated key gets the first answer again, else `create`'s answer, kept under the key."""
        async with db.transaction() as session:
            await require_active_dealer(session, self.dealers, principal)
            answer = await self.answer_once(
                session,
                caller_key=principal.caller_key,
                key=key,
                fingerprint=request_fingerprint(body, route=self.route),
                create=lambda: create(session),
            )
        return ORJSONResponse(answer.body, status_code=answer.status)

    async def claim(self, session: AsyncSession, *, caller_key: str, key: str, fingerprint: str) -> Answer | None:
        """None when this request took the key; the first answer when another did with the same body."""
        taken = await session.execute(
            pg_insert(self.table)
            .values(caller_key=caller_key, key=key, request_hash=fingerprint)
            .on_conflict_do_nothing()
            .returning(self.table.c.key)
        )
        if taken.first() is not None:
            return None
        first = (
            await session.execute(
                select(self.table.c.request_hash, self.table.c.status_code, self.table.c.response).where(
                    self.table.c.caller_key == caller_key, self.table.c.key == key
                )
            )
        ).one()
        if first.request_hash != fingerprint:
            raise IdempotencyKeyReused("This Idempotency-Key was used with a different request body.")
        # The first request's transaction stored its answer before committing, and we waited for that commit.
        return Answer(status=first.status_code, body=first.response)

    async def purge(self, session: AsyncSession, *, older_than: datetime) -> int:
        result = await session.execute(delete(self.table).where(self.table.c.created_at < older_than))
        return int(getattr(result, "rowcount", 0) or 0)

    def purge_step(
        self, *, retention: timedelta = DEFAULT_RETENTION, every_seconds: float = 600.0
    ) -> Callable[[Runtime], Step]:
        """A `workers.periodic` step that forgets keys older than `retention` (never under 24 hours)."""
        if retention < MIN_RETENTION:
            raise ValueError("Idempotency-Keys are kept at least 24 hours (contract.md)")

        def make(runtime: Runtime) -> Step:
            async def purge() -> float:
                async with runtime.db.transaction() as session:
                    purged = await self.purge(session, older_than=runtime.clock.now() - retention)
                if purged:
                    log.info("purged %d expired idempotency keys from %s", purged, self.table.name)
                return every_seconds

            return purge

        return make
