"""The model of the schedule runs control flow as the runtime does: a week of a daily
pipeline with an assignment, a branch, two merges and a for-each."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from lakeworks.schedule.graph import build_graph
from lakeworks.schedule.simulate import SimulationConfig, SimulationResult, simulate
from lakeworks.spec.loader import load_workspace
from lakeworks.store.models import InstanceState as S
from tests.unit.schedule.control_flow_week import (
    START,
    bizdate_of,
    failing_day,
    fails,
    mode_of,
    outputs,
    regions_of,
    write_pipeline,
)


def week(tmp_path: Path) -> SimulationResult:
    ws = load_workspace(write_pipeline(tmp_path / "ws"))
    config = SimulationConfig(
        start=datetime(2026, 4, 6, 12, tzinfo=UTC),
        days=7,
        failure_rate=0.0,
        seed=3,
        outputs=outputs,
        fails=fails,
    )
    return simulate(ws, build_graph(ws), config)


def by_day(result: SimulationResult) -> dict[str, dict[str, S]]:
    days: dict[str, dict[str, S]] = {}
    for (node_key, cycle), state in result.final_states.items():
        days.setdefault(f"{bizdate_of(cycle):%Y%m%d}", {})[node_key.split(".")[1]] = state
    return days


def test_a_week_of_branches_merges_and_loops(tmp_path: Path) -> None:
    result = week(tmp_path)
    days = by_day(result)
    simulated = [START + timedelta(days=n) for n in range(6)]  # cycles of 7-12 April
    for day in simulated:
        states = days[f"{day:%Y%m%d}"]
        full = mode_of(day) == "full"
        taken, other = ("load_full", "load_inc") if full else ("load_inc", "load_full")
        assert states[other] is S.SKIPPED, (day, states)
        if day == failing_day():
            assert states["load_inc"] is S.FAILED
            assert states["check_inc"] is S.WAITING_UPSTREAM  # below a failure: never runs
            assert states["join"] is S.WAITING_UPSTREAM
            assert states["tolerant"] is S.SUCCESS  # released by the failure; it holds
            assert states["report"] is S.WAITING_UPSTREAM
            continue
        assert states[taken] is S.SUCCESS
        assert states["check_inc"] is (S.SKIPPED if full else S.SUCCESS)
        assert states["join"] is S.SUCCESS and states["tolerant"] is S.SUCCESS
        assert states["per_region"] is S.SUCCESS and states["report"] is S.SUCCESS
    skipped = {k for k, reason in result.skipped_by.items() if reason == "branch not taken"}
    assert {k[0] for k in skipped} == {"p.load_full", "p.load_inc", "p.check_inc"}
    for key, count in result.iterations.items():
        assert count == len(regions_of(bizdate_of(key[1])))
    assert {result.taken[k] for k in result.taken} == {"full", "incremental"}


def test_a_merge_fails_when_its_condition_does_not_hold_over_a_failure(tmp_path: Path) -> None:
    root = write_pipeline(tmp_path / "ws")
    (root / "workflows" / "p" / "strict.merge.yml").write_text(
        "depends_on: [load_full, load_inc]\ncondition: all\n"
    )
    ws = load_workspace(root)
    config = SimulationConfig(
        start=datetime(2026, 4, 6, 12, tzinfo=UTC),
        days=3,
        failure_rate=0.0,
        outputs=outputs,
        fails=fails,
    )
    result = simulate(ws, build_graph(ws), config)
    strict = {
        f"{bizdate_of(c):%Y%m%d}": s for (k, c), s in result.final_states.items() if k == "p.strict"
    }
    assert strict[f"{failing_day():%Y%m%d}"] is S.FAILED
    assert S.SUCCESS in strict.values()


def test_a_loop_over_too_many_items_fails_in_the_model(tmp_path: Path) -> None:
    ws = load_workspace(write_pipeline(tmp_path / "ws"))

    def many(key: tuple[str, datetime]) -> list[str]:
        return [str(n) for n in range(1025)] if key[0] == "p.assign_regions" else outputs(key)

    config = SimulationConfig(
        start=datetime(2026, 4, 6, 12, tzinfo=UTC), days=2, failure_rate=0.0, outputs=many
    )
    result = simulate(ws, build_graph(ws), config)
    loops = [s for (k, _), s in result.final_states.items() if k == "p.per_region"]
    assert loops and all(s is S.FAILED for s in loops)
