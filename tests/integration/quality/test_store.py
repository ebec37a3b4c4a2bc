"""Quality results in the metadata store: migration 0004 on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import make_url

from lakeworks.quality.evaluator import RuleResult
from lakeworks.quality.history import SeriesKey
from lakeworks.quality.loader import load_rule_text
from lakeworks.quality.models import Verdict
from lakeworks.quality.repository import QualityResultRepository
from lakeworks.quality.tables import QUALITY_TABLES
from lakeworks.store.database import Database
from lakeworks.store.schema import metadata
from tests.services import require_postgres

QUALITY = {t.name for t in QUALITY_TABLES}

(RULE,) = load_rule_text(
    "table: Orders\npartition: \"ds = '${bizdate}'\"\nrules:\n"
    "  - {name: email_nulls, template: null_ratio, column: email, warn: {max: 1},"
    " fail: {max: 5}, owner: alice}\n",
    "orders.quality.yml",
)


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
    if request.param == "sqlite":
        database = Database.open(f"sqlite:///{tmp_path / 'meta.db'}")
        yield database
        database.close()
        return
    base = require_postgres()
    schema = f"lw_quality_{uuid.uuid4().hex[:10]}"
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


def test_migration_matches_the_table_definitions(db: Database) -> None:
    assert "0004" in db.revisions()

    def quality_only(obj: object, name: str | None, type_: str, *_: object) -> bool:
        table = getattr(obj, "table", None)
        owner = table.name if table is not None else name
        return owner in QUALITY

    with db.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"include_object": quality_only, "compare_type": True}
        )
        assert compare_metadata(context, metadata) == []


def test_results_are_stored_and_read_back(db: Database) -> None:
    repo = QualityResultRepository(db, f"ws-{uuid.uuid4().hex[:6]}", "dev")
    cycle = datetime(2026, 4, 11, 2, 0)
    failing = RuleResult(
        rule=RULE,
        partition="ds = '20260410'",
        verdict=Verdict.FAIL,
        message="null ratio 12.5 % > 5 %",
        value=12.5,
        observed=12.5,
        sample=({"id": 7, "email": None, "at": "2026-04-10T08:00:00"},),
        duration_seconds=0.25,
    )
    ids = repo.record([failing], cycle_time=cycle, bizdate="20260410")
    (stored,) = repo.list(table="ORDERS")
    assert stored.id == ids[0]
    assert stored.rule == "email_nulls"
    assert stored.table == "orders"
    assert stored.partition_spec == "ds = '${bizdate}'"
    assert stored.partition == "ds = '20260410'"
    assert stored.verdict is Verdict.FAIL
    assert (stored.value, stored.warn_max, stored.fail_max) == (12.5, 1.0, 5.0)
    assert stored.sample == [{"id": 7, "email": None, "at": "2026-04-10T08:00:00"}]
    assert stored.duration_ms == 250.0
    assert stored.cycle_time == cycle
    assert stored.owner == "alice"
    assert stored.metric_key == "null_ratio:email"

    key = SeriesKey("orders", "ds = '${bizdate}'", "null_ratio:email")
    later = cycle + timedelta(days=1)
    assert [o.value for o in repo.observations(key, since=None, before=later)] == [12.5]
    assert repo.observations(key, since=None, before=cycle) == []
    other_env = QualityResultRepository(db, repo.workspace, "prod")
    assert other_env.list(table="orders") == []


def test_many_results_are_written_in_one_batch_in_order(db: Database) -> None:
    repo = QualityResultRepository(db, f"ws-{uuid.uuid4().hex[:6]}", "dev")
    results = [
        RuleResult(rule=RULE, partition=None, verdict=Verdict.PASS, message=f"v{i}", value=i)
        for i in range(25)
    ]
    ids = repo.record(results, cycle_time=None, bizdate=None, instance_id=None)
    assert ids == sorted(ids) and len(set(ids)) == 25
    stored = repo.list(limit=100)
    assert [s.message for s in stored] == [f"v{i}" for i in reversed(range(25))]
