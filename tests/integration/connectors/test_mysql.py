"""MySQL/MariaDB source (ConnectorX and PyMySQL) and sink against the real server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pymysql
import pymysql.cursors
import pytest

from lakeworks.connectors.base import ReadRequest, Sink, Source
from lakeworks.connectors.registry import open_sink, open_source
from lakeworks.errors import TransientError
from tests.integration.connectors.contract import ROWS, SinkContract, SourceContract, new_name
from tests.services import require_mysql

pytestmark = pytest.mark.mysql

CONFIG: dict[str, Any] = {"type": "mysql", "database": "test"}


def _conn() -> Any:
    host, port = require_mysql()
    return pymysql.connect(host=host, port=port, user="root", database="test", autocommit=True)


class _MySQLSourceBase(SourceContract):
    driver = "auto"

    @pytest.fixture(autouse=True)
    def _table(self) -> Iterator[None]:
        self.table = new_name("lw_src")
        conn = _conn()
        with conn.cursor() as cur:
            cur.execute(
                f"CREATE TABLE {self.table} (id int PRIMARY KEY, name text, amount double, "
                "ts datetime(6))"
            )
            cur.executemany(
                f"INSERT INTO {self.table} VALUES (%(id)s, %(name)s, %(amount)s, %(ts)s)", ROWS
            )
        yield
        with conn.cursor() as cur:
            cur.execute(f"DROP TABLE {self.table}")
        conn.close()

    def make_source(self) -> Source:
        return open_source("my", {**CONFIG, "driver": self.driver})


class TestMySQLSourceConnectorX(_MySQLSourceBase):
    driver = "connectorx"


class TestMySQLSourcePyMySQL(_MySQLSourceBase):
    driver = "pymysql"


def test_unreachable_server_is_transient() -> None:
    require_mysql()
    for driver in ("connectorx", "pymysql"):
        source = open_source("my", {**CONFIG, "port": 1, "driver": driver, "connect_timeout": 1})
        with pytest.raises(TransientError):
            list(source.read(ReadRequest(table="whatever")))


class TestMySQLSink(SinkContract):
    def make_sink(self) -> Sink:
        require_mysql()
        return open_sink("my", CONFIG)

    def read_back(self, table: str) -> list[dict[str, Any]]:
        conn = _conn()
        try:
            with conn.cursor(pymysql.cursors.DictCursor) as cur:
                cur.execute(f"SELECT * FROM {table} ORDER BY id")
                return list(cur.fetchall())
        finally:
            conn.close()

    def drop(self, table: str) -> None:
        conn = _conn()
        with conn.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {table}")
        conn.close()
