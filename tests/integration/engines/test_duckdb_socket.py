"""The warehouse socket: statements, types, errors and transactions of a served file."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from lakeworks.engines.duckdb_socket import RemoteSession, WarehouseServer, socket_path
from lakeworks.errors import UserCodeError


def test_a_remote_session_reads_writes_and_keeps_types(tmp_path: Path) -> None:
    database = tmp_path / "w.duckdb"
    conn = duckdb.connect(str(database))
    server = WarehouseServer(conn, database).start()
    try:
        assert socket_path(database).stat().st_mode & 0o077 == 0  # its user only
        session = RemoteSession(socket_path(database))
        session.execute("CREATE TABLE t (d DATE, amount DECIMAL(10, 2), name VARCHAR)")
        session.begin()
        session.execute("INSERT INTO t VALUES (?, 1.50, 'a')", ["2026-04-11"])
        session.rollback()
        session.execute("INSERT INTO t VALUES (DATE '2026-04-11', 2.25, NULL)")
        result = session.execute("SELECT d, amount, name, amount AS amount FROM t")
        assert result.columns == ["d", "amount", "name", "amount"]
        assert result.rows == [(date(2026, 4, 11), Decimal("2.25"), None, Decimal("2.25"))]
        with pytest.raises(UserCodeError, match="no_such_table"):
            session.execute("SELECT * FROM no_such_table")
        assert session.execute("SELECT count(*) FROM t").rows == [(1,)]
        session.close()
    finally:
        server.stop()
        conn.close()
    assert not socket_path(database).exists()


def test_a_warehouse_in_a_deep_folder_is_served_too(tmp_path: Path) -> None:
    deep = tmp_path.joinpath(*["a_rather_long_folder_name"] * 6)
    deep.mkdir(parents=True)
    database = deep / "dev.duckdb"
    assert len(str(socket_path(database))) > 108  # more than a socket address may hold
    conn = duckdb.connect(str(database))
    server = WarehouseServer(conn, database).start()
    try:
        assert socket_path(database).stat().st_mode & 0o077 == 0  # the file, beside it
        session = RemoteSession(socket_path(database))
        assert session.execute("SELECT 41 + 1").rows == [(42,)]
        session.close()
    finally:
        server.stop()
        conn.close()
    assert not socket_path(database).exists()
