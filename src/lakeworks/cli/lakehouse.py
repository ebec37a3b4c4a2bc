"""``lakeworks lakehouse``: the tables of a Spark environment's lakehouse, and vacuum."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from lakeworks.cli.common import EnvOption, WorkspaceOption, handle_errors, load

if TYPE_CHECKING:
    from lakeworks.engines.lakehouse.catalog import Lakehouse

app = typer.Typer(
    help="Lakehouse tables (Spark environments): list them, clean up old and orphaned files.",
    no_args_is_help=True,
)


def _lakehouse(workspace: Path, env: str) -> Lakehouse:
    from lakeworks.engines.registry import lakehouse_for
    from lakeworks.errors import UserError

    ws = load(workspace)
    found = lakehouse_for(ws, env)
    if found is None:
        raise UserError(
            f"the {env} environment keeps its tables in DuckDB, not in a lakehouse",
            hint="a lakehouse belongs to an engine of `type: spark` (docs/lakehouse.md)",
        )
    return found


@app.command("tables")
@handle_errors
def tables_command(workspace: WorkspaceOption = Path("."), env: EnvOption = "dev") -> None:
    """List the lakehouse tables: version, partitions, files, rows and bytes."""
    lake = _lakehouse(workspace, env)
    names = lake.list_tables()
    if not names:
        typer.echo(f"no lakehouse tables in {env}")
        return
    typer.echo(
        f"{'table':<32} {'version':>7} {'partitions':>10} {'files':>6} {'rows':>12} {'bytes':>12}"
    )
    for name in names:
        snap = lake.snapshot(name)
        typer.echo(
            f"{name:<32} {snap.version:>7} {len(snap.partitions()):>10} {len(snap.files):>6} "
            f"{snap.rows:>12} {snap.bytes:>12}"
        )


@app.command("vacuum")
@handle_errors
def vacuum_command(
    workspace: WorkspaceOption = Path("."),
    env: EnvOption = "dev",
    retain_hours: Annotated[
        float,
        typer.Option(
            "--retain-hours",
            min=0,
            help="Keep files retired or orphaned less than this many hours ago (readers of "
            "earlier versions and writers still running need them).",
        ),
    ] = 1.0,
    table: Annotated[
        list[str] | None, typer.Option("--table", "-t", help="Only this table (repeatable).")
    ] = None,
) -> None:
    """Delete files no current version needs: those replaced by overwrites, and those a
    killed writer left without committing."""
    from lakeworks.engines.lakehouse.vacuum import vacuum

    lake = _lakehouse(workspace, env)
    report = vacuum(lake, retain=timedelta(hours=retain_hours), tables=table or None)
    typer.echo(
        f"vacuumed {report.tables} tables: {report.retired_files} retired and "
        f"{report.orphan_files} orphaned files deleted, {report.bytes_freed} bytes freed"
    )
