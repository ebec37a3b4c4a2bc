"""Under the scheduler and workers: a branch skips the untaken path up to a merge, and a
check waits between checks in ``waiting_time`` (no worker slot) until it holds."""

from __future__ import annotations

from pathlib import Path

from lakeworks.store.models import InstanceState as S
from tests.integration.scheduler.conftest import WorldFactory
from tests.integration.scheduler.world import node_text, utc, write_workspace


def test_a_scheduled_branch_skips_the_other_path_and_the_merge_goes_on(
    tmp_path: Path, new_world: WorldFactory
) -> None:
    root = write_workspace(
        tmp_path / "ws",
        {
            "assign_mode": node_text("echo incremental", output=True),
            "load_full": node_text("echo full", branch={"route": "full"}),
            "load_inc": node_text("echo inc", branch={"route": "incremental"}),
            "report": node_text("echo report", depends_on=["join"]),
        },
    )
    folder = root / "workflows" / "etl"
    (folder / "route.branch.yml").write_text(
        "inputs: {mode: assign_mode.outputs}\n"
        "conditions:\n"
        "  - when: \"mode[0] == 'full'\"\n    output: full\n"
        "  - when: 'true'\n    output: incremental\n"
    )
    (folder / "join.merge.yml").write_text("depends_on: [load_full, load_inc]\ncondition: any\n")
    world = new_world(root, utc(2026, 4, 10, 2, 0))
    world.settle()
    cycle = utc(2026, 4, 10, 2)
    skipped = world.one("load_full", cycle)
    assert (skipped.state, skipped.reason) == (S.SKIPPED, "branch not taken")
    for node in ("assign_mode", "route", "load_inc", "join", "report"):
        assert world.one(node, cycle).state == S.SUCCESS, node


def test_a_scheduled_check_waits_without_a_slot_until_the_file_arrives(
    tmp_path: Path, new_world: WorldFactory
) -> None:
    root = write_workspace(tmp_path / "ws", {"after": node_text("echo go", depends_on=["ready"])})
    (root / "workflows" / "etl" / "ready.check.yml").write_text(
        "file: inbox/${bizdate}.csv\ninterval_seconds: 600\nmax_checks: 5\n"
    )
    world = new_world(root, utc(2026, 4, 10, 2, 0))
    world.settle()
    cycle = utc(2026, 4, 10, 2)
    waiting = world.one("ready", cycle)
    assert waiting.state == S.WAITING_TIME
    assert waiting.reason == "check 1/5: file inbox/20260409.csv not found"
    assert world.worker.running() == []
    world.at(utc(2026, 4, 10, 2, 10, 1))
    assert world.one("ready", cycle).reason == "check 2/5: file inbox/20260409.csv not found"
    (root / "inbox").mkdir()
    (root / "inbox" / "20260409.csv").write_text("id\n")
    world.at(utc(2026, 4, 10, 2, 20, 2))
    assert world.one("ready", cycle).state == S.SUCCESS
    assert world.one("after", cycle).state == S.SUCCESS
