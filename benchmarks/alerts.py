"""Alert rules and SLA baselines per scheduler pass: 1,000 rules, 50 baselines, 100,000
instances a day.

A workspace of 1,000 nodes every 15 minutes (96,000 instances a day) and 100 daily
chains of 40 nodes (4,000) is written to a folder with ``alerts/bench.yml`` (1,000 rules
of every trigger kind, 50 baselines on the ends of the first 50 chains). Its default
metadata store (SQLite under ``.lakeworks/``) is filled with yesterday's and today's
instances as they stand at 12:00: yesterday done, today done up to 11:30 (1% failed),
the last half hour running, chains part-way, plus a burst of 2,000 state-change signals.

Then ``lakeworks alerts evaluate --passes 360 --step 1`` runs, as a user would, the pass
the scheduler makes after each of its own (once a second, six simulated minutes):
signals against the rules, due time triggers, baseline predictions and their alerts.
The first pass is cold (run history, baseline ancestors, live instances, the signal
burst); live instances are read again every minute and baseline graphs every five (the
p95 and max). The RESULT is the median warm pass.
``--quick`` is a smoke size (10,000 instances, 100 rules, 5 baselines).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from lakeworks.alerts.tables import alert_signals
from lakeworks.store.database import Database, default_database_url
from lakeworks.store.schema import instance_dependencies, instances

LAKEWORKS = str(Path(sys.executable).with_name("lakeworks"))
NOW = datetime(2026, 6, 10, 12, 0)
TODAY = NOW.replace(hour=0)
YESTERDAY = TODAY - timedelta(days=1)


def write_workspace(root: Path, rt_nodes: int, chains: int, length: int) -> None:
    (root / "workflows" / "rt").mkdir(parents=True)
    (root / "lakeworks.yml").write_text(
        "name: bench\ntimezone: UTC\nresource_groups:\n  default: {slots: 8}\n"
    )
    (root / "workflows" / "rt" / "workflow.yml").write_text(
        "owner: rt-team\nschedule: {cycle: minute, every: 15}\n"
    )
    for i in range(rt_nodes):
        (root / "workflows" / "rt" / f"n{i:04d}.sh").write_text("# ---\n# ---\ntrue\n")
    for c in range(chains):
        folder = root / "workflows" / f"d{c:03d}"
        folder.mkdir()
        (folder / "workflow.yml").write_text("owner: batch-team\nschedule: {cycle: day}\n")
        for j in range(length):
            deps = f"# depends_on: [d{c:03d}.n{j - 1:02d}]\n" if j else ""
            (folder / f"n{j:02d}.sh").write_text(f"# ---\n{deps}# ---\ntrue\n")


def write_rules(root: Path, rt_nodes: int, chains: int, length: int, count: int) -> int:
    rng = random.Random(5)
    rt = [f"rt.n{i:04d}" for i in range(rt_nodes)]
    daily = [f"d{c:03d}.n{j:02d}" for c in range(chains) for j in range(length)]
    baselines = max(1, chains // 2)
    lines = [
        "channels:",
        '  hook: {type: webhook, url: "http://127.0.0.1:9/hook"}',
        "groups:",
        "  oncall: [ann, bob]",
        "rules:",
    ]

    def rule(name: str, objects: str, trigger: str) -> None:
        lines.append(
            f"  - {{name: {name}, objects: {objects}, trigger: {trigger}, channels: [hook],"
            " recipients: {owner: true, groups: [oncall]}}"
        )

    kinds = [
        ("retries_exhausted", "{type: retries_exhausted}", rt),
        ("failed", "{type: failed}", daily),
        ("late", "{type: not_finished_by, at: '06:00'}", daily),
        ("slow", "{type: run_time_over, factor: 3}", rt),
        ("overdue", "{type: cycle_overdue, minutes: 90}", rt),
        ("quality", "{type: quality_failed, strength: weak}", daily),
        ("dirty", "{type: dirty_rows_over, count: 100}", rt),
        ("ok", "{type: succeeded}", daily),
    ]
    made = 0
    for b in range(baselines):
        for trigger in ("baseline_warning", "baseline_breached", "baseline_event"):
            rule(f"b{b}_{trigger}", f"{{baselines: [b{b}]}}", f"{{type: {trigger}}}")
            made += 1
    rule("queue", "{resource_groups: [default]}", "{type: queue_waiting_over, minutes: 30}")
    rule("everything", "{workspace: true, exclude: [rt.n0000]}", "{type: retries_exhausted}")
    made += 2
    while made < count:
        name, trigger, nodes = kinds[made % len(kinds)]
        rule(f"{name}_{made}", f"{{nodes: [{rng.choice(nodes)}]}}", trigger)
        made += 1
    lines.append("baselines:")
    for b in range(baselines):
        lines.append(
            f"  - {{name: b{b}, nodes: [d{b:03d}.n{length - 1:02d}], priority: {1 + b % 9},"
            " finish: '08:00', margin_minutes: 60}"
        )
    (root / "alerts").mkdir()
    (root / "alerts" / "bench.yml").write_text("\n".join(lines) + "\n")
    return baselines


def fill(db: Database, rt_nodes: int, chains: int, length: int) -> int:
    """Yesterday's and today's instances as they stand at ``NOW``; returns today's count."""
    rng = random.Random(7)
    rows: list[dict[str, object]] = []
    edges: list[dict[str, int]] = []
    today = 0

    def add(key: str, workflow: str, cycle: datetime, state: str, ran: float) -> int:
        started = cycle + timedelta(seconds=rng.uniform(1, 30))
        finished = started + timedelta(seconds=ran)
        done = state in ("success", "failed")
        rows.append(
            {
                "id": len(rows) + 1,
                "workspace": "bench",
                "env": "prod",
                "node_key": key,
                "workflow": workflow,
                "run_type": "scheduled",
                "run_key": "schedule",
                "cycle_time": cycle,
                "bizdate": (cycle - timedelta(days=1)).strftime("%Y%m%d"),
                "state": state,
                "reason": None,
                "attempts": 1 if state != "waiting_upstream" else 0,
                "max_attempts": 1,
                "priority": 0,
                "resource_group": "default",
                "owner": "team",
                "created_at": cycle - timedelta(hours=1),
                "started_at": started if state in ("success", "failed", "running") else None,
                "finished_at": finished if done else None,
            }
        )
        return len(rows)

    for day in (YESTERDAY, TODAY):
        for i in range(rt_nodes):
            for q in range(96):
                cycle = day + timedelta(minutes=15 * q)
                if cycle > NOW:
                    state = "waiting_time"
                elif cycle > NOW - timedelta(minutes=30):
                    state = "running"
                else:
                    state = "failed" if rng.random() < 0.01 else "success"
                add(f"rt.n{i:04d}", "rt", cycle, state, rng.uniform(60, 600))
                today += day == TODAY
        for c in range(chains):
            reached = length if day == YESTERDAY else (c * 7) % (length + 1)
            previous = None
            for j in range(length):
                if j < reached:
                    state = "success"
                elif j == reached:
                    state = "running"
                else:
                    state = "waiting_upstream"
                ident = add(f"d{c:03d}.n{j:02d}", f"d{c:03d}", day, state, rng.uniform(300, 900))
                if previous is not None:
                    edges.append({"instance_id": ident, "upstream_instance_id": previous})
                previous = ident
                today += day == TODAY
    with db.write() as conn:
        for start in range(0, len(rows), 10_000):
            conn.execute(sa.insert(instances), rows[start : start + 10_000])
        for start in range(0, len(edges), 10_000):
            conn.execute(sa.insert(instance_dependencies), edges[start : start + 10_000])
        finished = [r for r in rows if r["state"] in ("success", "failed")][-2000:]
        conn.execute(
            sa.insert(alert_signals),
            [
                {
                    "instance_id": r["id"],
                    "from_state": "running",
                    "to_state": r["state"],
                    "action": "finish",
                    "detail": None,
                    "created_at": r["finished_at"],
                }
                for r in finished
            ],
        )
    return today


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke size")
    parser.add_argument("--passes", type=int, default=360, help="one a second, as scheduled")
    args = parser.parse_args()
    rt_nodes, chains, length, rules = (100, 10, 10, 100) if args.quick else (1000, 100, 40, 1000)
    with tempfile.TemporaryDirectory(prefix="lw-alerts-bench-") as folder:
        root = Path(folder) / "ws"
        write_workspace(root, rt_nodes, chains, length)
        baselines = write_rules(root, rt_nodes, chains, length, rules)
        db = Database.open(default_database_url(root / ".lakeworks"))
        started = time.perf_counter()
        per_day = fill(db, rt_nodes, chains, length)
        filled = time.perf_counter() - started
        db.close()
        command = ["alerts", "evaluate", "-w", str(root), "--at", NOW.isoformat()]
        done = subprocess.run(
            [LAKEWORKS, *command, "--passes", str(args.passes), "--json"],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            print(done.stdout + done.stderr, file=sys.stderr)
            return 1
    passes = json.loads(done.stdout)
    cold, warm = passes[0], passes[1:] or passes
    warm_ms = sorted(p["seconds"] * 1000 for p in warm)
    median = statistics.median(warm_ms)
    p95 = warm_ms[min(len(warm_ms) - 1, int(len(warm_ms) * 0.95))]
    print(f"{'instances today':<36}{per_day:>12,}")
    print(f"{'alert rules':<36}{rules:>12,}")
    print(f"{'baselines (periods evaluated)':<36}{baselines:>6} ({cold['baselines']})")
    print(f"{'store filled in':<36}{filled:>11.1f}s")
    print(
        f"{'cold pass (signals, opened)':<36}{cold['seconds'] * 1000:>10.1f}ms"
        f"  ({cold['signals']} signals, {cold['opened']} incidents)"
    )
    print(f"{'warm passes: median':<36}{median:>10.1f}ms")
    print(f"{'warm passes: p95':<36}{p95:>10.1f}ms")
    print(f"{'warm passes: max (reload of live)':<36}{max(warm_ms):>10.1f}ms")
    print(f"RESULT alert_eval_per_pass {median:.1f} ms (target < 50)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
