"""Which warehouse tables a sync node reads and writes (dependency edges, lineage), and
that the data sources it names are declared.

Pure: the node file is parsed with parameters rendered for a sample date; nothing is
opened. ``schedule.node_io`` imports this module lazily for ``sync`` nodes.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from lakeworks.connectors.registry import supports
from lakeworks.errors import UserError, ValidationFailed
from lakeworks.integration.plan import parse_node
from lakeworks.integration.spec import WAREHOUSE, SyncSpec
from lakeworks.schedule.node_io import (
    SAMPLE_CYCLE_TIME,
    SECOND_SAMPLE_CYCLE_TIME,
    NodeIO,
    register_node_io,
)
from lakeworks.spec.models import Node, NodeKind, Workspace
from lakeworks.spec.yaml_source import LineMap
from lakeworks.sql.params import ParamContext, business_date
from lakeworks.sql.partitions import PartitionUse, partition_use


def sync_node_io(workspace: Workspace, node: Node) -> NodeIO:
    """Warehouse tables a sync node reads and writes."""
    ctx = ParamContext(cycle_time=SAMPLE_CYCLE_TIME, parameters=workspace.parameters_for(node))
    spec, line_map, _ = parse_node(workspace, node, ctx)
    _check_data_sources(workspace, spec, line_map)
    reads: frozenset[str] = frozenset()
    if spec.source.data_source == WAREHOUSE and spec.source.table:
        reads = frozenset({spec.source.table.lower()})
    writes: frozenset[str] = frozenset()
    lines: dict[str, int] = {}
    if spec.target.data_source == WAREHOUSE:
        table = spec.target.table.lower()
        writes = frozenset({table})
        line = line_map.line_of(("target", "table"))
        if line is not None:
            lines[table] = line
    second = ParamContext(
        cycle_time=SECOND_SAMPLE_CYCLE_TIME, parameters=workspace.parameters_for(node)
    )
    again, _, _ = parse_node(workspace, node, second)
    return NodeIO(
        reads=reads | _declared(node, "inputs"),
        writes=writes | _declared(node, "outputs"),
        write_lines=lines,
        partitions=_partitions(
            workspace, node, (spec, ctx.bizdate), (again, business_date(SECOND_SAMPLE_CYCLE_TIME))
        ),
    )


def _partitions(
    workspace: Workspace, node: Node, first: tuple[SyncSpec, date], second: tuple[SyncSpec, date]
) -> PartitionUse:
    """The date partitions a sync writes (``target.partition``) and reads (a warehouse
    source's ``where``), as offsets from the business date: rendered for two dates far
    apart, a value that changes with the date is a parameter, one that does not is fixed."""
    (spec, bizdate), (other, _) = first, second
    writes: dict[str, tuple[str, int]] = {}
    if spec.target.data_source == WAREHOUSE:
        for column, value in spec.target.partition.items():
            day = _day(value)
            if day is not None and other.target.partition.get(column) != value:
                writes[spec.target.table.lower()] = (column.lower(), (day - bizdate).days)
                break
    reads = PartitionUse()
    source = spec.source
    if source.data_source == WAREHOUSE and source.table and source.where:
        query = f"SELECT * FROM {source.table} WHERE {source.where}"
        again = f"SELECT * FROM {source.table} WHERE {other.source.where or 'TRUE'}"
        try:
            reads = partition_use(((query, bizdate), (again, bizdate)), workspace.dialect_for(node))
        except UserError:
            reads = PartitionUse()  # a filter Lakeworks cannot parse: every partition
    return PartitionUse(reads.reads, writes)


def _day(value: str) -> date | None:
    """A partition value as a date (``20260401`` or ``2026-04-01``), else None."""
    text = value.strip()
    try:
        if len(text) == 8 and text.isdigit():
            return date(int(text[:4]), int(text[4:6]), int(text[6:]))
        return date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        return None


def _check_data_sources(workspace: Workspace, spec: SyncSpec, line_map: LineMap) -> None:
    """Both data sources must be declared in lakeworks.yml (or be the warehouse)."""
    declared = workspace.config.data_sources
    problems = [
        UserError(
            f"unknown data source '{name}'",
            location=line_map.location((side, "data_source")),
            hint="declare it under data_sources: in lakeworks.yml "
            f"(known: {', '.join([WAREHOUSE, *sorted(declared)])})",
        )
        for side, name in (("source", spec.source.data_source), ("target", spec.target.data_source))
        if name != WAREHOUSE and name not in declared
    ]
    sides: tuple[tuple[str, Literal["source", "sink"], str], ...] = (
        ("source", "source", "read from"),
        ("target", "sink", "written to"),
    )
    for side, kind, verb in sides:
        name = getattr(spec, side).data_source
        raw = declared.get(name) if name != WAREHOUSE else None
        type_name = raw.get("type") if isinstance(raw, dict) else None
        if isinstance(type_name, str) and supports(type_name, kind) is False:
            problems.append(
                UserError(
                    f"data source '{name}' ({type_name}) cannot be {verb}",
                    location=line_map.location((side, "data_source")),
                    hint="use a data source of a type that can"
                    + (" (postgres, mysql, files or the warehouse)" if kind == "sink" else ""),
                )
            )
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise ValidationFailed(problems)


def _declared(node: Node, which: str) -> frozenset[str]:
    return frozenset(t.lower() for t in getattr(node.header, which))


register_node_io(NodeKind.SYNC, sync_node_io)
