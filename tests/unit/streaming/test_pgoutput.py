"""Decoding pgoutput messages: relations, inserts, updates (with a key change),
deletes, truncates and commits, sorted by relation and decoded into Arrow columns;
malformed messages are named, not crashed on."""

from __future__ import annotations

import struct
from datetime import UTC, datetime

import pytest

from lakeworks.streaming.pgoutput import (
    OP_COLUMN,
    Decoder,
    ProtocolError,
    decode,
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


def _feed(decoder: Decoder, *messages: bytes) -> None:
    for m in messages:
        decoder.feed(m)


REL = struct.pack("!I", 16400)


def test_a_transaction_of_every_change_kind_decoded_into_columns() -> None:
    decoder = Decoder()
    assert decoder.feed(_begin(7)) is False
    _feed(
        decoder,
        _relation(),
        b"I" + REL + b"N" + _tuple(b"1", "é".encode()),
        b"U" + REL + b"K" + _tuple(b"1", None) + b"N" + _tuple(b"2", "u"),
        b"D" + REL + b"K" + _tuple(b"2", None),
        b"I" + REL + b"N" + _tuple(b"3", b"kept"),
    )
    assert decoder.feed(_commit(5000)) is True
    assert decoder.end_lsn == 5000 and decoder.count == 4
    assert decoder.committed_ms == int(datetime(2026, 12, 3, tzinfo=UTC).timestamp() * 1000)
    (changes,) = decoder.take()
    assert changes.relation.qualified == "shop.orders" and changes.relation.key == ["id"]
    decoded = decode(changes)
    rows = decoded.batch.to_pylist()
    # the update's old key is deleted first; its unchanged large value was not sent
    assert [(r["id"], r["note"], chr(r[OP_COLUMN])) for r in rows] == [
        (1, "é", "I"),
        (1, None, "D"),
        (2, None, "U"),
        (2, None, "D"),
        (3, "kept", "I"),
    ]
    assert decoded.unsent == [2]
    assert decoded.lsns.to_pylist() == [5000] * 5
    assert decoder.take() == [] and decoder.count == 0


def test_an_unchanged_large_value_comes_from_the_old_row_when_sent() -> None:
    decoder = Decoder()
    _feed(
        decoder,
        _begin(1),
        _relation(),
        b"U" + REL + b"O" + _tuple(b"4", b"big") + b"N" + _tuple(b"4", "u"),
        _commit(900),
    )
    decoded = decode(decoder.take()[0])
    assert decoded.batch.to_pylist()[-1] == {"id": 4, "note": "big", OP_COLUMN: ord("U")}
    assert decoded.unsent == []


def test_a_truncate_drops_the_changes_before_it_and_a_new_relation_starts_a_run() -> None:
    decoder = Decoder()
    _feed(decoder, _begin(1), _relation(), b"I" + REL + b"N" + _tuple(b"1", b"a"), _commit(100))
    _feed(
        decoder,
        _begin(2),
        b"I" + REL + b"N" + _tuple(b"2", b"b"),
        b"T" + struct.pack("!ib", 1, 0) + REL,
        b"I" + REL + b"N" + _tuple(b"3", b"c"),
        _commit(200),
    )
    wider = _relation().replace(struct.pack("!h", 2), struct.pack("!h", 3), 1)
    wider += b"\x00qty\0" + struct.pack("!Ii", 23, -1)
    _feed(decoder, _begin(3), wider, b"I" + REL + b"N" + _tuple(b"4", b"d", b"7"), _commit(300))
    first, second = decoder.take()
    assert first.truncated_at == 200 and first.lsns == [200]
    assert decode(first).batch.column("id").to_pylist() == [3]
    assert second.relation.columns == ["id", "note", "qty"]
    assert decode(second).batch.to_pylist() == [
        {"id": 4, "note": "d", "qty": 7, OP_COLUMN: ord("I")}
    ]


def test_transactions_already_applied_are_skipped() -> None:
    decoder = Decoder(skip_upto=100)
    _feed(decoder, _begin(1), _relation(), b"I" + REL + b"N" + _tuple(b"1", b"a"), _commit(100))
    assert decoder.take() == []
    _feed(decoder, _begin(2), b"I" + REL + b"N" + _tuple(b"2", b"b"), _commit(101))
    assert [c.lsns for c in decoder.take()] == [[101]]


def test_a_malformed_row_is_named() -> None:
    decoder = Decoder()
    _feed(decoder, _begin(1), _relation(), b"I" + REL + b"N" + _tuple(b"1"), _commit(5))
    with pytest.raises(ProtocolError, match=r"shop\.orders: change message 0: .*column count"):
        decode(decoder.take()[0])


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
