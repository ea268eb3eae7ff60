"""Intake's DDL that several of its revisions share, frozen as it ran (the rule of `leadnet_shared.ddl`: never
edited once a revision calls it; a change is a new revision)."""

from __future__ import annotations

from typing import Any

from leadnet_shared import ddl


def network_dealers_2026_12_05(op: Any) -> None:
    """Each dealer's sales level from `leadnet.public.dealers.v1` (revision 0008; folded into `dealers` by 0012,
    whose downgrade makes it again)."""
    ddl.create_table(
        "network_dealers",
        "code varchar(32) CONSTRAINT pk_network_dealers PRIMARY KEY",
        "sales_level varchar(20)",
        "status varchar(20) NOT NULL",
        "first_seen_at timestamptz NOT NULL",
        "updated_at timestamptz NOT NULL",
        op=op,
    )
