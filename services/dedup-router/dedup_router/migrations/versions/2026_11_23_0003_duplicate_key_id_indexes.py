"""possible-duplicate lookups read a key's lowest customer ids in index order"""

from alembic import op

revision, down_revision = "0003", "0002"


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    # (key, customer_id): "the first N ids sharing this key" stops after N index entries; the key-only indexes
    # made PostgreSQL fetch and sort every customer sharing a common key (thousands in a 10M registry). The other
    # key is included so the lookup is answered from the index alone, without a heap page per candidate.
    # Built inside the migration's transaction (writes to customers wait, ~40 s per index at 10M rows); on a
    # registry already that large, run it in a quiet window.
    op.create_index("ix_customers_name_county_key_id", "customers", ["name_county_key", "customer_id"],
                    postgresql_include=["fleet_city_key"])
    op.create_index("ix_customers_fleet_city_key_id", "customers", ["fleet_city_key", "customer_id"],
                    postgresql_include=["name_county_key"])
    op.drop_index("ix_customers_name_county_key", table_name="customers")
    op.drop_index("ix_customers_fleet_city_key", table_name="customers")


def downgrade() -> None:
    op.create_index("ix_customers_name_county_key", "customers", ["name_county_key"])
    op.create_index("ix_customers_fleet_city_key", "customers", ["fleet_city_key"])
    op.drop_index("ix_customers_name_county_key_id", table_name="customers")
    op.drop_index("ix_customers_fleet_city_key_id", table_name="customers")
