"""notifier tables: webhook subscriptions, their durable delivery queue and log, and notices to owners."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Identity, Index, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from leadnet_shared import columns
from leadnet_shared.db import new_metadata
from leadnet_shared.dealer_directory import dealer_directory_table
from leadnet_shared.idempotency import idempotency_table
from leadnet_shared.outbox import define_kit_tables

metadata = new_metadata()
OUTBOX, INBOX, KIT_STATE = define_kit_tables(metadata)
WEBHOOK_IDEMPOTENCY_KEYS = idempotency_table(metadata, "webhook_idempotency_keys")
# Which dealers are active (leadnet_shared.dealer_directory): a withdrawn dealer's token may read, not write.
DEALER_DIRECTORY = dealer_directory_table(metadata)

HQ_OWNER = "hq"  # the owner of HQ's subscriptions (a dealer's are owned by its dealer code)


class Base(columns.Typed, DeclarativeBase):
    metadata = metadata


class Webhook(Base):
    """A subscription: where to send which event kinds, for one dealer (its own events) or HQ (every dealer's)."""

    __tablename__ = "webhooks"

    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=True), unique=True)
    webhook_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    owner: Mapped[str] = mapped_column(String(32))  # a dealer code, or "hq"
    dealer: Mapped[str | None] = mapped_column(String(32))  # HQ's subscription to one dealer's events only
    url: Mapped[str] = mapped_column(String(2048))
    events: Mapped[list[str]] = mapped_column(ARRAY(String(64)))
    description: Mapped[str | None] = mapped_column(String(200))
    secret: Mapped[str] = mapped_column(String(100))  # whsec_...: signatures need it in the clear
    # After a rotation the previous secret still signs, next to the new one, until this instant (Standard
    # Webhooks' several signatures in one header), so the receiver can switch without losing a delivery.
    previous_secret: Mapped[str | None] = mapped_column(String(100))
    previous_secret_until: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16))  # enabled | disabled
    disabled_reason: Mapped[str | None] = mapped_column(String(40))  # failing | owner
    disabled_at: Mapped[datetime | None]
    # The first failed attempt since the last success: an endpoint failing for longer than the policy says is
    # disabled.
    failing_since: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (Index("ix_webhooks_owner", "owner", "seq"),)


class Delivery(Base):
    """One message to one subscription: the queue (status pending) and the log (every status)."""

    __tablename__ = "deliveries"

    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=True), unique=True)
    delivery_id: Mapped[str] = mapped_column(String(40), primary_key=True)  # msg_...: the `webhook-id` header
    webhook_id: Mapped[str] = mapped_column(ForeignKey("webhooks.webhook_id", ondelete="CASCADE"))
    event_type: Mapped[str] = mapped_column(String(64))  # the webhook kind (lead.assigned, ...)
    source_event_id: Mapped[str] = mapped_column(String(64))  # the topic event it tells of; `test` for a test
    order_key: Mapped[str] = mapped_column(String(80))  # deliveries of one key go out in seq order (the customer)
    payload: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16))  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(default=0)
    # When the next attempt is due; while an attempt is in flight, the end of its lease (a worker that died
    # mid-delivery leaves it to be sent again when the lease ends).
    next_attempt_at: Mapped[datetime]
    first_attempt_at: Mapped[datetime | None]
    last_attempt_at: Mapped[datetime | None]
    response_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (
        UniqueConstraint("webhook_id", "source_event_id", "event_type", name="uq_deliveries_event"),
        Index("ix_deliveries_webhook_seq", "webhook_id", "seq"),
        Index("ix_deliveries_webhook_created", "webhook_id", "created_at"),
        Index("ix_deliveries_pending_due", "next_attempt_at", postgresql_where="status = 'pending'"),
        Index("ix_deliveries_pending_key", "webhook_id", "order_key", "seq", postgresql_where="status = 'pending'"),
    )


class OwnerNotice(Base):
    """Something an owner must be told (a webhook disabled for failing): kept until a channel has told them."""

    __tablename__ = "owner_notices"

    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    owner: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(40))  # webhook.disabled
    webhook_id: Mapped[str | None] = mapped_column(String(36))
    detail: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    told_at: Mapped[datetime | None]
