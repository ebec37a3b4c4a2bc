"""Time triggers over live instances, and baselines predicted from the store."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from lakeworks.alerts.service import AlertStore, BaselineView
from lakeworks.store.clock import utcnow
from lakeworks.store.database import Database
from lakeworks.store.models import InstanceState as S
from lakeworks.store.models import NewInstance
from tests.integration.alerts.conftest import DAY, make_world

TIME_RULES = """
channels:
  hook: {type: webhook, url: "http://127.0.0.1:9/x"}
rules:
  - name: late
    objects: {nodes: [wf.ads]}
    trigger: {type: not_finished_by, at: "04:00"}
    channels: [hook]
  - name: overdue
    objects: {workflows: [wf]}
    trigger: {type: cycle_overdue, minutes: 120}
    channels: [hook]
  - name: long_run
    objects: {nodes: [wf.ods]}
    trigger: {type: run_time_over, minutes: 30}
    channels: [hook]
  - name: queue
    objects: {resource_groups: [default]}
    trigger: {type: queue_waiting_over, minutes: 10}
    channels: [hook]
"""


def incidents(db: Database) -> set[tuple[str, str]]:
    return {(i.rule, i.summary.split(": ", 1)[1]) for i in AlertStore(db).incidents("shop", "prod")}


def test_time_triggers_fire_once_each_when_their_time_comes(
    sqlite_db: Database, tmp_path: Path
) -> None:
    w = make_world(sqlite_db, tmp_path / "ws", TIME_RULES)
    ods = w.chain[0].id
    w.repo.transition(ods, S.RUNNING, started_at=DAY)
    ev = w.evaluator()
    ev.run_once(DAY + timedelta(minutes=5))
    assert incidents(sqlite_db) == set()
    ev.run_once(DAY + timedelta(minutes=40))
    assert incidents(sqlite_db) == {("long_run", "running 40.0 min (limit 30.0 min)")}
    ev.run_once(DAY + timedelta(hours=3, minutes=1))  # 04:01 local (UTC), 3 h after 01:00
    found = incidents(sqlite_db)
    assert ("late", "not finished by 04:00") in found
    assert {r for r, _ in found} == {"long_run", "late", "overdue"}
    rules = [i.rule for i in AlertStore(sqlite_db).incidents("shop", "prod")]
    assert rules.count("overdue") == 3  # one per instance
    ev.run_once(DAY + timedelta(hours=3, minutes=30))
    assert len(AlertStore(sqlite_db).incidents("shop", "prod")) == 5


def test_a_queue_waiting_too_long(sqlite_db: Database, tmp_path: Path) -> None:
    w = make_world(sqlite_db, tmp_path / "ws", TIME_RULES)
    now = utcnow()
    (queued,) = w.repo.create_many(
        [
            NewInstance(
                workspace="shop",
                env="prod",
                node_key="wf.dwd",
                workflow="wf",
                cycle_time=now,
                bizdate="x",
            )
        ]
    )
    w.repo.transition(queued.id, S.WAITING_RESOURCES)  # recorded at the real time
    ev = w.evaluator()
    ev.run_once(now + timedelta(minutes=5))
    assert incidents(sqlite_db) == set()
    ev.run_once(now + timedelta(minutes=11))
    assert incidents(sqlite_db) == {("queue", "waiting for resources in 'default' over 10 min")}


BASELINE_RULES = """
channels:
  hook: {type: webhook, url: "http://127.0.0.1:9/x"}
rules:
  - name: risk
    objects: {baselines: [morning]}
    trigger: {type: baseline_warning}
    channels: [hook]
    recovered: true
  - name: breach
    objects: {baselines: [morning]}
    trigger: {type: baseline_breached}
    channels: [hook]
  - name: events
    objects: {baselines: [morning]}
    trigger: {type: baseline_event}
    channels: [hook]
baselines:
  - name: morning
    nodes: [wf.ads]
    priority: 7
    finish: "03:00"
    margin_minutes: 30
"""


def today(db: Database) -> BaselineView:
    (found,) = [
        b for b in AlertStore(db).baselines("shop", "prod") if b.period == DAY.replace(hour=0)
    ]
    return found


def test_a_baseline_is_predicted_from_history_and_alerts_on_warning_and_events(
    db: Database, tmp_path: Path
) -> None:
    w = make_world(db, tmp_path / "ws", BASELINE_RULES)
    history = []
    for days in range(1, 4):  # three earlier days: each node ran 20 minutes
        cycle = DAY - timedelta(days=days)
        for name in ("ods", "dwd", "ads"):
            history.append(
                NewInstance(
                    workspace="shop",
                    env="prod",
                    node_key=f"wf.{name}",
                    workflow="wf",
                    cycle_time=cycle,
                    bizdate="x",
                    state=S.SUCCESS,
                )
            )
    for old in w.repo.create_many(history):
        w.repo.transition(
            old.id,
            S.SUCCESS,
            started_at=old.cycle_time,
            finished_at=old.cycle_time + timedelta(minutes=20),
        )
    ods, dwd, ads = (i.id for i in w.chain)
    ev = w.evaluator()
    ev.run_once(DAY + timedelta(minutes=1))
    status = today(db)
    assert status.state == "safe" and status.priority == 7
    assert status.predicted_finish == DAY + timedelta(hours=1, minutes=1)  # 3 x 20 min
    assert [p.split("@")[0] for p in status.key_path] == ["wf.ods", "wf.dwd", "wf.ads"]
    assert {w.repo.get(i).priority for i in (ods, dwd, ads)} == {7}  # dispatched first

    w.repo.transition(ods, S.RUNNING, started_at=DAY)
    ev.run_once(DAY + timedelta(hours=1, minutes=50))  # ods runs 110 min, usually 20
    status = today(db)
    assert status.state == "warning"
    assert status.events[0]["kind"] == "slow" and status.events[0]["instance"].startswith("wf.ods")
    open_rules = {i.rule for i in AlertStore(db).incidents("shop", "prod", state="open")}
    assert open_rules == {"risk", "events"}

    done = DAY + timedelta(hours=1, minutes=52)
    for iid in (ods, dwd, ads):
        if iid != ods:
            w.repo.transition(iid, S.RUNNING, started_at=done)
        w.repo.transition(iid, S.SUCCESS, finished_at=done)
    ev.run_once(DAY + timedelta(hours=1, minutes=55))
    status = today(db)
    assert status.state == "finished"
    risk = [i for i in AlertStore(db).incidents("shop", "prod") if i.rule == "risk"]
    assert [i.state for i in risk] == ["closed"]
    kinds = [a.kind for a in AlertStore(db).alerts("shop", "prod") if "Recovered" in a.title]
    assert kinds == ["recovered"]
