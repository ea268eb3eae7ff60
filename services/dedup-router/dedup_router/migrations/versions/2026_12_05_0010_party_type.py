"""party_type: a dealer or a service provider (exclusive or not), for the network kinds each is expected to have

domain.md §1: dealers are expected 14 / 13 / 12 network kinds by sales level, service providers 5 (exclusive) or
6; intake reads the type from `leadnet.dealer.upserted`. A column with a constant default: PostgreSQL adds it
without rewriting the table.
"""

import sqlalchemy as sa
from alembic import op

revision, down_revision = "20261205_party_type", "20261205_access_log"


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.add_column("dealers", sa.Column("party_type", sa.String(40), nullable=False, server_default="dealer"))


def downgrade() -> None:
    op.drop_column("dealers", "party_type")
