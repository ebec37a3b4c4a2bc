"""``lakeworks sync``: run a sync node now (with a live progress bar), list past runs,
show a run's quarantined rows, and show, reset or set a node's cursor."""

from __future__ import annotations

import json
import threading
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from lakeworks.cli.common import EnvOption, WorkspaceOption, handle_errors, load, open_database

if TYPE_CHECKING:
    from lakeworks.integration.progress import ProgressSnapshot
    from lakeworks.spec.models import Node, Workspace

app = typer.Typer(
    help="Data integration: run sync nodes, look at their runs, quarantined rows and cursors."
)


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
    from lakeworks.integration.service import SyncService
    from lakeworks.runtime.cycles import cycle_time_for, local_cycle_time, param_context
    from lakeworks.schedule.bizdates import parse_bizdate
    from lakeworks.security.secrets import install_workspace_key

    ws = load(workspace)
    found = _sync_node(ws, node)
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


def _sync_node(ws: Workspace, node: str) -> Node:
    from lakeworks.errors import UserError
    from lakeworks.spec.models import NodeKind

    found = ws.find_node(node)
    if found is None or found.kind is not NodeKind.SYNC:
        raise UserError(f"no sync node named '{node}'", hint="name a *.sync.yml node")
    return found


@app.command("dirty")
@handle_errors
def dirty(
    run_id: Annotated[int, typer.Argument(help="The sync run (an id from 'sync runs').")],
    workspace: WorkspaceOption = Path("."),
    env: EnvOption = "dev",
    limit: Annotated[int, typer.Option(min=1, help="How many rows to show.")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show the rows a sync run quarantined: where each was, why, and the row."""
    from lakeworks.errors import NotFound
    from lakeworks.integration.state import SyncState

    ws = load(workspace)
    state = SyncState(open_database(ws), ws.name, env)
    found = state.run(run_id)
    if found is None:
        raise NotFound(
            f"sync run {run_id} does not exist in {ws.name} ({env})",
            hint="'lakeworks sync runs' lists them",
        )
    rows = state.dirty_rows(run_id, limit)
    if as_json:
        items = [{"position": d.position, "reason": d.reason, "row": d.row_json} for d in rows]
        document = {
            "run": found.id,
            "node": found.node_key,
            "state": found.state,
            "rows_dirty": found.rows_dirty,
            "items": items,
        }
        typer.echo(json.dumps(document, indent=2))
        return
    typer.echo(f"run {found.id} {found.node_key} ({found.state}): {found.rows_dirty:,} dirty rows")
    for d in rows:
        typer.echo(f"{d.position}: {d.reason}")
        typer.echo(f"  {d.row_json}")
    if len(rows) < found.rows_dirty:
        typer.echo(f"showing the first {len(rows):,} of {found.rows_dirty:,}")


def _cursor_text(value: Any) -> str:
    return "none" if value is None else json.dumps(value, sort_keys=True, default=str)


def _cursor_value(text: str) -> Any:
    """``--set``'s value: JSON when it parses (42, "0042", {"0": 17}), else the text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


@app.command("cursor")
@handle_errors
def cursor(
    node: Annotated[str, typer.Argument(help="The sync node (name or workflow.node).")],
    reset: Annotated[
        bool, typer.Option("--reset", help="Forget the cursor: the next run reads everything.")
    ] = False,
    set_to: Annotated[
        str | None,
        typer.Option(
            "--set",
            metavar="VALUE",
            help="Set the cursor: the next run reads rows past VALUE (JSON when it parses, "
            "else text).",
        ),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    workspace: WorkspaceOption = Path("."),
    env: EnvOption = "dev",
) -> None:
    """Show a sync node's committed cursor (its incremental mark), or reset or set it."""
    from lakeworks.errors import UserError
    from lakeworks.integration.state import SyncState

    if reset and set_to is not None:
        raise UserError("give --reset or --set, not both")
    ws = load(workspace)
    key = _sync_node(ws, node).key
    state = SyncState(open_database(ws), ws.name, env)
    record = state.cursor_record(key)
    before = _cursor_text(record.value if record else None)
    name = f"{key} ({env})"
    if not reset and set_to is None:
        if record is None:
            typer.echo(f"{name}: no cursor; the next run reads everything")
            return
        source = f"run {record.sync_run_id}" if record.sync_run_id is not None else "set by hand"
        typer.echo(f"{name}: cursor {before} ({source}, {record.updated_at:%Y-%m-%d %H:%M:%S} UTC)")
        return
    if reset:
        if record is None:
            typer.echo(f"{name}: no cursor to reset")
            return
        if not yes:
            typer.confirm(f"Reset the cursor of {name} ({before})?", abort=True)
        state.reset_cursor(key)
        typer.echo(f"{name}: cursor {before} -> none; the next run reads everything")
        return
    assert set_to is not None
    value = _cursor_value(set_to)
    if value is None:
        raise UserError("a cursor cannot be set to null", hint="use --reset to forget it")
    after = _cursor_text(value)
    if not yes:
        typer.confirm(f"Set the cursor of {name} from {before} to {after}?", abort=True)
    state.set_cursor(key, value)
    typer.echo(f"{name}: cursor {before} -> {after}; the next run reads rows past it")
