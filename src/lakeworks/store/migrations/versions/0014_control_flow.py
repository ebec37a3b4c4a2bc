"""Control flow: the output (context parameter) each instance published, and the
iterations of loop instances, and the external calls that released trigger nodes.

Revision ID: 0014
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision: str | None = "0001"
branch_labels: tuple[str, ...] | None = ("control_flow",)
depends_on: tuple[str, ...] | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=False)


def upgrade() -> None:
    op.create_table(
        "instance_outputs",
        sa.Column("instance_id", Id, nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["instances.id"],
            name="fk_instance_outputs_instance",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("instance_id", name="pk_instance_outputs"),
    )
    op.create_table(
        "loop_iterations",
        sa.Column("instance_id", Id, nullable=False),
        sa.Column("offset", sa.Integer(), nullable=False),
        sa.Column("item", sa.Text(), nullable=False),
        sa.Column("run_id", Id, nullable=True),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["instances.id"],
            name="fk_loop_iterations_instance",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("instance_id", "offset", name="pk_loop_iterations"),
    )

    op.create_table(
        "instance_triggers",
        sa.Column("instance_id", Id, nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("triggered_at", Timestamp, nullable=False),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["instances.id"],
            name="fk_instance_triggers_instance",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("instance_id", name="pk_instance_triggers"),
    )


def downgrade() -> None:
    op.drop_table("instance_triggers")
    op.drop_table("loop_iterations")
    op.drop_table("instance_outputs")
