"""The ``*.stream.yml`` node file: a source followed continuously into a warehouse table.

```yaml
source:
  data_source: events_kafka      # a kafka data source of lakeworks.yml
  topics: [orders]               # or pattern: "^orders\\..*"
  format: json                   # json | csv | raw | avro (avro_schema: x.avsc)
                                 # | json_schema (json_schema: x.schema.json)
  csv_columns: [id, amount]      # csv: the names of the fields, in order
  start: earliest                # earliest | latest | an ISO timestamp (first start only)
  metadata: [partition, offset]  # key, headers, timestamp, partition, offset, topic
target:
  table: ods_orders
  mode: append                   # append | upsert (by key; a null value deletes)
  key: [id]
columns: [id, {source: amt, name: amount, type: "decimal(12,2)"}]
flush: {seconds: 1, rows: 50000} # commit every N seconds or M rows, whichever first
schema_drift: add                # add | fail: a new field in the messages
dirty: {max_rows: 100}           # over the limit the stream stops, position unmoved
```
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from lakeworks.errors import UserError
from lakeworks.integration.spec import ColumnSpec, DirtySpec
from lakeworks.spec.models import Strict
from lakeworks.spec.yaml_source import LineMap, parse_yaml, validate_model

METADATA_FIELDS = ("key", "headers", "timestamp", "partition", "offset", "topic")
"""Message fields a Kafka stream can add as columns, named ``_kafka_<field>``."""


class StreamSource(Strict):
    """A Kafka source: topics (or a pattern) of a ``kafka`` data source."""

    type: Literal["kafka"] = "kafka"
    data_source: str
    topics: list[str] = Field(default_factory=list)
    pattern: str | None = None
    format: Literal["json", "csv", "raw", "avro", "json_schema"] = "json"
    csv_columns: list[str] = Field(default_factory=list)
    avro_schema: str | None = None
    """avro: the record schema (``.avsc`` file, relative to the workspace)."""
    avro_framing: Literal["none", "confluent"] = "none"
    """avro: ``confluent`` values start with a magic byte and a 4-byte schema id."""
    json_schema: str | None = None
    """json_schema: the JSON Schema of the values (a file relative to the workspace)."""
    json_schema_framing: Literal["none", "confluent"] = "none"
    """json_schema: ``confluent`` values start with a magic byte and a 4-byte schema id."""
    start: str = "earliest"
    metadata: list[Literal["key", "headers", "timestamp", "partition", "offset", "topic"]] = Field(
        default_factory=list
    )

    @field_validator("start")
    @classmethod
    def _start(cls, value: str) -> str:
        if value in ("earliest", "latest"):
            return value
        try:
            datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(
                "start must be earliest, latest or an ISO timestamp (2026-12-01T00:00:00Z)"
            ) from None
        return value

    @field_validator("pattern")
    @classmethod
    def _pattern(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"pattern is not a regular expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _one_selection(self) -> StreamSource:
        if bool(self.topics) == bool(self.pattern):
            raise ValueError("give either topics (a list) or pattern (a regular expression)")
        if self.format == "csv" and not self.csv_columns:
            raise ValueError("format csv needs csv_columns (the field names, in order)")
        if self.format == "avro" and not self.avro_schema:
            raise ValueError("format avro needs avro_schema (an .avsc file of the workspace)")
        if self.format == "json_schema" and not self.json_schema:
            raise ValueError(
                "format json_schema needs json_schema (a JSON Schema file of the workspace)"
            )
        return self


TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$")


class CdcSource(Strict):
    """PostgreSQL change data capture: the selected tables of a ``postgres`` data
    source, a consistent snapshot first, then their changes (logical replication)."""

    type: Literal["postgres_cdc"]
    data_source: str
    tables: list[str] = Field(default_factory=list)
    """``schema.table`` (or ``table`` in ``public``), each with a primary key."""
    include: list[str] = Field(default_factory=list)
    """Whole-database sync: shell patterns over ``schema.table`` (``public.*``)."""
    exclude: list[str] = Field(default_factory=list)
    slot: str | None = None
    """The replication slot's (and publication's) name; default from the node."""

    @field_validator("tables")
    @classmethod
    def _names(cls, tables: list[str]) -> list[str]:
        for name in tables:
            if not TABLE_NAME.match(name):
                raise ValueError(f"'{name}' is not a table name (schema.table)")
        return tables

    @field_validator("slot")
    @classmethod
    def _slot(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[a-z0-9_]{1,63}", value):
            raise ValueError("slot: lower-case letters, digits and _ only, at most 63")
        return value

    @model_validator(mode="after")
    def _selection(self) -> CdcSource:
        if bool(self.tables) == bool(self.include):
            raise ValueError(
                "give either tables (a list of schema.table) or include (patterns such "
                "as public.*) to sync a whole database"
            )
        return self

    def many(self) -> bool:
        """Whether the node may capture more than one table."""
        return bool(self.include) or len(self.tables) > 1


class StreamTarget(Strict):
    table: str
    """The target table; for several captured tables a naming rule holding
    ``{table}`` (and optionally ``{schema}``), such as ``ods_{table}``."""
    mode: Literal["append", "upsert"] | None = None
    """Kafka: append (default) or upsert by ``key``. CDC always applies by primary key."""
    key: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _key(self) -> StreamTarget:
        if self.mode == "upsert" and not self.key:
            raise ValueError("mode upsert needs 'key' (the columns a message replaces by)")
        return self

    def table_for(self, schema: str, table: str) -> str:
        """The target of a captured source table, by the naming rule."""
        return self.table.replace("{schema}", schema).replace("{table}", table)


class FlushSpec(Strict):
    seconds: float = Field(default=1.0, gt=0, le=3600)
    rows: int = Field(default=50_000, ge=1, le=5_000_000)


class StreamSpec(Strict):
    source: Annotated[StreamSource | CdcSource, Field(discriminator="type")]
    target: StreamTarget
    columns: list[ColumnSpec | str] | None = None
    flush: FlushSpec = Field(default_factory=FlushSpec)
    schema_drift: Literal["add", "fail"] = "add"
    dirty: DirtySpec = Field(default_factory=DirtySpec)

    @model_validator(mode="before")
    @classmethod
    def _kafka_by_default(cls, data: Any) -> Any:
        source = data.get("source") if isinstance(data, dict) else None
        if isinstance(source, dict) and "type" not in source:
            data = {**data, "source": {"type": "kafka", **data["source"]}}
        return data

    @model_validator(mode="after")
    def _cdc_rules(self) -> StreamSpec:
        if not isinstance(self.source, CdcSource):
            return self
        if self.target.mode == "append":
            raise ValueError("a postgres_cdc stream applies changes by primary key; leave out mode")
        if self.target.key:
            raise ValueError("a postgres_cdc stream takes each table's primary key; drop key")
        if self.source.many():
            if "{table}" not in self.target.table:
                raise ValueError(
                    "several captured tables need a naming rule in target.table, "
                    "such as ods_{table}"
                )
            if self.columns is not None:
                raise ValueError("columns maps one table; leave it out when capturing several")
        return self

    @property
    def upsert(self) -> bool:
        """Whether rows replace earlier rows of their key (and deletes apply)."""
        return isinstance(self.source, CdcSource) or self.target.mode == "upsert"

    def column_specs(self) -> list[ColumnSpec] | None:
        """The mapping with plain names expanded (None: keep every column)."""
        if self.columns is None:
            return None
        return [ColumnSpec(source=c) if isinstance(c, str) else c for c in self.columns]


def parse_stream(text: str, path: Path | str | None = None) -> tuple[StreamSpec, LineMap]:
    """Parse and validate a stream file; errors carry file and line."""
    data, line_map = parse_yaml(text, path)
    if isinstance(data, dict) and isinstance(data.get("source"), dict):
        data["source"].setdefault("type", "kafka")  # so that errors name the file's keys
    spec = validate_model(StreamSpec, data, line_map)
    for index, column in enumerate(spec.column_specs() or []):
        if column.type is not None:
            from lakeworks.integration.types import parse_type  # Arrow: only for casts

            try:
                parse_type(column.type)
            except ValueError as exc:
                raise UserError(
                    f"column '{column.source}': {exc}",
                    location=line_map.location(("columns", index, "type")),
                ) from None
    return spec, line_map
