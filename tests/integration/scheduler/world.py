"""Test worlds for the scheduler: workspace folders, clocks, stores, and driving a pass.

Workspaces are real folders of shell nodes (headers in ``# ---`` blocks); stores are a
fresh SQLite file or a fresh schema of a throwaway PostgreSQL database.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import make_url

from lakeworks.runtime.scheduler import PassReport, Scheduler, SchedulerConfig
from lakeworks.runtime.worker import Worker, WorkerConfig
from lakeworks.runtime.workspace_source import FolderWorkspaceSource
from lakeworks.store.database import Database
from lakeworks.store.models import Instance
from lakeworks.store.repositories import InstanceRepository
from tests.services import require_postgres


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


@dataclass
class ManualClock:
    """A clock that moves only when told to."""

    current: datetime
    speed: float = 1.0

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> datetime:
        self.current += timedelta(**delta)
        return self.current


def node_text(script: str, **header: Any) -> str:
    """A shell node file: the header (as YAML flow values) then the script."""
    if not header:
        return script + "\n"
    lines = ["# ---", *(f"# {key}: {json.dumps(value)}" for key, value in header.items())]
    return "\n".join([*lines, "# ---", script, ""])


def write_workspace(
    root: Path,
    nodes: Mapping[str, str],
    *,
    name: str = "demo",
    timezone: str = "UTC",
    groups: Mapping[str, int] | None = None,
    workflow: str = "etl",
    schedule: Mapping[str, Any] | None = None,
    owner: str = "alice",
) -> Path:
    """A workspace folder with one workflow of shell nodes (``name`` -> file text)."""
    root.mkdir(parents=True, exist_ok=True)
    resource_groups = groups or {"default": 4}
    config = {
        "name": name,
        "timezone": timezone,
        "resource_groups": {g: {"slots": n} for g, n in resource_groups.items()},
    }
    (root / "lakeworks.yml").write_text(json.dumps(config, indent=2))
    folder = root / "workflows" / workflow
    folder.mkdir(parents=True, exist_ok=True)
    flow = {"owner": owner, "schedule": dict(schedule or {"cycle": "day", "at": "02:00"})}
    (folder / "workflow.yml").write_text(json.dumps(flow))
    for node, text in nodes.items():
        (folder / f"{node}.sh").write_text(text)
    return root


def _admin(url: str) -> psycopg.Connection[tuple[object, ...]]:
    parsed = make_url(url)
    return psycopg.connect(
        host=parsed.host,
        port=parsed.port or 5432,
        user=parsed.username,
        password=parsed.password,
        dbname=parsed.database,
        autocommit=True,
    )


@pytest.fixture(scope="session")
def scheduler_pg_database() -> Iterator[str]:
    """A throwaway PostgreSQL database for this session's scheduler tests."""
    base = require_postgres()
    name = f"lw_sched_{uuid.uuid4().hex[:10]}"
    with _admin(base) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        with _admin(base) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def new_schema_url(database_url: str) -> str:
    """A URL whose ``search_path`` is a new, empty schema of ``database_url``."""
    schema = f"s_{uuid.uuid4().hex[:12]}"
    with _admin(database_url) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    url = make_url(database_url).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


@dataclass
class World:
    """A workspace, a store, a scheduler and a worker driven by a manual clock."""

    root: Path
    db: Database
    clock: ManualClock
    scheduler: Scheduler
    worker: Worker

    @property
    def instances(self) -> InstanceRepository:
        return InstanceRepository(self.db)

    def all(self) -> list[Instance]:
        return self.instances.list(limit=100000)

    def by_node(self, node: str) -> list[Instance]:
        found = [i for i in self.all() if i.node_key.split(".", 1)[-1] == node]
        return sorted(found, key=lambda i: (i.run_type.value, i.cycle_time))

    def one(self, node: str, cycle: datetime) -> Instance:
        naive = cycle.astimezone(UTC).replace(tzinfo=None)
        matches = [i for i in self.by_node(node) if i.cycle_time == naive]
        assert len(matches) == 1, f"{node} at {cycle}: {matches}"
        return matches[0]

    def wait_idle(self, seconds: float = 30.0) -> None:
        deadline = time.monotonic() + seconds
        while self.worker.running():
            assert time.monotonic() < deadline, f"still running: {self.worker.running()}"
            time.sleep(0.01)

    def settle(self, rounds: int = 60) -> PassReport:
        """Scheduler passes and worker claims until nothing moves any more."""
        report = PassReport()
        for _ in range(rounds):
            report = self.scheduler.run_once()
            claimed = self.worker.step()
            self.wait_idle()
            busy = report.queued + report.skipped + report.reclaimed + report.updated
            if not claimed and not busy:
                return report
        raise AssertionError("the schedule did not settle")

    def close(self) -> None:
        self.wait_idle()
        self.worker.close()
        self.db.close()

    def at(self, moment: datetime) -> PassReport:
        """Move the clock to ``moment`` and settle."""
        self.clock.current = moment
        return self.settle()


def make_world(
    root: Path,
    url: str,
    start: datetime,
    *,
    groups: Mapping[str, int] | None = None,
    since: str = "today",
    days_ahead: int = 1,
    lease_seconds: float = 30.0,
) -> World:
    db = Database.open(url)
    clock = ManualClock(start)
    source = FolderWorkspaceSource(root, refresh_seconds=0)
    scheduler = Scheduler(
        db, source, SchedulerConfig(env="prod", since=since, days_ahead=days_ahead), clock=clock
    )
    worker = Worker(
        db,
        source,
        WorkerConfig(groups=dict(groups or {"default": 4}), lease_seconds=lease_seconds),
        clock=clock,
    )
    return World(root, db, clock, scheduler, worker)
