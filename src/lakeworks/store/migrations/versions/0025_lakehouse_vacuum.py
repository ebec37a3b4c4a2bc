"""Lakehouse vacuum: the oldest version of a table whose files are all still kept.

Revision ID: 0025
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision: str | None = "0016"
branch_labels: tuple[str, ...] | None = None
depends_on: tuple[str, ...] | None = None


def upgrade() -> None:
    with op.batch_alter_table("lakehouse_tables") as batch:
        batch.add_column(sa.Column("vacuumed_version", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("lakehouse_tables") as batch:
        batch.drop_column("vacuumed_version")
