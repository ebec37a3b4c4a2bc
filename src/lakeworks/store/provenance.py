"""Recording on an instance the node version and retry budget it actually runs with.

An instance is planned under one release; by the time a worker runs it, a newer one may
be deployed. The worker runs the definition it holds, so the instance must say so: its
``node_version`` and ``max_attempts`` are updated before the attempt runs, with an
``instance_events`` row saying what changed.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from lakeworks.store.clock import to_utc_naive
from lakeworks.store.database import Database
from lakeworks.store.models import Instance, InstanceState
from lakeworks.store.schema import instance_events, instances


def record_ran(
    db: Database,
    instance: Instance,
    *,
    node_version: int | None,
    max_attempts: int,
    actor: str,
    now: datetime,
) -> bool:
    """Set the version and attempts ``instance`` runs with; False if nothing changed."""
    if instance.node_version == node_version and instance.max_attempts == max_attempts:
        return False
    detail = (
        f"runs node version {node_version} (planned with {instance.node_version}), "
        f"{max_attempts} attempts (planned {instance.max_attempts})"
    )
    with db.write() as conn:
        conn.execute(
            sa.update(instances)
            .where(instances.c.id == instance.id)
            .values(node_version=node_version, max_attempts=max_attempts)
        )
        conn.execute(
            sa.insert(instance_events).values(
                instance_id=instance.id,
                created_at=to_utc_naive(now),
                actor=actor,
                action="definition",
                from_state=InstanceState.RUNNING.value,
                to_state=InstanceState.RUNNING.value,
                detail=detail,
            )
        )
    return True
