"""Instances: an index for claiming from the work queue.

A claim takes the queued instances of one resource group with the highest priority,
oldest cycle first. The partial index holds only queued instances, in that order, so
a claim reads the few rows it takes however long the queue is, and whatever the
planner's statistics say about how many instances are queued (they are often stale:
a backfill queues thousands at once). Without it a claim over a queue of 2,000
instances read all of them, twice, and sorted them.

Revision ID: 0026
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision: str | None = "0002"
branch_labels: tuple[str, ...] | None = None
depends_on: tuple[str, ...] | None = None

QUEUED = sa.text("state = 'waiting_resources'")


def upgrade() -> None:
    op.create_index(
        "ix_instances_queue",
        "instances",
        ["resource_group", "workspace", "env", "priority", "cycle_time", "id"],
        postgresql_where=QUEUED,
        sqlite_where=QUEUED,
    )


def downgrade() -> None:
    op.drop_index("ix_instances_queue", table_name="instances")
