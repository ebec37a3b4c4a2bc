"""The ``*.sync.yml`` node file: what to read, how to convert it, where to write it.

```yaml
source:
  data_source: shop_pg          # a data source of lakeworks.yml, or "warehouse"
  table: orders                 # or query: / path: (files) / topic: (kafka)
  where: "gmt_modified >= '${bizdate}'"
  cursor: updated_at            # incremental: only rows past the stored mark
  split_key: id                 # with parallel: N readers over key ranges
  parallel: 4
target:
  table: ods_orders             # data_source defaults to the warehouse
  mode: overwrite_partition     # append | overwrite | overwrite_partition | merge
  partition: {ds: "${bizdate}"}
  key: [id]                     # merge
columns:                        # optional mapping; a plain name keeps the column
  - id
  - {source: amt, name: amount, type: "decimal(12,2)"}
schema_drift: add               # add | fail
dirty: {max_rows: 100, max_ratio: 0.01}  # the run fails when either is exceeded
speed: {rows_per_second: 50000, bytes_per_second: 10000000}
```
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from lakeworks.connectors.base import DEFAULT_BATCH_ROWS
from lakeworks.engines.base import WriteMode
from lakeworks.errors import Location, UserError
from lakeworks.spec.models import Strict
from lakeworks.spec.yaml_source import LineMap, parse_yaml, validate_model

WAREHOUSE = "warehouse"


class SourceSpec(Strict):
    data_source: str
    table: str | None = None
    query: str | None = None
    path: str | None = None
    topic: str | None = None
    columns: list[str] | None = None
    where: str | None = None
    cursor: str | None = None
    split_key: str | None = None
    parallel: int = Field(default=1, ge=1, le=64)
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_object(self) -> SourceSpec:
        given = [k for k in ("table", "query", "path", "topic") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError("give exactly one of table, query, path or topic")
        if self.parallel > 1 and not self.split_key:
            raise ValueError("parallel readers need a split_key")
        return self

    @property
    def object_name(self) -> str | None:
        """The table, path or topic read (None for a query)."""
        return self.table or self.path or self.topic


class TargetSpec(Strict):
    data_source: str = WAREHOUSE
    table: str
    mode: WriteMode = WriteMode.APPEND
    partition: dict[str, str] = Field(default_factory=dict)
    key: list[str] = Field(default_factory=list)

    @field_validator("partition", mode="before")
    @classmethod
    def _partition_text(cls, value: Any) -> Any:
        # ``ds: ${bizdate}`` renders to a bare number in YAML; partition values are text.
        if isinstance(value, dict):
            return {k: v if isinstance(v, str) else str(v) for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _mode_needs(self) -> TargetSpec:
        if self.mode is WriteMode.MERGE and not self.key:
            raise ValueError("mode merge needs 'key' (the columns to merge on)")
        if self.mode is WriteMode.OVERWRITE_PARTITION and not self.partition:
            raise ValueError("mode overwrite_partition needs 'partition' (e.g. ds: '${bizdate}')")
        return self


class ColumnSpec(Strict):
    source: str
    name: str | None = None
    type: str | None = None

    @property
    def target(self) -> str:
        return self.name or self.source


class DirtySpec(Strict):
    """Dirty-data limits (DataX ``errorLimit``): a run fails when either is exceeded.

    ``max_rows`` is checked as rows go (the run fails at once), ``max_ratio`` at the end
    over all rows read. With neither set no dirty row is allowed.
    """

    max_rows: int | None = Field(default=None, ge=0)
    max_ratio: float | None = Field(default=None, ge=0, le=1)

    def row_limit(self) -> int | None:
        """The dirty-row count a run may not exceed (None: only the ratio limits it)."""
        if self.max_rows is None and self.max_ratio is None:
            return 0
        return self.max_rows


class SpeedSpec(Strict):
    rows_per_second: float | None = Field(default=None, gt=0)
    bytes_per_second: float | None = Field(default=None, gt=0)


class SyncSpec(Strict):
    source: SourceSpec
    target: TargetSpec
    columns: list[ColumnSpec | str] | None = None
    schema_drift: Literal["add", "fail"] = "add"
    dirty: DirtySpec = Field(default_factory=DirtySpec)
    speed: SpeedSpec = Field(default_factory=SpeedSpec)
    retries: int = Field(default=2, ge=0, le=20)
    batch_rows: int = Field(default=DEFAULT_BATCH_ROWS, ge=1, le=1_000_000)
    queue_batches: int = Field(default=4, ge=1, le=64)

    def column_specs(self) -> list[ColumnSpec] | None:
        """The mapping with plain names expanded (None: keep every column)."""
        if self.columns is None:
            return None
        return [ColumnSpec(source=c) if isinstance(c, str) else c for c in self.columns]


def parse_sync(text: str, path: Path | str | None = None) -> tuple[SyncSpec, LineMap]:
    """Parse and validate a sync file's (rendered) text; errors carry file and line."""
    from lakeworks.integration.types import parse_type  # pyarrow: imported when needed

    data, line_map = parse_yaml(text, path)
    spec = validate_model(SyncSpec, data, line_map)
    specs = spec.column_specs() or []
    seen: set[str] = set()
    for index, column in enumerate(specs):
        if column.target in seen:
            raise UserError(
                f"column '{column.target}' is mapped twice",
                location=line_map.location(("columns", index)),
            )
        seen.add(column.target)
        if column.type is not None:
            try:
                parse_type(column.type)
            except ValueError as exc:
                raise UserError(
                    f"column '{column.source}': {exc}",
                    location=line_map.location(("columns", index, "type")),
                ) from None
    return spec, line_map


def location(line_map: LineMap, *keys: str | int) -> Location:
    """Where a key of the sync file is."""
    return line_map.location(tuple(keys))
