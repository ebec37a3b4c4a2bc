"""Planning a sync: pure data computed from the node file, parameters and the cursor.

Nothing here touches a database: the plan says what will be read (with the rendered
filter, the cursor predicate and the split), where and how it will be written, and
which warehouse tables the node reads and writes (dependency edges and lineage).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from lakeworks.connectors.base import KeyRange, ReadRequest, WriteRequest
from lakeworks.errors import Location, UserError
from lakeworks.integration.spec import WAREHOUSE, SyncSpec, parse_sync
from lakeworks.spec.models import Node, Workspace
from lakeworks.spec.yaml_source import LineMap
from lakeworks.sql.params import ParamContext, render


@dataclass(frozen=True)
class SyncPlan:
    node_key: str
    spec: SyncSpec
    line_map: LineMap
    rendered: str
    bizdate: str
    source_name: str
    source_config: dict[str, Any]
    target_name: str
    target_config: dict[str, Any]
    read: ReadRequest
    write: WriteRequest
    cursor_before: Any
    tracks_cursor: bool
    reads: frozenset[str]
    writes: frozenset[str]

    def location(self, *keys: str | int) -> Location:
        """Where a key of the node file is."""
        return self.line_map.location(tuple(keys))

    def describe(self) -> str:
        """``shop_pg.orders -> warehouse.ods_orders (overwrite_partition ds=20240101)``."""
        what = self.read.describe()
        mode = self.write.mode.value
        if self.write.partition:
            mode += " " + ",".join(f"{k}={v}" for k, v in self.write.partition.items())
        return f"{self.source_name}.{what} -> {self.target_name}.{self.write.table} ({mode})"


def _data_source(workspace: Workspace, name: str, where: Location) -> dict[str, Any]:
    if name == WAREHOUSE:
        return {"type": "warehouse"}
    config = workspace.config.data_sources.get(name)
    if config is None:
        known = ", ".join([WAREHOUSE, *sorted(workspace.config.data_sources)])
        raise UserError(
            f"unknown data source '{name}'",
            location=where,
            hint=f"declare it under data_sources: in lakeworks.yml (known: {known})",
        )
    return dict(config)


def parse_node(
    workspace: Workspace, node: Node, params: ParamContext
) -> tuple[SyncSpec, LineMap, str]:
    """The node's sync spec with its parameters rendered."""
    rendered = render(node.code, params, path=node.path, first_line=node.span.first_code_line)
    spec, line_map = parse_sync(rendered, node.path)
    return spec, line_map, rendered


def plan_sync(
    workspace: Workspace, node: Node, params: ParamContext, *, cursor: Any = None
) -> SyncPlan:
    """The plan of one run of ``node`` given the committed ``cursor``."""
    spec, line_map, rendered = parse_node(workspace, node, params)
    source = spec.source
    target = spec.target
    source_config = _data_source(
        workspace, source.data_source, line_map.location(("source", "data_source"))
    )
    target_config = _data_source(
        workspace, target.data_source, line_map.location(("target", "data_source"))
    )
    tracks = bool(source.cursor or source.topic)
    read = ReadRequest(
        table=source.object_name,
        query=source.query,
        columns=source.columns,
        where=source.where,
        cursor_column=source.cursor,
        cursor_after=cursor if tracks else None,
        batch_rows=spec.batch_rows,
        options=dict(source.options),
    )
    write = WriteRequest(
        table=target.table,
        mode=target.mode,
        partition=dict(target.partition),
        key=list(target.key),
    )
    reads = (
        frozenset({source.table.lower()})
        if source.data_source == WAREHOUSE and source.table
        else frozenset()
    )
    writes = frozenset({target.table.lower()}) if target.data_source == WAREHOUSE else frozenset()
    return SyncPlan(
        node_key=node.key,
        spec=spec,
        line_map=line_map,
        rendered=rendered,
        bizdate=params.bizdate.strftime("%Y%m%d"),
        source_name=source.data_source,
        source_config=source_config,
        target_name=target.data_source,
        target_config=target_config,
        read=read,
        write=write,
        cursor_before=cursor if tracks else None,
        tracks_cursor=tracks,
        reads=reads,
        writes=writes,
    )


def split_ranges(column: str, low: Any, high: Any, parts: int) -> list[KeyRange]:
    """``parts`` half-open ranges covering ``low..high`` (the last one is open-ended).

    Integers, dates and datetimes are split evenly; other keys are not split.
    """
    if parts <= 1 or low == high:
        return [KeyRange(column, low, None)]
    if isinstance(low, bool) or not isinstance(low, int | float | date):
        return [KeyRange(column, low, None)]
    bounds: list[Any] = [low]
    if isinstance(low, (datetime, date)):
        span: timedelta = high - low
        step = span / parts
        bounds += [low + step * i for i in range(1, parts)]
    elif isinstance(low, int) and isinstance(high, int):
        step_int = max(1, (high - low + parts) // parts)
        bounds += [low + step_int * i for i in range(1, parts) if low + step_int * i <= high]
    else:
        step_float = (high - low) / parts
        bounds += [low + step_float * i for i in range(1, parts)]
    ranges = [KeyRange(column, bounds[i], bounds[i + 1]) for i in range(len(bounds) - 1)]
    ranges.append(KeyRange(column, bounds[-1], None))
    return ranges
