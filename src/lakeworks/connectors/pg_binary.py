"""Decoding a PostgreSQL ``COPY … TO STDOUT (FORMAT binary)`` stream into Arrow batches.

A transport (``pg_transport``) writes the COPY byte stream into a ``CopyStream``; the
``BinaryCopyDecoder`` takes whole batches off it. Each batch is scanned and decoded by
the compiled ``_pgcopy`` module straight into Arrow buffers (allocated from Arrow's
memory pool at their exact sizes), so no row or value ever becomes a Python object.
Values Arrow cannot hold (date and timestamp infinities, numeric NaN) are not lost:
their rows are handed back as rejects with their row number and the reason, and the
batch is split around them so every other row keeps its exact position.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lakeworks.connectors.base import Reject
from lakeworks.errors import TransientError, UserError

if TYPE_CHECKING:
    import pyarrow as pa

    from lakeworks.connectors.pg_types import ColumnCodec

SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
HEADER_BYTES = len(SIGNATURE) + 8
MAX_BATCH_BYTES = 16 << 20
"""Stream bytes decoded into one batch at most (bounds memory for wide rows)."""

_SPECIAL_VALUES = {1: "infinity", 2: "-infinity", 3: "out of range"}
_Bad = dict[int, dict[str, tuple[str, str]]]
"""Bad rows of a batch: row -> column -> (what is wrong, the value as text)."""
_NUMERIC_SPECIALS = ("NaN", "Infinity", "-Infinity")


def decoder_module() -> Any:
    """The compiled ``_pgcopy`` module (a clear error when the package was built without it)."""
    try:
        from lakeworks.connectors import _pgcopy
    except ImportError:  # pragma: no cover - only without a built package
        raise UserError(
            "the PostgreSQL binary decoder is not built",
            hint="reinstall Lakeworks where a C compiler is available (pip install -e .)",
        ) from None
    return _pgcopy


class CopyStream:
    """A growable buffer: transports append COPY bytes, the decoder consumes them.

    It starts at a megabyte and doubles when a batch (or a single row) needs more, so a
    small read costs little and a large one settles at about two batches' worth.
    """

    def __init__(self, capacity: int = 1 << 20) -> None:
        self.data = bytearray(capacity)
        self.start = 0
        self.end = 0

    @property
    def available(self) -> int:
        """Bytes written and not yet decoded."""
        return self.end - self.start

    @property
    def free(self) -> int:
        """Room left after ``end`` without compacting."""
        return len(self.data) - self.end

    def reserve(self, at_least: int) -> None:
        """Make room for ``at_least`` more bytes (compacting first, growing if need be)."""
        if self.free >= at_least:
            return
        if self.start:
            size = self.available
            self.data[:size] = self.data[self.start : self.end]
            self.start, self.end = 0, size
        if self.free < at_least:
            self.data.extend(bytes(max(len(self.data), at_least - self.free)))

    def writable(self, at_least: int = 1 << 16) -> memoryview:
        """A view of the free space (at least ``at_least`` bytes); call ``wrote`` after."""
        self.reserve(at_least)
        return memoryview(self.data)[self.end :]

    def wrote(self, count: int) -> None:
        """Record that ``count`` bytes were written at ``end``."""
        self.end += count

    def write(self, chunk: bytes | bytearray | memoryview) -> None:
        """Append ``chunk``."""
        size = len(chunk)
        self.reserve(size)
        self.data[self.end : self.end + size] = chunk
        self.end += size


@dataclass
class DecodedBatch:
    """Rows decoded from the stream: the batch, its first row number, rejected rows."""

    batch: pa.RecordBatch
    first_row: int
    nbytes: int
    rejects: list[Reject] = field(default_factory=list)


class BinaryCopyDecoder:
    """Turns a binary COPY stream into record batches of about ``batch_rows`` rows."""

    def __init__(
        self, columns: list[ColumnCodec], batch_rows: int, origin: str, check_utf8: bool = True
    ) -> None:
        """``check_utf8``: validate text columns (needed unless the server converts to UTF-8)."""
        import pyarrow as pa

        self.columns = columns
        self.kinds = "".join(c.kind for c in columns).encode()
        self.schema = pa.schema([pa.field(c.name, c.arrow_type) for c in columns])
        self.batch_rows = batch_rows
        self.origin = origin
        self.stream = CopyStream()
        self.ended = False
        self._header = False
        self._next_row = 1
        self._row_bytes: float | None = None
        self._lib = decoder_module()
        self._text = [
            i for i, c in enumerate(columns) if check_utf8 and pa.types.is_string(c.wire_type)
        ]

    def ready(self) -> Iterator[DecodedBatch]:
        """The batches the stream holds in full now (call after every write)."""
        while not self.ended and not self._want_more():
            decoded = self._decode()
            if decoded is None:
                return
            yield from decoded

    def finish(self) -> Iterator[DecodedBatch]:
        """The remaining batches once the transport has delivered everything."""
        while not self.ended:
            decoded = self._decode()
            if decoded is None:
                raise TransientError(
                    "the COPY stream ended before its last row",
                    hint="the server closed the stream; the sync is retried",
                )
            yield from decoded
        if self.stream.available:
            raise UserError("the COPY stream has data after its end marker")

    def _want_more(self) -> bool:
        stream = self.stream
        if not self._header and not self._read_header():
            return True
        if self._row_bytes is None:
            return stream.available < MAX_BATCH_BYTES
        wanted = min(self._row_bytes * self.batch_rows * 1.02 + 64, MAX_BATCH_BYTES)
        return stream.available < wanted

    def _read_header(self) -> bool:
        stream = self.stream
        if stream.available < HEADER_BYTES:
            return False
        head = bytes(stream.data[stream.start : stream.start + HEADER_BYTES])
        if not head.startswith(SIGNATURE):
            raise UserError("the server did not answer with a binary COPY stream")
        extension = int.from_bytes(head[15:19], "big")
        if stream.available < HEADER_BYTES + extension:
            return False
        stream.start += HEADER_BYTES + extension
        self._header = True
        return True

    def _decode(self) -> list[DecodedBatch] | None:
        """Decode one batch; None when no complete row is buffered yet."""
        import pyarrow as pa

        stream = self.stream
        if not self._header and not self._read_header():
            return None
        lib = self._lib
        try:
            rows, after, ended, var_bytes, nulls = lib.scan(
                stream.data, stream.start, stream.end, self.kinds,
                self.batch_rows, MAX_BATCH_BYTES,
            )  # fmt: skip
        except ValueError as exc:
            raise UserError(f"unexpected COPY data: {exc}") from None
        if rows == 0:
            if ended:
                stream.start = after
                self.ended = True
                return []
            return None
        validity: list[Any] = []
        values: list[Any] = []
        offsets: list[Any] = []
        for codec, size, null_count in zip(self.columns, var_bytes, nulls, strict=True):
            validity.append(pa.allocate_buffer((rows + 7) // 8) if null_count else None)
            values.append(pa.allocate_buffer(_value_bytes(codec.kind, rows, size)))
            offsets.append(pa.allocate_buffer((rows + 1) * 4) if codec.kind == "s" else None)
        specials = lib.fill(stream.data, stream.start, rows, self.kinds, validity, values, offsets)
        nbytes = after - stream.start
        stream.start = after
        self.ended = bool(ended)
        self._row_bytes = nbytes / rows
        arrays = []
        for i, codec in enumerate(self.columns):
            buffers = [validity[i], values[i]] if offsets[i] is None else [
                validity[i], offsets[i], values[i],
            ]  # fmt: skip
            array = pa.Array.from_buffers(codec.wire_type, rows, buffers, null_count=nulls[i])
            arrays.append(array)
        first = self._next_row
        self._next_row += rows
        return self._finish_batch(arrays, rows, first, nbytes, specials)

    def _finish_batch(
        self,
        arrays: list[pa.Array],
        rows: int,
        first: int,
        nbytes: int,
        specials: list[tuple[int, int, int]],
    ) -> list[DecodedBatch]:
        import pyarrow as pa

        bad: _Bad = {}
        for row, column, code in specials:
            text = _SPECIAL_VALUES.get(code, "out of range")
            reason = f"holds '{text}', which the target cannot store"
            if code == 3:
                reason = "holds a timestamp after the year 294246, which the target cannot store"
            bad.setdefault(row, {})[self.columns[column].name] = (reason, text)
        for i in self._text:
            arrays[i] = self._valid_utf8(arrays[i], self.columns[i], bad)
        for i, codec in enumerate(self.columns):
            if codec.wire_type != codec.arrow_type:
                arrays[i] = self._cast(arrays[i], codec, bad)
        batch = pa.RecordBatch.from_arrays(arrays, schema=self.schema)
        if not bad:
            return [DecodedBatch(batch, first, nbytes)]
        return self._split(batch, first, nbytes, bad)

    def _valid_utf8(self, array: pa.Array, codec: ColumnCodec, bad: _Bad) -> pa.Array:
        """The text column with values that are not UTF-8 noted as bad and nulled."""
        import pyarrow as pa

        try:
            array.validate(full=True)
            return array
        except pa.ArrowInvalid:
            pass
        raw = array.view(pa.binary())
        keep: list[bytes | None] = []
        for row, value in enumerate(raw.to_pylist()):
            try:
                if value is not None:
                    value.decode()
                keep.append(value)
            except UnicodeDecodeError:
                bad.setdefault(row, {})[codec.name] = (
                    "holds bytes that are not UTF-8 text",
                    value.decode(errors="replace"),
                )
                keep.append(None)
        return pa.array(keep, pa.binary()).view(pa.string())

    def _cast(self, array: pa.Array, codec: ColumnCodec, bad: _Bad) -> pa.Array:
        """Cast a column read as text (numeric) to its Arrow type, noting NaN/infinity."""
        import pyarrow as pa
        import pyarrow.compute as pc

        specials = pc.is_in(array, value_set=pa.array(_NUMERIC_SPECIALS))
        if pc.any(specials).as_py():
            for row in pc.indices_nonzero(specials).to_pylist():
                text = str(array[row].as_py())
                bad.setdefault(row, {})[codec.name] = (
                    f"holds '{text}', which the target cannot store",
                    text,
                )
            array = pc.if_else(specials, pa.scalar(None, pa.string()), array)
        try:
            return pc.cast(array, codec.arrow_type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise UserError(
                f"column '{codec.name}' cannot be read as {codec.arrow_type}: {exc}"
            ) from None

    def _split(
        self, batch: pa.RecordBatch, first: int, nbytes: int, bad: _Bad
    ) -> list[DecodedBatch]:
        """The batch without its bad rows, in runs that keep every row's position."""
        out: list[DecodedBatch] = []
        rejects = [
            Reject(
                f"{self.origin} row {first + row}",
                "; ".join(f"column '{name}' {reason}" for name, (reason, _) in values.items()),
                _row_text(batch, row, values),
            )
            for row, values in sorted(bad.items())
        ]
        start = 0
        for row in [*sorted(bad), batch.num_rows]:
            if row > start:
                out.append(DecodedBatch(batch.slice(start, row - start), first + start, 0))
            start = row + 1
        if not out:
            out.append(DecodedBatch(batch.slice(0, 0), first, 0))
        out[0].rejects = rejects
        out[0].nbytes = nbytes
        return out


def _value_bytes(kind: str, rows: int, var_bytes: int) -> int:
    if kind == "s":
        return var_bytes
    if kind == "b":
        return (rows + 7) // 8
    return rows * {"h": 2, "i": 4, "f": 4, "D": 4}.get(kind, 8)


def _row_text(batch: pa.RecordBatch, row: int, specials: dict[str, tuple[str, str]]) -> str:
    """A row as JSON for the quarantine table (bad values shown as text)."""
    values = {**batch.slice(row, 1).to_pylist()[0]}
    values.update({name: text for name, (_, text) in specials.items()})
    return json.dumps(values, default=str, ensure_ascii=False)
