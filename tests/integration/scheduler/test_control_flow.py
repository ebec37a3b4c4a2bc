"""Under the scheduler and workers: a branch skips the untaken path up to a merge, a
check waits between checks in ``waiting_time`` (no worker slot) until it holds, and a
trigger node is released by one call before or after its upstream."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from lakeworks.controlflow.trigger import trigger_instance
from lakeworks.errors import Conflict
from lakeworks.spec.loader import load_workspace
from lakeworks.store.models import InstanceState as S
from lakeworks.streaming.status import StreamStatusStore
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


def test_a_stream_check_waits_until_the_stream_has_committed_past_the_cycle(
    tmp_path: Path, new_world: WorldFactory
) -> None:
    root = write_workspace(tmp_path / "ws", {"report": node_text("echo go", depends_on=["fresh"])})
    folder = root / "workflows" / "etl"
    (folder / "orders.stream.yml").write_text(
        "source: {data_source: events, topics: [orders]}\ntarget: {table: ods_orders}\n"
    )
    (folder / "fresh.check.yml").write_text("stream: etl.orders\ninterval_seconds: 600\n")
    world = new_world(root, utc(2026, 4, 10, 2, 0))
    statuses = StreamStatusStore(world.db, load_workspace(root).name, "prod")
    world.settle()
    cycle = utc(2026, 4, 10, 2)
    waiting = world.one("fresh", cycle)
    assert (waiting.state, waiting.reason) == (
        S.WAITING_TIME,
        "check 1/10: stream etl.orders has committed nothing yet "
        "(cycle time 2026-04-10 02:00:00 UTC)",
    )
    statuses.update("etl.orders", watermark=datetime(2026, 4, 10, 1, 59, 30))
    world.at(utc(2026, 4, 10, 2, 10, 1))
    assert world.one("fresh", cycle).reason == (
        "check 2/10: stream etl.orders watermark 2026-04-10 01:59:30 UTC has not passed the "
        "cycle time 2026-04-10 02:00:00 UTC"
    )
    statuses.update("etl.orders", watermark=datetime(2026, 4, 10, 2, 0, 4))
    world.at(utc(2026, 4, 10, 2, 20, 2))
    assert world.one("fresh", cycle).state == S.SUCCESS
    assert world.one("report", cycle).state == S.SUCCESS


def test_a_trigger_releases_its_instance_before_or_after_the_upstream_and_only_once(
    tmp_path: Path, new_world: WorldFactory
) -> None:
    root = write_workspace(
        tmp_path / "ws",
        {
            "late_after": node_text("echo go", depends_on=["late"]),
            "early_after": node_text("echo go", depends_on=["early"]),
        },
    )
    folder = root / "workflows" / "etl"
    (folder / "gate.check.yml").write_text("file: gate.flag\ninterval_seconds: 600\n")
    (folder / "late.trigger.yml").write_text("interval_seconds: 600\n")
    (folder / "early.trigger.yml").write_text("depends_on: [gate]\ninterval_seconds: 600\n")
    world = new_world(root, utc(2026, 4, 10, 2, 0))
    ws = load_workspace(root)
    world.settle()
    cycle = utc(2026, 4, 10, 2)
    late = world.one("late", cycle)
    assert (late.state, late.reason) == (S.WAITING_TIME, "waiting for trigger")
    early = world.one("early", cycle)
    assert early.state == S.WAITING_UPSTREAM

    # after the upstream: runs at once, not at the next interval
    trigger_instance(world.db, ws, late.id, "partner-app")
    world.settle()
    assert world.one("late", cycle).state == S.SUCCESS
    assert world.one("late_after", cycle).state == S.SUCCESS
    with pytest.raises(Conflict, match="already ended"):
        trigger_instance(world.db, ws, late.id, "partner-app")

    # before the upstream: kept until the upstream is done
    trigger_instance(world.db, ws, early.id, "partner-app")
    with pytest.raises(Conflict, match="already triggered"):
        trigger_instance(world.db, ws, early.id, "partner-app")
    world.settle()
    assert world.one("early", cycle).state == S.WAITING_UPSTREAM
    (root / "gate.flag").write_text("")
    world.at(utc(2026, 4, 10, 2, 10, 1))
    assert world.one("early", cycle).state == S.SUCCESS
    assert world.one("early_after", cycle).state == S.SUCCESS


def test_a_scheduled_merge_decides_over_a_failed_upstream(
    tmp_path: Path, new_world: WorldFactory
) -> None:
    root = write_workspace(
        tmp_path / "ws",
        {
            "load": node_text("exit 4", retries=0),
            "other": node_text("echo ok"),
            "after_load": node_text("echo never", depends_on=["load"]),
            "cleanup_report": node_text("echo report", depends_on=["cleanup"]),
        },
    )
    folder = root / "workflows" / "etl"
    (folder / "cleanup.merge.yml").write_text(
        "depends_on: [load, other]\ncondition: \"load == 'failed' and other == 'success'\"\n"
    )
    (folder / "strict.merge.yml").write_text("depends_on: [load, other]\ncondition: all\n")
    world = new_world(root, utc(2026, 4, 10, 2, 0))
    world.settle()
    cycle = utc(2026, 4, 10, 2)
    assert world.one("load", cycle).state == S.FAILED
    assert world.one("after_load", cycle).state == S.WAITING_UPSTREAM
    assert world.one("cleanup", cycle).state == S.SUCCESS
    assert world.one("cleanup_report", cycle).state == S.SUCCESS
    strict = world.one("strict", cycle)
    assert strict.state == S.FAILED
    assert "load=failed, other=success" in (strict.reason or "")


def test_a_scheduled_sub_workflow_runs_its_called_workflow_once_per_cycle(
    tmp_path: Path, new_world: WorldFactory
) -> None:
    root = write_workspace(
        tmp_path / "ws",
        {
            "prepare": node_text("echo prepared"),
            "after": node_text("echo after", depends_on=["call"]),
        },
    )
    (root / "workflows" / "etl" / "call.subflow.yml").write_text(
        "workflow: export\ndepends_on: [prepare]\n"
    )
    called = root / "workflows" / "export"
    called.mkdir()
    (called / "extract.sh").write_text('echo "extract $bizdate"\n')
    world = new_world(root, utc(2026, 4, 10, 2, 0))
    world.settle()
    cycle = utc(2026, 4, 10, 2)
    assert world.one("call", cycle).state == S.SUCCESS
    assert world.one("after", cycle).state == S.SUCCESS
    inner = [i for i in world.all() if i.node_key == "export.extract"]
    assert len(inner) == 1 and inner[0].state == S.SUCCESS and inner[0].bizdate == "20260409"
