"""The model of the schedule (``schedule.simulate``) and real runs agree on a week of a
pipeline with an assignment, a branch, two merges (one over a failed upstream) and a
for-each: every node's final state on every business date is the one predicted."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lakeworks.engines.duckdb_engine import close_all
from lakeworks.engines.registry import engine_for
from lakeworks.runtime.runner import ManualRunner
from lakeworks.schedule.graph import build_graph
from lakeworks.schedule.simulate import SimulationConfig, simulate
from lakeworks.spec.loader import load_workspace
from lakeworks.store.database import Database, default_database_url
from lakeworks.store.models import InstanceState as S
from lakeworks.store.outputs import OutputRepository
from tests.unit.schedule.control_flow_week import (
    START,
    bizdate_of,
    fails,
    outputs,
    regions_of,
    write_pipeline,
)

DAYS = [START + timedelta(days=n) for n in range(6)]
REAL_OF_MODEL = {S.WAITING_UPSTREAM: S.BLOCKED}
"""Below a failure the scheduler's instances wait for ever; a manual run blocks them."""


@pytest.fixture(autouse=True)
def _close_warehouses() -> Iterator[None]:
    yield
    close_all()


def test_real_runs_of_a_week_match_the_model(tmp_path: Path) -> None:
    root = write_pipeline(tmp_path / "ws")
    ws = load_workspace(root)
    model = simulate(
        ws,
        build_graph(ws),
        SimulationConfig(
            start=datetime(2026, 4, 6, 12, tzinfo=UTC),
            days=7,
            failure_rate=0.0,
            outputs=outputs,
            fails=fails,
        ),
    )
    predicted = {
        (key, f"{bizdate_of(cycle):%Y%m%d}"): REAL_OF_MODEL.get(state, state)
        for (key, cycle), state in model.final_states.items()
    }
    real: dict[tuple[str, str], S] = {}
    iterations: dict[str, int] = {}
    db = Database.open(default_database_url(ws.state_dir))
    try:
        runner = ManualRunner(ws, db, engine_for(ws, "dev"), "dev")
        for day in DAYS:
            summary = runner.run(day, [])
            for instance in summary.instances:
                real[(instance.node_key, instance.bizdate)] = instance.state
                if instance.node_key == "p.per_region" and instance.state is S.SUCCESS:
                    iterations[instance.bizdate] = len(OutputRepository(db).iterations(instance.id))
    finally:
        db.close()
    differences = [
        (key, state.value, predicted.get(key))
        for key, state in sorted(real.items())
        if predicted.get(key) is not state
    ]
    assert not differences, differences
    assert len(real) == 10 * len(DAYS)
    assert {state for state in real.values()} >= {S.SUCCESS, S.SKIPPED, S.FAILED, S.BLOCKED}
    assert len(iterations) == len(DAYS) - 1  # all but the day of the failure
    for day in DAYS:
        if f"{day:%Y%m%d}" in iterations:
            assert iterations[f"{day:%Y%m%d}"] == len(regions_of(day))
