"""A flush's decoded database changes applied by key, set-based: the latest change of
each key in the flush wins, every key touched is deleted from the target first and the
rows of the winning inserts and updates are appended (a delete simply wins with no row).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from lakeworks.integration.convert import Converter
from lakeworks.streaming.batch import FlushBatch
from lakeworks.streaming.kafka import Message
from lakeworks.streaming.pgoutput import DELETE, OP_COLUMN, DecodedRows
from lakeworks.streaming.positions import QuarantinedMessage

_SEQ = "_lw_seq"


@dataclass(slots=True)
class ChangeBlock(Message):
    """The changes of one source table read at once, as columns (a message of its own
    kind: ``offset`` and ``next_position`` are where its last transaction ends)."""

    changes: DecodedRows | None = None
    count: int = 0
    """How many change messages of the source it holds."""


def change_count(messages: list[Message]) -> int:
    """How many source messages ``messages`` stand for."""
    return len(messages) + sum(m.count - 1 for m in messages if isinstance(m, ChangeBlock))


def _payload(table: pa.Table, index: int) -> str:
    row = table.slice(index, 1).to_pylist()[0]
    row.pop(OP_COLUMN, None)
    row.pop(_SEQ, None)
    return json.dumps(row, default=str)[:1000]


def build_changes(blocks: list[ChangeBlock], converter: Converter, key: list[str]) -> FlushBatch:
    """One target table's part of a flush from its change blocks, in arrival order."""
    parts = [b.changes for b in blocks if b.changes is not None and b.changes.batch.num_rows]
    out = FlushBatch(rows=None)
    if not parts:
        return out
    source = blocks[0].source
    tables = [pa.Table.from_batches([p.batch]) for p in parts]
    table = tables[0] if len(tables) == 1 else pa.concat_tables(tables, promote_options="default")
    lsns = pa.chunked_array([p.lsns for p in parts]).combine_chunks()
    table = table.append_column(_SEQ, pa.array(range(table.num_rows), pa.int64()))
    unsent: list[int] = []
    base = 0
    for p in parts:
        unsent.extend(base + i for i in p.unsent)
        base += p.batch.num_rows
    for index in unsent:
        out.dirty.append(
            QuarantinedMessage(
                source,
                lsns[index].as_py(),
                "the unchanged large value of a column was not sent",
                _payload(table, index),
            )
        )
    if unsent:
        keep = pc.invert(pc.is_in(table[_SEQ], value_set=pa.array(unsent, pa.int64())))
        table, lsns = table.filter(keep), lsns.filter(keep)
    # the latest change of each key
    latest = table.select([*key, _SEQ]).group_by(key, use_threads=False).aggregate([(_SEQ, "max")])
    last = pc.is_in(table[_SEQ], value_set=latest[f"{_SEQ}_max"])
    wanted = pc.and_(last, pc.not_equal(table[OP_COLUMN], DELETE))
    upserts = table.filter(wanted)
    if isinstance(wanted, pa.ChunkedArray):
        wanted = wanted.combine_chunks()
    upsert_lsns = lsns.filter(wanted)
    rows = upserts.drop_columns([OP_COLUMN, _SEQ]).combine_chunks()
    batch = rows.to_batches()[0] if rows.num_rows else pa.RecordBatch.from_pylist([], rows.schema)
    converted = converter.convert(batch)
    bad_seqs: list[int] = []
    for d in converted.dirty:
        out.dirty.append(
            QuarantinedMessage(
                source, upsert_lsns[d.index].as_py(), d.reason, _payload(upserts, d.index)
            )
        )
        bad_seqs.append(upserts[_SEQ][d.index].as_py())
    if bad_seqs:  # a row that cannot be written leaves the target's row of its key alone
        latest = latest.filter(
            pc.invert(pc.is_in(latest[f"{_SEQ}_max"], value_set=pa.array(bad_seqs, pa.int64())))
        )
    out.rows = converted.batch
    keys = latest.select(key).combine_chunks()
    out.delete_batch = keys.to_batches()[0] if keys.num_rows else None
    return out
