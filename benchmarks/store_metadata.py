"""Metadata store throughput on SQLite (and PostgreSQL when reachable).

Measures what the scheduler and workers do most — create a day's instances with their
dependencies, move states (compare-and-set and in batches), claim work, append logs,
list a page — and sets instance creation beside the driver's own bulk insert of the same
rows into a bare copy of the table (``executemany`` on SQLite, ``COPY`` on PostgreSQL),
the physical limit for that write.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from lakeworks.store.database import Database
from lakeworks.store.leases import claim
from lakeworks.store.models import InstanceState, NewInstance
from lakeworks.store.repositories import InstanceRepository, LogRepository
from lakeworks.store.schema import instances

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@dataclass
class Figures:
    backend: str
    rows: dict[str, tuple[float, str]] = field(default_factory=dict)

    def add(self, name: str, value: float, unit: str) -> None:
        self.rows[name] = (value, unit)


def timed(action: Callable[[], Any]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def new_instances(count: int) -> list[NewInstance]:
    base = datetime(2026, 4, 1)
    return [
        NewInstance(
            "bench",
            "prod",
            f"wf{i % 20}/node{i // 20:05d}",
            base + timedelta(days=i % 7),
            (base + timedelta(days=i % 7 - 1)).strftime("%Y%m%d"),
            workflow=f"wf{i % 20}",
            state=InstanceState.WAITING_UPSTREAM,
            priority=i % 8,
            owner=f"owner{i % 5}",
        )
        for i in range(count)
    ]


def raw_copy_seconds(db: Database, count: int) -> float:
    """The driver's bulk insert of the same instance and edge rows into bare copies."""
    edges = [(i, i - 20) for i in range(20, count)]
    now = datetime(2026, 11, 1)
    columns = [c.name for c in instances.columns if c.name != "id"]
    rows = [
        tuple(
            {
                "workspace": "raw",
                "env": "prod",
                "node_key": f"n{i}",
                "workflow": "wf",
                "run_type": "scheduled",
                "run_key": "schedule",
                "cycle_time": now,
                "bizdate": "20261031",
                "state": "waiting_upstream",
                "attempts": 0,
                "max_attempts": 1,
                "priority": 0,
                "resource_group": "default",
                "created_at": now,
            }.get(name)
            for name in columns
        )
        for i in range(count)
    ]
    names = ", ".join(columns)
    if db.dialect_name == "sqlite":
        return raw_sqlite_seconds(rows, edges, names, len(columns))
    with db.engine.connect() as conn:
        raw: Any = conn.connection.driver_connection
        raw.execute("CREATE TEMP TABLE raw_instances (LIKE instances INCLUDING ALL)")
        raw.execute("CREATE TEMP TABLE raw_deps (LIKE instance_dependencies INCLUDING ALL)")
        raw.commit()
        started = time.perf_counter()
        with raw.cursor() as cur:
            with cur.copy(f"COPY raw_instances ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            with cur.copy("COPY raw_deps FROM STDIN") as copy:
                for edge in edges:
                    copy.write_row(edge)
        raw.commit()
        return time.perf_counter() - started


def raw_sqlite_seconds(
    rows: list[tuple[Any, ...]], edges: list[tuple[int, int]], names: str, width: int
) -> float:
    """Plain ``sqlite3`` executemany into a freshly migrated store (same indexes)."""
    folder = Path(tempfile.mkdtemp(prefix="lw-store-raw-"))
    try:
        Database.open(f"sqlite:///{folder / 'raw.db'}").close()
        raw = sqlite3.connect(folder / "raw.db", isolation_level=None)
        raw.execute("PRAGMA journal_mode=WAL")
        raw.execute("PRAGMA synchronous=NORMAL")
        raw.execute("PRAGMA foreign_keys=ON")
        marks = ", ".join("?" for _ in range(width))
        text_rows = [
            (n + 1, *(v.isoformat(sep=" ") if isinstance(v, datetime) else v for v in row))
            for n, row in enumerate(rows)
        ]
        started = time.perf_counter()
        raw.execute("BEGIN IMMEDIATE")
        raw.executemany(f"INSERT INTO instances (id, {names}) VALUES (?, {marks})", text_rows)
        raw.executemany(
            "INSERT INTO instance_dependencies VALUES (?, ?)", [(c + 1, p + 1) for c, p in edges]
        )
        raw.execute("COMMIT")
        elapsed = time.perf_counter() - started
        raw.close()
        return elapsed
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def measure(db: Database, figures: Figures, count: int) -> None:
    repo = InstanceRepository(db)
    items = new_instances(count)
    deps = [(i, i - 20) for i in range(20, count)]
    created: list[Any] = []
    seconds = timed(lambda: created.extend(repo.create_many(items, dependencies=deps)))
    figures.add("create_many instances/s (1 edge each)", count / seconds, "rows/s")
    raw_s = raw_copy_seconds(db, count)
    figures.add("driver bulk insert (same rows) rows/s", count / raw_s, "rows/s")
    figures.add("create_many vs driver bulk insert", raw_s / seconds, "ratio")
    figures.add("create_many time per 1,000 instances", seconds / count * 1000, "s")

    again = timed(lambda: repo.create_many(items, on_conflict="ignore"))
    figures.add("re-plan (all exist, ignore) instances/s", count / again, "rows/s")

    ids = [i.id for i in created]
    moved = timed(
        lambda: repo.set_many_state(
            ids, InstanceState.WAITING_RESOURCES, "ready", expected=[InstanceState.WAITING_UPSTREAM]
        )
    )
    figures.add("set_many_state instances/s", count / moved, "rows/s")

    claimed: list[int] = []
    claim_at = datetime(2026, 4, 8)

    def drain() -> None:
        while batch := claim(
            db,
            worker="bench",
            lease_seconds=60,
            limit=20,
            group="default",
            workspace="bench",
            env="prod",
            now=claim_at,
        ):
            claimed.extend(i.id for i in batch)

    claim_s = timed(drain)
    figures.add("claim (batches of 20) instances/s", len(claimed) / claim_s, "rows/s")

    cas = ids[: max(50, count // 20)]
    cas_s = timed(
        lambda: [
            repo.transition(i, InstanceState.SUCCESS, expected=[InstanceState.RUNNING]) for i in cas
        ]
    )
    figures.add("transition (CAS + event) per s", len(cas) / cas_s, "ops/s")

    logs = LogRepository(db)
    lines = [f"log line {n} " + "x" * 60 for n in range(200)]
    batches = max(5, count // 20)

    def append_all() -> None:
        for b in range(batches):
            logs.append(ids[b % len(ids)], 1, lines)

    log_s = timed(append_all)
    figures.add("log append lines/s (batches of 200)", batches * 200 / log_s, "lines/s")

    def pages() -> None:
        after = None
        for _ in range(20):
            page = repo.list(workspace="bench", env="prod", owner="owner3", after_id=after)
            after = page[-1].id if page else None

    page_s = timed(pages)
    figures.add("list page of 100 (filtered)", page_s / 20 * 1000, "ms")


def run_sqlite(count: int) -> Figures:
    folder = Path(tempfile.mkdtemp(prefix="lw-store-bench-"))
    try:
        with Database.open(f"sqlite:///{folder / 'meta.db'}") as db:
            figures = Figures("sqlite")
            measure(db, figures, count)
            return figures
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run_postgres(count: int) -> Figures | None:
    schema = f"lw_bench_{uuid.uuid4().hex[:10]}"
    try:
        admin = sa.create_engine(POSTGRES_URL)
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except sa.exc.OperationalError:
        return None
    try:
        url = sa.make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
        with Database.open(url.render_as_string(hide_password=False)) as db:
            figures = Figures("postgresql")
            measure(db, figures, count)
            return figures
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--instances", type=int, default=10_000)
    parser.add_argument("--quick", action="store_true", help="smoke run with 300 instances")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    count = 300 if args.quick else args.instances

    results = [run_sqlite(count)]
    if not args.no_postgres:
        pg = run_postgres(count)
        if pg is not None:
            results.append(pg)

    names = list(results[0].rows)
    header = f"{'measure (' + str(count) + ' instances)':<48}" + "".join(
        f"{r.backend:>14}" for r in results
    )
    print(header)
    for name in names:
        unit = results[0].rows[name][1]
        cells = "".join(f"{r.rows[name][0]:>14,.2f}" for r in results)
        print(f"{name + ' [' + unit + ']':<48}{cells}")
    for r in results:
        create = r.rows["create_many instances/s (1 edge each)"][0]
        ratio = r.rows["create_many vs driver bulk insert"][0]
        cas = r.rows["transition (CAS + event) per s"][0]
        print(f"RESULT {r.backend}_create_many_rows_per_s {create:.0f} rows/s (target >= 5000)")
        print(f"RESULT {r.backend}_create_many_vs_bulk_insert {ratio:.2f} ratio (target >= 0.2)")
        print(f"RESULT {r.backend}_cas_transitions_per_s {cas:.0f} ops/s (target >= 300)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
