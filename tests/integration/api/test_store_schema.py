"""Migration 0006 on SQLite and PostgreSQL: tables as declared, append-only audit log,
the whole API usable on PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import make_url

from lakeworks.deploy.tables import DEPLOY_TABLES
from lakeworks.errors import LakeworksError
from lakeworks.security.audit import AuditLog
from lakeworks.security.permissions import Role
from lakeworks.security.tables import SECURITY_TABLES, audit_log
from lakeworks.store.database import Database
from lakeworks.store.schema import metadata
from tests.integration.api.conftest import WORKSPACE, build_api
from tests.services import require_postgres

OURS = {t.name for t in (*SECURITY_TABLES, *DEPLOY_TABLES)}


@pytest.fixture
def pg_url() -> Iterator[str]:
    base = require_postgres()
    parsed = make_url(base)
    schema = f"lw_server_{uuid.uuid4().hex[:10]}"
    connect = {
        "host": parsed.host,
        "port": parsed.port or 5432,
        "user": parsed.username,
        "dbname": parsed.database,
        "autocommit": True,
    }
    with psycopg.connect(**connect) as admin:  # type: ignore[arg-type]
        admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield parsed.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False
        )
    finally:
        with psycopg.connect(**connect) as admin:  # type: ignore[arg-type]
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'meta.db'}"
    return str(request.getfixturevalue("pg_url"))


def test_the_migrated_tables_match_their_declarations(url: str) -> None:
    def ours(obj: object, name: str | None, type_: str, *_: object) -> bool:
        table = obj if isinstance(obj, sa.Table) else getattr(obj, "table", None)
        return isinstance(table, sa.Table) and table.name in OURS

    with Database.open(url) as db, db.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"include_object": ours, "compare_type": True}
        )
        assert compare_metadata(context, metadata) == []


def test_the_audit_log_is_append_only_in_the_database(url: str) -> None:
    with Database.open(url) as db:
        log = AuditLog(db)
        log.record(actor="a", action="x", target="t")
        for statement in (sa.update(audit_log).values(actor="b"), sa.delete(audit_log)):
            refused = pytest.raises((sa.exc.DatabaseError, LakeworksError), match="append-only")
            with refused, db.write() as conn:
                conn.execute(statement)
        assert [e.actor for e in log.query(any_workspace=True)] == ["a"]


def test_the_api_works_on_postgresql(pg_url: str, home: Path) -> None:
    api = build_api(home, pg_url)
    try:
        dev = api.member("dev", Role.DEVELOPER)
        deployer = api.member("dep", Role.DEPLOYER)
        base = f"/api/workspaces/{WORKSPACE}"
        created = api.client.post(f"{base}/deployments", json={}, headers=dev).json()
        applied = api.client.post(f"{base}/deployments/{created['id']}/apply", headers=deployer)
        assert applied.json()["number"] == 1
        audit = api.services.audit.query(workspace=WORKSPACE)
        assert [e.action for e in audit[:2]] == ["apply_deployment", "create_deployment"]
    finally:
        api.client.close()
        api.services.close()
        api.services.db.close()
