"""``lakeworks datasources``: list a workspace's data sources and test a connection."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from lakeworks.cli.common import WorkspaceOption, handle_errors, load, open_database

app = typer.Typer(help="Data sources of the workspace folder: list them, test a connection.")


@app.command("list")
@handle_errors
def list_sources(workspace: WorkspaceOption = Path(".")) -> None:
    """The data sources of lakeworks.yml with their type (secrets never shown)."""
    ws = load(workspace)
    if not ws.config.data_sources:
        typer.echo("no data sources in lakeworks.yml")
    for name, raw in sorted(ws.config.data_sources.items()):
        typer.echo(f"{name}\t{dict(raw).get('type', '?')}")


@app.command("test")
@handle_errors
def test(
    name: Annotated[str, typer.Argument(help="The data source's name in lakeworks.yml.")],
    workspace: WorkspaceOption = Path("."),
    timeout: Annotated[
        float,
        typer.Option("--timeout", min=0.5, max=60, help="Seconds to wait for an answer."),
    ] = 10.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Connect, sign in and list one thing (tables, topics, files) within --timeout
    seconds; prints the latency and the server's version, or what failed with a hint.
    Exits 1 when the connection fails."""
    from lakeworks.integration.connection_test import check_connection
    from lakeworks.security.secrets import install_workspace_key

    ws = load(workspace)
    db = open_database(ws)
    try:
        install_workspace_key(ws.state_dir, db)
        result = check_connection(ws, name, timeout=timeout)
    finally:
        db.close()
    if as_json:
        typer.echo(json.dumps(asdict(result)))
    elif result.ok:
        typer.secho(result.render(), fg=typer.colors.GREEN)
    else:
        typer.secho(result.render(), fg=typer.colors.RED, err=True)
    if not result.ok:
        raise typer.Exit(1)
