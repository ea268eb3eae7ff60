"""leads: keep rows up to a page uncompressed, so the verdict's UPDATE does not re-compress the record

A lead row carries the raw and the normalized record (~1.5 KB); the verdict adds ~1 KB more, which crossed the
2 KB toast threshold and made every verdict UPDATE run pglz over the row's JSONB: about half of that statement's
time, and the statement was intake's costliest in PostgreSQL. Chinese text in JSONB compresses poorly anyway.
"""

from leadnet_shared import ddl

revision, down_revision = "0004", "0003"

upgrade, downgrade = ddl.sql_revision(
    ("ALTER TABLE leads SET (toast_tuple_target = 8160)",), ("ALTER TABLE leads RESET (toast_tuple_target)",)
)
