"""A store, a workspace with alert rules and planned instances of ods -> dwd -> ads."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from lakeworks.alerts.evaluator import AlertEvaluator
from lakeworks.alerts.loader import load_workspace_alerts
from lakeworks.bootstrap import install_alerts
from lakeworks.spec.loader import load_workspace
from lakeworks.spec.models import Workspace
from lakeworks.store.database import Database
from lakeworks.store.models import Instance, NewInstance
from lakeworks.store.repositories import InstanceRepository
from tests.integration.alerts.receiver import write_workspace
from tests.services import require_postgres

DAY = datetime(2026, 5, 4, 1, 0)


def _admin(url: str) -> psycopg.Connection[tuple[object, ...]]:
    parsed = make_url(url)
    return psycopg.connect(
        host=parsed.host,
        port=parsed.port or 5432,
        user=parsed.username,
        dbname=parsed.database,
        autocommit=True,
    )


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    install_alerts()
    if request.param == "sqlite":
        database = Database.open(f"sqlite:///{tmp_path / 'meta.db'}")
        yield database
        database.close()
        return
    base = require_postgres()
    schema = f"issue17_alerts_{uuid.uuid4().hex[:10]}"
    with _admin(base) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    database = Database.open(url.render_as_string(hide_password=False))
    try:
        yield database
    finally:
        database.close()
        with _admin(base) as admin:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    install_alerts()
    database = Database.open(f"sqlite:///{tmp_path / 'meta.db'}")
    yield database
    database.close()


@dataclass
class World:
    db: Database
    workspace: Workspace
    repo: InstanceRepository
    chain: list[Instance]
    """ods, dwd, ads of ``DAY``."""

    def evaluator(self) -> AlertEvaluator:
        return AlertEvaluator(
            self.db, self.workspace, "prod", load_workspace_alerts(self.workspace)
        )


def make_world(db: Database, root: Path, alerts_yml: str) -> World:
    ws = load_workspace(write_workspace(root, alerts_yml))
    repo = InstanceRepository(db)
    items = [
        NewInstance(
            workspace=ws.name,
            env="prod",
            node_key=f"wf.{name}",
            workflow="wf",
            cycle_time=DAY,
            bizdate="20260503",
            owner="alice",
            max_attempts=2,
        )
        for name in ("ods", "dwd", "ads")
    ]
    chain = repo.create_many(items, dependencies=[(1, 0), (2, 1)])
    return World(db, ws, repo, chain)
