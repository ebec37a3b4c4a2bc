"""``lakeworks sync``: run a sync node now (with a live progress bar) and list past runs."""

from __future__ import annotations

import threading
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from lakeworks.cli.common import EnvOption, WorkspaceOption, handle_errors, load, open_database

if TYPE_CHECKING:
    from lakeworks.integration.progress import ProgressSnapshot

app = typer.Typer(help="Data integration: run sync nodes and look at their runs.")


def _bar(snapshot: ProgressSnapshot) -> str:
    width = 30
    eta = snapshot.eta_seconds
    if snapshot.expected_rows:
        done = min(1.0, snapshot.rows / snapshot.expected_rows)
        filled = int(done * width)
        bar = "#" * filled + "-" * (width - filled)
        head = f"[{bar}] {done:>4.0%}"
    else:
        head = "[" + "~" * width + "]"
    tail = f" ETA {eta:,.0f}s" if eta is not None else ""
    return (
        f"\r{head} {snapshot.rows:,} rows {snapshot.bytes / 1e6:,.1f} MB "
        f"{snapshot.rows_per_second:,.0f} rows/s{tail}   "
    )


@app.command("run")
@handle_errors
def run(
    node: Annotated[str, typer.Argument(help="The sync node (name or workflow.node).")],
    bizdate: Annotated[
        str | None, typer.Option("--bizdate", "-d", help="Business date YYYYMMDD.")
    ] = None,
    workspace: WorkspaceOption = Path("."),
    env: EnvOption = "dev",
) -> None:
    """Run one sync node now, showing rows, bytes, rows/s and ETA as it goes."""
    from lakeworks.cli.common import is_tty, open_engine
    from lakeworks.errors import UserError
    from lakeworks.integration.service import SyncService
    from lakeworks.runtime.execution import local_cycle_time, param_context
    from lakeworks.runtime.runner import cycle_time_for, parse_bizdate
    from lakeworks.security.secrets import install_workspace_key
    from lakeworks.spec.models import NodeKind

    ws = load(workspace)
    found = ws.find_node(node)
    if found is None or found.kind is not NodeKind.SYNC:
        raise UserError(f"no sync node named '{node}'", hint="name a *.sync.yml node")
    day = parse_bizdate(bizdate) if bizdate else date.today() - timedelta(days=1)
    cycle = local_cycle_time(ws, cycle_time_for(ws, day, ws.node_schedule(found).at))
    params = param_context(ws, found, cycle)
    db = open_database(ws)
    install_workspace_key(ws.state_dir, db)
    engine = open_engine(ws, env)
    tty = is_tty()
    cancel = threading.Event()
    bar_shown = False  # the bar is on the terminal's current line

    def end_bar() -> None:
        nonlocal bar_shown
        if bar_shown:
            typer.echo("", err=True)
            bar_shown = False

    def show(snapshot: ProgressSnapshot) -> None:
        nonlocal bar_shown
        if tty:
            typer.echo(_bar(snapshot), nl=False, err=True)
            bar_shown = True

    def log(line: str) -> None:
        if not tty or not line.startswith("progress:"):
            end_bar()
            typer.echo(line, err=True)

    try:
        result = SyncService(ws, env, engine, db).run(
            found, params, log=log, cancel=cancel, listeners=[show]
        )
    except KeyboardInterrupt:
        cancel.set()
        raise
    finally:
        end_bar()
        engine.close()
    typer.echo(
        f"{found.key}: {result.rows_written:,} rows written, {result.rows_dirty:,} dirty, "
        f"{result.bytes_read / 1e6:,.1f} MB read in {result.seconds:,.1f}s "
        f"(run {result.run_id}, attempt {result.attempts})"
    )


@app.command("runs")
@handle_errors
def runs(
    node: Annotated[str | None, typer.Argument(help="Only this node.")] = None,
    workspace: WorkspaceOption = Path("."),
    env: EnvOption = "dev",
    limit: Annotated[int, typer.Option(help="How many runs to show.")] = 20,
) -> None:
    """List recent sync runs with their totals."""
    from lakeworks.integration.state import SyncState

    ws = load(workspace)
    key = None
    if node:
        found = ws.find_node(node)
        key = found.key if found else node
    state = SyncState(open_database(ws), ws.name, env)
    for r in state.runs(key, limit):
        typer.echo(
            f"{r.id:>6} {r.node_key:<30} {r.state:<8} read {r.rows_read:>12,} "
            f"written {r.rows_written:>12,} dirty {r.rows_dirty:>8,} "
            f"{(r.seconds or 0):>8.1f}s {r.error.splitlines()[0] if r.error else ''}"
        )
