"""Turning a flush's decoded messages into one Arrow batch, dirty rows set aside.

JSON rows may differ in their keys and types: the batch has the union of the keys (in
first-seen order), a missing key is null, and a column whose values Arrow cannot type
together is kept as text (the column mapping's casts then apply as in batch sync).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.json as pa_json

from lakeworks.integration.convert import Converter
from lakeworks.streaming.kafka import Message, MessageBlock
from lakeworks.streaming.positions import QuarantinedMessage


@dataclass
class FlushBatch:
    """What one flush writes: rows to insert, keys to delete first, messages set aside."""

    rows: pa.RecordBatch | None
    delete_keys: list[tuple[Any, ...]] = field(default_factory=list)
    delete_batch: pa.RecordBatch | None = None
    """Keys to delete first, as columns (instead of ``delete_keys``)."""
    dirty: list[QuarantinedMessage] = field(default_factory=list)


def _column(values: list[Any]) -> pa.Array:
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array(
            [None if v is None else v if isinstance(v, str) else json.dumps(v) for v in values],
            pa.string(),
        )


def to_batch(rows: list[dict[str, Any]]) -> pa.RecordBatch:
    """One batch holding ``rows`` (union of their keys)."""
    names: dict[str, None] = {}
    for row in rows:
        for name in row:
            names.setdefault(name, None)
    return pa.RecordBatch.from_arrays(
        [_column([row.get(name) for row in rows]) for name in names], names=list(names)
    )


def json_row(value: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """One JSON message as a row, or why it cannot be one."""
    try:
        parsed = json.loads(value)
    except (ValueError, UnicodeDecodeError) as exc:
        return None, f"not JSON: {exc}"
    if not isinstance(parsed, dict):
        return None, "message is not a JSON object"
    return parsed, None


def _json_block(values: list[bytes]) -> pa.RecordBatch | None:
    """All values decoded at once by Arrow's JSON reader (one line each), or None when
    that is not possible (a value that is not a JSON object, types Arrow cannot
    reconcile): then each message is decoded on its own and the bad ones set aside."""
    buffer = b"\n".join(values)
    if buffer.count(b"\n") != len(values) - 1 or b"\r" in buffer:
        # line breaks are only whitespace between JSON tokens: blank them
        buffer = b"\n".join(v.replace(b"\n", b" ").replace(b"\r", b" ") for v in values)
    options = pa_json.ReadOptions(use_threads=False, block_size=len(buffer) + 1)
    try:
        table = pa_json.read_json(pa.BufferReader(buffer), read_options=options)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None
    if table.num_rows != len(values) or table.num_columns == 0:
        return None  # blank or empty-object messages: let the per-message path judge
    return table.combine_chunks().to_batches()[0]


def _with_meta(batch: pa.RecordBatch, messages: list[Message]) -> pa.RecordBatch:
    first = messages[0].meta
    if not first:
        return batch
    for name in first:
        values = [(m.meta or {}).get(name) for m in messages]
        batch = batch.append_column(name, _column(values))
    return batch


def decode_rows(messages: list[Message]) -> tuple[pa.RecordBatch, dict[int, str]]:
    """The rows of messages with a value (decoded JSON in one block when possible),
    and the index and reason of each message that could not become a row."""
    if all(m.value is not None for m in messages):
        values = [m.value for m in messages if m.value is not None]
        block = _json_block(values)
        if block is not None:
            return _with_meta(block, messages), {}
    rows: list[dict[str, Any]] = []
    bad: dict[int, str] = {}
    for index, m in enumerate(messages):
        row: dict[str, Any] | None = m.row
        if m.value is not None:
            row, reason = json_row(m.value)
            if row is None:
                bad[index] = reason or "not JSON"
                continue
            row.update(m.meta or {})
        rows.append(row or {})
    return to_batch(rows), bad


def _message_at(blocks: list[MessageBlock], index: int) -> Message:
    for block in blocks:
        if index < len(block):
            return block.decode(block.raw[index])
        index -= len(block)
    raise IndexError(index)


def decode_block(block: MessageBlock) -> None:
    """Decode a block's values as soon as it is read (``block.rows``), so that the
    flush only writes; a block holding a tombstone or a bad value is left to the flush."""
    if block.rows is None and None not in block.values:
        block.rows = _json_block(block.values)  # type: ignore[arg-type]  # no None


def _decoded(blocks: list[MessageBlock]) -> pa.RecordBatch | None:
    """The blocks' rows decoded when read, as one batch, when all of them were and
    Arrow gave them the same columns (else the flush decodes all values together)."""
    batches = [b.rows for b in blocks if b.rows is not None]
    if not batches or len(batches) != len(blocks):
        return None
    schema = batches[0].schema
    if any(not b.schema.equals(schema) for b in batches):
        return None
    if len(batches) == 1:
        return batches[0]
    table = pa.Table.from_batches(batches, schema)
    return table.combine_chunks().to_batches()[0]


def build_blocks(blocks: list[MessageBlock], converter: Converter) -> FlushBatch | None:
    """Append rows of plain JSON blocks, decoded in one Arrow block; None when they
    hold a tombstone or a value that is not a JSON object (then ``build`` takes the
    messages one by one and sets the bad ones aside)."""
    decoded = _decoded(blocks)
    if decoded is None:
        values = [v for block in blocks for v in block.values]
        if None in values:
            return None
        decoded = _json_block(values)  # type: ignore[arg-type]  # no None, checked above
    if decoded is None:
        return None
    converted = converter.convert(decoded)
    dirty = []
    for d in converted.dirty:
        m = _message_at(blocks, d.index)
        dirty.append(QuarantinedMessage(m.source, m.offset, d.reason, m.payload_text()))
    return FlushBatch(rows=converted.batch, dirty=dirty)


def _tombstone_key(message: Message, key: list[str]) -> tuple[Any, ...] | None:
    """The key columns of a delete message, from its Kafka key (a JSON object holding
    the key columns, or the bare value of a single key column)."""
    if message.key is None:
        return None
    try:
        parsed = json.loads(message.key)
    except ValueError:
        parsed = message.key
    if isinstance(parsed, dict):
        if not all(k in parsed for k in key):
            return None
        return tuple(parsed[k] for k in key)
    return (parsed,) if len(key) == 1 else None


def _same_key(key: tuple[Any, ...]) -> tuple[str | None, ...]:
    return tuple(None if v is None else str(v) for v in key)


def build(
    messages: list[Message], converter: Converter, key: list[str], upsert: bool
) -> FlushBatch:
    """Convert the messages of one flush; with ``upsert`` the latest message per key
    (by arrival, i.e. by offset within a partition) wins and a tombstone deletes."""
    dirty: list[QuarantinedMessage] = []
    kept: list[Message] = []
    tombstones: list[Message] = []
    for m in messages:
        if m.reject is not None:
            dirty.append(QuarantinedMessage(m.source, m.offset, m.reject, m.payload_text()))
        elif m.is_delete:
            if upsert:
                tombstones.append(m)
        else:
            kept.append(m)
    out = FlushBatch(rows=None, dirty=dirty)
    converted_rows: pa.RecordBatch | None = None
    if kept:
        decoded, undecodable = decode_rows(kept)
        for index, reason in undecodable.items():
            m = kept[index]
            dirty.append(QuarantinedMessage(m.source, m.offset, reason, m.payload_text()))
        if undecodable:
            kept = [m for i, m in enumerate(kept) if i not in undecodable]
    if kept:
        converted = converter.convert(decoded)
        bad = {d.index for d in converted.dirty}
        for d in converted.dirty:
            m = kept[d.index]
            dirty.append(QuarantinedMessage(m.source, m.offset, d.reason, m.payload_text()))
        if bad:
            kept = [m for i, m in enumerate(kept) if i not in bad]
        converted_rows = converted.batch
    if not upsert:
        out.rows = converted_rows
        return out
    # latest wins: order every event (row or tombstone) by arrival, keep each key's last
    events: list[tuple[int, tuple[Any, ...], int | None]] = []
    position = {id(m): i for i, m in enumerate(messages)}
    if converted_rows is not None and converted_rows.num_rows:
        columns = [converted_rows.column(k).to_pylist() for k in key]
        for index, m in enumerate(kept):
            events.append((position[id(m)], tuple(c[index] for c in columns), index))
    for m in tombstones:
        found = _tombstone_key(m, key)
        if found is None:
            dirty.append(
                QuarantinedMessage(m.source, m.offset, "a delete without its key columns", "")
            )
            continue
        events.append((position[id(m)], found, None))
    # keys compare by their text: a delete's key may arrive as text, a row's typed
    latest: dict[tuple[str | None, ...], tuple[tuple[Any, ...], int | None]] = {}
    for _seq, k, row_index in sorted(events, key=lambda e: e[0]):
        latest[_same_key(k)] = (k, row_index)
    out.delete_keys = [k for k, _ in latest.values()]
    take = sorted(i for _, i in latest.values() if i is not None)
    if converted_rows is not None and take:
        out.rows = converted_rows.take(pa.array(take, pa.int64()))
    return out
