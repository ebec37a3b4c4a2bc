"""Check nodes: what a waiting check saw last (a table's row count, a file's
modification time) and since when, so "unchanged for N minutes" can be told.

Revision ID: 0024
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision: str | None = "0014"
branch_labels: tuple[str, ...] | None = None
depends_on: tuple[str, ...] | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=False)


def upgrade() -> None:
    op.create_table(
        "check_observations",
        sa.Column("instance_id", Id, nullable=False),
        sa.Column("fingerprint", sa.Text(), nullable=False),
        sa.Column("since", Timestamp, nullable=False),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["instances.id"],
            name="fk_check_observations_instance",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("instance_id", name="pk_check_observations"),
    )


def downgrade() -> None:
    op.drop_table("check_observations")
