"""Who saw which customer unmasked (domain.md §3 保密: "only named positions may see all fields, and who saw what is
logged"), in the database of each service that answers with personal data.

Every response that carries a customer's name, phone or address unmasked appends one row: who (the token's `sub`,
role and dealer), what (the customer and lead ids it showed unmasked), which endpoint (method and route template) and
when. A list is one row naming every customer of the page shown unmasked; a masked answer writes nothing. The row is
inserted in the transaction that read the data, before the answer leaves: no answer with personal data goes out
unlogged.

HQ reads the log with `GET /v1/customers/access-log` (router) or `GET /v1/leads/access-log` (intake), filtered by
`customer_id=&lead_id=&sub=&dealer=&since=` (hq_admin only, the kit's pagination). Rows older than the policy's
`retention_days` (policy/access_log.toml, default 400) are purged by a periodic worker.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import AwareDatetime, BaseModel
from sqlalchemy import BigInteger, DateTime, Identity, Index, String, Text, delete, insert, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from leadnet_shared.auth import Principal, bearer_principal, require_roles
from leadnet_shared.pagination import Page, PageParams, fetch_page
from leadnet_shared.policy import PolicyError, cached_policy
from leadnet_shared.problems import Forbidden, InvalidCursor, Unauthenticated, ValidationFailed, problem_responses
from leadnet_shared.workers import Step

if TYPE_CHECKING:
    from leadnet_shared.app import Runtime

log = logging.getLogger(__name__)

POLICY_PACKAGE, POLICY_NAME = "leadnet_shared", "access_log"
PURGE_BATCH = 10_000


def access_log_retention(policy: dict[str, Any] | None = None) -> timedelta:
    """How long a row is kept (policy data, HQ overrides it with `LEADNET_POLICY_DIR`)."""
    policy = policy if policy is not None else cached_policy(POLICY_PACKAGE, POLICY_NAME)
    days = policy.get("retention_days")
    if not isinstance(days, int) or isinstance(days, bool) or days < 1:
        raise PolicyError(f"{policy.get('_origin', 'access_log.toml')}: retention_days must be a whole number >= 1")
    return timedelta(days=days)


class AccessLogColumns:
    """The access log's table; a service declares `class AccessLogEntry(AccessLogColumns, Base): pass`."""

    __tablename__ = "access_log"

    access_id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sub: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(20))
    dealer: Mapped[str | None] = mapped_column(String(32))
    endpoint: Mapped[str] = mapped_column(Text)  # "GET /v1/customers/{customer_id}"
    customer_ids: Mapped[list[str]] = mapped_column(ARRAY(String(36)))
    lead_ids: Mapped[list[str]] = mapped_column(ARRAY(String(36)))

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Any, ...]:
        return (
            Index("ix_access_log_at", "at"),
            Index("ix_access_log_sub", "sub", "access_id"),
            Index("ix_access_log_customer_ids", "customer_ids", postgresql_using="gin"),
            Index("ix_access_log_lead_ids", "lead_ids", postgresql_using="gin"),
        )


def access_log_migration(op: Any) -> None:
    """Create the access log (called from a service's migration; the columns of `AccessLogColumns`)."""
    import sqlalchemy as sa

    op.create_table(
        "access_log",
        sa.Column("access_id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sub", sa.Text, nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("dealer", sa.String(32)),
        sa.Column("endpoint", sa.Text, nullable=False),
        sa.Column("customer_ids", ARRAY(sa.String(36)), nullable=False),
        sa.Column("lead_ids", ARRAY(sa.String(36)), nullable=False),
    )
    op.create_index("ix_access_log_at", "access_log", ["at"])
    op.create_index("ix_access_log_sub", "access_log", ["sub", "access_id"])
    op.create_index("ix_access_log_customer_ids", "access_log", ["customer_ids"], postgresql_using="gin")
    op.create_index("ix_access_log_lead_ids", "access_log", ["lead_ids"], postgresql_using="gin")


class AccessLogEntryOut(BaseModel):
    access_id: int
    at: datetime
    sub: str
    role: str
    dealer: str | None
    endpoint: str
    customer_ids: list[str]
    lead_ids: list[str]


class AccessLogPage(Page[AccessLogEntryOut]):
    pass


def endpoint_of(request: Request) -> str:
    """The method and route template (`GET /v1/customers/{customer_id}`), not the path with its ids."""
    route = request.scope.get("route")
    return f"{request.method} {getattr(route, 'path', request.url.path)}"


Id = Annotated[str | None, Query(max_length=36, pattern=r"^[0-9A-Za-z-]+$")]
NoNul = r"^[^\x00]*$"  # PostgreSQL text cannot hold NUL: refused as a 422, not a 500


class AccessLog:
    """A service's access log: `record` in the transaction that read the data, `router` for HQ, `purge_step`."""

    def __init__(self, model: type[AccessLogColumns]) -> None:
        self.model = model
        self.table = model.__table__  # type: ignore[attr-defined]

    async def record(
        self,
        session: AsyncSession,
        *,
        principal: Principal,
        endpoint: str,
        at: datetime,
        customer_ids: Iterable[str | None] = (),
        lead_ids: Iterable[str | None] = (),
    ) -> None:
        """One row for one answer; nothing when it showed nobody unmasked."""
        customers = sorted({c for c in customer_ids if c})
        leads = sorted({lead for lead in lead_ids if lead})
        if not customers and not leads:
            return
        # The commit need not wait for its WAL flush (docs/operations.md, "the access log"): a read then costs an
        # insert, not an fsync; a database crash can lose the last fraction of a second of rows, never reorder them.
        await session.execute(text("SET LOCAL synchronous_commit = off"))
        await session.execute(
            insert(self.table).values(
                at=at,
                sub=principal.sub,
                role=principal.role,
                dealer=principal.dealer,
                endpoint=endpoint,
                customer_ids=customers,
                lead_ids=leads,
            )
        )

    async def purge(self, session: AsyncSession, *, older_than: datetime, limit: int = PURGE_BATCH) -> int:
        doomed = select(self.table.c.access_id).where(self.table.c.at < older_than).limit(limit).scalar_subquery()
        result = await session.execute(delete(self.table).where(self.table.c.access_id.in_(doomed)))
        return int(getattr(result, "rowcount", 0) or 0)

    def purge_step(self, *, every_seconds: float = 3600.0) -> Callable[[Runtime], Step]:
        """A `workers.periodic` step that deletes rows past the retention, a batch at a time."""
        retention = access_log_retention()  # read when the app is made: a bad policy file stops the start

        def make(runtime: Runtime) -> Step:
            async def purge() -> float:
                async with runtime.db.transaction() as session:
                    purged = await self.purge(session, older_than=runtime.clock.now() - retention)
                if purged:
                    log.info("purged %d access-log rows older than %d days", purged, retention.days)
                return 0.0 if purged >= PURGE_BATCH else every_seconds

            return purge

        return make

    def router(self, prefix: str) -> APIRouter:
        """`GET {prefix}/access-log` (hq_admin): newest rows last, filtered by customer, lead, subject, dealer, time.
        The prefix is the service's own (`/v1/customers`, `/v1/leads`): one logical API routes by prefix, so two
        services cannot share a path; mount it before the prefix's `/{id}` routes."""
        router = APIRouter(prefix=prefix, tags=["access-log"])
        model = self.model

        @router.get(
            "/access-log",
            response_model=AccessLogPage,
            summary="Who read which customer unmasked, when, through which endpoint (hq_admin)",
            responses=problem_responses(Unauthenticated, Forbidden, InvalidCursor, ValidationFailed),
        )
        async def read_access_log(
            request: Request,
            principal: Annotated[Principal, Depends(bearer_principal)],
            customer_id: Id = None,
            lead_id: Id = None,
            sub: Annotated[str | None, Query(max_length=500, pattern=NoNul)] = None,
            dealer: Annotated[str | None, Query(max_length=32, pattern=NoNul)] = None,
            since: Annotated[AwareDatetime | None, Query(description="Only reads at or after this instant")] = None,
            page: Annotated[PageParams, Depends()] = PageParams(),
        ) -> AccessLogPage:
            require_roles(principal, "hq_admin")
            query = select(model)
            if customer_id is not None:
                query = query.where(model.customer_ids.contains([customer_id]))
            if lead_id is not None:
                query = query.where(model.lead_ids.contains([lead_id]))
            if sub is not None:
                query = query.where(model.sub == sub)
            if dealer is not None:
                query = query.where(model.dealer == dealer)
            if since is not None:
                query = query.where(model.at >= since)
            runtime: Runtime = request.app.state.runtime
            async with runtime.db.sessions() as session:
                found = await fetch_page(session, query, order=[model.access_id], params=page, changed_at=model.at)
            return AccessLogPage(
                items=[AccessLogEntryOut.model_validate(row, from_attributes=True) for row in found.rows],
                next_cursor=found.next_cursor,
                total=found.total,
            )

        return router
