"""``lakeworks stream``: run a stream node in the foreground, start and stop it on a
worker, pause, resume, reset its position, and show its live status and quarantine."""

from __future__ import annotations

import contextlib
import json
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from lakeworks.cli.common import EnvOption, WorkspaceOption, handle_errors, load, open_database
from lakeworks.cli.ops import ActorOption, JsonOption, actor_name

app = typer.Typer(
    help="Real-time sync: run, start, stop, pause, resume and reset stream nodes; "
    "show their status and quarantined messages."
)
NodeArgument = Annotated[str, typer.Argument(help="The stream node (name or workflow.node).")]


@app.command("run")
@handle_errors
def run(node: NodeArgument, workspace: WorkspaceOption = Path("."), env: EnvOption = "dev") -> None:
    """Follow a stream node in this process until Ctrl-C (or SIGTERM), flushing first."""
    from lakeworks.cli.common import open_engine
    from lakeworks.engines.base import Engine
    from lakeworks.errors import LakeworksError
    from lakeworks.streaming.opening import (
        OpenSource,
        load_spec,
        open_stream_source,
        opens_without_key,
        stream_node,
    )

    ws = load(workspace)
    found = stream_node(ws, node)
    spec = load_spec(found)
    cancel = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: cancel.set())

    def log(line: str) -> None:
        typer.echo(line, err=True)

    # the source is opened as early as it can be (before the store, when the workspace's
    # key is not needed, and before the runner's modules are imported): the broker
    # prepares its first answer meanwhile. A failure here is met again, and reported,
    # by the runner.
    opened: OpenSource | None = None

    def open_early(engine: Engine) -> None:
        nonlocal opened
        with contextlib.suppress(LakeworksError):
            opened = open_stream_source(ws, env, engine, found, spec, cancel=cancel, log=log)

    engine = open_engine(ws, env) if opens_without_key(ws, env, spec) else None
    if engine is not None:
        open_early(engine)
    from lakeworks.security.secrets import install_workspace_key

    db = open_database(ws)
    install_workspace_key(ws.state_dir, db)
    if engine is None:
        engine = open_engine(ws, env)
        open_early(engine)
    from lakeworks.streaming.runner import StreamRunner

    runner = StreamRunner(ws, env, engine, found, db, log=log, cancel=cancel, opened=opened)
    try:
        totals = runner.run()
    except KeyboardInterrupt:
        cancel.set()
        raise
    finally:
        engine.close()
    typer.echo(
        f"{found.key}: {totals.rows_in:,} messages, {totals.rows_out:,} rows written, "
        f"{totals.rows_dirty:,} quarantined, {totals.flushes:,} flushes"
    )


@app.command("start")
@handle_errors
def start(
    node: NodeArgument,
    workspace: WorkspaceOption = Path("."),
    env: EnvOption = "dev",
    actor: ActorOption = None,
) -> None:
    """Queue the stream for a worker of its resource group (it runs until stopped)."""
    from lakeworks.streaming import service

    ws = load(workspace)
    instance = service.start(open_database(ws), actor_name(actor), ws, env, node)
    typer.echo(f"{instance.node_key}: instance {instance.id} queued for a worker")


@app.command("stop")
@handle_errors
def stop(
    node: NodeArgument,
    workspace: WorkspaceOption = Path("."),
    env: EnvOption = "dev",
    actor: ActorOption = None,
) -> None:
    """Stop the stream's instance; it commits what it holds first."""
    from lakeworks.streaming import service

    ws = load(workspace)
    instance_id = service.stop(open_database(ws), actor_name(actor), ws, env, node)
    typer.echo(f"instance {instance_id} stopping")


def _set(node: str, workspace: Path, env: str, actor: str | None, desired: str) -> None:
    from lakeworks.streaming import service

    ws = load(workspace)
    service.set_desired(open_database(ws), actor_name(actor), ws, env, node, desired)
    typer.echo(f"{node}: {desired} (a running stream follows within a second)")


@app.command("pause")
@handle_errors
def pause(
    node: NodeArgument,
    workspace: WorkspaceOption = Path("."),
    env: EnvOption = "dev",
    actor: ActorOption = None,
) -> None:
    """Pause a stream: it commits what it holds and stops reading (the instance stays)."""
    _set(node, workspace, env, actor, "paused")


@app.command("resume")
@handle_errors
def resume(
    node: NodeArgument,
    workspace: WorkspaceOption = Path("."),
    env: EnvOption = "dev",
    actor: ActorOption = None,
) -> None:
    """Resume a paused stream."""
    _set(node, workspace, env, actor, "running")


@app.command("reset")
@handle_errors
def reset(
    node: NodeArgument,
    workspace: WorkspaceOption = Path("."),
    env: EnvOption = "dev",
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Forget the stored position: the next start reads from the node's ``start``."""
    from lakeworks.cli.common import open_engine
    from lakeworks.streaming import service

    ws = load(workspace)
    found = service.check_resettable(open_database(ws), ws, env, node)
    if not yes:
        typer.confirm(
            f"Forget the position of {found.key} in {env}? It will read again from "
            "its 'start' setting (a PostgreSQL CDC stream drops its replication slot "
            "and takes a new snapshot)",
            abort=True,
        )
    engine = open_engine(ws, env)
    try:
        typer.echo(service.confirm_text(found.key, service.reset(engine, ws, env, found)))
    finally:
        engine.close()


@app.command("status")
@handle_errors
def status(
    node: Annotated[str | None, typer.Argument(help="Only this stream node.")] = None,
    workspace: WorkspaceOption = Path("."),
    env: EnvOption = "dev",
    as_json: JsonOption = False,
) -> None:
    """State and live metrics: rows in/out, rows/s, lag, last flush, errors."""
    from lakeworks.streaming import service
    from lakeworks.streaming.status import status_lines

    ws = load(workspace)
    db = open_database(ws)
    found = [service.status(db, ws, env, node)] if node else service.statuses(db, ws, env)
    if as_json:
        typer.echo(json.dumps([s.as_dict() for s in found], indent=2))
        return
    if not found:
        typer.echo("no stream has run in this environment")
    for s in found:
        typer.echo("\n".join(status_lines(s)))


@app.command("dirty")
@handle_errors
def dirty(
    node: NodeArgument,
    workspace: WorkspaceOption = Path("."),
    env: EnvOption = "dev",
    limit: Annotated[int, typer.Option(min=1, help="How many messages to show.")] = 100,
) -> None:
    """Quarantined messages of a stream: topic[partition]@offset, reason, payload."""
    from lakeworks.cli.common import open_engine
    from lakeworks.streaming import positions
    from lakeworks.streaming.opening import stream_node

    ws = load(workspace)
    found = stream_node(ws, node)
    engine = open_engine(ws, env)
    try:
        for m in positions.quarantined(engine, found.key, limit):
            typer.echo(f"{m.source}@{m.offset}: {m.reason}")
            typer.echo(f"  {m.payload}")
    finally:
        engine.close()
