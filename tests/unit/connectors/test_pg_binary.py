"""The binary COPY decoder on hand-built streams: every kind, nulls, batching, bad input."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest

from lakeworks.connectors import _pgcopy
from lakeworks.connectors.pg_binary import SIGNATURE, BinaryCopyDecoder, CopyStream, DecodedBatch
from lakeworks.connectors.pg_types import ColumnCodec, plan_column
from lakeworks.errors import TransientError, UserError


def header() -> bytes:
    return SIGNATURE + struct.pack(">ii", 0, 0)


def field(value: bytes | None) -> bytes:
    if value is None:
        return struct.pack(">i", -1)
    return struct.pack(">i", len(value)) + value


def row(*values: bytes | None) -> bytes:
    return struct.pack(">h", len(values)) + b"".join(field(v) for v in values)


TRAILER = struct.pack(">h", -1)


def micros(moment: datetime) -> bytes:
    epoch = datetime(2000, 1, 1, tzinfo=moment.tzinfo)
    delta = moment - epoch
    return struct.pack(">q", (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds)


def decode(
    columns: list[ColumnCodec], data: bytes, batch_rows: int = 1000, chunk: int | None = None
) -> list[DecodedBatch]:
    decoder = BinaryCopyDecoder(columns, batch_rows, "orders")
    out: list[DecodedBatch] = []
    step = chunk or len(data) or 1
    for start in range(0, len(data), step):
        decoder.stream.write(data[start : start + step])
        out.extend(decoder.ready())
    out.extend(decoder.finish())
    return out


def rows_of(batches: list[DecodedBatch]) -> list[dict[str, Any]]:
    return [r for b in batches for r in b.batch.to_pylist()]


ALL_TYPES = [
    plan_column("flag", 16, None, None),
    plan_column("small", 21, None, None),
    plan_column("num", 23, None, None),
    plan_column("big", 20, None, None),
    plan_column("ratio", 700, None, None),
    plan_column("amount", 701, None, None),
    plan_column("day", 1082, None, None),
    plan_column("at", 1114, None, None),
    plan_column("at_utc", 1184, None, None),
    plan_column("clock", 1083, None, None),
    plan_column("name", 25, None, None),
    plan_column("blob", 17, None, None),
    plan_column("price", 1700, 12, 2),
]


def full_row(i: int) -> bytes:
    return row(
        b"\x01" if i % 2 else b"\x00",
        struct.pack(">h", -i),
        struct.pack(">i", i * 1000),
        struct.pack(">q", i * 10**12),
        struct.pack(">f", 0.5 * i),
        struct.pack(">d", i * 1.25),
        struct.pack(">i", 9000 + i),
        micros(datetime(2024, 2, 29, 23, 59, 59, 500000)),
        micros(datetime(2024, 1, 1, 12, 0, tzinfo=UTC)),
        struct.pack(">q", (13 * 3600 + 5) * 1_000_000),
        f"név {i}".encode(),
        bytes([0, 255, i % 256]),
        f"{i}.50".encode(),
    )


def test_every_kind_decodes_to_its_value() -> None:
    data = header() + full_row(3) + row(*([None] * len(ALL_TYPES))) + TRAILER
    batches = decode(ALL_TYPES, data)
    first, empty = rows_of(batches)
    assert first == {
        "flag": True,
        "small": -3,
        "num": 3000,
        "big": 3 * 10**12,
        "ratio": 1.5,
        "amount": 3.75,
        "day": date(2000, 1, 1) + timedelta(days=9003),
        "at": datetime(2024, 2, 29, 23, 59, 59, 500000),
        "at_utc": datetime(2024, 1, 1, 12, 0, tzinfo=UTC),
        "clock": time(13, 0, 5),
        "name": "név 3",
        "blob": bytes([0, 255, 3]),
        "price": Decimal("3.50"),
    }
    assert all(value is None for value in empty.values())
    assert batches[0].batch.schema.field("price").type == pa.decimal128(12, 2)


def test_batches_hold_batch_rows_and_count_positions() -> None:
    data = header() + b"".join(full_row(i) for i in range(1, 26)) + TRAILER
    batches = decode(ALL_TYPES, data, batch_rows=10, chunk=7)
    assert [b.batch.num_rows for b in batches] == [10, 10, 5]
    assert [b.first_row for b in batches] == [1, 11, 21]
    assert [r["num"] for r in rows_of(batches)] == [i * 1000 for i in range(1, 26)]
    assert sum(b.nbytes for b in batches) == len(data) - len(header())


def test_empty_stream_has_no_batches() -> None:
    assert decode(ALL_TYPES, header() + TRAILER) == []


def test_infinities_and_nan_become_rejects_and_keep_positions() -> None:
    columns = [
        plan_column("id", 23, None, None),
        plan_column("day", 1082, None, None),
        plan_column("at", 1114, None, None),
        plan_column("price", 1700, 10, 2),
    ]

    def line(i: int, day: bytes, at: bytes, price: bytes) -> bytes:
        return row(struct.pack(">i", i), day, at, price)

    ok_day, ok_at = struct.pack(">i", 1), micros(datetime(2024, 1, 1))
    data = (
        header()
        + line(1, ok_day, ok_at, b"1.00")
        + line(2, struct.pack(">i", 2**31 - 1), ok_at, b"2.00")
        + line(3, ok_day, struct.pack(">q", -(2**63)), b"3.00")
        + line(4, ok_day, ok_at, b"NaN")
        + line(5, ok_day, ok_at, b"5.00")
        + TRAILER
    )
    batches = decode(columns, data)
    assert [r["id"] for r in rows_of(batches)] == [1, 5]
    assert [(b.first_row, b.batch.num_rows) for b in batches] == [(1, 1), (5, 1)]
    rejects = [r for b in batches for r in b.rejects]
    assert [r.position for r in rejects] == ["orders row 2", "orders row 3", "orders row 4"]
    assert "column 'day' holds 'infinity'" in rejects[0].reason
    assert "column 'at' holds '-infinity'" in rejects[1].reason
    assert "column 'price' holds 'NaN'" in rejects[2].reason
    assert '"day": "infinity"' in rejects[0].raw and '"id": 2' in rejects[0].raw


def test_a_row_larger_than_the_buffer_grows_it() -> None:
    columns = [plan_column("id", 23, None, None), plan_column("pad", 25, None, None)]
    big = b"x" * (40 << 20)
    data = header() + row(struct.pack(">i", 1), big) + row(struct.pack(">i", 2), b"y") + TRAILER
    batches = decode(columns, data, chunk=1 << 20)
    values = rows_of(batches)
    assert [r["id"] for r in values] == [1, 2]
    assert len(values[0]["pad"]) == len(big)


def test_truncated_stream_is_transient() -> None:
    data = header() + full_row(1) + full_row(2)
    with pytest.raises(TransientError, match="ended before its last row"):
        decode(ALL_TYPES, data[:-5])


def test_wrong_field_count_is_reported() -> None:
    data = header() + row(struct.pack(">i", 1)) + TRAILER
    with pytest.raises(UserError, match="1 fields where 13 were expected"):
        decode(ALL_TYPES, data)


def test_wrong_width_is_reported() -> None:
    columns = [plan_column("id", 23, None, None)]
    with pytest.raises(UserError, match="column 1 has a 8-byte value where 4 bytes"):
        decode(columns, header() + row(struct.pack(">q", 1)) + TRAILER)


def test_not_a_binary_copy_stream() -> None:
    with pytest.raises(UserError, match="not answer with a binary COPY"):
        decode(ALL_TYPES, b"id,name\n1,x\n" + b" " * 20)


def test_data_after_the_end_marker_is_refused() -> None:
    with pytest.raises(UserError, match="after its end marker"):
        decode(ALL_TYPES, header() + TRAILER + b"junk")


def messages(*parts: tuple[bytes, bytes]) -> bytes:
    return b"".join(kind + struct.pack(">i", len(body) + 4) + body for kind, body in parts)


def test_unframe_joins_copy_data_and_skips_notices() -> None:
    wire = messages(
        (b"H", b"\x01\x00\x01\x00\x01"),
        (b"d", b"abc"),
        (b"N", b"SNOTICE\x00Mhello\x00\x00"),
        (b"d", b"defg"),
        (b"c", b""),
        (b"C", b"COPY 2\x00"),
    )
    out = bytearray(64)
    consumed, written, status, body = _pgcopy.unframe(wire, 0, len(wire) - 12, out, 0)
    assert (status, bytes(out[:written]), body) == (1, b"abcdefg", None)
    assert consumed == len(wire) - len(messages((b"C", b"COPY 2\x00")))


def test_unframe_stops_when_the_stream_is_full_and_at_partial_messages() -> None:
    wire = messages((b"d", b"abcdef"), (b"d", b"gh"))
    out = bytearray(4)
    assert _pgcopy.unframe(wire, 0, len(wire), out, 0) == (0, 0, 0, None)
    out = bytearray(16)
    consumed, written, status, _ = _pgcopy.unframe(wire, 0, len(wire) - 1, out, 0)
    assert (consumed, written, status) == (11, 6, 0)


def test_unframe_returns_errors_and_unexpected_messages() -> None:
    error = b"SERROR\x00C22012\x00Mdivision by zero\x00\x00"
    wire = messages((b"d", b"ab"), (b"E", error))
    out = bytearray(16)
    consumed, written, status, body = _pgcopy.unframe(wire, 0, len(wire), out, 0)
    assert (consumed, written, status, body) == (len(wire), 2, 2, error)
    wire = messages((b"T", b"\x00\x00"))
    assert _pgcopy.unframe(wire, 0, len(wire), out, 0)[2:] == (3, b"T")


def test_server_error_classifies_sqlstate() -> None:
    from lakeworks.connectors.pg_transport import server_error

    user = server_error(b"SERROR\x00C22012\x00Mdivision by zero\x00\x00", "shop")
    assert isinstance(user, UserError) and "division by zero" in user.render()
    lost = server_error(b"SFATAL\x00C57P01\x00Mterminating connection\x00\x00", "shop")
    assert isinstance(lost, TransientError)


def test_stream_compacts_before_growing() -> None:
    stream = CopyStream(capacity=16)
    stream.write(b"0123456789")
    stream.start = 8
    stream.reserve(12)
    assert (len(stream.data), stream.start, stream.end) == (16, 0, 2)
    stream.write(b"abcdefghijklmnopqrstuvwxyz")
    assert bytes(stream.data[stream.start : stream.end]) == b"89abcdefghijklmnopqrstuvwxyz"


@pytest.fixture
def many() -> Iterator[bytes]:
    yield header() + b"".join(full_row(i) for i in range(1, 2001)) + TRAILER


def test_any_chunking_gives_the_same_rows(many: bytes) -> None:
    expected = rows_of(decode(ALL_TYPES, many, batch_rows=300))
    for chunk in (1, 13, 4096):
        assert rows_of(decode(ALL_TYPES, many, batch_rows=300, chunk=chunk)) == expected


def test_damaged_streams_fail_cleanly(many: bytes) -> None:
    """Flipped, cut and shuffled bytes give an error or rows, never a crash."""
    import contextlib
    import random

    rng = random.Random(20261121)
    for _ in range(400):
        data = bytearray(many[: rng.randrange(len(header()), 6000)])
        for _ in range(rng.randrange(1, 6)):
            data[rng.randrange(len(header()), len(data))] = rng.randrange(256)
        with contextlib.suppress(UserError, TransientError):
            rows_of(decode(ALL_TYPES, bytes(data) + TRAILER, batch_rows=rng.randrange(1, 50)))


def test_fill_checks_what_scan_did_not() -> None:
    data = header() + row(struct.pack(">h", 1)) + TRAILER
    values = [pa.allocate_buffer(8)]
    with pytest.raises(ValueError, match="do not match the scan"):
        _pgcopy.fill(data, len(header()), 1, b"q", [None], values, [None])


def test_text_that_is_not_utf8_is_a_reject() -> None:
    columns = [plan_column("id", 23, None, None), plan_column("name", 25, None, None)]
    data = (
        header()
        + row(struct.pack(">i", 1), b"ok")
        + row(struct.pack(">i", 2), b"caf\xe9")
        + row(struct.pack(">i", 3), "café".encode())
        + TRAILER
    )
    batches = decode(columns, data)
    assert rows_of(batches) == [{"id": 1, "name": "ok"}, {"id": 3, "name": "café"}]
    (reject,) = [r for b in batches for r in b.rejects]
    assert reject.position == "orders row 2"
    assert "column 'name' holds bytes that are not UTF-8 text" in reject.reason
    assert '"name": "caf\ufffd"' in reject.raw
