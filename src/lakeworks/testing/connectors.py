"""The contract every source and sink passes, subclassed per connector (a plugin
subclasses it too: ``from lakeworks.testing.connectors import SourceContract``).

A source subclass provides ``make_source`` over a table holding ``ROWS``; a sink
subclass provides ``make_sink`` and ``read_back``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import pyarrow as pa
import pytest

from lakeworks.connectors.base import KeyRange, ReadRequest, Sink, Source, WriteMode, WriteRequest

ROWS: list[dict[str, Any]] = [
    {
        "id": i,
        "name": None if i == 3 else f"n{i}",
        "amount": i * 1.5,
        "ts": datetime(2024, 1, 1, 0, 0, i),
    }
    for i in range(1, 21)
]


def new_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def _rows(batches: list[pa.RecordBatch]) -> list[dict[str, Any]]:
    return sorted((r for b in batches for r in b.to_pylist()), key=lambda r: r["id"])


class SourceContract:
    table: str

    def make_source(self) -> Source:
        raise NotImplementedError

    def read(self, source: Source, **kwargs: Any) -> list[dict[str, Any]]:
        request = ReadRequest(table=self.table, batch_rows=7, **kwargs)
        items = list(source.read(request))
        assert all(item.batch.num_rows <= 7 for item in items)
        return _rows([item.batch for item in items])

    def test_reads_every_row_with_types(self) -> None:
        rows = self.read(self.make_source())
        assert [r["id"] for r in rows] == list(range(1, 21))
        assert rows[2]["name"] is None
        assert rows[4]["amount"] == pytest.approx(7.5)
        assert rows[4]["ts"] == datetime(2024, 1, 1, 0, 0, 5)

    def test_columns_where_and_cursor(self) -> None:
        source = self.make_source()
        caps = source.capabilities
        if not caps.where_filter:
            pytest.skip("source has no where filter")
        rows = self.read(source, columns=["id", "name"], where="id <= 5")
        assert [r["id"] for r in rows] == [1, 2, 3, 4, 5]
        assert set(rows[0]) == {"id", "name"}
        if caps.incremental_cursor:
            items = list(
                source.read(ReadRequest(table=self.table, cursor_column="id", cursor_after=15))
            )
            assert sum(i.batch.num_rows for i in items) == 5
            assert max(i.cursor for i in items) == 20

    def test_split_ranges_cover_everything_once(self) -> None:
        source = self.make_source()
        if not source.capabilities.split_by_key:
            pytest.skip("source cannot split")
        base = ReadRequest(table=self.table)
        assert source.key_range(base, "id") == (1, 20)
        seen: list[int] = []
        for split in (KeyRange("id", 1, 8), KeyRange("id", 8, None)):
            for item in source.read(ReadRequest(table=self.table, split=split)):
                seen += item.batch.column("id").to_pylist()
        assert sorted(seen) == list(range(1, 21))


class SinkContract:
    def make_sink(self) -> Sink:
        raise NotImplementedError

    def read_back(self, table: str) -> list[dict[str, Any]]:
        raise NotImplementedError

    def drop(self, table: str) -> None:
        """Remove the table after the test."""

    def batch(self, ids: list[int], name: str = "a", ds: str | None = None) -> pa.RecordBatch:
        data: dict[str, Any] = {"id": pa.array(ids, pa.int64()), "name": [name] * len(ids)}
        if ds is not None:
            data["ds"] = [ds] * len(ids)
        return pa.RecordBatch.from_pydict(data)

    def write(self, sink: Sink, table: str, *batches: pa.RecordBatch, **kw: Any) -> int:
        handle = sink.begin(WriteRequest(table=table, **kw))
        rows = handle.write(iter(batches))
        handle.commit()
        return rows

    @pytest.fixture
    def table(self) -> Any:
        name = new_name("lw_sink")
        yield name
        self.drop(name)

    def test_append_then_overwrite(self, table: str) -> None:
        sink = self.make_sink()
        assert sink.table_schema(table) is None
        assert self.write(sink, table, self.batch([1, 2]), self.batch([3])) == 3
        self.write(sink, table, self.batch([4]))
        assert [r["id"] for r in self.read_back(table)] == [1, 2, 3, 4]
        self.write(sink, table, self.batch([9]), mode=WriteMode.OVERWRITE)
        assert [r["id"] for r in self.read_back(table)] == [9]
        schema = sink.table_schema(table)
        assert schema is not None and schema.names[:2] == ["id", "name"]

    def test_rollback_leaves_nothing(self, table: str) -> None:
        sink = self.make_sink()
        self.write(sink, table, self.batch([1]))
        handle = sink.begin(WriteRequest(table=table, mode=WriteMode.OVERWRITE))

        def failing() -> Any:
            yield self.batch([2, 3])
            raise RuntimeError("source died")

        with pytest.raises(RuntimeError):
            handle.write(failing())
        handle.rollback()
        assert [r["id"] for r in self.read_back(table)] == [1]

    def test_partition_overwrite_and_merge(self, table: str) -> None:
        sink = self.make_sink()
        part = {"ds": "20240101"}
        self.write(sink, table, self.batch([1, 2], ds="20240101"))
        self.write(sink, table, self.batch([5], ds="20240102"))
        if sink.capabilities.partition_overwrite:
            self.write(
                sink,
                table,
                self.batch([3], ds="20240101"),
                mode=WriteMode.OVERWRITE_PARTITION,
                partition=part,
            )
            assert sorted(r["id"] for r in self.read_back(table)) == [3, 5]
        if sink.capabilities.merge:
            self.write(
                sink,
                table,
                self.batch([3, 7], name="b", ds="20240101"),
                mode=WriteMode.MERGE,
                key=["id"],
            )
            rows = self.read_back(table)
            assert sorted(r["id"] for r in rows) == [3, 5, 7]
            assert {r["id"]: r["name"] for r in rows}[3] == "b"

    def test_columns_added_in_a_write_go_with_its_transaction(self, table: str) -> None:
        sink = self.make_sink()
        self.write(sink, table, self.batch([1]))
        extra = pa.field("extra", pa.string())
        wider = self.batch([2]).append_column(extra, pa.array(["x"]))
        request = WriteRequest(table=table, add_columns=(extra,))
        if not sink.capabilities.transactional_ddl:
            with pytest.raises(ValueError, match="transaction"):
                sink.begin(request)
            return
        handle = sink.begin(request)

        def failing() -> Any:
            yield wider
            raise RuntimeError("source died")

        with pytest.raises(RuntimeError):
            handle.write(failing())
        handle.rollback()
        schema = sink.table_schema(table)
        assert schema is not None and "extra" not in schema.names
        handle = sink.begin(request)
        handle.write(iter([wider]))
        handle.commit()
        rows = self.read_back(table)
        assert [(r["id"], r["extra"]) for r in rows] == [(1, None), (2, "x")]
