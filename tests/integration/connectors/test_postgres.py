"""PostgreSQL source and sink against the real server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from lakeworks.connectors.base import Sink, Source
from lakeworks.connectors.registry import open_sink, open_source
from lakeworks.errors import TransientError, UserError
from tests.integration.connectors.contract import ROWS, SinkContract, SourceContract, new_name
from tests.services import require_postgres

pytestmark = pytest.mark.postgres

CONFIG: dict[str, Any] = {"type": "postgres", "database": "test"}


def _conn() -> psycopg.Connection[Any]:
    require_postgres()
    return psycopg.connect("host=127.0.0.1 user=postgres dbname=test", autocommit=True)


class TestPostgresSource(SourceContract):
    @pytest.fixture(autouse=True)
    def _table(self) -> Iterator[None]:
        self.table = new_name("lw_src")
        with _conn() as conn:
            conn.execute(
                f"CREATE TABLE {self.table} (id int PRIMARY KEY, name text, "
                "amount float8, ts timestamp)"
            )
            with conn.cursor() as cur:
                cur.executemany(
                    f"INSERT INTO {self.table} VALUES (%(id)s, %(name)s, %(amount)s, %(ts)s)",
                    ROWS,
                )
        yield
        with _conn() as conn:
            conn.execute(f"DROP TABLE {self.table}")

    def make_source(self) -> Source:
        return open_source("pg", CONFIG)

    def test_quoting_and_special_values(self) -> None:
        with _conn() as conn:
            conn.execute(
                f"INSERT INTO {self.table} VALUES (100, %s, 'NaN', '2024-02-29 23:59:59.5')",
                ['he said "hi",\nthen left'],
            )
            conn.execute(f"INSERT INTO {self.table} VALUES (101, '', NULL, NULL)")
        rows = self.read(self.make_source(), where="id >= 100")
        assert rows[0]["name"] == 'he said "hi",\nthen left'
        assert rows[1]["name"] == ""  # an empty string is not NULL
        assert rows[1]["amount"] is None

    def test_unknown_table_is_a_user_error(self) -> None:
        from lakeworks.connectors.base import ReadRequest

        with pytest.raises(UserError, match="does not exist"):
            list(self.make_source().read(ReadRequest(table="lw_no_such_table")))

    def test_password_from_env_is_never_shown(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from lakeworks.connectors.base import ReadRequest

        monkeypatch.setenv("LW_TEST_PGPASS", "s3cr3t-value")
        source = open_source(
            "pg", {**CONFIG, "port": 1, "password_env": "LW_TEST_PGPASS", "connect_timeout": 1}
        )
        with pytest.raises(TransientError) as info:
            list(source.read(ReadRequest(table=self.table)))
        assert "s3cr3t-value" not in info.value.render()

    def test_missing_password_env_names_the_variable(self) -> None:
        with pytest.raises(UserError, match="LW_TEST_NOT_SET is not set"):
            open_source("pg", {**CONFIG, "password_env": "LW_TEST_NOT_SET"})

    def test_plain_password_key_is_rejected(self) -> None:
        with pytest.raises(UserError, match="unknown key 'password'") as info:
            open_source("pg", {**CONFIG, "password": "hunter2"})
        assert "hunter2" not in info.value.render()


class TestPostgresSink(SinkContract):
    def make_sink(self) -> Sink:
        require_postgres()
        return open_sink("pg", CONFIG)

    def read_back(self, table: str) -> list[dict[str, Any]]:
        with _conn() as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
            cur.execute(f"SELECT * FROM {table} ORDER BY id")  # type: ignore[arg-type]
            return list(cur.fetchall())

    def drop(self, table: str) -> None:
        with _conn() as conn:
            conn.execute(f"DROP TABLE IF EXISTS {table}")  # type: ignore[arg-type]


class TestPostgresSourcePsycopgReader(TestPostgresSource):
    """The same contract through psycopg's COPY loop (used when psql is absent)."""

    def make_source(self) -> Source:
        return open_source("pg", {**CONFIG, "reader": "psycopg"})
