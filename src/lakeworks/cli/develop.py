"""Development commands: init, validate, render, run, query."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import sys
from collections import Counter
from dataclasses import replace
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from lakeworks.cli import ending
from lakeworks.cli.common import (
    EnvOption,
    WorkspaceOption,
    handle_errors,
    load,
    open_database,
    open_engine,
)

if TYPE_CHECKING:
    from datetime import date

    from lakeworks.runtime.runner import RunSummary
    from lakeworks.spec.models import Workspace
    from lakeworks.store.models import Instance


class OutputFormat(StrEnum):
    TABLE = "table"
    CSV = "csv"
    JSON = "json"


STATE_COLOURS = {
    "success": "green",
    "failed": "red",
    "blocked": "yellow",
    "frozen": "cyan",
    "skipped": "blue",
}


@handle_errors
def init(
    directory: Annotated[Path, typer.Argument(help="Folder to create the workspace in.")],
    example: Annotated[
        str | None, typer.Option("--example", help="Start from an example, e.g. 'sales'.")
    ] = None,
    engine: Annotated[
        str,
        typer.Option(
            "--engine",
            help="Warehouse engine: 'duckdb' (embedded) or 'spark' (local[*] over a lakehouse).",
        ),
    ] = "duckdb",
) -> None:
    """Create a new workspace (empty, or from a bundled example)."""
    from lakeworks.spec.init import init_workspace

    init_workspace(directory, example, engine)
    typer.echo(f"created workspace in {directory}")
    if example:
        typer.echo(f"next: lakeworks run -w {directory} --bizdate 20260411")


@handle_errors
def validate(workspace: WorkspaceOption = Path(".")) -> None:
    """Check the workspace: files, settings, SQL, parameters, the dependency graph and
    data sources, alert rules and baselines. Every problem found is reported at once."""
    from lakeworks.alerts.loader import load_workspace_alerts
    from lakeworks.catalog.column_check import column_problems
    from lakeworks.connectors.registry import check_data_sources
    from lakeworks.dataservice.definition import load_definitions
    from lakeworks.errors import UserError, ValidationFailed
    from lakeworks.quality.workspace import load_workspace_rules
    from lakeworks.runtime.connections import unknown_connections
    from lakeworks.schedule.graph import build_graph
    from lakeworks.schedule.planning import Planner
    from lakeworks.spec.loader import workspace_config_lines

    ws = load(workspace)
    problems: list[UserError] = []

    def collect(exc: UserError) -> None:
        seen = {(str(p), str(p.location)) for p in problems}
        found = exc.errors if isinstance(exc, ValidationFailed) else [exc]
        problems.extend(e for e in found if (str(e), str(e.location)) not in seen)

    graph = rules = alerts = None
    try:
        graph = build_graph(ws)
        Planner(ws, graph)  # schedules, resource groups, cross-cycle references
    except UserError as exc:
        collect(exc)
    for called in ws.called.values():  # called workflows: their SQL and dependencies
        try:
            build_graph(replace(ws, workflows={called.name: called}))
        except UserError as exc:
            collect(exc)
    try:
        rules = load_workspace_rules(ws)
    except UserError as exc:
        collect(exc)
    try:
        alerts = load_workspace_alerts(ws)
    except UserError as exc:
        collect(exc)
    problems.extend(check_data_sources(ws.config.data_sources, workspace_config_lines(ws.root)))
    problems.extend(unknown_connections(ws))
    apis = []
    try:
        apis = load_definitions(ws.root, ws.name, ws.config.data_sources)
    except UserError as exc:
        collect(exc)
    if graph is not None:
        cache = ws.state_dir / "cache" if ws.state_dir.is_dir() else None
        problems.extend(column_problems(ws, _catalog_columns(ws), graph=graph, cache_dir=cache))
    if problems or graph is None or rules is None or alerts is None:
        raise ValidationFailed(problems)
    typer.echo(
        f"ok: {len(graph.nodes)} nodes in {len(ws.workflows)} workflows, "
        f"{len(graph.edges)} dependencies, {len(rules.rules)} quality rules, "
        f"{len(alerts.rules)} alert rules, {len(alerts.baselines)} baselines, "
        f"{len(apis)} data API{'' if len(apis) == 1 else 's'}"
    )
    for key in graph.topological_order():
        for line in graph.describe_windows(key):
            typer.echo(f"  {key} {line} (partition window)")


def _catalog_columns(ws: Workspace) -> dict[str, tuple[str, ...]]:
    """Table columns the dev Data Map knows (empty before ``lakeworks map build``)."""
    from lakeworks.catalog.repository import CatalogRepository

    if not (ws.state_dir / "meta.db").exists() and not os.environ.get("LAKEWORKS_DATABASE_URL"):
        return {}
    db = open_database(ws)
    try:
        engine = ws.config.environments["dev"].engine if "dev" in ws.config.environments else None
        return CatalogRepository(db, ws.name, "dev").schemas(warehouse=engine)
    finally:
        db.close()


@handle_errors
def render(
    node: Annotated[str, typer.Argument(help="Node name, or workflow.node.")],
    bizdate: Annotated[str, typer.Option("--bizdate", "-d", help="Business date YYYYMMDD.")],
    workspace: WorkspaceOption = Path("."),
    translated: Annotated[
        bool, typer.Option("--translated", help="Show the SQL as the engine will run it.")
    ] = False,
    env: EnvOption = "dev",
) -> None:
    """Show the code a node would run for a business date, parameters filled in."""
    from lakeworks.errors import UserError
    from lakeworks.runtime.cycles import cycle_time_for, local_cycle_time, param_context
    from lakeworks.schedule.bizdates import parse_bizdate
    from lakeworks.spec.models import NodeKind
    from lakeworks.sql.params import render as render_text

    ws = load(workspace)
    found = ws.find_node(node)
    if found is None:
        raise UserError(f"no node named '{node}'", hint="name it by file name or workflow.node")
    day = parse_bizdate(bizdate)
    cycle = local_cycle_time(ws, cycle_time_for(ws, day, ws.node_schedule(found).at))
    ctx = param_context(ws, found, cycle)
    text = render_text(found.code, ctx, path=found.path, first_line=found.span.first_code_line)
    _echo_windows(ws, found.key, day)
    if translated and found.kind is NodeKind.SQL:
        from lakeworks.sql.translate import translate_script

        engine = open_engine(ws, env)
        for statement in translate_script(
            text,
            source_dialect=ws.dialect_for(found),
            target_dialect=engine.capabilities.dialect,
            path=found.path,
        ):
            prefix = "-- atomic\n" if statement.atomic else ""
            typer.echo(f"-- line {statement.line}\n{prefix}" + ";\n".join(statement.steps) + ";")
        return
    typer.echo(text.strip("\n"))


def _echo_windows(ws: Workspace, key: str, bizdate: date) -> None:
    """The node's partition windows, on stderr (stdout stays the code)."""
    from lakeworks.errors import UserError
    from lakeworks.schedule.graph import build_graph

    try:
        graph = build_graph(ws)
    except UserError:
        return  # validate reports it; render still shows the code
    for line in graph.describe_windows(key, bizdate):
        typer.echo(f"-- {line} (partition window)", err=True)


def _print_summary(summary: RunSummary, *, quiet: bool = False) -> None:
    """The run's table; with ``quiet`` one count line and only the instances not succeeded."""
    shown = summary.instances
    if quiet:
        counts = Counter(str(instance.state) for instance in summary.instances)
        states = ", ".join(f"{count} {state}" for state, count in sorted(counts.items()))
        typer.echo(f"run {summary.run.id}: {len(summary.instances)} instances ({states})")
        shown = [i for i in summary.instances if str(i.state) != "success"]
        if not shown:
            return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"run {summary.run.id}: {len(shown)} instances")
    for column in ("node", "state", "seconds", "reason"):
        table.add_column(column)
    for instance in shown:
        colour = STATE_COLOURS.get(str(instance.state), "white")
        seconds = instance.duration_seconds
        table.add_row(
            instance.node_key,
            f"[{colour}]{instance.state}[/{colour}]",
            f"{seconds:.2f}" if seconds is not None else "",
            (instance.reason or "").splitlines()[0] if instance.reason else "",
        )
    Console(stderr=False).print(table)


@handle_errors
def run(
    targets: Annotated[
        list[str] | None,
        typer.Argument(help="Workflows (folder names) or nodes (file names); none = all."),
    ] = None,
    bizdate: Annotated[
        str, typer.Option("--bizdate", "-d", help="Business date YYYYMMDD (the data's day).")
    ] = "",
    workspace: WorkspaceOption = Path("."),
    env: EnvOption = "dev",
    parallel: Annotated[
        int | None, typer.Option("--parallel", "-p", help="Nodes run at once.")
    ] = None,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet", "-q", help="No node logs; the summary lists only nodes that did not succeed."
        ),
    ] = False,
    output: Annotated[
        OutputFormat, typer.Option("--format", help="Summary as a table or JSON.")
    ] = OutputFormat.TABLE,
) -> None:
    """Run a workspace, workflows or nodes for a business date, in dependency order."""
    from lakeworks.runtime.collector import startup_paused

    if ending.is_console():  # the column lineage is analysed meanwhile, on the other core
        from lakeworks.catalog import lineage_scout
        from lakeworks.errors import UserError
        from lakeworks.spec.roots import find_workspace_root

        with contextlib.suppress(UserError):  # loading the workspace reports it below
            lineage_scout.begin(find_workspace_root(workspace), targets or [], env)

    # The start-up makes what lives until the exit: no collections until the run begins.
    with startup_paused():
        from datetime import date, timedelta

        from lakeworks.runtime.runner import ManualRunner, summary_json
        from lakeworks.schedule.bizdates import parse_bizdate
        from lakeworks.security.secrets import install_workspace_key

        ws = load(workspace)
        day = parse_bizdate(bizdate) if bizdate else date.today() - timedelta(days=1)
        db = open_database(ws)
        install_workspace_key(ws.state_dir, db)
        engine = open_engine(ws, env)

        def echo(instance: Instance, line: str) -> None:
            name = instance.node_key.split(".", 1)[-1]
            typer.echo(f"[{name}] {line}", err=True)

        runner = ManualRunner(
            ws,
            db,
            engine,
            env,
            max_parallel=parallel,
            echo=None if quiet else echo,
            exits_after=True,
        )
        summary = runner.run(day, targets or [])
        if output is OutputFormat.JSON:
            typer.echo(summary_json(summary))
        else:
            _print_summary(summary, quiet=quiet)
        db.close()
        ending.request_fast_exit()
        if not summary.ok:
            raise typer.Exit(1)


@handle_errors
def query(
    sql: Annotated[str, typer.Argument(help="SQL to run on the warehouse.")],
    workspace: WorkspaceOption = Path("."),
    env: EnvOption = "dev",
    output: Annotated[
        OutputFormat, typer.Option("--format", "-f", help="table, csv or json.")
    ] = OutputFormat.TABLE,
    dialect: Annotated[
        str | None,
        typer.Option("--dialect", help="Dialect of the SQL (default: the workspace's)."),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="Rows shown at most.")] = 10000,
) -> None:
    """Run ad-hoc SQL on the warehouse and print the result (on DuckDB over the lakehouse
    when the environment's engine is Spark)."""
    from lakeworks.sql.translate import translate_script

    ws = load(workspace)
    engine = open_engine(ws, env).interactive()
    statements = translate_script(
        sql,
        source_dialect=dialect or ws.config.sql_dialect,
        target_dialect=engine.capabilities.dialect,
        path="<query>",
        partition_columns=engine.partition_columns,
    )
    columns: list[str] = []
    rows: list[tuple[object, ...]] = []
    session = engine.session()
    try:
        for statement in statements:
            for step in statement.steps:
                result = session.execute(step)
                columns, rows = result.columns, result.rows
    finally:
        session.close()
    _print_rows(columns, rows[:limit], output)


def _print_rows(columns: list[str], rows: list[tuple[object, ...]], output: OutputFormat) -> None:
    if output is OutputFormat.CSV:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(["" if v is None else v for v in row] for row in rows)
    elif output is OutputFormat.JSON:
        typer.echo(json.dumps([dict(zip(columns, row, strict=True)) for row in rows], default=str))
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table()
        for column in columns:
            table.add_column(column)
        for row in rows:
            table.add_row(*("NULL" if v is None else str(v) for v in row))
        Console().print(table)
        typer.echo(f"{len(rows)} row{'s' if len(rows) != 1 else ''}")


def register(app: typer.Typer) -> None:
    """Attach the development commands to the root app."""
    app.command()(init)
    app.command()(validate)
    app.command()(render)
    app.command()(run)
    app.command()(query)
