"""The Operations Center service: listing, inspecting and acting on instances."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from lakeworks.errors import UserError
from lakeworks.runtime import ops
from lakeworks.store.models import InstanceState as S
from lakeworks.store.models import RunType
from tests.integration.scheduler.conftest import WorldFactory
from tests.integration.scheduler.world import World, node_text, utc, write_workspace

BROKEN = 'test ! -e "$LAKEWORKS_WORKSPACE/broken" || exit 2'

DAY_1 = utc(2026, 4, 10, 1)
DAY_2 = utc(2026, 4, 10, 2)


def pipeline(root: Path) -> Path:
    """extract (01:00) -> transform (02:00, fails while the workspace holds a file
    ``broken``) -> publish."""
    return write_workspace(
        root,
        {
            "extract": node_text(
                "echo extracted $bizdate", schedule={"cycle": "day", "at": "01:00"}
            ),
            "transform": node_text(BROKEN, depends_on=["extract"]),
            "publish": node_text("echo published", depends_on=["transform"], owner="carol"),
            "fixed": node_text("echo fixed", rerun_policy="never"),
            "once": node_text("echo once", rerun_policy="after_failure"),
        },
    )


@pytest.fixture
def world(tmp_path: Path, new_world: WorldFactory) -> World:
    return new_world(pipeline(tmp_path / "ws"), utc(2026, 4, 10, 0, 30))


def test_listing_filters_and_pages_newest_first(world: World) -> None:
    world.at(utc(2026, 4, 10, 3))
    where = ops.InstanceFilter(workspace="demo", env="prod")
    every = ops.list_instances(world.db, where, limit=1000).items
    assert len(every) == 10
    assert [i.id for i in every] == sorted((i.id for i in every), reverse=True)
    seen: list[int] = []
    before = None
    while True:
        page = ops.list_instances(world.db, where, before_id=before, limit=3)
        seen.extend(i.id for i in page.items)
        if page.next_before is None:
            break
        before = page.next_before
    assert seen == [i.id for i in every]
    done = ops.InstanceFilter(workspace="demo", states=(S.SUCCESS,), bizdate="20260409")
    assert len(ops.list_instances(world.db, done).items) == 5
    carol = ops.list_instances(world.db, ops.InstanceFilter(owner="carol")).items
    assert {i.node_key for i in carol} == {"etl.publish"}
    node = ops.list_instances(world.db, ops.InstanceFilter(nodes=("etl.extract",))).items
    assert [i.bizdate for i in node] == ["20260410", "20260409"]
    with pytest.raises(UserError, match="limit"):
        ops.list_instances(world.db, where, limit=0)


def test_show_gives_attempts_history_neighbours_and_code(world: World) -> None:
    world.at(utc(2026, 4, 10, 3))
    transform = world.one("transform", DAY_2)
    detail = ops.show_instance(world.db, transform.id)
    assert [a.state for a in detail.attempts] == [S.SUCCESS]
    assert [u.node_key for u in detail.upstream] == ["etl.extract"]
    assert [d.node_key for d in detail.downstream] == ["etl.publish"]
    assert [e.action for e in detail.events] == ["schedule", "schedule", "claim", "finish"]
    assert (detail.instance.rendered_code or "").strip() == BROKEN
    lines = [line.text for line in ops.read_logs(world.db, world.one("extract", DAY_1).id)]
    assert "extracted 20260409" in lines


def test_following_a_log_streams_lines_while_it_runs(
    tmp_path: Path, new_world: WorldFactory
) -> None:
    script = "for i in 1 2 3 4; do echo line $i; sleep 0.3; done"
    root = write_workspace(tmp_path / "ws", {"talk": node_text(script, schedule={"at": "00:00"})})
    world = new_world(root, utc(2026, 4, 10, 0, 30))
    world.scheduler.run_once()
    world.worker.step()
    [running] = world.worker.running()
    seen: list[tuple[float, str]] = []
    started = time.monotonic()
    for line in ops.follow_logs(world.db, running, poll_seconds=0.05):
        seen.append((time.monotonic() - started, line.text))
    texts = [text for _, text in seen]
    assert [t for t in texts if t.startswith("line")] == ["line 1", "line 2", "line 3", "line 4"]
    assert texts[-1] == "succeeded"
    assert seen[0][0] < seen[-1][0] - 0.5  # lines arrived while the node ran


def test_rerun_after_a_fix_releases_the_downstream(world: World) -> None:
    (world.root / "broken").write_text("")
    world.at(utc(2026, 4, 10, 3))
    transform = world.one("transform", DAY_2)
    publish = world.one("publish", DAY_2)
    assert transform.state is S.FAILED
    assert world.instances.get(publish.id).reason == (
        "waiting for upstream etl.transform cycle 2026-04-10 02:00 (failed)"
    )
    (world.root / "broken").unlink()
    result = ops.rerun(world.db, "dave", [transform.id])
    assert [(i.state, i.reason, i.max_attempts) for i in result.changed] == [
        (S.NOT_RUN, "rerun by dave", 2)
    ]
    world.settle()
    again = world.instances.get(transform.id)
    assert (again.state, again.attempts) == (S.SUCCESS, 2)
    assert world.instances.get(publish.id).state is S.SUCCESS
    [record] = ops.recent_actions(world.db, workspace="demo", limit=1)
    assert (record.actor, record.action, record.target) == (
        "dave",
        "rerun",
        f"instance {transform.id}",
    )
    assert json.loads(record.detail or "{}")["changed"] == [transform.id]


def test_rerun_respects_the_rerun_policy_and_running_instances(world: World) -> None:
    world.at(utc(2026, 4, 10, 3))
    fixed = world.one("fixed", DAY_2)
    once = world.one("once", DAY_2)
    result = ops.rerun(world.db, "dave", [fixed.id, once.id])
    assert result.changed == []
    assert dict(result.refused) == {
        fixed.id: "the node's rerun policy is 'never'",
        once.id: "the node's rerun policy allows a rerun only after a failure",
    }
    waiting = world.one("extract", utc(2026, 4, 11, 1))
    assert ops.rerun(world.db, "dave", [waiting.id]).refused == [
        (
            waiting.id,
            "it is waiting_time; rerun applies to finished instances (run now queues waiting ones)",
        )
    ]


def test_rerun_with_downstream_runs_the_whole_chain_again(world: World) -> None:
    world.at(utc(2026, 4, 10, 3))
    extract = world.one("extract", DAY_1)
    result = ops.rerun(world.db, "erin", [extract.id], downstream=True)
    assert sorted(i.node_key for i in result.changed) == [
        "etl.extract",
        "etl.publish",
        "etl.transform",
    ]
    world.settle()
    for node, cycle in (("extract", DAY_1), ("transform", DAY_2), ("publish", DAY_2)):
        again = world.one(node, cycle)
        assert (again.state, again.attempts) == (S.SUCCESS, 2), node
    order = {
        node: next(
            e.id
            for e in reversed(world.instances.events(world.one(node, c).id))
            if e.action == "claim"
        )
        for node, c in (("extract", DAY_1), ("transform", DAY_2), ("publish", DAY_2))
    }
    assert order["extract"] < order["transform"] < order["publish"]


def test_set_success_lets_the_downstream_run(world: World) -> None:
    (world.root / "broken").write_text("")
    world.at(utc(2026, 4, 10, 3))
    transform = world.one("transform", DAY_2)
    ops.set_success(world.db, "frank", [transform.id])
    world.settle()
    assert world.one("publish", DAY_2).state is S.SUCCESS
    assert world.instances.get(transform.id).reason == "set success by frank"
    refused = ops.set_success(world.db, "frank", [transform.id, 999999])
    assert dict(refused.refused) == {
        transform.id: "it is success; set success applies to instances that are not running",
        999999: "no such instance",
    }


def test_suspend_and_resume_hold_and_release_an_instance(world: World) -> None:
    world.settle()
    publish = world.one("publish", DAY_2)
    ops.suspend(world.db, "gina", [publish.id])
    world.at(utc(2026, 4, 10, 3))
    held = world.instances.get(publish.id)
    assert (held.state, held.reason) == (S.SUSPENDED, "suspended by gina")
    ops.resume(world.db, "gina", [publish.id])
    world.settle()
    assert world.instances.get(publish.id).state is S.SUCCESS


def test_frozen_instances_do_not_run_and_hold_their_downstream(world: World) -> None:
    world.settle()
    transform = world.one("transform", DAY_2)
    ops.freeze(world.db, "hank", [transform.id])
    world.at(utc(2026, 4, 10, 3))
    assert world.instances.get(transform.id).state is S.FROZEN
    publish = world.instances.get(world.one("publish", DAY_2).id)
    assert publish.reason == "waiting for upstream etl.transform cycle 2026-04-10 02:00 (frozen)"
    ops.unfreeze(world.db, "hank", [transform.id])
    world.settle()
    assert world.one("publish", DAY_2).state is S.SUCCESS


def test_a_frozen_node_freezes_waiting_and_future_instances(world: World) -> None:
    world.settle()
    result = ops.freeze_node(world.db, "ivan", "demo", "prod", "etl.publish")
    assert {i.bizdate for i in result.changed} == {"20260409", "20260410"}
    world.at(utc(2026, 4, 12, 3))  # a new day is planned frozen
    later = world.one("publish", utc(2026, 4, 12, 2))
    assert (later.state, later.reason) == (S.FROZEN, "node frozen by ivan")
    ops.freeze_node(world.db, "ivan", "demo", "prod", "etl.publish", frozen=False)
    world.settle()
    assert {i.state for i in world.by_node("publish") if i.cycle_time <= later.cycle_time} == {
        S.SUCCESS
    }
    actions = [a.action for a in ops.recent_actions(world.db, workspace="demo")]
    assert actions[:2] == ["unfreeze_node", "freeze_node"]


def test_run_now_skips_the_wait_for_time(world: World) -> None:
    world.settle()
    tomorrow = world.one("extract", utc(2026, 4, 11, 1))
    assert tomorrow.state is S.WAITING_TIME
    result = ops.run_now(world.db, "jane", [tomorrow.id])
    assert result.changed[0].state is S.WAITING_RESOURCES
    world.settle()
    assert world.instances.get(tomorrow.id).state is S.SUCCESS


def test_stop_refuses_finished_instances_and_records_the_actor(world: World) -> None:
    world.at(utc(2026, 4, 10, 3))
    extract = world.one("extract", DAY_1)
    waiting = world.one("extract", utc(2026, 4, 11, 1))
    result = ops.stop(world.db, "kim", [extract.id, waiting.id])
    assert [i.id for i in result.changed] == [waiting.id]
    assert result.refused == [
        (extract.id, "it is success; stop applies to running or waiting instances")
    ]
    event = world.instances.events(waiting.id)[-1]
    assert (event.actor, event.action, event.to_state) == ("kim", "stop", S.STOPPED)
    with pytest.raises(UserError, match="no instances given"):
        ops.stop(world.db, "kim", [])


def test_only_scheduled_and_backfill_instances_are_touched_by_the_scheduler(
    world: World,
) -> None:
    from lakeworks.store.models import NewInstance
    from lakeworks.store.repositories import InstanceRepository

    [manual] = InstanceRepository(world.db).create_many(
        [
            NewInstance(
                "demo",
                "prod",
                "etl.extract",
                DAY_1,
                "20260409",
                run_type=RunType.MANUAL,
                run_key="someone-else",
            )
        ]
    )
    stop = threading.Event()
    stop.set()
    world.settle()
    assert world.instances.get(manual.id).state is S.NOT_RUN
