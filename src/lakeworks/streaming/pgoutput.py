"""Decoding PostgreSQL's ``pgoutput`` logical replication messages (protocol 1).

Messages arrive one by one from the replication stream: begin, relation (a table's
columns, sent before its first change in every session), insert, update, delete,
truncate, commit. The decoder only sorts the row changes of committed transactions by
relation (a few byte reads a message); a relation's changes are then decoded at once
into Arrow columns by the compiled ``_pgoutput`` module. Column values arrive as text,
exactly as PostgreSQL prints them; integer, float and boolean columns are typed here
(the target's casts do the rest), so the keys of rows and of deletes compare alike.
Pure: no database, no clock.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc

from lakeworks.errors import UserError

PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
OP_COLUMN = "_lw_op"
"""The kind of change of each decoded row (int8): ``INSERT``, ``UPDATE`` or ``DELETE``."""
INSERT, UPDATE, DELETE = ord("I"), ord("U"), ord("D")

_INTEGER_TYPES = {20, 21, 23, 26}  # int8, int2, int4, oid
_FLOAT_TYPES = {700, 701}  # float4, float8
_BOOL_TYPE = 16
_U32 = struct.Struct("!I")
_COMMIT = struct.Struct("!bqqq")
_CHANGES = frozenset(b"IUD")


class ProtocolError(ValueError):
    """A message that is not what protocol 1 of ``pgoutput`` sends."""


@dataclass(frozen=True)
class Relation:
    """A table as the server describes it in the stream."""

    oid: int
    schema: str
    name: str
    columns: list[str]
    type_oids: list[int]
    key: list[str]
    """Replica identity columns (the primary key by default)."""

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"


def lsn_text(lsn: int) -> str:
    """``0/1D74658`` from an LSN number."""
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def parse_lsn(text: str) -> int:
    """An LSN number from ``0/1D74658``."""
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) | int(low, 16)


def _timestamp_ms(micros: int) -> int:
    return int((PG_EPOCH + timedelta(microseconds=micros)).timestamp() * 1000)


def parse_relation(data: bytes) -> Relation:
    """A relation message."""
    try:
        oid = _U32.unpack_from(data, 1)[0]
        at = 5
        names: list[str] = []
        for _ in range(2):
            end = data.index(b"\0", at)
            names.append(data[at:end].decode("utf-8"))
            at = end + 1
        at += 1  # replica identity setting
        (count,) = struct.unpack_from("!h", data, at)
        at += 2
        columns: list[str] = []
        types: list[int] = []
        key: list[str] = []
        for _ in range(count):
            flags = data[at]
            end = data.index(b"\0", at + 1)
            column = data[at + 1 : end].decode("utf-8")
            type_oid, _modifier = struct.unpack_from("!Ii", data, end + 1)
            at = end + 9
            columns.append(column)
            types.append(type_oid)
            if flags & 1:
                key.append(column)
    except (struct.error, ValueError, IndexError):
        raise ProtocolError("relation message ends early") from None
    return Relation(oid, names[0] or "pg_catalog", names[1], columns, types, key)


@dataclass
class RelationChanges:
    """The changes of one relation in committed transactions, in commit order."""

    relation: Relation
    payloads: list[bytes] = field(default_factory=list)
    lsns: list[int] = field(default_factory=list)
    """The end of the transaction of each payload."""
    truncated_at: int | None = None
    """The end of the last transaction that truncated the table (the payloads follow it)."""


@dataclass
class _Open:
    parts: list[tuple[Relation, list[bytes]]] = field(default_factory=list)
    """The transaction's changes, in runs of one relation (as then described)."""
    current: dict[int, list[bytes]] = field(default_factory=dict)
    """The run each relation's next change joins."""
    truncated: set[int] = field(default_factory=set)


class Decoder:
    """Sorts a stream of ``pgoutput`` messages into the committed changes of each
    relation; transactions ending at or before ``skip_upto`` are dropped (already
    applied)."""

    def __init__(self, skip_upto: int = 0) -> None:
        self.relations: dict[int, Relation] = {}
        self.skip_upto = skip_upto
        self.done: list[RelationChanges] = []
        self._held: dict[int, RelationChanges] = {}
        self.count = 0
        """Changes held in ``done``."""
        self.end_lsn = 0
        """The end of the last committed transaction fed."""
        self.committed_ms: int | None = None
        self._open: _Open | None = None

    @property
    def in_transaction(self) -> bool:
        return self._open is not None

    def feed(self, data: bytes) -> bool:
        """Take one message; True when it committed a transaction."""
        if not data:
            raise ProtocolError("empty message")
        kind = data[0]
        if kind in _CHANGES:
            tx = self._open
            if tx is None:
                raise ProtocolError(f"change {chr(kind)!r} outside a transaction")
            try:
                oid = _U32.unpack_from(data, 1)[0]
            except struct.error:
                raise ProtocolError("message ends early") from None
            found = tx.current.get(oid)
            if found is None:
                relation = self.relations.get(oid)
                if relation is None:
                    raise ProtocolError(f"change of relation {oid} before its description")
                tx.current[oid] = found = []
                tx.parts.append((relation, found))
            found.append(data)
            return False
        if kind == 66:  # B
            self._open = _Open()
            return False
        if kind == 67:  # C
            return self._commit(data)
        if kind == 82:  # R
            relation = parse_relation(data)
            self.relations[relation.oid] = relation
            if self._open is not None:  # later changes have the new columns
                self._open.current.pop(relation.oid, None)
            return False
        if kind == 84:  # T
            self._truncate(data)
            return False
        if kind in b"YOM":  # type, origin, logical message: nothing to apply
            return False
        raise ProtocolError(f"unknown message {chr(kind)!r}")

    def _truncate(self, data: bytes) -> None:
        tx = self._open
        if tx is None:
            raise ProtocolError("truncate outside a transaction")
        try:
            (count,) = struct.unpack_from("!i", data, 1)
            oids = struct.unpack_from(f"!{count}I", data, 6)
        except struct.error:
            raise ProtocolError("message ends early") from None
        for oid in oids:
            if oid not in self.relations:
                raise ProtocolError(f"change of relation {oid} before its description")
            # what the transaction did to the table before is gone
            tx.parts = [(r, p) for r, p in tx.parts if r.oid != oid]
            tx.current.pop(oid, None)
            tx.truncated.add(oid)

    def _commit(self, data: bytes) -> bool:
        try:
            _flags, _commit, end, micros = _COMMIT.unpack_from(data, 1)
        except struct.error:
            raise ProtocolError("message ends early") from None
        tx = self._open
        self._open = None
        if tx is None:
            raise ProtocolError("commit without begin")
        if end <= self.skip_upto:
            return True
        for oid in tx.truncated:
            dropped = [c for c in self.done if c.relation.oid == oid]
            self.count -= sum(len(c.payloads) for c in dropped)
            self.done = [c for c in self.done if c.relation.oid != oid]
            held = RelationChanges(self.relations[oid], truncated_at=end)
            self.done.append(held)
            self._held[oid] = held
        for relation, payloads in tx.parts:
            held_or_none = self._held.get(relation.oid)
            if held_or_none is None or held_or_none.relation is not relation:
                held_or_none = RelationChanges(relation)
                self.done.append(held_or_none)
                self._held[relation.oid] = held_or_none
            held_or_none.payloads.extend(payloads)
            held_or_none.lsns.extend([end] * len(payloads))
            self.count += len(payloads)
        self.end_lsn = end
        self.committed_ms = _timestamp_ms(micros)
        return True

    def take(self) -> list[RelationChanges]:
        """The changes committed since the last call, in runs of one relation."""
        out = self.done
        self.done = []
        self._held = {}
        self.count = 0
        return out


@dataclass
class DecodedRows:
    """A relation's changes as columns: its columns plus ``OP_COLUMN``."""

    batch: pa.RecordBatch
    lsns: pa.Array
    """The end of the transaction of each row."""
    unsent: list[int]
    """Rows missing the value of an unchanged large column (not sent by the server)."""


def _typed(array: pa.Array, type_oid: int) -> pa.Array:
    if type_oid in _INTEGER_TYPES:
        return pc.cast(array, pa.int64())
    if type_oid in _FLOAT_TYPES:
        return pc.cast(array, pa.float64())
    if type_oid == _BOOL_TYPE:
        return pc.equal(array, "t")
    return pc.cast(array, pa.string())


def decode(changes: RelationChanges) -> DecodedRows:
    """Every change of a relation decoded at once (an update with its old key gives a
    delete of that key first)."""
    try:
        from lakeworks.streaming import _pgoutput
    except ImportError:  # pragma: no cover - only without a built package
        raise UserError(
            "the pgoutput change decoder is not built",
            hint="reinstall Lakeworks where a C compiler is available (pip install -e .)",
        ) from None
    relation = changes.relation
    try:
        rows, ops, origins, toast, columns = _pgoutput.columns(
            changes.payloads, len(relation.columns)
        )
    except ValueError as exc:
        raise ProtocolError(f"{relation.qualified}: {exc}") from None
    arrays: list[pa.Array] = []
    for (offsets, data, validity, nulls), type_oid in zip(columns, relation.type_oids, strict=True):
        text = pa.Array.from_buffers(
            pa.large_string(),
            rows,
            [pa.py_buffer(validity) if nulls else None, pa.py_buffer(offsets), pa.py_buffer(data)],
            null_count=nulls,
        )
        arrays.append(_typed(text, type_oid))
    arrays.append(pa.Array.from_buffers(pa.int8(), rows, [None, pa.py_buffer(ops)]))
    origin = pa.Array.from_buffers(pa.int32(), rows, [None, pa.py_buffer(origins)])
    lsns = pc.take(pa.array(changes.lsns, pa.int64()), origin)
    unsent = [i for i, flag in enumerate(toast) if flag] if b"\x01" in toast else []
    batch = pa.RecordBatch.from_arrays(arrays, names=[*relation.columns, OP_COLUMN])
    return DecodedRows(batch, lsns, unsent)
