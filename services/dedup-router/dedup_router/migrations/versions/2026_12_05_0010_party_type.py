"""party_type: a dealer or a service provider (exclusive or not), for the network kinds each is expected to have

domain.md §1: dealers are expected 14 / 13 / 12 network kinds by sales level, service providers 5 (exclusive) or
6; intake reads the type from `leadnet.dealer.upserted`. A column with a constant default: PostgreSQL adds it
without rewriting the table.
"""

from leadnet_shared import ddl

revision, down_revision = "20261205_party_type", "20261205_access_log"

upgrade, downgrade = ddl.columns_revision("dealers", "party_type varchar(40) DEFAULT 'dealer' NOT NULL")
