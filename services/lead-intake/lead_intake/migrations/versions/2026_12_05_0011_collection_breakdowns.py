"""collection_breakdowns: each dealer's breakdown of its monthly collection target per network and per person
(domain.md §2, 二次分解). A new table.
"""

from alembic import op

from leadnet_shared import ddl

revision, down_revision = "0010", "0009"


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    ddl.create_table(
        "collection_breakdowns",
        "dealer varchar(32) NOT NULL",
        "month varchar(7) NOT NULL",
        "networks jsonb NOT NULL",
        "people jsonb NOT NULL",
        "updated_at timestamptz NOT NULL",
        "updated_by varchar(80) NOT NULL",
        "CONSTRAINT pk_collection_breakdowns PRIMARY KEY (dealer, month)",
    )


def downgrade() -> None:
    op.drop_table("collection_breakdowns")
