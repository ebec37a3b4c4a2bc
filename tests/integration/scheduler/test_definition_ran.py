"""An instance reports the node version and retry budget it actually ran with.

Planned while the node was at version 1 (no retries), it runs after the node changed
(version 2, two retries): the instance says version 2, retries per the new settings,
and an event records the change.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from lakeworks.store.models import InstanceState as S
from lakeworks.store.schema import instance_events
from tests.integration.scheduler.conftest import WorldFactory
from tests.integration.scheduler.world import node_text, utc, write_workspace

AT_1 = {"cycle": "day", "at": "01:00"}


def test_an_instance_reports_the_definition_it_ran(tmp_path: Path, new_world: WorldFactory) -> None:
    root = write_workspace(
        tmp_path / "ws", {"a": node_text("echo version one", schedule=AT_1, retries=0)}
    )
    world = new_world(root, utc(2026, 4, 10, 0, 0))
    world.settle()
    planned = world.one("a", utc(2026, 4, 10, 1))
    assert (planned.state, planned.node_version, planned.max_attempts) == (S.WAITING_TIME, 1, 1)

    (root / "workflows/etl/a.sh").write_text(
        node_text("echo version two; exit 1", schedule=AT_1, retries=2, retry_delay_seconds=60)
    )
    world.at(utc(2026, 4, 10, 1, 0))
    ran = world.instances.get(planned.id)
    assert ran.node_version == 2
    assert ran.max_attempts == 3  # the retries of the code that ran
    assert ran.state is S.WAITING_TIME  # so its failure is retried
    assert ran.reason is not None and ran.reason.startswith("attempt 1 of 3 failed")
    with world.db.read() as conn:
        details = conn.execute(
            sa.select(instance_events.c.detail).where(
                instance_events.c.instance_id == planned.id,
                instance_events.c.action == "definition",
            )
        ).scalars()
        assert list(details) == ["runs node version 2 (planned with 1), 3 attempts (planned 1)"]
