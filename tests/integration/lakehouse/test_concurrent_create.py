"""Two processes creating the same lakehouse table at the same moment (two instances of
a backfill on two workers, each running ``CREATE TABLE IF NOT EXISTS``) both go on, and
the table is created once."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pyarrow as pa
import pytest
from sqlalchemy.engine import make_url

from lakeworks.engines.lakehouse.catalog import Lakehouse
from lakeworks.engines.lakehouse.storage import open_storage
from lakeworks.store.database import Database
from tests.services import require_postgres

SCHEMA = pa.schema([("order_id", pa.int64()), ("amount", pa.float64()), ("ds", pa.string())])
ROUNDS = 25


@pytest.fixture
def two_stores() -> Iterator[tuple[Database, Database]]:
    """Two connection pools on one new PostgreSQL schema, as two processes have."""
    base = require_postgres()
    schema = f"lake_create_{uuid.uuid4().hex[:10]}"
    parsed = make_url(base)
    admin = psycopg.connect(
        host=parsed.host,
        port=parsed.port or 5432,
        user=parsed.username,
        dbname=parsed.database,
        autocommit=True,
    )
    admin.execute(f'CREATE SCHEMA "{schema}"')
    url = parsed.update_query_dict({"options": f"-csearch_path={schema}"})
    first = Database.open(url.render_as_string(hide_password=False))
    second = Database.open(url.render_as_string(hide_password=False))
    try:
        yield first, second
    finally:
        first.close()
        second.close()
        admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        admin.close()


@pytest.mark.postgres
def test_two_creators_of_one_table_both_go_on(
    two_stores: tuple[Database, Database], tmp_path: Path
) -> None:
    storage = open_storage(str(tmp_path / "lake"))
    lakes = [Lakehouse(db, storage, "ws/prod") for db in two_stores]
    errors: list[BaseException] = []
    for n in range(ROUNDS):
        start = threading.Barrier(2)

        def create(
            lake: Lakehouse, name: str = f"orders_{n}", start: threading.Barrier = start
        ) -> None:
            start.wait()
            try:
                lake.create_table(name, SCHEMA, ["ds"])
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=create, args=(lake,)) for lake in lakes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    assert errors == []
    for n in range(ROUNDS):
        snapshot = lakes[1].snapshot(f"orders_{n}")
        assert (snapshot.version, snapshot.partition_by) == (0, ["ds"])
