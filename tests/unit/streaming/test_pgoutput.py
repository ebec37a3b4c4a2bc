"""Decoding pgoutput messages: relations, inserts, updates (with a key change),
deletes, truncates and commits; malformed messages are named, not crashed on."""

from __future__ import annotations

import struct
from datetime import datetime

import pytest

from lakeworks.streaming.pgoutput import (
    UNCHANGED_TOAST,
    Decoder,
    ProtocolError,
    lsn_text,
    parse_lsn,
)

MICROS_2026 = int((datetime(2026, 12, 3) - datetime(2000, 1, 1)).total_seconds() * 1_000_000)


def _begin(xid: int) -> bytes:
    return b"B" + struct.pack("!qqI", 100, MICROS_2026, xid)


def _commit(end: int) -> bytes:
    return b"C" + struct.pack("!bqqq", 0, end - 10, end, MICROS_2026)


def _relation() -> bytes:
    out = b"R" + struct.pack("!I", 16400) + b"shop\0orders\0" + b"d" + struct.pack("!h", 2)
    out += b"\x01id\0" + struct.pack("!Ii", 23, -1)
    out += b"\x00note\0" + struct.pack("!Ii", 25, -1)
    return out


def _tuple(*values: bytes | str | None) -> bytes:
    out = struct.pack("!h", len(values))
    for v in values:
        if v is None:
            out += b"n"
        elif v == "u":
            out += b"u"
        else:
            assert isinstance(v, bytes)
            out += b"t" + struct.pack("!i", len(v)) + v
    return out


def test_a_transaction_of_every_change_kind() -> None:
    decoder = Decoder()
    rel = struct.pack("!I", 16400)
    assert decoder.feed(_begin(7)) is None
    decoder.feed(_relation())
    decoder.feed(b"I" + rel + b"N" + _tuple(b"1", "é".encode()))
    decoder.feed(b"U" + rel + b"K" + _tuple(b"1", None) + b"N" + _tuple(b"2", "u"))
    decoder.feed(b"D" + rel + b"K" + _tuple(b"2", None))
    decoder.feed(b"T" + struct.pack("!ib", 1, 0) + rel)
    tx = decoder.feed(_commit(5000))
    assert tx is not None and tx.xid == 7 and tx.end_lsn == 5000
    assert tx.committed_at == datetime(2026, 12, 3)
    kinds = [c.action for c in tx.changes]
    assert kinds == ["I", "U", "D", "T"]
    insert, update, delete, _ = tx.changes
    assert insert.relation.qualified == "shop.orders" and insert.relation.key == ["id"]
    assert insert.new == ["1", "é"]
    assert update.old == ["1", None] and update.new == ["2", UNCHANGED_TOAST]
    assert delete.old == ["2", None]


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (b"I" + struct.pack("!I", 1) + b"N" + struct.pack("!h", 0), "before its description"),
        (b"Z", "unknown message"),
        (b"C" + b"\0" * 3, "ends early"),
    ],
)
def test_malformed_messages_are_protocol_errors(message: bytes, reason: str) -> None:
    decoder = Decoder()
    decoder.feed(_begin(1))
    with pytest.raises(ProtocolError, match=reason):
        decoder.feed(message)


def test_lsn_text_round_trip() -> None:
    assert lsn_text(parse_lsn("16/B374D848")) == "16/B374D848"
    assert parse_lsn("0/1D74658") == 0x1D74658
