"""A flush's change blocks applied by key: the latest change of each key wins (a
delete wins with no row), every key touched is deleted first, a row that cannot be
written goes to quarantine with its position and leaves the target's row alone."""

from __future__ import annotations

import json

import pyarrow as pa

from lakeworks.integration.convert import Converter
from lakeworks.streaming.changes import ChangeBlock, build_changes, change_count
from lakeworks.streaming.kafka import Message
from lakeworks.streaming.pgoutput import OP_COLUMN, DecodedRows

TARGET = pa.schema([("id", pa.int64()), ("qty", pa.int32())])


def _block(
    rows: list[tuple[int, str | None, str]], lsn: int, unsent: list[int] | None = None
) -> ChangeBlock:
    batch = pa.RecordBatch.from_pydict(
        {
            "id": pa.array([r[0] for r in rows], pa.int64()),
            "qty": pa.array([r[1] for r in rows], pa.string()),
            OP_COLUMN: pa.array([ord(r[2]) for r in rows], pa.int8()),
        }
    )
    changes = DecodedRows(batch, pa.array([lsn] * len(rows), pa.int64()), unsent or [])
    return ChangeBlock(
        "pg:s", lsn, None, None, None, "", next_position=lsn, changes=changes, count=len(rows)
    )


def test_the_latest_change_of_each_key_wins() -> None:
    blocks = [
        _block([(1, "1", "I"), (2, "2", "I"), (3, "3", "I")], 10),
        _block([(1, "5", "U"), (2, None, "D"), (4, "4", "I"), (4, None, "D")], 20),
        _block([(2, "9", "I")], 30),
    ]
    out = build_changes(blocks, Converter(None, TARGET, {}, ["id"]), ["id"])
    assert out.rows is not None
    assert sorted(zip(*out.rows.to_pydict().values(), strict=True)) == [(1, 5), (2, 9), (3, 3)]
    assert out.rows.schema.field("qty").type == pa.int32()
    assert out.delete_batch is not None
    assert sorted(out.delete_batch.column("id").to_pylist()) == [1, 2, 3, 4]
    assert out.dirty == []
    assert change_count([*blocks, Message("pg:s", 1, None, None, None, "")]) == 9


def test_rows_that_cannot_be_written_go_to_quarantine_with_their_position() -> None:
    blocks = [
        _block([(1, "1", "I"), (2, "2", "I")], 10),
        _block([(1, "not a number", "U"), (3, None, "U")], 20, unsent=[1]),
    ]
    out = build_changes(blocks, Converter(None, TARGET, {}, ["id"]), ["id"])
    reasons = {d.offset: d for d in out.dirty}
    assert set(reasons) == {20}
    assert len(out.dirty) == 2
    assert any("not sent" in d.reason for d in out.dirty)
    bad = next(d for d in out.dirty if "not sent" not in d.reason)
    assert json.loads(bad.payload) == {"id": 1, "qty": "not a number"}
    # key 1's new row is dirty: its row in the target stays as it was
    assert out.rows is not None and out.rows.column("id").to_pylist() == [2]
    assert out.delete_batch is not None and out.delete_batch.column("id").to_pylist() == [2]
