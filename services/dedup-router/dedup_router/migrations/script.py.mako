"""${message}"""

import sqlalchemy as sa
from alembic import op
${imports if imports else ""}

revision, down_revision = ${repr(up_revision)}, ${repr(down_revision)}
% if branch_labels or depends_on:
branch_labels, depends_on = ${repr(branch_labels)}, ${repr(depends_on)}
% endif


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
% if upgrades:
    ${upgrades}
% endif


def downgrade() -> None:
    ${downgrades if downgrades else "pass"}
