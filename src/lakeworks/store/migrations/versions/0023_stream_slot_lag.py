"""Stream nodes: the replication slot's lag of PostgreSQL CDC streams (bytes of WAL the
server keeps for the stream beyond what its target has committed).

Revision ID: 0023
Revises: 0018
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision: str | None = "0018"
branch_labels: tuple[str, ...] | None = None
depends_on: tuple[str, ...] | None = None


def upgrade() -> None:
    with op.batch_alter_table("stream_status") as batch:
        batch.add_column(sa.Column("lag_bytes", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("stream_status") as batch:
        batch.drop_column("lag_bytes")
