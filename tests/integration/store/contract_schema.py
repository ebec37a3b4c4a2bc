"""Contract: migrations behave the same on every backend."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from lakeworks.errors import LakeworksError
from lakeworks.store.database import Database
from lakeworks.store.models import NewInstance
from lakeworks.store.repositories import InstanceRepository
from lakeworks.store.schema import FOUNDATION_TABLES, metadata

FOUNDATION = {t.name for t in FOUNDATION_TABLES}


def write_migration(folder: Path, revision: str, down: str, body: str) -> None:
    """A migration script like the ones other areas add (``000N_<area>.py``)."""
    folder.mkdir(parents=True, exist_ok=True)
    body_lines = textwrap.indent(textwrap.dedent(body).strip(), "    ")
    text = "\n".join(
        [
            f'"""Test migration {revision}."""',
            "import sqlalchemy as sa",
            "from alembic import op",
            "",
            f'revision = "{revision}"',
            f'down_revision = "{down}"',
            "branch_labels = None",
            "depends_on = None",
            "",
            "",
            "def upgrade() -> None:",
            body_lines,
            "",
            "",
            "def downgrade() -> None:",
            "    pass",
            "",
        ]
    )
    (folder / f"{revision}.py").write_text(text)


def table_names(db: Database) -> set[str]:
    return set(sa.inspect(db.engine).get_table_names())


class MigrationContract:
    """Subclasses provide ``url``: the URL of a fresh, empty store."""

    @pytest.fixture
    def url(self) -> str:
        raise NotImplementedError

    @pytest.fixture
    def db(self, url: str) -> Iterator[Database]:
        db = Database.open(url)
        yield db
        db.close()

    def test_open_migrates_an_empty_database_to_the_head(self, url: str) -> None:
        with Database.open(url, migrate=False) as empty:
            assert table_names(empty) == set()
            assert empty.revisions() == set()
        with Database.open(url) as db:
            assert table_names(db) >= FOUNDATION
            heads = db.head_revisions()
            assert db.revisions() == heads
            assert heads

    def test_migrating_again_changes_nothing(self, db: Database) -> None:
        [created] = InstanceRepository(db).create_many(
            [NewInstance("ws", "dev", "a", datetime(2026, 4, 1), "20260331")]
        )
        db.migrate()
        with Database.open(db.engine.url.render_as_string(hide_password=False)) as again:
            assert again.revisions() == again.head_revisions()
            assert InstanceRepository(again).get(created.id) == created

    def test_migrated_schema_matches_the_table_definitions(self, db: Database) -> None:
        def foundation_only(obj: object, name: str | None, type_: str, *_: object) -> bool:
            table = obj if isinstance(obj, sa.Table) else getattr(obj, "table", None)
            return isinstance(table, sa.Table) and table.name in FOUNDATION

        with db.engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"include_object": foundation_only, "compare_type": True}
            )
            assert compare_metadata(context, metadata) == []

    def test_branches_of_other_areas_all_get_applied(self, db: Database, tmp_path: Path) -> None:
        extra = tmp_path / "versions"
        write_migration(
            extra,
            "0901_alpha",
            "0001",
            'op.create_table("alpha_things", sa.Column("id", sa.Integer(), primary_key=True))',
        )
        write_migration(
            extra,
            "0902_beta",
            "0001",
            'op.create_table("beta_things", sa.Column("id", sa.Integer(), primary_key=True))',
        )
        shipped = db.revisions()
        db.migrate(version_locations=[extra])
        assert db.revisions() == (shipped | {"0901_alpha", "0902_beta"}) - {"0001"}
        assert db.revisions() == db.head_revisions(version_locations=[extra])
        assert {"alpha_things", "beta_things"} <= table_names(db)
        db.migrate(version_locations=[extra])  # idempotent with several heads too
        assert db.revisions() == (shipped | {"0901_alpha", "0902_beta"}) - {"0001"}

    def test_a_failing_migration_leaves_the_store_unchanged(
        self, db: Database, tmp_path: Path
    ) -> None:
        extra = tmp_path / "versions"
        write_migration(
            extra,
            "0903_good",
            "0001",
            'op.create_table("good_things", sa.Column("id", sa.Integer(), primary_key=True))',
        )
        write_migration(
            extra,
            "0904_bad",
            "0903_good",
            """
            op.add_column("instances", sa.Column("extra", sa.String(), nullable=True))
            op.create_table("bad_things", sa.Column("id", sa.Integer(), primary_key=True))
            raise RuntimeError("this migration is broken")
            """,
        )
        before = db.revisions()
        with pytest.raises(LakeworksError, match="this migration is broken"):
            db.migrate(version_locations=[extra])
        assert db.revisions() == before
        assert table_names(db).isdisjoint({"good_things", "bad_things"})
        columns = {c["name"] for c in sa.inspect(db.engine).get_columns("instances")}
        assert "extra" not in columns
