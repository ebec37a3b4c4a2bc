"""Column mapping and type conversion of record batches, isolating dirty rows.

A whole batch is converted with Arrow's vectorised casts. Only when a cast fails are
the offending rows found, by bisection (a handful of extra casts per bad row), set
aside with the reason, and the rest of the batch converted — so clean data pays
nothing for dirty-data handling.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from lakeworks.errors import UserError
from lakeworks.integration.spec import ColumnSpec
from lakeworks.integration.types import parse_type as parse_type  # its former home


@dataclass
class DirtyRow:
    """A row that could not be converted: its index in the batch and why."""

    index: int
    reason: str


@dataclass
class Converted:
    batch: pa.RecordBatch
    dirty: list[DirtyRow] = field(default_factory=list)


def _cast_error(array: pa.Array, target: pa.DataType) -> str | None:
    try:
        pc.cast(array, target, safe=True)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
        return str(exc).splitlines()[0]
    return None


def _bad_rows(array: pa.Array, target: pa.DataType, offset: int, out: dict[int, str]) -> None:
    error = _cast_error(array, target)
    if error is None:
        return
    if len(array) == 1:
        out[offset] = error
        return
    middle = len(array) // 2
    _bad_rows(array.slice(0, middle), target, offset, out)
    _bad_rows(array.slice(middle), target, offset + middle, out)


def cast_column(array: pa.Array, target: pa.DataType, name: str) -> tuple[pa.Array, dict[int, str]]:
    """``array`` cast to ``target``; rows that cannot be cast become null and are listed."""
    if array.type == target:
        return array, {}
    if pa.types.is_null(array.type):
        return pa.nulls(len(array), target), {}
    try:
        return pc.cast(array, target, safe=True), {}
    except pa.ArrowNotImplementedError:
        raise UserError(
            f"column '{name}': cannot convert {array.type} to {target}",
            hint="map the column to a compatible type, or convert it in the source query",
        ) from None
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        pass
    bad: dict[int, str] = {}
    _bad_rows(array, target, 0, bad)
    mask = pa.array([i in bad for i in range(len(array))], pa.bool_())
    cleaned = pc.if_else(mask, pa.scalar(None, array.type), array)
    reasons = {i: f"column '{name}': {reason}" for i, reason in bad.items()}
    return pc.cast(cleaned, target, safe=True), reasons


class Converter:
    """Maps, renames and casts source batches into the target's shape."""

    def __init__(
        self,
        mapping: list[ColumnSpec] | None,
        target_schema: pa.Schema | None,
        partition: dict[str, str],
        key: list[str],
    ) -> None:
        self.mapping = mapping
        self.target_types: dict[str, pa.DataType] = (
            {f.name.lower(): f.type for f in target_schema} if target_schema is not None else {}
        )
        self.explicit: dict[str, pa.DataType] = {}
        for column in mapping or []:
            if column.type:
                try:
                    self.explicit[column.target] = parse_type(column.type)
                except ValueError as exc:
                    raise UserError(f"column '{column.target}': {exc}") from None
        self.partition = partition
        self.key = key

    def output_names(self, source_schema: pa.Schema) -> list[str]:
        """The names of the converted batch for a source schema (before partitions)."""
        if self.mapping is None:
            return [n for n in source_schema.names if n not in self.partition]
        return [c.target for c in self.mapping]

    def convert(self, batch: pa.RecordBatch) -> Converted:
        """Convert one batch; dirty rows are removed from it and reported."""
        names = batch.schema.names
        columns: list[tuple[str, pa.Array, str]] = []
        if self.mapping is None:
            for name in names:
                if name not in self.partition:
                    columns.append((name, batch.column(name), name))
        else:
            for spec in self.mapping:
                if spec.source not in names:
                    raise UserError(
                        f"column '{spec.source}' is not in the source",
                        hint=f"source columns: {', '.join(names)}",
                    )
                columns.append((spec.target, batch.column(spec.source), spec.source))
        dirty: dict[int, str] = {}
        arrays: list[pa.Array] = []
        out_names: list[str] = []
        for target, array, _source in columns:
            wanted = self.explicit.get(target) or self.target_types.get(target.lower())
            if wanted is not None:
                array, bad = cast_column(array, wanted, target)
                for index, reason in bad.items():
                    dirty.setdefault(index, reason)
            arrays.append(array)
            out_names.append(target)
        for key in self.key:
            if key in out_names:
                nulls = pc.is_null(arrays[out_names.index(key)])
                if pc.any(nulls).as_py():
                    for index in pc.indices_nonzero(nulls).to_pylist():
                        dirty.setdefault(index, f"key column '{key}' is null")
        converted = pa.RecordBatch.from_arrays(arrays, names=out_names)
        if dirty:
            keep = pa.array([i not in dirty for i in range(batch.num_rows)], pa.bool_())
            converted = converted.filter(keep)
        if self.partition:
            for name, value in self.partition.items():
                wanted = self.target_types.get(name.lower(), pa.string())
                constant = pc.cast(pa.array([value] * converted.num_rows, pa.string()), wanted)
                converted = converted.append_column(name, constant)
        return Converted(converted, [DirtyRow(i, r) for i, r in sorted(dirty.items())])


def row_json(batch: pa.RecordBatch, index: int) -> str:
    """One source row as JSON text, for the quarantine table."""
    row: dict[str, Any] = batch.slice(index, 1).to_pylist()[0]
    return json.dumps(row, default=str, ensure_ascii=False)
