"""tasks: what a callback learnt, as data (issue 17 §7; domain.md §4 "How")

A nullable column: added without rewriting the table; existing completions had notes only.
"""

from leadnet_shared import ddl

revision, down_revision = "20261205_task_content", "0005"

upgrade, downgrade = ddl.columns_revision("tasks", "content jsonb")
