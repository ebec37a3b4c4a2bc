"""The contract every warehouse engine passes, subclassed per engine.

A subclass provides the ``engine`` fixture (a fresh, empty engine per test); a plugin
engine runs the same suite: ``class TestMyEngine(EngineContract): ...``. Behaviour an
engine may lack is read from its capabilities (``supports_transactions``) or from the
subclass's class attributes below, never from its class.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pyarrow as pa
import pytest

from lakeworks.engines.base import Engine, Session, WriteMode
from lakeworks.errors import LakeworksError, NotFound, UserCodeError


def batches(ids: list[int], names: list[str]) -> list[pa.RecordBatch]:
    return [pa.record_batch({"id": pa.array(ids, pa.int64()), "name": pa.array(names)})]


def rows(session: Session, sql: str) -> list[tuple[object, ...]]:
    return session.execute(sql).rows


class EngineContract:
    """Behaviour a user relies on, whatever the engine."""

    views_are_tables_of_the_engine = True
    """``CREATE VIEW`` makes a view the engine lists (False: views are session-only)."""
    inserts_per_thread = 20
    """Statements each of four threads runs (fewer for engines where each is a job)."""
    sizes_after_write = True
    """``table_sizes`` knows a table's bytes as soon as a write returns."""

    @pytest.fixture
    def engine(self) -> Iterator[Engine]:
        raise NotImplementedError

    def test_execute_and_query(self, engine: Engine) -> None:
        session = engine.session()
        try:
            session.execute("CREATE TABLE t (id BIGINT, name STRING)")
            inserted = session.execute("INSERT INTO t VALUES (1, 'a'), (2, 'b')")
            assert inserted.rowcount == 2
            result = session.execute("SELECT id, name FROM t ORDER BY id")
            assert result.columns == ["id", "name"]
            assert result.rows == [(1, "a"), (2, "b")]
            assert result.rowcount is None
            assert session.query_arrow("SELECT count(*) AS n FROM t").column("n").to_pylist() == [2]
        finally:
            session.close()
        assert engine.table_exists("t") and not engine.table_exists("nope")
        info = engine.describe("t")
        assert [c.name for c in info.columns] == ["id", "name"]
        assert info.row_count == 2

    def test_failed_write_leaves_nothing(self, engine: Engine) -> None:
        with engine.transaction() as session:
            session.execute("CREATE TABLE t (id BIGINT)")
            session.execute("INSERT INTO t VALUES (1)")
        if engine.capabilities.supports_transactions:
            with pytest.raises(UserCodeError), engine.transaction() as session:
                session.execute("DELETE FROM t")
                session.execute("INSERT INTO t SELECT missing_column FROM t")
        else:  # each write commits on its own: a failing one commits nothing
            with pytest.raises(UserCodeError), engine.transaction() as session:
                session.execute("INSERT INTO t SELECT missing_column FROM t")
        check = engine.session()
        try:
            assert rows(check, "SELECT id FROM t") == [(1,)]
        finally:
            check.close()

    def test_write_modes(self, engine: Engine) -> None:
        assert engine.write_arrow("w", batches([1, 2], ["a", "b"])) == 2
        assert engine.write_arrow("w", batches([3], ["c"]), WriteMode.APPEND) == 1
        engine.write_arrow("w", batches([2, 4], ["B", "d"]), WriteMode.MERGE, key=["id"])
        session = engine.session()
        try:
            got = rows(session, "SELECT id, name FROM w ORDER BY id")
            assert got == [(1, "a"), (2, "B"), (3, "c"), (4, "d")]
            engine.write_arrow("w", batches([9], ["z"]), WriteMode.OVERWRITE)
            assert rows(session, "SELECT id FROM w") == [(9,)]
            assert engine.write_arrow("w", [], WriteMode.OVERWRITE) == 0
            assert rows(session, "SELECT count(*) FROM w") == [(0,)]
        finally:
            session.close()

    def test_partition_overwrite_and_partition_columns(self, engine: Engine) -> None:
        def day_rows(ids: list[int], day: str) -> list[pa.RecordBatch]:
            return [pa.record_batch({"id": pa.array(ids, pa.int64()), "ds": [day] * len(ids)})]

        for day, ids in (("20260101", [1, 2]), ("20260102", [3])):
            engine.write_arrow(
                "p", day_rows(ids, day), WriteMode.OVERWRITE_PARTITION, partition={"ds": day}
            )
            engine.register_partitions("p", ["ds"])
        engine.write_arrow(
            "p",
            day_rows([7], "20260101"),
            WriteMode.OVERWRITE_PARTITION,
            partition={"ds": "20260101"},
        )
        engine.register_partitions("p", ["ds"])
        assert engine.partition_columns("P") == ["ds"]
        assert engine.all_partition_columns().get("p") == ["ds"]
        assert engine.partition_columns("unknown_table") == []
        session = engine.session()
        try:
            got = rows(session, "SELECT ds, id FROM p ORDER BY ds, id")
        finally:
            session.close()
        assert [(str(d), i) for d, i in got] == [("20260101", 7), ("20260102", 3)]

    def test_table_sizes(self, engine: Engine) -> None:
        engine.write_arrow("s", batches(list(range(1000)), [f"name {i}" for i in range(1000)]))
        sizes = engine.table_sizes(["s"])
        assert set(sizes) <= {"s"}
        assert all(size > 0 for size in sizes.values())
        if self.sizes_after_write:
            assert sizes["s"] > 1000
        assert engine.table_sizes(["missing"]) == {}

    def test_interactive_engine_reads_the_same_tables(self, engine: Engine) -> None:
        engine.write_arrow("shared", batches([1, 2, 3], ["a", "b", "c"]))
        interactive = engine.interactive()
        assert interactive.interactive() is interactive
        session = interactive.session()
        try:
            assert rows(session, "SELECT count(*) FROM shared") == [(3,)]
            engine.write_arrow("shared", batches([4], ["d"]))
            assert rows(session, "SELECT count(*) FROM shared") == [(4,)]
            current, relations = session.relations()
            named = {r.name: r for r in relations if not r.internal}
            assert named["shared"].kind == "table"
            assert [c.name for c in named["shared"].columns] == ["id", "name"]
            assert current
            assert "sum" in session.builtin_functions()
            session.prefer_builtin_functions()
            assert not session.user_functions() & {"sum", "count"}
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
        each = self.inserts_per_thread

        def work(n: int) -> None:
            own = engine.session()
            try:
                for i in range(each):
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
            assert rows(check, "SELECT count(*) FROM c") == [(4 * each,)]
        finally:
            check.close()

    def test_views_are_listed_as_views(self, engine: Engine) -> None:
        if not self.views_are_tables_of_the_engine:
            pytest.skip("views live in one session of this engine")
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

    def test_listing_named_tables_includes_them_with_their_columns(self, engine: Engine) -> None:
        session = engine.session()
        try:
            session.execute("CREATE TABLE Orders (id BIGINT, name STRING)")
            session.execute("CREATE TABLE other (x BIGINT)")
        finally:
            session.close()
        named = {t.name.lower(): t for t in engine.list_tables({"orders", "missing"})}
        assert "orders" in named and "missing" not in named
        assert [c.name for c in named["orders"].columns] == ["id", "name"]
        assert {t.name.lower() for t in engine.list_tables()} >= {"orders", "other"}

    def test_describe_missing_table(self, engine: Engine) -> None:
        with pytest.raises(NotFound):
            engine.describe("missing")

    def test_bad_sql_is_a_user_error(self, engine: Engine) -> None:
        session = engine.session()
        try:
            with pytest.raises(LakeworksError):
                session.execute("SELECT * FROM no_such_table")
        finally:
            session.close()
