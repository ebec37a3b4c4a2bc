"""Plain records of the Data Map: catalog entries, harvest results, annotations."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class CatalogColumn:
    name: str
    type: str | None = None
    nullable: bool | None = None
    comment: str | None = None
    description: str | None = None
    is_partition: bool = False


@dataclass(frozen=True)
class CatalogPartition:
    """One partition of a table, e.g. ``ds=20240101``, with its size when known."""

    spec: str
    row_count: int | None = None
    size_bytes: int | None = None
    last_modified: datetime | None = None


@dataclass(frozen=True)
class HarvestedTable:
    """What harvest read from an engine or data source about one table."""

    name: str
    kind: str = "table"
    comment: str | None = None
    columns: tuple[CatalogColumn, ...] = ()
    partition_columns: tuple[str, ...] = ()
    row_count: int | None = None
    size_bytes: int | None = None
    partitions: tuple[CatalogPartition, ...] | None = None
    """``None`` when partitions were not read (keep what the catalog has)."""
    last_modified: datetime | None = None


@dataclass(frozen=True)
class TableAnnotation:
    """What the workspace files say about a table: owner, layer, tags, descriptions.

    ``declared`` columns come from ``CREATE TABLE`` statements in node code; they make a
    table known to the catalog before any run created it.
    """

    name: str
    owner: str | None = None
    layer: str | None = None
    tags: tuple[str, ...] = ()
    description: str | None = None
    writer_node: str | None = None
    declared: tuple[CatalogColumn, ...] = ()
    partition_columns: tuple[str, ...] = ()
    column_descriptions: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CatalogTable:
    """A table as the catalog knows it (``present`` = found in the engine or source)."""

    id: int
    workspace: str
    env: str
    source: str
    name: str
    kind: str
    present: bool
    comment: str | None
    description: str | None
    owner: str | None
    layer: str | None
    tags: tuple[str, ...]
    partition_columns: tuple[str, ...]
    row_count: int | None
    size_bytes: int | None
    writer_node: str | None
    last_modified: datetime | None
    harvested_at: datetime | None
    columns: tuple[CatalogColumn, ...] = ()
    partitions: tuple[CatalogPartition, ...] = ()

    def column(self, name: str) -> CatalogColumn | None:
        """The column called ``name`` (case-insensitive), if any."""
        wanted = name.lower()
        return next((c for c in self.columns if c.name.lower() == wanted), None)
