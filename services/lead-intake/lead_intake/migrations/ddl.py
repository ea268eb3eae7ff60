"""Intake's DDL that several of its revisions share, frozen as it ran (the rule of `leadnet_shared.ddl`: never
edited once a revision calls it; a change is a new revision)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa


def network_dealers_2026_12_05(op: Any) -> None:
    """Each dealer's sales level from `leadnet.public.dealers.v1` (revision 0008; folded into `dealers` by 0012,
    whose downgrade makes it again)."""
    op.create_table(
        "network_dealers",
        sa.Column("code", sa.String(32), primary_key=True),
        sa.Column("sales_level", sa.String(20)),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
