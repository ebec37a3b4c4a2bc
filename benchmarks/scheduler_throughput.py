"""Scheduler and worker throughput on PostgreSQL: N trivial instances, 1 scheduler, 2 workers.

The instances (no-op SQL nodes: a comment only) are created runnable at once; a
scheduler process queues them and two worker processes claim and run them. Printed:

- throughput: instances per second from the first one queued to the last one done;
- dispatch latency: from the moment an instance could start (queued, and a slot of the
  worker that took it was free) to the moment a worker claimed it, p50/p95/max;
- queue wait (claimed minus queued) for context: it grows with the backlog by design;
- baselines in this process: the no-op node run in a plain loop, and the same through
  ``InstanceExecutor`` (every store write of a run, one at a time).

Uses ``LAKEWORKS_TEST_POSTGRES_URL`` (default the local ``test`` database) and a
throwaway schema. ``--quick`` runs a small smoke size.
"""

from __future__ import annotations

import argparse
import heapq
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from lakeworks.engines.registry import engine_for
from lakeworks.runtime.context import NodeRunContext
from lakeworks.runtime.execution import InstanceExecutor, param_context
from lakeworks.runtime.executors import executor_for
from lakeworks.spec.loader import load_workspace
from lakeworks.spec.models import Workspace
from lakeworks.store.database import Database
from lakeworks.store.models import InstanceState, NewInstance, RunType
from lakeworks.store.repositories import (
    InstanceRepository,
    NodeVersionRepository,
    RunRepository,
)
from lakeworks.store.schema import instance_events, instances

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
LAKEWORKS = str(Path(sys.executable).with_name("lakeworks"))
NODES = 100
APPLICATION = f"lakeworks-bench-{os.getpid()}"
"""The PostgreSQL ``application_name`` of the benchmarked processes' sessions."""
FOLDER = ("--definition", "folder")
"""The benchmark workspace is not deployed: prod runs the folder as it is."""


def write_workspace(root: Path) -> Workspace:
    (root / "lakeworks.yml").write_text("name: bench\nresource_groups: {default: {slots: 8}}\n")
    folder = root / "workflows" / "noop"
    folder.mkdir(parents=True)
    for n in range(NODES):
        (folder / f"n{n:03d}.sql").write_text("-- a no-op node\n")
    return load_workspace(root)


def admin(url: str) -> psycopg.Connection[tuple[object, ...]]:
    parsed = make_url(url)
    return psycopg.connect(
        host=parsed.host,
        port=parsed.port or 5432,
        user=parsed.username,
        password=parsed.password,
        dbname=parsed.database,
        autocommit=True,
    )


def create_instances(db: Database, ws: Workspace, count: int, run_type: RunType) -> list[int]:
    run = RunRepository(db).create(ws.name, "prod", run_type, "bench", "scheduler benchmark")
    keys = [n.key for n in ws.nodes()]
    # the node versions a backfill records with its instances (``backfill start``)
    versions = NodeVersionRepository(db).record_many(
        ws.name, "prod", [(n.key, n.code, n.header.model_dump_json()) for n in ws.nodes()]
    )
    start = datetime(2026, 1, 1)
    items = [
        NewInstance(
            workspace=ws.name,
            env="prod",
            node_key=keys[i % len(keys)],
            workflow="noop",
            cycle_time=start + timedelta(minutes=i // len(keys)),
            bizdate="20251231",
            run_type=run_type,
            run_key=run.run_key,
            run_id=run.id,
            node_version=versions[keys[i % len(keys)]],
        )
        for i in range(count)
    ]
    created = InstanceRepository(db).create_many(items)
    return [i.id for i in created]


def baseline_plain(ws: Workspace, count: int) -> float:
    """The no-op node itself, ``count`` times in a loop: seconds per run."""
    node = ws.nodes()[0]
    run = executor_for(node.kind)
    ctx = NodeRunContext(
        workspace=ws,
        node=node,
        env="prod",
        engine=engine_for(ws, "prod"),  # a comment-only node never opens the warehouse
        params=param_context(ws, node, datetime(2026, 1, 1)),
        log=lambda _line: None,
    )
    started = time.perf_counter()
    for _ in range(count):
        run(ctx)
    return (time.perf_counter() - started) / count


def baseline_executor(db: Database, ws: Workspace, count: int) -> float:
    """The same runs through ``InstanceExecutor`` (all store writes): seconds per run."""
    ids = create_instances(db, ws, count, RunType.MANUAL)
    executor = InstanceExecutor(ws, db, engine_for(ws, "prod"), "prod", worker="baseline")
    repo = InstanceRepository(db)
    todo = repo.get_many(ids)
    started = time.perf_counter()
    for instance in todo:
        executor.run(instance)
    return (time.perf_counter() - started) / count


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def measure(db: Database, ids: list[int], slots: int) -> dict[str, float]:
    c = instances.c
    e = instance_events.c
    with db.read() as conn:
        rows = conn.execute(
            sa.select(c.id, c.worker, c.started_at, c.finished_at, c.state).where(c.id.in_(ids))
        ).all()
        queued = dict(
            conn.execute(
                sa.select(e.instance_id, sa.func.min(e.created_at))
                .where(e.instance_id.in_(ids), e.to_state == InstanceState.WAITING_RESOURCES.value)
                .group_by(e.instance_id)
            ).all()
        )
    failed = sum(1 for r in rows if r.state != InstanceState.SUCCESS.value)
    by_worker: dict[str, list[tuple[datetime, datetime, int]]] = {}
    for row in rows:
        by_worker.setdefault(row.worker, []).append((row.started_at, row.finished_at, row.id))
    latency: list[float] = []
    waits: list[float] = []
    overlap = 0  # the most runs one worker held at once: never more than its slots
    for runs in by_worker.values():
        edges = sorted([(s, 1) for s, _, _ in runs] + [(f, -1) for _, f, _ in runs])
        held = 0
        for _, step in edges:
            held += step
            overlap = max(overlap, held)
    for runs in by_worker.values():
        runs.sort()
        free: list[datetime] = [datetime.min] * slots
        for started, finished, id_ in runs:
            slot_free = heapq.heappop(free)
            ready = max(queued[id_], slot_free)
            latency.append(max(0.0, (started - ready).total_seconds()))
            waits.append((started - queued[id_]).total_seconds())
            heapq.heappush(free, finished)
    first = min(queued.values())
    last = max(r.finished_at for r in rows)
    seconds = (last - first).total_seconds()
    return {
        "seconds": seconds,
        "throughput": len(rows) / seconds if seconds > 0 else 0.0,
        "p50": statistics.median(latency) * 1000,
        "p95": percentile(latency, 0.95) * 1000,
        "max": max(latency) * 1000,
        "wait_p50": statistics.median(waits) * 1000,
        "wait_p95": percentile(waits, 0.95) * 1000,
        "failed": float(failed),
        "overlap": float(overlap),
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a live process (Linux ``/proc``; 0 where unavailable)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def session_cpu(db: Database, application: str) -> float:
    """CPU of the PostgreSQL backends serving ``application`` (same machine only)."""
    with db.read() as conn:
        pids = conn.execute(
            sa.text("SELECT pid FROM pg_stat_activity WHERE application_name = :a"),
            {"a": application},
        ).scalars()
        return sum(cpu_seconds(pid) for pid in pids)


def run_processes(
    root: Path,
    url: str,
    ids: list[int],
    db: Database,
    workers: int,
    slots: int,
    timeout: float,
    cpu: dict[str, float],
) -> None:
    """Start the workers and the scheduler, wait for ``ids`` to end; ``cpu`` gets the
    CPU seconds of each process and of the PostgreSQL sessions they opened."""
    tagged = make_url(url).update_query_dict({"application_name": APPLICATION})
    env = {**os.environ, "LAKEWORKS_DATABASE_URL": tagged.render_as_string(hide_password=False)}
    env.pop("LAKEWORKS_CLOCK", None)
    logs = root / "logs"
    logs.mkdir()
    started: list[subprocess.Popen[bytes]] = []
    names: list[str] = []

    def start(name: str, *args: str) -> None:
        names.append(name)
        with (logs / f"{name}.log").open("wb") as log:
            started.append(
                subprocess.Popen(
                    [LAKEWORKS, *args, "-w", str(root)],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                )
            )

    try:
        for n in range(workers):
            start(
                f"worker{n}",
                "worker",
                *FOLDER,
                "--slots",
                str(slots),
                "--name",
                f"bench-w{n}",
            )
        time.sleep(2.0)  # the workers are up and idle before anything is queued
        start("scheduler", "scheduler", *FOLDER, "--no-worker", "--interval", "0.5")
        deadline = time.monotonic() + timeout
        c = instances.c
        while time.monotonic() < deadline:
            with db.read() as conn:
                left = conn.execute(
                    sa.select(sa.func.count()).where(
                        c.id.in_(ids),
                        c.state.not_in(
                            [s.value for s in (InstanceState.SUCCESS, InstanceState.FAILED)]
                        ),
                    )
                ).scalar_one()
            if left == 0:
                for process, name in zip(started, names, strict=True):
                    cpu[name] = cpu_seconds(process.pid)
                cpu["postgresql"] = session_cpu(db, APPLICATION)
                return
            time.sleep(0.5)
        tails = "\n".join(f"--- {p.name}\n{p.read_text()[-2000:]}" for p in logs.iterdir())
        raise SystemExit(f"not finished within {timeout:g} s\n{tails}")
    finally:
        for process in started:
            process.send_signal(signal.SIGTERM)
        for process in started:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--instances", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--slots", type=int, default=4, help="slots per worker")
    parser.add_argument("--quick", action="store_true", help="smoke run with 300 instances")
    args = parser.parse_args()
    count = 300 if args.quick else args.instances
    base = os.environ.get("LAKEWORKS_TEST_POSTGRES_URL", DEFAULT_URL)
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with admin(base) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    url_text = url.render_as_string(hide_password=False)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            ws = write_workspace(root)
            db = Database.open(url_text)
            try:
                plain = baseline_plain(ws, min(count, 2000))
                through_store = baseline_executor(db, ws, min(count, 500))
                ids = create_instances(db, ws, count, RunType.BACKFILL)
                with db.write() as conn:  # statistics, as autovacuum keeps them
                    conn.exec_driver_sql("ANALYZE")
                load_before = os.getloadavg()[0]
                started = time.perf_counter()
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                per_process: dict[str, float] = {}
                run_processes(
                    root, url_text, ids, db, args.workers, args.slots, 30 + count / 10, per_process
                )
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                wall = time.perf_counter() - started
                cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
                figures = measure(db, ids, args.slots)
            finally:
                db.close()
    finally:
        with admin(base) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    rate = figures["throughput"]
    rows = [
        ("instances", f"{count}", ""),
        ("scheduler + workers", f"1 + {args.workers} x {args.slots} slots", ""),
        ("first queued -> last done", f"{figures['seconds']:.2f}", "s"),
        ("wall time incl. process start", f"{wall:.2f}", "s"),
        ("CPU of scheduler + workers (start-up incl.)", f"{cpu:.2f}", "s"),
        ("CPU per instance", f"{cpu / count * 1000:.2f}", "ms"),
        *[
            (f"  CPU of {name} (at the last end)", f"{seconds:.2f}", "s")
            for name, seconds in per_process.items()
            if name != "postgresql"
        ],
        ("CPU of their PostgreSQL sessions", f"{per_process.get('postgresql', 0.0):.2f}", "s"),
        (
            "CPU per instance incl. PostgreSQL",
            f"{(cpu + per_process.get('postgresql', 0.0)) / count * 1000:.2f}",
            "ms",
        ),
        (
            "load average (1 min) at start / end",
            f"{load_before:.1f} / {os.getloadavg()[0]:.1f}",
            "",
        ),
        ("throughput", f"{rate:.0f}", "inst/s"),
        ("dispatch latency p50", f"{figures['p50']:.1f}", "ms"),
        ("dispatch latency p95", f"{figures['p95']:.1f}", "ms"),
        ("dispatch latency max", f"{figures['max']:.1f}", "ms"),
        ("queue wait p50 / p95", f"{figures['wait_p50']:.0f} / {figures['wait_p95']:.0f}", "ms"),
        ("failed instances", f"{figures['failed']:.0f}", ""),
        ("most runs held by one worker", f"{figures['overlap']:.0f} of {args.slots}", "slots"),
        ("baseline: no-op node in a loop", f"{1 / plain:.0f}", "runs/s"),
        ("baseline: InstanceExecutor loop", f"{1 / through_store:.0f}", "runs/s"),
        ("scheduled vs executor loop", f"{rate * through_store:.2f}", "ratio"),
    ]
    width = max(len(name) for name, _, _ in rows)
    print(f"{'measure':<{width}}  {'value':>22}  unit")
    for name, value, unit in rows:
        print(f"{name:<{width}}  {value:>22}  {unit}")
    print(f"RESULT scheduler_throughput {rate:.0f} inst/s (target >= 300)")
    print(f"RESULT dispatch_latency_p95 {figures['p95']:.1f} ms (target < 100)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
