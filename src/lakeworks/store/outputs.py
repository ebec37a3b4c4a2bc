"""Outputs published by instances (migration ``0014``): one JSON value per instance.

A rerun of the publishing instance replaces its output; a rerun of a downstream
instance reads the one stored.
"""

from __future__ import annotations

import sqlalchemy as sa

from lakeworks.store.clock import utcnow
from lakeworks.store.database import Database
from lakeworks.store.schema import Id, Timestamp, instance_dependencies, instances, metadata

instance_outputs = sa.Table(
    "instance_outputs",
    metadata,
    sa.Column(
        "instance_id",
        Id,
        sa.ForeignKey("instances.id", ondelete="CASCADE", name="fk_instance_outputs_instance"),
        primary_key=True,
    ),
    sa.Column("value", sa.Text(), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
)

_o = instance_outputs.c


class OutputRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    def save(self, instance_id: int, value: str) -> None:
        """Store (or replace) the output of an instance."""
        with self._db.write() as conn:
            conn.execute(sa.delete(instance_outputs).where(_o.instance_id == instance_id))
            conn.execute(
                sa.insert(instance_outputs).values(
                    instance_id=instance_id, value=value, created_at=utcnow()
                )
            )

    def get(self, instance_id: int) -> str | None:
        with self._db.read() as conn:
            return conn.execute(
                sa.select(_o.value).where(_o.instance_id == instance_id)
            ).scalar_one_or_none()

    def of_upstream(self, instance_id: int) -> dict[str, str | None]:
        """Node key -> output (None: none stored) of each upstream instance of one."""
        deps = instance_dependencies.c
        query = (
            sa.select(instances.c.node_key, _o.value)
            .select_from(
                instance_dependencies.join(
                    instances, instances.c.id == deps.upstream_instance_id
                ).outerjoin(instance_outputs, _o.instance_id == deps.upstream_instance_id)
            )
            .where(deps.instance_id == instance_id)
        )
        with self._db.read() as conn:
            return {str(k): v for k, v in conn.execute(query)}
