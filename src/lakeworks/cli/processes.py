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

from lakeworks.cli.common import (
    WorkspaceOption,
    handle_errors,
    load,
    open_database,
    serving_warehouses,
)
from lakeworks.cli.ops import ActorOption, ProdEnv, actor_name
from lakeworks.errors import UserError

if TYPE_CHECKING:
    from lakeworks.runtime.backfill_service import BackfillProgress
    from lakeworks.runtime.clock import Clock
    from lakeworks.runtime.workspace_source import WorkspaceSource
    from lakeworks.schedule.backfill import BackfillRequest
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
    Definition | None,
    typer.Option(
        "--definition",
        help="What runs: the environment's deployed release (the default in prod) or the"
        " workspace folder as it is (the default in dev).",
    ),
]


def _source(
    ws: Workspace, db: Database, definition: Definition | None, env: str
) -> WorkspaceSource:
    """Where scheduler and workers read the workspace definition from: prod runs the
    deployed release unless told otherwise, dev the folder."""
    if definition is None:
        definition = Definition.FOLDER if env == "dev" else Definition.RELEASE
        if definition is Definition.RELEASE:
            _note_release(db, ws, env)
    if definition is Definition.RELEASE:
        from lakeworks.deploy.source import DeployedWorkspaceSource
        from lakeworks.runtime.workspace_source import ThrottledSource

        return ThrottledSource(DeployedWorkspaceSource(db, ws.root, ws.name))
    from lakeworks.runtime.workspace_source import FolderWorkspaceSource

    return FolderWorkspaceSource(ws.root, on_error=_log)


def _note_release(db: Database, ws: Workspace, env: str) -> None:
    from lakeworks.deploy.repository import DeploymentRepository

    current = DeploymentRepository(db).current(ws.name, env)
    if current is None:
        typer.secho(
            f"note: {env} has no deployed release yet, so nothing is scheduled; deploy with"
            " 'lakeworks deploy .' (or run the folder as it is with --definition folder)",
            fg=typer.colors.YELLOW,
            err=True,
        )
    else:
        typer.echo(f"{env} runs release {current.number}", err=True)


def _log(line: str) -> None:
    # a worker logs a line per run: written as is (click's echo asked the terminal
    # whether to strip colours at every line: 4 % of a busy worker's time)
    sys.stderr.write(f"{datetime.now():%H:%M:%S} {line}\n")
    sys.stderr.flush()


def _alert_sender(
    db: Database, source: WorkspaceSource, env: str, stop: threading.Event, clock: Clock
) -> None:
    """Deliver alerts from this process until ``stop``."""
    from lakeworks.alerts.plugin import start_sender

    def workspace_of(name: str) -> Workspace | None:
        current = source.current(env)
        return current if current.name == name else None

    start_sender(db, workspace_of, stop, log=_log, now=clock.now)


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
    definition: DefinitionOption = None,
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
    source = _source(ws, db, definition, env)
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
    _alert_sender(db, source, env, stop, clock)
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
        with serving_warehouses(ws, [env]):
            process.start()
            while not stop.wait(0.5):
                if not process.alive():
                    raise UserError(
                        process.failed or "the scheduler or worker stopped; see the log"
                    )
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
    definition: DefinitionOption = None,
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
    source = _source(ws, db, definition, env)
    stop = _stop_on_signals()
    try:
        with serving_warehouses(ws, [env]):
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
    nodes: Annotated[
        list[str] | None,
        typer.Argument(
            help="Nodes to backfill (name or workflow.node); the first starts a --to chain."
        ),
    ] = None,
    dates: Annotated[
        str,
        typer.Option("--dates", "-d", help="Business dates: 20260401-20260410,20260501."),
    ] = "",
    workspace: WorkspaceOption = Path("."),
    env: ProdEnv = "prod",
    workflow: Annotated[
        list[str] | None, typer.Option("--workflow", help="Every node of this workflow.")
    ] = None,
    everything: Annotated[bool, typer.Option("--all", help="Every node of the workspace.")] = False,
    to: Annotated[
        str | None, typer.Option("--to", help="End node: backfill the chain node -> end.")
    ] = None,
    downstream: Annotated[
        bool, typer.Option("--downstream", help="Add everything downstream of the nodes.")
    ] = False,
    upstream: Annotated[
        bool, typer.Option("--upstream", help="Add everything upstream of the nodes.")
    ] = False,
    depth: Annotated[
        int | None,
        typer.Option("--depth", help="With --upstream/--downstream: only this many levels."),
    ] = None,
    exclude: Annotated[
        list[str] | None, typer.Option("--exclude", help="Leave out these nodes.")
    ] = None,
    descending: Annotated[bool, typer.Option("--desc", help="Newest business date first.")] = False,
    parallel: Annotated[int, typer.Option("--parallel", "-p", help="Dates at once.")] = 1,
    param: Annotated[
        list[str] | None, typer.Option("--param", help="Parameter override name=value.")
    ] = None,
    wait_outside: Annotated[
        bool,
        typer.Option(
            "--wait-outside",
            help="Also wait for the scheduled instances outside the backfill that it depends"
            " on (listed by --dry-run).",
        ),
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the instances; create nothing.")
    ] = False,
    wait: Annotated[bool, typer.Option("--wait", help="Show progress until done.")] = False,
    actor: ActorOption = None,
) -> None:
    """Create a backfill of nodes, workflows (--workflow) or the workspace (--all), with
    their upstream (--upstream) or downstream (--downstream), or a chain (NODE --to END).

    Every dependency between the selected instances is kept, across dates and lanes
    (including partition windows such as a 7-day rolling read). Instances outside the
    backfill that it depends on are listed by --dry-run with their state; they are waited
    for only with --wait-outside.
    """
    from lakeworks.runtime.backfill_service import (
        describe_outside_wait,
        outside_dependencies,
        outside_warnings,
        preview,
        start_backfill,
    )
    from lakeworks.schedule.backfill import format_plan

    ws = load(workspace)
    request = _backfill_request(
        ws,
        nodes or [],
        dates,
        workflow or [],
        everything=everything,
        to=to,
        downstream=downstream,
        upstream=upstream,
        depth=depth,
        exclude=exclude or [],
        descending=descending,
        parallel=parallel,
        param=param or [],
        wait_outside=wait_outside,
    )
    db = open_database(ws)
    try:
        if dry_run:
            plan = preview(ws, request)
            outside = outside_dependencies(db, ws.name, env, plan)
            states = {o.ref.key: o.state for o in outside}
            typer.echo(format_plan(plan, states))
            for warning in outside_warnings(outside):
                typer.secho(f"warning: {warning}", fg=typer.colors.YELLOW, err=True)
            return
        run, plan, created = start_backfill(db, actor_name(actor), ws, env, request)
        typer.echo(f"backfill {run.id}: {len(created)} instances for {len(plan.dates)} dates")
        outside = outside_dependencies(db, ws.name, env, plan)
        waiting = describe_outside_wait(outside) if wait_outside else None
        if waiting is not None:
            typer.echo(waiting)
        warnings = [*plan.warnings, *([] if wait_outside else outside_warnings(outside))]
        if plan.outside and not wait_outside:
            warnings.append(
                f"{len(plan.outside)} instances outside the backfill are not waited for"
                " (see --dry-run; --wait-outside waits for them)"
            )
        for warning in warnings:
            typer.secho(f"warning: {warning}", fg=typer.colors.YELLOW, err=True)
        if wait:
            _wait(db, run.id)
    finally:
        db.close()


def _backfill_request(
    ws: Workspace,
    nodes: list[str],
    dates: str,
    workflows: list[str],
    *,
    everything: bool,
    to: str | None,
    downstream: bool,
    upstream: bool,
    depth: int | None,
    exclude: list[str],
    descending: bool,
    parallel: int,
    param: list[str],
    wait_outside: bool,
) -> BackfillRequest:
    from lakeworks.schedule.backfill import (
        BackfillOrder,
        BackfillRequest,
        BackfillScope,
        parse_date_ranges,
    )

    if not dates:
        raise UserError("--dates is required", hint="e.g. --dates 20260401-20260410")
    if sum([bool(to), downstream, upstream, everything]) > 1:
        raise UserError(
            "--to, --downstream, --upstream and --all do not go together", hint="pick one scope"
        )
    if to and len(nodes) != 1:
        raise UserError(
            "--to needs exactly one start node", hint="lakeworks backfill start A --to B"
        )
    if depth is not None and not (upstream or downstream):
        raise UserError("--depth goes with --upstream or --downstream")
    if not nodes and not workflows and not everything:
        raise UserError(
            "name the nodes to backfill",
            hint="give node names, --workflow NAME or --all",
        )
    overrides: dict[str, str] = {}
    for item in param:
        name, sep, value = item.partition("=")
        if not sep:
            raise UserError(f"--param {item}: write name=value")
        overrides[name.strip()] = value
    scope = (
        BackfillScope.CHAIN
        if to
        else BackfillScope.DOWNSTREAM
        if downstream
        else BackfillScope.UPSTREAM
        if upstream
        else BackfillScope.WORKSPACE
        if everything
        else BackfillScope.NODE
    )
    return BackfillRequest(
        node=nodes[0] if nodes else "",
        nodes=tuple(nodes[1:]),
        workflows=tuple(workflows),
        depth=depth,
        date_ranges=parse_date_ranges(dates),
        scope=scope,
        end_node=to,
        order=BackfillOrder.DESCENDING if descending else BackfillOrder.ASCENDING,
        parallel=parallel,
        parameters=overrides,
        exclude=frozenset(_key_of(ws, e) for e in exclude),
        wait_outside=wait_outside,
    )


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
