"""customer_erasures: which customers HQ erased (PIPL), when and by whom, once their registry row is gone

An erasure deletes the customer's row (name, phone, address, dedup keys); this table keeps the fact without personal
data, so a repeated request is answered the same and an auditor can see what was erased.
"""

from leadnet_shared import ddl

revision, down_revision = "0006", "20261205_customer_file"

upgrade, downgrade = ddl.tables_revision(
    (
        "customer_erasures",
        "customer_id varchar(36) CONSTRAINT pk_customer_erasures PRIMARY KEY",
        "erased_at timestamptz NOT NULL",
        "erased_by varchar(200) NOT NULL",
        "leads integer NOT NULL",
    ),
)
