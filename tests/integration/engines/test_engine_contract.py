"""The contract every warehouse engine passes; one subclass per engine."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from lakeworks.engines.base import Engine, WriteMode
from lakeworks.engines.duckdb_engine import DuckDBEngine, close_all
from lakeworks.errors import NotFound, UserCodeError


def batches(ids: list[int], names: list[str]) -> list[pa.RecordBatch]:
    return [pa.record_batch({"id": pa.array(ids, pa.int64()), "name": pa.array(names)})]


class EngineContract:
    """Behaviour a user relies on, whatever the engine."""

    @pytest.fixture
    def engine(self, tmp_path: Path) -> Iterator[Engine]:
        raise NotImplementedError

    def test_execute_and_query(self, engine: Engine) -> None:
        session = engine.session()
        try:
            session.execute("CREATE TABLE t (id BIGINT, name VARCHAR)")
            session.execute("INSERT INTO t VALUES (1, 'a'), (2, 'b')")
            result = session.execute("SELECT id, name FROM t ORDER BY id")
            assert result.columns == ["id", "name"]
            assert result.rows == [(1, "a"), (2, "b")]
            assert session.query_arrow("SELECT count(*) AS n FROM t").column("n").to_pylist() == [2]
        finally:
            session.close()
        assert engine.table_exists("t") and not engine.table_exists("nope")
        info = engine.describe("t")
        assert [c.name for c in info.columns] == ["id", "name"]
        assert info.row_count == 2

    def test_failed_transaction_leaves_nothing(self, engine: Engine) -> None:
        with engine.transaction() as session:
            session.execute("CREATE TABLE t (id BIGINT)")
            session.execute("INSERT INTO t VALUES (1)")
        with pytest.raises(UserCodeError), engine.transaction() as session:
            session.execute("DELETE FROM t")
            session.execute("INSERT INTO t SELECT missing_column FROM t")
        check = engine.session()
        try:
            assert check.execute("SELECT id FROM t").rows == [(1,)]
        finally:
            check.close()

    def test_write_modes(self, engine: Engine) -> None:
        assert engine.write_arrow("w", batches([1, 2], ["a", "b"])) == 2
        assert engine.write_arrow("w", batches([3], ["c"]), WriteMode.APPEND) == 1
        engine.write_arrow("w", batches([2, 4], ["B", "d"]), WriteMode.MERGE, key=["id"])
        session = engine.session()
        try:
            rows = session.execute("SELECT id, name FROM w ORDER BY id").rows
            assert rows == [(1, "a"), (2, "B"), (3, "c"), (4, "d")]
            engine.write_arrow("w", batches([9], ["z"]), WriteMode.OVERWRITE)
            assert session.execute("SELECT id FROM w").rows == [(9,)]
        finally:
            session.close()

    def test_streaming_read(self, engine: Engine) -> None:
        session = engine.session()
        try:
            total = sum(
                b.num_rows for b in session.stream_arrow("SELECT * FROM range(200000)", 65536)
            )
            assert total == 200000
        finally:
            session.close()

    def test_threads_have_their_own_sessions(self, engine: Engine) -> None:
        session = engine.session()
        session.execute("CREATE TABLE c (v BIGINT)")
        session.close()
        errors: list[Exception] = []

        def work(n: int) -> None:
            own = engine.session()
            try:
                for i in range(20):
                    own.execute("INSERT INTO c VALUES (?)", [n * 100 + i])
            except Exception as exc:
                errors.append(exc)
            finally:
                own.close()

        threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        check = engine.session()
        try:
            assert check.execute("SELECT count(*) FROM c").rows == [(80,)]
        finally:
            check.close()

    def test_views_are_listed_as_views(self, engine: Engine) -> None:
        session = engine.session()
        try:
            session.execute("CREATE TABLE base (id BIGINT)")
            session.execute("CREATE VIEW recent AS SELECT id FROM base")
        finally:
            session.close()
        kinds = {t.name: t.kind for t in engine.list_tables()}
        assert kinds == {"base": "table", "recent": "view"}
        view = next(t for t in engine.list_tables() if t.name == "recent")
        assert [c.name for c in view.columns] == ["id"]

    def test_describe_missing_table(self, engine: Engine) -> None:
        with pytest.raises(NotFound):
            engine.describe("missing")


class TestDuckDBEngine(EngineContract):
    @pytest.fixture
    def engine(self, tmp_path: Path) -> Iterator[Engine]:
        yield DuckDBEngine(tmp_path / "w.duckdb", "dev")
        close_all()

    def test_partition_registry(self, tmp_path: Path) -> None:
        engine = DuckDBEngine(tmp_path / "p.duckdb", "dev")
        engine.register_partitions("Sales", ["ds", "hh"])
        assert engine.partition_columns("sales") == ["ds", "hh"]
        assert engine.partition_columns("other") == []
        assert all(t.schema != "lakeworks_meta" for t in engine.list_tables())
        close_all()


class TestDuckDBWriteEdges:
    def test_empty_overwrite_clears_and_stream_error_surfaces(self, tmp_path: Path) -> None:
        engine = DuckDBEngine(tmp_path / "e.duckdb", "dev")
        engine.write_arrow("w", batches([1, 2], ["a", "b"]))
        assert engine.write_arrow("w", [], WriteMode.OVERWRITE) == 0
        assert engine.describe("w").row_count == 0

        def failing() -> Iterator[pa.RecordBatch]:
            yield from batches([5], ["e"])
            raise ConnectionError("source went away")

        with pytest.raises(ConnectionError, match="source went away"):
            engine.write_arrow("w", failing(), WriteMode.APPEND)
        assert engine.describe("w").row_count == 0
        close_all()
