"""``lakeworks map``: the Data Map — build it, search it, show tables, lineage and impact."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from lakeworks.cli.common import (
    EnvOption,
    WorkspaceOption,
    handle_errors,
    load,
    open_database,
    open_engine,
)

if TYPE_CHECKING:
    from lakeworks.catalog.impact import ImpactReport
    from lakeworks.catalog.service import BuildSummary, DataMap
    from lakeworks.store.database import Database

app = typer.Typer(
    help="Data Map: catalog, search, column lineage and impact analysis.",
    no_args_is_help=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
DepthOption = Annotated[
    int | None, typer.Option("--depth", "-d", min=1, help="Hops to follow (default: all).")
]


def register(root: typer.Typer) -> None:
    """Add ``lakeworks map``."""
    root.add_typer(app, name="map")


def _open(workspace: Path, env: str, *, build_if_empty: bool = True) -> tuple[DataMap, Database]:
    from lakeworks.catalog.service import DataMap

    ws = load(workspace)
    db = open_database(ws)
    data_map = DataMap(db, ws, env)
    if build_if_empty and not _built(data_map):
        typer.secho("the Data Map is empty: building it first", fg=typer.colors.YELLOW, err=True)
        _build(data_map, env, sources=False)
    return data_map, db


def _built(data_map: DataMap) -> bool:
    import sqlalchemy as sa

    from lakeworks.catalog.tables import lineage_nodes

    n = lineage_nodes
    with data_map.db.read() as conn:
        row = conn.execute(
            sa.select(n.c.id)
            .where(n.c.workspace == data_map.workspace.name, n.c.env == data_map.env)
            .limit(1)
        ).first()
    return row is not None


def _build(data_map: DataMap, env: str, *, sources: bool) -> BuildSummary:
    engine = open_engine(data_map.workspace, env)
    try:
        return data_map.build(engine, sources=sources)
    finally:
        engine.close()


@app.command("build")
@handle_errors
def build_command(
    workspace: WorkspaceOption = Path("."),
    env: EnvOption = "dev",
    sources: Annotated[
        bool, typer.Option("--sources/--no-sources", help="Also harvest the data sources.")
    ] = False,
    output: JsonOption = False,
) -> None:
    """Harvest the warehouse, analyse every node's lineage and index it for search."""
    data_map, db = _open(workspace, env, build_if_empty=False)
    try:
        if sources:
            from lakeworks.security.secrets import install_workspace_key

            install_workspace_key(data_map.workspace.state_dir, db)
        summary = _build(data_map, env, sources=sources)
    finally:
        db.close()
    if output:
        typer.echo(json.dumps(summary.__dict__, default=str, indent=2))
        return
    typer.echo(
        f"{summary.nodes} nodes analysed ({summary.complete_nodes} fully resolved): "
        f"{summary.table_edges} table edges, {summary.column_edges} column edges, "
        f"{summary.unresolved} unresolved columns; {summary.tables} tables harvested "
        f"in {summary.seconds:.2f} s"
    )
    for problem in summary.problems:
        typer.secho(f"  {problem}", fg=typer.colors.YELLOW)


@app.command("search")
@handle_errors
def search_command(
    text: Annotated[str, typer.Argument(help="Words to find (prefixes match).")],
    workspace: WorkspaceOption = Path("."),
    env: EnvOption = "dev",
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="Results to show.")] = 20,
    kind: Annotated[
        list[str] | None, typer.Option("--kind", "-k", help="table or node (repeatable).")
    ] = None,
    output: JsonOption = False,
) -> None:
    """Search table and column names, comments, descriptions, tags and node code."""
    data_map, db = _open(workspace, env)
    try:
        hits = data_map.search(text, limit=limit, kinds=kind or ())
    finally:
        db.close()
    if output:
        typer.echo(json.dumps([h.__dict__ for h in hits], indent=2))
        return
    if not hits:
        typer.echo(f"nothing matches '{text}'")
        return
    for hit in hits:
        extra = f"  columns: {', '.join(hit.columns)}" if hit.columns else ""
        typer.echo(f"{hit.kind:<6} {hit.ref:<40} matched in {', '.join(hit.matched)}{extra}")


@app.command("show")
@handle_errors
def show_command(
    table: Annotated[str, typer.Argument(help="Table name as node SQL writes it.")],
    workspace: WorkspaceOption = Path("."),
    env: EnvOption = "dev",
    output: JsonOption = False,
) -> None:
    """A table's catalog entry: columns, partitions, owner, layer, tags, recent writes."""
    data_map, db = _open(workspace, env)
    try:
        entry = data_map.table(table)
        history = data_map.history(entry.name, limit=10)
    finally:
        db.close()
    if output:
        payload = {**entry.__dict__, "history": [h.__dict__ for h in history]}
        typer.echo(json.dumps(payload, default=_plain, indent=2))
        return
    state = "" if entry.present else "  (not created yet)"
    typer.echo(f"{entry.name}  [{entry.source}]{state}")
    for label, value in (
        ("description", entry.description or entry.comment),
        ("owner", entry.owner),
        ("layer", entry.layer),
        ("tags", ", ".join(entry.tags)),
        ("written by", entry.writer_node),
        ("rows", entry.row_count),
        ("size", _size(entry.size_bytes)),
        ("last change", entry.last_modified),
    ):
        if value not in (None, ""):
            typer.echo(f"  {label:<12} {value}")
    typer.echo("  columns:")
    for column in entry.columns:
        note = column.description or column.comment or ""
        flag = " (partition)" if column.is_partition else ""
        typer.echo(f"    {column.name:<24} {column.type or '':<16}{flag} {note}".rstrip())
    if entry.partitions:
        typer.echo("  partitions (newest first):")
        for part in entry.partitions[:10]:
            typer.echo(
                f"    {part.spec:<24} {part.row_count or 0:>12} rows  {_size(part.size_bytes)}"
            )
    if history:
        typer.echo("  written by instances:")
        for item in history:
            where = f" {item.partition}" if item.partition else ""
            when = f"{item.recorded_at:%Y-%m-%d %H:%M:%S}"
            typer.echo(f"    {when}  #{item.instance_id} {item.node_key}{where}")


@app.command("impact")
@handle_errors
def impact_command(
    target: Annotated[str, typer.Argument(metavar="TABLE[.COLUMN]")],
    workspace: WorkspaceOption = Path("."),
    env: EnvOption = "dev",
    depth: DepthOption = None,
    upstream: Annotated[
        bool, typer.Option("--upstream", help="Walk to the sources instead.")
    ] = False,
    output: JsonOption = False,
) -> None:
    """Everything downstream of a table or column: tables, columns, nodes, rules, owners."""
    from lakeworks.catalog.impact import Direction

    data_map, db = _open(workspace, env)
    try:
        report = data_map.impact(
            target, depth=depth, direction=Direction.UPSTREAM if upstream else Direction.DOWNSTREAM
        )
    finally:
        db.close()
    if output:
        typer.echo(json.dumps(_report_json(report), indent=2))
        return
    _print_report(report)


@app.command("lineage")
@handle_errors
def lineage_command(
    target: Annotated[str, typer.Argument(metavar="TABLE[.COLUMN]")],
    workspace: WorkspaceOption = Path("."),
    env: EnvOption = "dev",
    depth: DepthOption = None,
    output: JsonOption = False,
) -> None:
    """Where a table or column comes from and where it goes, edge by edge."""
    from lakeworks.catalog.impact import Direction

    data_map, db = _open(workspace, env)
    try:
        up = data_map.impact(target, depth=depth, direction=Direction.UPSTREAM)
        down = data_map.impact(target, depth=depth, direction=Direction.DOWNSTREAM)
    finally:
        db.close()
    if output:
        typer.echo(
            json.dumps({"upstream": _report_json(up), "downstream": _report_json(down)}, indent=2)
        )
        return
    typer.echo(f"lineage of {up.root}")
    for title, report in (("upstream", up), ("downstream", down)):
        typer.echo(f"  {title}:")
        if not report.edges:
            typer.echo("    (none)")
        for edge in _unique_edges(report):
            typer.echo(f"    {edge.source} -> {edge.target}  [{edge.kind}, {edge.node_key}]")


def _unique_edges(report: ImpactReport) -> list[Any]:
    return list(dict.fromkeys(report.edges))


def _print_report(report: ImpactReport) -> None:
    where = "downstream" if report.direction.value == "downstream" else "upstream"
    typer.echo(f"{where} of {report.root}" + (f" (depth {report.depth})" if report.depth else ""))
    if report.column is not None:
        typer.echo("  columns:")
        for column in report.columns[1:]:
            typer.echo(
                f"    {'  ' * (column.depth - 1)}{column.table}.{column.column}  [{column.kind}]"
            )
    typer.echo("  tables:")
    for table in report.tables:
        rows = "  (rows filtered by it)" if table.rows_only else ""
        owner = f"  owner {table.owner}" if table.owner else ""
        typer.echo(f"    {'  ' * (table.depth - 1)}{table.name}{owner}{rows}")
    if report.nodes:
        typer.echo("  nodes: " + ", ".join(n.key for n in report.nodes))
    if report.dependents:
        typer.echo("  attached:")
        for dep in report.dependents:
            owner = f" (owner {dep.owner})" if dep.owner else ""
            typer.echo(f"    {dep.kind} {dep.name} on {dep.table}{owner}")
    if report.owners:
        typer.echo("  notify: " + ", ".join(report.owners))


def _report_json(report: ImpactReport) -> dict[str, Any]:
    return {
        "root": report.root,
        "direction": report.direction.value,
        "depth": report.depth,
        "tables": [t.__dict__ for t in report.tables],
        "columns": [c.__dict__ for c in report.columns],
        "nodes": [n.__dict__ for n in report.nodes],
        "dependents": [d.__dict__ for d in report.dependents],
        "owners": list(report.owners),
        "edges": [e.__dict__ for e in dict.fromkeys(report.edges)],
    }


def _size(value: int | None) -> str:
    if value is None:
        return ""
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return ""


def _plain(value: object) -> object:
    if hasattr(value, "__dict__"):
        return value.__dict__
    return str(value)
