"""Schedulers and workers as real processes on PostgreSQL, killed and restarted.

- A worker killed with ``kill -9`` mid-run: its instance completes on another worker,
  exactly once (the killed worker's node process dies with it).
- A scheduler killed and restarted across cycle boundaries: every missed cycle runs
  once, none twice.
- Two schedulers and three workers for a simulated week of a 50-node hourly/daily
  workspace with failures and retries: the final state of every instance is what the
  pure model of the schedule (``schedule.simulate``) predicts.
- The embedded SQLite store refuses a second process; the ops and backfill commands.

Simulated time (``LAKEWORKS_CLOCK``) runs thousands of times faster than real time.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lakeworks.runtime.clock import SimulatedClock
from lakeworks.runtime.sandbox import ENV_SANDBOX_WRITABLE
from lakeworks.schedule.graph import build_graph
from lakeworks.schedule.planning import Planner
from lakeworks.schedule.simulate import SimulationConfig, simulate
from lakeworks.spec.loader import load_workspace
from lakeworks.store.database import Database
from lakeworks.store.models import Instance, InstanceState
from lakeworks.store.repositories import AttemptRepository, InstanceRepository
from lakeworks.store.scheduling import SchedulingStore
from tests.integration.scheduler.world import (
    new_schema_url,
    node_text,
    scheduler_pg_database,
    write_workspace,
)

__all__ = ["scheduler_pg_database"]

FOLDER = ("--definition", "folder")
"""These workspaces are never deployed: prod runs the folder as it is."""
LAKEWORKS = str(Path(sys.executable).with_name("lakeworks"))
S = InstanceState
ACTIVE = (S.NOT_RUN, S.WAITING_TIME, S.WAITING_RESOURCES, S.RUNNING)
DONE = (S.SUCCESS, S.SKIPPED)


class Processes:
    """Lakeworks processes started by a test, each logging to its own file."""

    def __init__(self, root: Path, logs: Path, env: dict[str, str]) -> None:
        self.root = root
        self.logs = logs
        self.env = env
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("ab")
        process = subprocess.Popen(
            [LAKEWORKS, *args, "-w", str(self.root)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **self.env},
        )
        log.close()
        self.started.append(process)
        return process

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.started:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def pg_url(scheduler_pg_database: str) -> str:
    return new_schema_url(scheduler_pg_database)


@pytest.fixture
def procs(tmp_path: Path, pg_url: str) -> Iterator[Callable[..., Processes]]:
    made: list[Processes] = []

    def factory(root: Path, **env: str) -> Processes:
        logs = tmp_path / "logs"
        logs.mkdir(exist_ok=True)
        tmp_path.chmod(0o777)  # nodes write their marks here (as an unprivileged user)
        shared = {"LAKEWORKS_DATABASE_URL": pg_url, ENV_SANDBOX_WRITABLE: str(tmp_path)}
        found = Processes(root, logs, {**shared, **env})
        made.append(found)
        return found

    yield factory
    for found in made:
        found.stop_all()


def wait_until(
    check: Callable[[], Any], seconds: float, what: str, procs: Processes | None = None
) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            logs = ""
            if procs is not None:
                logs = "\n".join(
                    f"--- {p.name}\n{p.read_text()[-3000:]}" for p in procs.logs.iterdir()
                )
            raise AssertionError(f"timed out waiting for {what}\n{logs}")
        time.sleep(0.1)


@pytest.mark.postgres
@pytest.mark.slow
def test_a_killed_worker_instance_completes_on_another_worker_exactly_once(
    tmp_path: Path, pg_url: str, procs: Callable[..., Processes]
) -> None:
    marks = tmp_path / "marks"
    marks.mkdir(mode=0o777)
    marks.chmod(0o777)
    script = f"echo start >> {marks}/starts; sleep 4; echo done >> {marks}/done"
    root = write_workspace(
        tmp_path / "ws", {"job": node_text(script, schedule={"at": "00:00"}, retries=1)}
    )
    run = procs(root)
    run.start("scheduler", "scheduler", *FOLDER, "--interval", "0.2")
    victim = run.start("worker-a", "worker", *FOLDER, "--name", "A", "--lease-seconds", "3")
    with Database.open(pg_url) as db:
        repo = InstanceRepository(db)

        def running_on_a() -> Instance | None:
            found = [i for i in repo.list(limit=100) if i.state is S.RUNNING]
            return found[0] if found and (marks / "starts").exists() else None

        instance = wait_until(running_on_a, 30, "the job to start on worker A", run)
        assert instance.worker == "A"
        run.start("worker-b", "worker", *FOLDER, "--name", "B", "--lease-seconds", "3")
        victim.send_signal(signal.SIGKILL)
        victim.wait()

        def finished() -> Instance | None:
            current = repo.get(instance.id)
            return current if current.state.is_terminal else None

        done = wait_until(finished, 40, "the job to finish on worker B", run)
        assert (done.state, done.worker, done.attempts) == (S.SUCCESS, "B", 2)
        attempts = AttemptRepository(db).for_instance(instance.id)
        assert [(a.number, a.worker, a.state) for a in attempts] == [
            (1, "A", S.FAILED),
            (2, "B", S.SUCCESS),
        ]
        # found by its lease running out, or at once by its process being gone
        reason = attempts[0].error or ""
        assert "stopped renewing its lease" in reason or "worker A (pid" in reason, reason
    time.sleep(1)
    assert (marks / "starts").read_text().splitlines() == ["start", "start"]
    assert (marks / "done").read_text().splitlines() == ["done"]  # A's run died with A


@pytest.mark.postgres
@pytest.mark.slow
def test_a_restarted_scheduler_runs_each_missed_cycle_once(
    tmp_path: Path, pg_url: str, procs: Callable[..., Processes]
) -> None:
    ticks = tmp_path / "ticks"
    script = f'echo "$LAKEWORKS_CYCLE_TIME" >> {ticks}'
    root = write_workspace(tmp_path / "ws", {"tick": node_text(script, schedule={"cycle": "hour"})})
    start = datetime(2026, 4, 10, 21, tzinfo=UTC)
    clock = SimulatedClock(start, 3600.0, time.time() + 1.0)  # an hour every second
    run = procs(root, LAKEWORKS_CLOCK=clock.spec())
    common = ("--days-ahead", "0", "--since", start.isoformat(), "--interval", "0.2")
    first = run.start("scheduler-1", "scheduler", *FOLDER, "--no-worker", *common)
    run.start("worker", "worker", *FOLDER, "--lease-seconds", "10")
    wait_until(lambda: clock.now() >= datetime(2026, 4, 10, 22, 30, tzinfo=UTC), 20, "22:30")
    first.send_signal(signal.SIGKILL)
    first.wait()
    killed_at = clock.now()
    wait_until(lambda: clock.now() >= datetime(2026, 4, 11, 2, 20, tzinfo=UTC), 20, "02:20")
    run.start("scheduler-2", "scheduler", *FOLDER, "--no-worker", *common)
    until = datetime(2026, 4, 11, 5, 30, tzinfo=UTC)
    wait_until(lambda: clock.now() >= until, 30, "05:30")
    with Database.open(pg_url) as db:

        def caught_up() -> list[Instance] | None:
            due = [
                i
                for i in InstanceRepository(db).list(limit=1000)
                if i.cycle_time <= datetime(2026, 4, 11, 5).replace(tzinfo=None)
            ]
            return due if due and all(i.state is S.SUCCESS for i in due) else None

        due = wait_until(caught_up, 30, "every due cycle to succeed", run)
    cycles = [i.cycle_time for i in due]
    expected = [datetime(2026, 4, 10, 21) + timedelta(hours=h) for h in range(9)]
    assert sorted(cycles) == expected
    assert {i.attempts for i in due} == {1}
    missed = [
        c for c in expected if killed_at.replace(tzinfo=None) < c < datetime(2026, 4, 11, 2, 20)
    ]
    assert len(missed) >= 3  # the scheduler was down across several cycle boundaries
    lines = ticks.read_text().splitlines()
    assert sorted(lines) == sorted(set(lines))  # none ran twice
    assert {f"{c:%Y-%m-%d %H:%M:%S}" for c in expected} <= set(lines)


def _week_workspace(root: Path, fails_file: Path, seed: int = 5) -> Path:
    rng = random.Random(seed)
    nodes: dict[str, str] = {}
    names: list[str] = []
    script = (
        f'grep -qxF "$LAKEWORKS_NODE|$LAKEWORKS_CYCLE_TIME|$LAKEWORKS_ATTEMPT" {fails_file}'
        ' && { echo "planned failure"; exit 1; }; echo ok'
    )
    for index in range(50):
        name = f"n{index:02d}"
        header: dict[str, Any] = {
            "retries": rng.choice([0, 1, 2, 2]),
            "retry_delay_seconds": 300,
            "retry_backoff": 2,
            "priority": rng.randrange(0, 3),
        }
        if names:
            parents = rng.sample(names[-12:], min(len(names[-12:]), rng.choice([0, 1, 1, 2, 3])))
            if parents:
                header["depends_on"] = sorted(parents)
        if index % 5 == 0:
            header["schedule"] = {"cycle": "hour"}
        else:
            at = f"{rng.randrange(0, 6):02d}:{rng.choice([0, 15, 30, 45]):02d}"
            header["schedule"] = {"cycle": "day", "at": at, "self_dependency": rng.random() < 0.1}
        nodes[name] = node_text(script, **header)
        names.append(name)
    return write_workspace(
        root, nodes, timezone="Asia/Shanghai", groups={"default": 12}, workflow="wk"
    )


def _blocking_trail(repo: InstanceRepository, start: Instance, depth: int = 12) -> str:
    """What an instance waits for, and what that waits for, down to the root cause."""
    lines = []
    current: Instance | None = start
    while current is not None and depth > 0:
        lines.append(
            f"{current.id} {current.node_key} {current.cycle_time} {current.state.value}"
            f" attempts={current.attempts}/{current.max_attempts} {current.reason}"
        )
        parents = repo.get_many(repo.upstream_ids(current.id))
        current = next((p for p in parents if p.state not in (S.SUCCESS, S.SKIPPED)), None)
        depth -= 1
    return "\n".join(lines)


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_two_schedulers_and_three_workers_match_the_model_over_a_week(
    tmp_path: Path, pg_url: str, procs: Callable[..., Processes]
) -> None:
    fails_file = tmp_path / "fails"
    root = _week_workspace(tmp_path / "ws", fails_file)
    workspace = load_workspace(root)
    graph = build_graph(workspace)
    week_start = datetime(2026, 4, 5, 16, tzinfo=UTC)  # Monday 00:00 in Shanghai
    week_end = week_start + timedelta(days=7)
    planned = Planner(workspace, graph).plan(week_start, week_end, history_start=week_start)
    rng = random.Random(11)
    failing = {(p.key, n) for p in planned for n in (1, 2, 3) if rng.random() < 0.06}
    fails_file.write_text(
        "".join(
            f"{key[0]}|{local:%Y-%m-%d %H:%M:%S}|{n}\n"
            for p in planned
            for key, local in [(p.key, p.local_time)]
            for n in (1, 2, 3)
            if (key, n) in failing
        )
    )
    model = simulate(
        workspace,
        graph,
        SimulationConfig(
            start=week_start,
            days=7,
            fails=lambda key, n: (key, n) in failing,
            duplicate_scheduler=False,
        ),
    )
    # a day every 8 s, from when five processes have had time to start on a busy machine
    clock = SimulatedClock(week_start, 10800.0, time.time() + 12.0)
    run = procs(root, LAKEWORKS_CLOCK=clock.spec())
    for n in (1, 2):
        run.start(f"scheduler-{n}", "scheduler", *FOLDER, "--no-worker", "--interval", "0.25")
    for n in (1, 2, 3):
        run.start(
            f"worker-{n}",
            "worker",
            *FOLDER,
            "--group",
            "default",
            "--slots",
            "4",
            "--name",
            f"w{n}",
        )
    wait_until(lambda: clock.now() >= week_end + timedelta(hours=3), 150, "the end of the week")
    with Database.open(pg_url) as db:
        repo = InstanceRepository(db)

        def quiet() -> list[Instance] | None:
            week = [
                i for i in repo.list(limit=100000) if i.cycle_time < week_end.replace(tzinfo=None)
            ]
            if any(i.state in ACTIVE for i in week):
                return None
            waiting = [i.id for i in week if i.state is S.WAITING_UPSTREAM]
            upstream = SchedulingStore(db).upstream_of(waiting)
            runnable = [i for i in waiting if all(u.state in DONE for u in upstream[i])]
            return None if runnable else week  # else the scheduler has yet to queue them

        week = wait_until(quiet, 240, "the week's instances to settle", run)
    real = {(i.node_key, i.cycle_time.replace(tzinfo=UTC)): i for i in week}
    assert len(real) == len(week)  # one instance per node and cycle
    assert set(real) == set(model.final_states)
    differences = [
        (key, model.final_states[key].value, len(model.attempts.get(key, [])))
        for key, i in sorted(real.items())
        if (i.state, i.attempts) != (model.final_states[key], len(model.attempts.get(key, [])))
    ]
    if differences:  # show what the first one waits for, down to the root cause
        with Database.open(pg_url) as db:
            trail = _blocking_trail(InstanceRepository(db), real[differences[0][0]])
        raise AssertionError(
            f"{len(differences)} differ from the model: {differences[:3]}\n{trail}"
        )
    with Database.open(pg_url) as db:
        workers = {
            a.worker
            for i in week[:: max(1, len(week) // 300)]
            for a in AttemptRepository(db).for_instance(i.id)
        }
    assert workers == {"w1", "w2", "w3"}  # every worker took part
    states = {s for s in model.final_states.values()}
    assert {S.SUCCESS, S.FAILED, S.WAITING_UPSTREAM} <= states  # failures and retries happened
    assert any(len(a) > 1 and a[-1].succeeded for a in model.attempts.values())


def test_the_embedded_store_refuses_a_second_process_and_ops_commands_work(
    tmp_path: Path,
) -> None:
    root = write_workspace(
        tmp_path / "ws",
        {
            "a": node_text("echo a $bizdate", schedule={"at": "00:00"}),
            "b": node_text("exit 3", depends_on=["a"], retries=0, schedule={"at": "00:00"}),
        },
    )
    env = {k: v for k, v in os.environ.items() if k not in ("LAKEWORKS_DATABASE_URL",)}
    clock = SimulatedClock(datetime(2026, 4, 10, 0, 30, tzinfo=UTC), 1.0, time.time())
    env["LAKEWORKS_CLOCK"] = clock.spec()
    env["LAKEWORKS_ACTOR"] = "olga"

    def lw(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [LAKEWORKS, *args, "-w", str(root)],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )

    log = (tmp_path / "embedded.log").open("wb")
    embedded = subprocess.Popen(
        [LAKEWORKS, "scheduler", *FOLDER, "-w", str(root), "--interval", "0.2"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:
        db = Database.open(f"sqlite:///{root / '.lakeworks' / 'meta.db'}")
        try:
            repo = InstanceRepository(db)

            def settled() -> bool:
                today = [i for i in repo.list(limit=100) if i.bizdate == "20260409"]
                return len(today) == 2 and all(i.state.is_terminal for i in today)

            wait_until(settled, 30, "today's instances to run")
        finally:
            db.close()
        second = lw("worker", *FOLDER)
        assert second.returncode == 2
        assert "the embedded SQLite store serves one Lakeworks process at a time" in second.stderr
        assert "LAKEWORKS_DATABASE_URL=postgresql" in second.stderr
        listing = json.loads(lw("ops", "list", "--bizdate", "20260409", "--json").stdout)
        states = {i["node"]: i["state"] for i in listing["instances"]}
        assert states == {"etl.a": "success", "etl.b": "failed"}
        failed = next(i["id"] for i in listing["instances"] if i["node"] == "etl.b")
        shown = lw("ops", "show", str(failed))
        assert "b.sh exited with code 3" in shown.stdout
        a_id = next(i["id"] for i in listing["instances"] if i["node"] == "etl.a")
        assert "a 20260409" in lw("ops", "logs", str(a_id)).stdout
        refused = lw("ops", "rerun", str(a_id), "--actor", "olga")
        assert refused.returncode == 0 and "rerun: 1 changed" in refused.stdout
        bad = lw("ops", "list", "--state", "sleeping")
        assert bad.returncode == 2 and "unknown state 'sleeping'" in bad.stderr
        preview = lw("backfill", "start", "a", "--dates", "20260401-20260402", "--dry-run")
        assert "2 instances to create" in preview.stdout
        started = lw("backfill", "start", "a", "--dates", "20260401-20260402", "--wait")
        assert started.returncode == 0, started.stderr
        assert "2/2 done" in started.stderr
        actions = lw("ops", "actions").stdout
        assert "olga" in actions and "rerun" in actions and "backfill" in actions
    finally:
        embedded.send_signal(signal.SIGTERM)
        embedded.wait(timeout=30)
        log.close()
    assert embedded.returncode == 0, (tmp_path / "embedded.log").read_text()
