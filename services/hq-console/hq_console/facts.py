"""Ingest: every public event into the console's fact tables (filled in by the next commit)."""

from __future__ import annotations

from leadnet_shared.app import Runtime
from leadnet_shared.consumer import AllTypesExcept, BatchHandler
from leadnet_shared.events import CUSTOMERS, DEALERS, LEADS, LEDGER, NETWORKS, SALES, TASKS, Envelope

CONSOLE_TOPICS = (LEADS, CUSTOMERS, DEALERS, TASKS, SALES, LEDGER, NETWORKS)
CONSOLE_TYPES: frozenset[str] = AllTypesExcept({"leadnet.event.dead_lettered"})


def facts_handler(runtime: Runtime) -> BatchHandler:
    from sqlalchemy.ext.asyncio import AsyncSession

    async def handle(session: AsyncSession, envelopes: list[Envelope]) -> None:
        return None

    return handle
