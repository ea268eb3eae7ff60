"""lead-intake tables: the records as sent and as normalized, their verdicts, and idempotency keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, DateTime, Index, String, func, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from leadnet_shared import columns
from leadnet_shared.access_log import AccessLogColumns
from leadnet_shared.db import new_metadata
from leadnet_shared.dealer_directory import dealer_directory_table
from leadnet_shared.outbox import define_kit_tables

metadata = new_metadata()
OUTBOX, INBOX, KIT_STATE = define_kit_tables(metadata)
# Which dealers may write, from leadnet.public.dealers.v1 (leadnet_shared.dealer_directory).
# The same table keeps what the network procedures need to know of each dealer (network_dealers.py): its sales level
# and party type (the network kinds expected of it, the collection target), its region (the province its territories
# lie in, for the collection roll-up) and when it was first seen (whether it existed in a quarter evaluated).
DEALERS = dealer_directory_table(
    metadata,
    Column("sales_level", String(20)),  # one of SALES_LEVELS, or None (unknown)
    Column("party_type", String(40)),  # one of PARTY_TYPES; None: a dealer
    Column("region", String(6)),  # province adcode prefix, "37"
    Column("first_seen_at", DateTime(timezone=True)),
)


class Base(columns.Typed, DeclarativeBase):
    metadata = metadata


class Lead(Base):
    """One submitted record: kept as sent (`raw`) next to its normalized form, with the router's verdict."""

    __tablename__ = "leads"

    lead_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    entered_by: Mapped[str | None] = mapped_column(String(32))  # dealer code; None when HQ collected it
    entered_by_role: Mapped[str] = mapped_column(String(20))
    caller_key: Mapped[str] = mapped_column(String(80))
    source: Mapped[str] = mapped_column(String(40))
    network_code: Mapped[str | None] = mapped_column(String(64))
    raw: Mapped[dict[str, Any]]
    normalized: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(24), default="pending")
    customer_id: Mapped[str | None] = mapped_column(String(36))
    assigned_dealer: Mapped[str | None] = mapped_column(String(32))
    verdict: Mapped[dict[str, Any] | None]
    submitted_at: Mapped[datetime]
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())
    # Set once when the first `leadnet.lead.verified` arrives: the network's authenticity counts read it.
    verified_at: Mapped[datetime | None]
    # False when the record named a network code nobody registered: kept (never lose a record) but not counted.
    network_registered: Mapped[bool | None]
    # The router's `lead_version` of the status and dealer stored here: an older event never overwrites them.
    lead_version: Mapped[int] = mapped_column(default=0, server_default="0")
    # The life cycle after routing (life_cycle.py): facts that commute, whatever order their events come in.
    closed_at: Mapped[datetime | None]
    closed_reason: Mapped[str | None] = mapped_column(String(40))
    return_round: Mapped[int] = mapped_column(default=0, server_default="0")
    reopen_round: Mapped[int] = mapped_column(default=0, server_default="0")
    # Earlier versions of `normalized` that a re-check's corrections replaced, oldest first, with who and when.
    record_versions: Mapped[list[dict[str, Any]] | None]

    __table_args__ = (
        Index("ix_leads_entered_by", "entered_by", "submitted_at"),
        Index("ix_leads_assigned_dealer", "assigned_dealer"),
        Index(
            "ix_leads_network_submitted",
            "network_code",
            "submitted_at",
            postgresql_where=text("network_code IS NOT NULL"),
        ),
    )


class IdempotencyKey(Base):
    """A caller's Idempotency-Key: the request it named and the first response, replayed for ≥ 24 h."""

    __tablename__ = "idempotency_keys"

    caller_key: Mapped[str] = mapped_column(String(80), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    lead_id: Mapped[str | None] = mapped_column(String(36))
    status_code: Mapped[int | None]
    response: Mapped[dict[str, Any] | None]
    # For a batch key: per record, in order, the saved lead_id or the problem the record got.
    batch_items: Mapped[list[dict[str, Any]] | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())

    __table_args__ = (
        Index("ix_idempotency_keys_created_at", "created_at"),
        # The verdict consumer writes a keyed request's final response by its lead (service.apply_verdicts).
        Index("ix_idempotency_keys_lead_id", "lead_id", postgresql_where=text("lead_id IS NOT NULL")),
    )


class InformationNetwork(Base):
    """A channel that supplies customer information (domain.md §1): HQ's national ones, dealers' regional ones."""

    __tablename__ = "information_networks"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))  # fixed | temporary
    scope: Mapped[str] = mapped_column(String(16))  # national | regional
    owner: Mapped[str] = mapped_column(String(32))  # "HQ" or the owning dealer's code
    members: Mapped[list[dict[str, Any]]]
    registered_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime]

    __table_args__ = (Index("ix_information_networks_owner", "owner"),)


class AccessLogEntry(AccessLogColumns, Base):
    """Who read which record unmasked (leadnet_shared.access_log)."""
