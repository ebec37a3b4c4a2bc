"""Fresh, empty stores for the contract suite: a SQLite file, or a PostgreSQL schema.

PostgreSQL is shared, so the session creates a throwaway database ``lw_test_<random>``
(dropped at the end) and every test gets its own schema in it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests.services import require_postgres


def _admin_connect(url: str) -> psycopg.Connection[tuple[object, ...]]:
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
def pg_database_url() -> Iterator[str]:
    """A throwaway PostgreSQL database for this test session."""
    base = require_postgres()
    name = f"lw_test_{uuid.uuid4().hex[:12]}"
    with _admin_connect(base) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        with _admin_connect(base) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_schema_url(pg_database_url: str) -> str:
    """A URL whose ``search_path`` is a new, empty schema of the session database."""
    schema = f"s_{uuid.uuid4().hex[:12]}"
    with _admin_connect(pg_database_url) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    url = make_url(pg_database_url).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A URL of a SQLite file that does not exist yet."""
    return f"sqlite:///{tmp_path / 'state' / 'meta.db'}"
