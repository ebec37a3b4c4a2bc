"""Instances: an index for listing one node's instances newest first.

The Operations Center and the API page through a node's instances by id; without
this index PostgreSQL walks the primary key backwards and filters, which is slow for
a node with no recent instances.

Revision ID: 0007
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision: str | None = "0001"
branch_labels: tuple[str, ...] | None = ("instance_lookup",)
depends_on: tuple[str, ...] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_instances_node_listing", "instances", ["workspace", "env", "node_key", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_instances_node_listing", table_name="instances")
