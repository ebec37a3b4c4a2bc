"""``lakeworks scheduler``, ``lakeworks worker`` and ``lakeworks backfill``.

The scheduler and workers run until interrupted (Ctrl-C or SIGTERM: a worker then
lets what it runs finish, up to ``--grace-seconds``; a second signal exits at once and
the leases expire). On the embedded SQLite store the scheduler also runs the worker
threads, since SQLite serves one process; on PostgreSQL start any number of each.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from lakeworks.cli.common import WorkspaceOption, handle_errors, load, open_database
from lakeworks.cli.ops import ActorOption, ProdEnv, actor_name
from lakeworks.errors import UserError

if TYPE_CHECKING:
    from lakeworks.runtime.backfill_service import BackfillProgress
    from lakeworks.runtime.workspace_source import WorkspaceSource
    from lakeworks.spec.models import Workspace
    from lakeworks.store.database import Database

backfill_app = typer.Typer(
    help="Backfill (data complement): run nodes for past business dates.",
    no_args_is_help=True,
)


class Definition(StrEnum):
    FOLDER = "folder"
    RELEASE = "release"


DefinitionOption = Annotated[
    Definition,
    typer.Option(
        "--definition",
        help="Run the workspace folder as it is, or the environment's deployed release.",
    ),
]


def _source(ws: Workspace, db: Database, definition: Definition) -> WorkspaceSource:
    """Where scheduler and workers read the workspace definition from."""
    if definition is Definition.RELEASE:
        from lakeworks.deploy.source import DeployedWorkspaceSource
        from lakeworks.runtime.workspace_source import ThrottledSource

        return ThrottledSource(DeployedWorkspaceSource(db, ws.root, ws.name))
    from lakeworks.runtime.workspace_source import FolderWorkspaceSource

    return FolderWorkspaceSource(ws.root, on_error=_log)


def _log(line: str) -> None:
    typer.echo(f"{datetime.now():%H:%M:%S} {line}", err=True)


def _stop_on_signals() -> threading.Event:
    """An event set by the first SIGINT/SIGTERM; the second one exits at once."""
    stop = threading.Event()

    def handler(signum: int, _frame: Any) -> None:
        if stop.is_set():
            _log("second signal: exiting now (running leases will expire)")
            os._exit(130)
        _log(f"{signal.Signals(signum).name}: stopping (send again to exit at once)")
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return stop


def _groups(values: list[str], slots: int) -> dict[str, int]:
    """``--group etl --group default:2`` with ``--slots`` as the default count."""
    out: dict[str, int] = {}
    for value in values:
        name, sep, count = value.partition(":")
        try:
            out[name] = int(count) if sep else slots
        except ValueError:
            raise UserError(f"--group {value}: the slot count must be a number") from None
    return out


@handle_errors
def scheduler(
    workspace: WorkspaceOption = Path("."),
    env: ProdEnv = "prod",
    with_worker: Annotated[
        bool | None,
        typer.Option(
            "--with-worker/--no-worker",
            help="Run worker threads in this process too (default: only on SQLite).",
        ),
    ] = None,
    group: Annotated[
        list[str] | None,
        typer.Option("--group", "-g", help="Groups the embedded worker serves (G or G:N)."),
    ] = None,
    slots: Annotated[int, typer.Option("--slots", help="Slots per group (embedded).")] = 4,
    interval: Annotated[float, typer.Option("--interval", help="Seconds between passes.")] = 1.0,
    days_ahead: Annotated[int, typer.Option("--days-ahead", help="Whole days planned ahead.")] = 1,
    since: Annotated[
        str,
        typer.Option("--since", help="First start only: today, now or an ISO date-time."),
    ] = "today",
    keep_days: Annotated[
        float | None,
        typer.Option("--keep-days", help="Prune finished instances older than this (hourly)."),
    ] = None,
    keep_log_days: Annotated[
        float | None, typer.Option("--keep-log-days", help="Prune logs older than this.")
    ] = None,
    definition: DefinitionOption = Definition.FOLDER,
) -> None:
    """Plan and dispatch the workspace's scheduled instances until interrupted."""
    from lakeworks.runtime.clock import clock_from_env
    from lakeworks.runtime.process import LakeworksProcess
    from lakeworks.runtime.retention import RetentionPolicy
    from lakeworks.runtime.scheduler import Scheduler, SchedulerConfig
    from lakeworks.runtime.worker import WorkerConfig
    from lakeworks.security.secrets import install_workspace_key

    ws = load(workspace)
    db = open_database(ws)
    install_workspace_key(ws.state_dir, db)
    source = _source(ws, db, definition)
    clock = clock_from_env()
    retention = None
    if keep_days is not None or keep_log_days is not None:
        days = keep_days if keep_days is not None else 90.0
        retention = RetentionPolicy(days, keep_log_days if keep_log_days is not None else days)
        retention.check()
    config = SchedulerConfig(
        env=env,
        interval_seconds=interval,
        days_ahead=days_ahead,
        since=since,
        retention=retention,
    )
    embedded = db.dialect_name == "sqlite" if with_worker is None else with_worker
    stop = _stop_on_signals()
    try:
        if not embedded:
            Scheduler(db, source, config, clock=clock, log=_log).run(stop)
            return
        groups = _groups(group or [], slots) or None
        process = LakeworksProcess(
            db,
            source,
            env=env,
            groups=groups,
            clock=clock,
            scheduler_config=config,
            worker_config=WorkerConfig(groups=groups, env=env) if groups else None,
            log=_log,
        )
        _log(f"scheduler with worker threads in one process ({db.url})")
        process.start()
        while not stop.wait(0.5):
            if not process.alive():
                raise UserError(process.failed or "the scheduler or worker stopped; see the log")
        process.stop()
    finally:
        db.close()


@handle_errors
def worker(
    workspace: WorkspaceOption = Path("."),
    env: ProdEnv = "prod",
    group: Annotated[
        list[str] | None,
        typer.Option("--group", "-g", help="Resource group(s) to serve (G or G:N)."),
    ] = None,
    slots: Annotated[int, typer.Option("--slots", help="Slots per group.")] = 4,
    name: Annotated[str | None, typer.Option("--name", help="Worker name.")] = None,
    lease_seconds: Annotated[
        float, typer.Option("--lease-seconds", help="Lease length without renewal.")
    ] = 30.0,
    grace_seconds: Annotated[
        float, typer.Option("--grace-seconds", help="On stop, wait this long for runs.")
    ] = 30.0,
    definition: DefinitionOption = Definition.FOLDER,
) -> None:
    """Claim and run queued instances of some resource groups until interrupted."""
    from lakeworks.runtime.clock import clock_from_env
    from lakeworks.runtime.worker import Worker, WorkerConfig
    from lakeworks.security.secrets import install_workspace_key

    ws = load(workspace)
    groups = _groups(group or ["default"], slots)
    unknown = sorted(set(groups) - set(ws.config.resource_groups))
    if unknown:
        raise UserError(
            f"resource group {', '.join(unknown)} is not defined in lakeworks.yml",
            hint=f"defined: {', '.join(ws.config.resource_groups)}",
        )
    db = open_database(ws)
    install_workspace_key(ws.state_dir, db)
    config = WorkerConfig(groups=groups, env=env, name=name, lease_seconds=lease_seconds)
    source = _source(ws, db, definition)
    stop = _stop_on_signals()
    try:
        Worker(db, source, config, clock=clock_from_env(), log=_log).run(
            stop, grace_seconds=grace_seconds
        )
    finally:
        db.close()


def _print_progress(progress: BackfillProgress, *, final: bool = False) -> None:
    text = f"backfill {progress.run.id} [{progress.run.state.value}] {progress.summary()}"
    if sys.stderr.isatty() and not final:
        typer.echo(f"\r{text}   ", nl=False, err=True)
    else:
        typer.echo(text, err=True)


@backfill_app.command("start")
@handle_errors
def backfill_start(
    node: Annotated[str, typer.Argument(help="The (first) node.")],
    dates: Annotated[
        str,
        typer.Option("--dates", "-d", help="Business dates: 20260401-20260410,20260501."),
    ],
    workspace: WorkspaceOption = Path("."),
    env: ProdEnv = "prod",
    to: Annotated[
        str | None, typer.Option("--to", help="End node: backfill the chain node -> end.")
    ] = None,
    downstream: Annotated[
        bool, typer.Option("--downstream", help="The node and everything downstream.")
    ] = False,
    exclude: Annotated[
        list[str] | None, typer.Option("--exclude", help="Leave out these nodes.")
    ] = None,
    descending: Annotated[bool, typer.Option("--desc", help="Newest business date first.")] = False,
    parallel: Annotated[int, typer.Option("--parallel", "-p", help="Dates at once.")] = 1,
    param: Annotated[
        list[str] | None, typer.Option("--param", help="Parameter override name=value.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the instances; create nothing.")
    ] = False,
    wait: Annotated[bool, typer.Option("--wait", help="Show progress until done.")] = False,
    actor: ActorOption = None,
) -> None:
    """Create a backfill: one node, a chain (--to) or a node with all downstream."""
    from lakeworks.runtime.backfill_service import preview, start_backfill
    from lakeworks.schedule.backfill import (
        BackfillOrder,
        BackfillRequest,
        BackfillScope,
        format_plan,
        parse_date_ranges,
    )

    if to and downstream:
        raise UserError("--to and --downstream do not go together", hint="pick one scope")
    overrides: dict[str, str] = {}
    for item in param or []:
        name, sep, value = item.partition("=")
        if not sep:
            raise UserError(f"--param {item}: write name=value")
        overrides[name.strip()] = value
    ws = load(workspace)
    request = BackfillRequest(
        node=node,
        date_ranges=parse_date_ranges(dates),
        scope=BackfillScope.CHAIN
        if to
        else BackfillScope.DOWNSTREAM
        if downstream
        else BackfillScope.NODE,
        end_node=to,
        order=BackfillOrder.DESCENDING if descending else BackfillOrder.ASCENDING,
        parallel=parallel,
        parameters=overrides,
        exclude=frozenset(_key_of(ws, e) for e in exclude or []),
    )
    if dry_run:
        typer.echo(format_plan(preview(ws, request)))
        return
    db = open_database(ws)
    try:
        run, plan, created = start_backfill(db, actor_name(actor), ws, env, request)
        typer.echo(f"backfill {run.id}: {len(created)} instances for {len(plan.dates)} dates")
        for warning in plan.warnings:
            typer.secho(f"warning: {warning}", fg=typer.colors.YELLOW, err=True)
        if wait:
            _wait(db, run.id)
    finally:
        db.close()


def _key_of(ws: Workspace, ref: str) -> str:
    node = ws.find_node(ref)
    return node.key if node is not None else ref


def _wait(db: Any, run_id: int) -> None:
    from lakeworks.runtime.backfill_service import progress
    from lakeworks.runtime.heartbeat import SILENT_AFTER_SECONDS
    from lakeworks.runtime.ops import processes

    kinds = {p.kind for p in processes(db, alive_within=SILENT_AFTER_SECONDS)}
    if "scheduler" not in kinds:
        typer.secho(
            "note: no scheduler is running; the backfill waits until one is started"
            " ('lakeworks scheduler')",
            fg=typer.colors.YELLOW,
            err=True,
        )

    while True:
        current = progress(db, run_id)
        if current.finished:
            _print_progress(current, final=True)
            if current.run.state.value != "success":
                raise typer.Exit(1)
            return
        _print_progress(current)
        time.sleep(1.0)


@backfill_app.command("status")
@handle_errors
def backfill_status(
    run_id: Annotated[int, typer.Argument(help="Backfill run id.")],
    workspace: WorkspaceOption = Path("."),
    wait: Annotated[bool, typer.Option("--wait", help="Show progress until done.")] = False,
) -> None:
    """Progress of a backfill: instances done, failed, running, waiting."""
    from lakeworks.runtime.backfill_service import progress

    db = open_database(load(workspace))
    try:
        if wait:
            _wait(db, run_id)
        else:
            _print_progress(progress(db, run_id), final=True)
    finally:
        db.close()


@backfill_app.command("list")
@handle_errors
def backfill_list(
    workspace: WorkspaceOption = Path("."),
    env: ProdEnv = "prod",
    limit: Annotated[int, typer.Option("--limit", help="How many.")] = 20,
) -> None:
    """Backfills, newest first."""
    from lakeworks.runtime.backfill_service import list_backfills, progress

    ws = load(workspace)
    db = open_database(ws)
    try:
        for run in list_backfills(db, workspace=ws.name, env=env, limit=limit):
            summary = progress(db, run.id).summary()
            typer.echo(
                f"{run.id:>6}  {run.state.value:<8} {run.created_by:<10} {run.description}"
                f"  | {summary}"
            )
    finally:
        db.close()


@backfill_app.command("stop")
@handle_errors
def backfill_stop(
    run_id: Annotated[int, typer.Argument(help="Backfill run id.")],
    workspace: WorkspaceOption = Path("."),
    actor: ActorOption = None,
) -> None:
    """Stop a backfill: its unfinished instances are stopped."""
    from lakeworks.runtime.backfill_service import stop_backfill

    db = open_database(load(workspace))
    try:
        result = stop_backfill(db, actor_name(actor), run_id)
    finally:
        db.close()
    typer.echo(f"backfill {run_id} stopped ({len(result.changed)} instances stopped)")


def register(root: typer.Typer) -> None:
    """Attach the commands to the root app."""
    root.command("scheduler")(scheduler)
    root.command("worker")(worker)
    root.add_typer(backfill_app, name="backfill")
