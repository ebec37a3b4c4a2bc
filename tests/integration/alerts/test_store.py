"""Migration 0015 creates exactly the alerting tables, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from lakeworks.alerts.tables import ALERT_TABLES
from lakeworks.store.database import Database
from lakeworks.store.schema import metadata

ALERTS = {t.name for t in ALERT_TABLES}


def test_migration_matches_the_table_definitions(db: Database) -> None:
    assert "0015" in db.revisions()

    def alerts_only(obj: object, name: str | None, type_: str, *_: object) -> bool:
        table = getattr(obj, "table", None)
        owner = table.name if table is not None else name
        return owner in ALERTS

    with db.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"include_object": alerts_only, "compare_type": True}
        )
        assert compare_metadata(context, metadata) == []
