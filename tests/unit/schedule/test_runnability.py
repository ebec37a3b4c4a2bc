from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from lakeworks.schedule.dependencies import DependencyKind, UpstreamInstance
from lakeworks.schedule.retries import RetryPolicy, rerun_refusal
from lakeworks.schedule.runnability import Action, InstanceStatus, decide_batch, evaluate
from lakeworks.spec.models import Defaults, RerunPolicy, RunMode
from lakeworks.store.models import InstanceState as S

from .factories import utc

SHANGHAI = ZoneInfo("Asia/Shanghai")
PARENT = "sales_pipeline.02_build_sales_daily"


def up(key: str = PARENT, at: datetime | None = None) -> UpstreamInstance:
    at = at or utc(2026, 4, 10, 2)
    return UpstreamInstance(key, at, DependencyKind.SAME_CYCLE, at)


def inst(**kw: object) -> InstanceStatus:
    fields: dict[str, object] = {"node_key": "wf.child", "cycle_time": utc(2026, 4, 10, 2)}
    fields.update(kw)
    return InstanceStatus(**fields)  # type: ignore[arg-type]


NOW = utc(2026, 4, 10, 12)
SLOTS = {"default": 2}


def test_runnable_when_time_upstream_and_slot_are_there() -> None:
    verdict = evaluate(inst(), [up()], {up().key: S.SUCCESS}, NOW, SLOTS)
    assert verdict.action == Action.RUN and verdict.runnable
    assert verdict.state == S.RUNNING


def test_waiting_for_upstream_names_node_and_cycle() -> None:
    verdict = evaluate(inst(), [up()], {up().key: S.RUNNING}, NOW, SLOTS)
    assert verdict.action == Action.WAIT
    assert verdict.state == S.WAITING_UPSTREAM
    assert verdict.reason == f"waiting for upstream {PARENT} cycle 2026-04-10 02:00"


def test_waiting_for_upstream_says_when_it_failed_or_does_not_exist_and_counts_the_rest() -> None:
    a, b = up("wf.a"), up("wf.b")
    failed = evaluate(inst(), [a, b], {a.key: S.FAILED}, NOW, SLOTS)
    assert failed.reason == "waiting for upstream wf.a cycle 2026-04-10 02:00 (failed) and 1 more"
    missing = evaluate(inst(), [a], {}, NOW, SLOTS)
    assert missing.reason == "waiting for upstream wf.a cycle 2026-04-10 02:00 (not created yet)"


def test_dry_run_upstream_counts_as_done() -> None:
    verdict = evaluate(inst(), [up()], {up().key: S.SKIPPED}, NOW, SLOTS)
    assert verdict.action == Action.RUN


def test_waiting_for_time_is_shown_in_the_workspace_zone() -> None:
    early = utc(2026, 4, 10, 1)
    verdict = evaluate(inst(), [up()], {}, early, SLOTS, zone=SHANGHAI)
    assert verdict.state == S.WAITING_TIME
    assert verdict.reason == "waiting for time 2026-04-10 10:00"


def test_waiting_for_a_slot() -> None:
    verdict = evaluate(inst(), [], {}, NOW, {"default": 0})
    assert verdict.state == S.WAITING_RESOURCES
    assert verdict.reason == "waiting for a slot in group default"
    unknown = evaluate(inst(resource_group="gpu"), [], {}, NOW, SLOTS)
    assert unknown.reason == "waiting for a slot in group gpu"


def test_frozen_instances_do_not_run_and_say_so() -> None:
    for status in (inst(frozen=True), inst(state=S.FROZEN)):
        verdict = evaluate(status, [], {}, NOW, SLOTS)
        assert verdict.action == Action.NONE and not verdict.runnable
        assert (verdict.state, verdict.reason) == (S.FROZEN, "frozen")


def test_suspended_running_and_finished_instances_are_left_alone() -> None:
    assert evaluate(inst(state=S.SUSPENDED), [], {}, NOW, SLOTS).reason == "suspended"
    for state in (S.RUNNING, S.SUCCESS, S.FAILED, S.SKIPPED, S.STOPPED):
        verdict = evaluate(inst(state=state), [], {}, NOW, SLOTS)
        assert verdict.action == Action.NONE and verdict.state == state


def test_dry_run_completes_without_a_slot_but_after_upstream() -> None:
    dry = inst(run_mode=RunMode.DRY_RUN)
    assert evaluate(dry, [], {}, NOW, {"default": 0}).action == Action.SKIP
    blocked = evaluate(dry, [up()], {}, NOW, {"default": 0})
    assert blocked.state == S.WAITING_UPSTREAM


def test_retry_waits_for_its_time() -> None:
    status = inst(attempts=1, next_attempt_at=utc(2026, 4, 10, 12, 5), state=S.WAITING_TIME)
    verdict = evaluate(status, [], {}, NOW, SLOTS)
    assert verdict.reason == "waiting for retry at 2026-04-10 12:05 (attempt 2)"
    assert evaluate(status, [], {}, NOW + timedelta(minutes=5), SLOTS).action == Action.RUN


def test_naive_store_times_are_read_as_utc() -> None:
    status = inst(cycle_time=datetime(2026, 4, 10, 13))
    assert evaluate(status, [], {}, NOW, SLOTS).reason == "waiting for time 2026-04-10 13:00"


def test_batch_shares_slots_by_priority_then_cycle_time() -> None:
    low = inst(node_key="wf.low", priority=1)
    high = inst(node_key="wf.high", priority=5)
    early = inst(node_key="wf.early", priority=1, cycle_time=utc(2026, 4, 10, 1))
    other = inst(node_key="wf.other", resource_group="etl")
    decided = decide_batch(
        [(low, []), (high, []), (early, []), (other, [])], {}, NOW, {"default": 2, "etl": 1}
    )
    by_node = {status.node_key: verdict for status, verdict in decided}
    assert [s.node_key for s, _ in decided][:3] == ["wf.high", "wf.early", "wf.low"]
    assert by_node["wf.high"].action == Action.RUN
    assert by_node["wf.early"].action == Action.RUN
    assert by_node["wf.low"].reason == "waiting for a slot in group default"
    assert by_node["wf.other"].action == Action.RUN


# -- retries ------------------------------------------------------------------------


def test_retry_delay_grows_by_the_backoff() -> None:
    policy = RetryPolicy.from_settings(
        Defaults(retries=3, retry_delay_seconds=60, retry_backoff=2.0)
    )
    assert policy.max_attempts == 4
    assert [policy.delay(n).total_seconds() for n in (1, 2, 3)] == [60, 120, 240]
    failed_at = utc(2026, 4, 10, 3)
    assert policy.next_attempt_at(failed_at, 2) == failed_at + timedelta(minutes=2)
    assert policy.next_attempt_at(failed_at, 4) is None


def test_retry_defaults_and_rerun_policy_never() -> None:
    plain = RetryPolicy.from_settings(Defaults())
    assert (plain.max_attempts, plain.delay_seconds, plain.backoff) == (1, 60.0, 1.0)
    never = RetryPolicy.from_settings(Defaults(retries=3, rerun_policy=RerunPolicy.NEVER))
    assert never.max_attempts == 1
    with pytest.raises(ValueError, match="start at 1"):
        plain.delay(0)


def test_rerun_refusal_follows_the_policy() -> None:
    assert rerun_refusal(RerunPolicy.ALWAYS, S.SUCCESS) is None
    assert rerun_refusal(None, S.FAILED) is None
    assert rerun_refusal(RerunPolicy.AFTER_FAILURE, S.FAILED) is None
    assert "only after a failure" in (rerun_refusal(RerunPolicy.AFTER_FAILURE, S.SUCCESS) or "")
    assert "'never'" in (rerun_refusal(RerunPolicy.NEVER, S.FAILED) or "")
    assert "running" in (rerun_refusal(RerunPolicy.ALWAYS, S.RUNNING) or "")


def test_a_failed_upstream_releases_a_merge_but_not_other_children() -> None:
    a, b = up("wf.a"), up("wf.b")
    states = {a.key: S.FAILED, b.key: S.SKIPPED}
    assert evaluate(inst(merge=True), [a, b], states, NOW, SLOTS).action == Action.RUN
    held = evaluate(inst(), [a, b], states, NOW, SLOTS)
    assert held.state == S.WAITING_UPSTREAM and held.reason is not None
    assert held.reason.endswith("(failed)")
    running = evaluate(inst(merge=True), [a, b], {a.key: S.RUNNING, b.key: S.FAILED}, NOW, SLOTS)
    assert running.state == S.WAITING_UPSTREAM  # a merge still waits for the others to end
    frozen = evaluate(inst(merge=True), [a], {a.key: S.FROZEN}, NOW, SLOTS)
    assert frozen.state == S.WAITING_UPSTREAM  # frozen is not an end
