"""Full reads: when each connector's entity was last pulled in full, and the platform's count gap then.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN (nullable columns): SQLite takes it as it is, without batch mode's table copy.
    op.add_column("cursors", sa.Column("full_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("cursors", sa.Column("full_gap", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cursors") as batch:
        batch.drop_column("full_gap")
        batch.drop_column("full_at")
