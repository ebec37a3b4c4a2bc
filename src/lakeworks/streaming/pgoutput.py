"""Decoding PostgreSQL's ``pgoutput`` logical replication messages (protocol 1).

Each message is one ``bytea`` of ``pg_logical_slot_peek_binary_changes``: begin,
relation (a table's columns, sent before its first change in every decoding session),
insert, update, delete, truncate, commit. Column values arrive as text, exactly as
PostgreSQL prints them, so rows and deleted keys compare equal by their text.
Pure: no database, no clock.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
UNCHANGED_TOAST = object()
"""An update's column whose (large, stored out of line) value did not change and
was therefore not sent."""

_I16 = struct.Struct("!h")
_I32 = struct.Struct("!i")
_U32 = struct.Struct("!I")
_I64 = struct.Struct("!q")


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


@dataclass
class Change:
    """One row change: ``action`` is ``I``, ``U``, ``D`` or ``T`` (truncate)."""

    action: str
    relation: Relation
    new: list[object] | None = None
    """Column values (text, None or ``UNCHANGED_TOAST``) of an insert or update."""
    old: list[object] | None = None
    """The old key (or whole old row) of an update or delete, when sent."""


@dataclass
class Transaction:
    """One committed transaction's changes, in order."""

    xid: int
    end_lsn: int
    """Where the commit record ends: the slot may be advanced to here once applied."""
    committed_at: datetime
    changes: list[Change] = field(default_factory=list)


def lsn_text(lsn: int) -> str:
    """``0/1D74658`` from an LSN number."""
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def parse_lsn(text: str) -> int:
    """An LSN number from ``0/1D74658``."""
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) | int(low, 16)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def byte(self) -> str:
        if self.at >= len(self.data):
            raise ProtocolError("message ends early")
        value = chr(self.data[self.at])
        self.at += 1
        return value

    def _unpack(self, fmt: struct.Struct) -> int:
        try:
            (value,) = fmt.unpack_from(self.data, self.at)
        except struct.error:
            raise ProtocolError("message ends early") from None
        self.at += fmt.size
        return int(value)

    def i16(self) -> int:
        return self._unpack(_I16)

    def i32(self) -> int:
        return self._unpack(_I32)

    def u32(self) -> int:
        return self._unpack(_U32)

    def i64(self) -> int:
        return self._unpack(_I64)

    def string(self) -> str:
        end = self.data.find(b"\0", self.at)
        if end < 0:
            raise ProtocolError("unterminated string")
        value = self.data[self.at : end].decode("utf-8")
        self.at = end + 1
        return value

    def tuple_data(self) -> list[object]:
        values: list[object] = []
        for _ in range(self.i16()):
            kind = self.byte()
            if kind == "n":
                values.append(None)
            elif kind == "u":
                values.append(UNCHANGED_TOAST)
            elif kind == "t":
                size = self.i32()
                values.append(self.data[self.at : self.at + size].decode("utf-8"))
                self.at += size
            else:
                raise ProtocolError(f"unknown column kind {kind!r}")
        return values


def _timestamp(micros: int) -> datetime:
    return (PG_EPOCH + timedelta(microseconds=micros)).replace(tzinfo=None)


class Decoder:
    """Turns a stream of ``pgoutput`` messages into committed transactions."""

    def __init__(self) -> None:
        self.relations: dict[int, Relation] = {}
        self._open: Transaction | None = None

    def feed(self, data: bytes) -> Transaction | None:
        """Take one message; returns a transaction when this message committed it."""
        r = _Reader(data)
        kind = r.byte()
        if kind == "B":
            r.i64()  # the transaction's final LSN
            committed = _timestamp(r.i64())
            self._open = Transaction(xid=r.u32(), end_lsn=0, committed_at=committed)
            return None
        if kind == "C":
            r.byte()  # flags
            r.i64()  # commit LSN
            end = r.i64()
            committed = _timestamp(r.i64())
            done = self._open
            self._open = None
            if done is None:
                raise ProtocolError("commit without begin")
            done.end_lsn = end
            done.committed_at = committed
            return done
        if kind == "R":
            oid = r.u32()
            schema = r.string() or "pg_catalog"
            name = r.string()
            r.byte()  # replica identity setting
            columns: list[str] = []
            types: list[int] = []
            key: list[str] = []
            for _ in range(r.i16()):
                flags = r.byte()
                column = r.string()
                columns.append(column)
                types.append(r.u32())
                r.i32()  # type modifier
                if ord(flags) & 1:
                    key.append(column)
            self.relations[oid] = Relation(oid, schema, name, columns, types, key)
            return None
        if kind in ("Y", "O", "M"):  # type, origin, logical message: nothing to apply
            return None
        tx = self._open
        if tx is None:
            raise ProtocolError(f"change {kind!r} outside a transaction")
        if kind == "I":
            relation = self._relation(r.u32())
            if r.byte() != "N":
                raise ProtocolError("insert without a new row")
            tx.changes.append(Change("I", relation, new=r.tuple_data()))
        elif kind == "U":
            relation = self._relation(r.u32())
            old = None
            marker = r.byte()
            if marker in ("K", "O"):
                old = r.tuple_data()
                marker = r.byte()
            if marker != "N":
                raise ProtocolError("update without a new row")
            tx.changes.append(Change("U", relation, new=r.tuple_data(), old=old))
        elif kind == "D":
            relation = self._relation(r.u32())
            if r.byte() not in ("K", "O"):
                raise ProtocolError("delete without its key")
            tx.changes.append(Change("D", relation, old=r.tuple_data()))
        elif kind == "T":
            count = r.i32()
            r.byte()  # options (cascade, restart identity)
            for _ in range(count):
                tx.changes.append(Change("T", self._relation(r.u32())))
        else:
            raise ProtocolError(f"unknown message {kind!r}")
        return None

    def _relation(self, oid: int) -> Relation:
        found = self.relations.get(oid)
        if found is None:
            raise ProtocolError(f"change of relation {oid} before its description")
        return found
