"""Follow-up work of finished instances: a durable queue drained in batches.

Each row is written with the instance's final state and deleted when the work it
stands for (the Data Map's run lineage, harvest, column lineage, OpenLineage) is done.

Revision ID: 0008
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision: str | None = "0001"
branch_labels: tuple[str, ...] | None = ("followups",)
depends_on: tuple[str, ...] | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=False)


def upgrade() -> None:
    op.create_table(
        "instance_followups",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("instance_id", Id, nullable=False),
        sa.Column("workspace", sa.String(), nullable=False),
        sa.Column("env", sa.String(), nullable=False),
        sa.Column("node_key", sa.String(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("owner", sa.String(), nullable=False),
        sa.Column("claimed_at", Timestamp, nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_instance_followups"),
    )
    op.create_index(
        "ix_instance_followups_scope",
        "instance_followups",
        ["workspace", "env", "owner", "id"],
    )


def downgrade() -> None:
    op.drop_index("ix_instance_followups_scope", table_name="instance_followups")
    op.drop_table("instance_followups")
