"""``lakeworks ops``: the Operations Center on the command line.

List and filter instances, show one (attempts, events, reason, rendered code), read
or follow its log, and act: run now, rerun (with downstream), set success, stop,
suspend/resume, freeze/unfreeze (instances or a whole node). Every action is recorded
with the acting user (``--actor``, default the login name).
"""

from __future__ import annotations

import getpass
import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo

import typer

from lakeworks.cli.common import (
    ENV_RULE,
    WorkspaceOption,
    handle_errors,
    is_tty,
    load,
    open_database,
)
from lakeworks.errors import UserError

if TYPE_CHECKING:
    from lakeworks.runtime.ops import ActionResult
    from lakeworks.spec.models import Workspace
    from lakeworks.store.database import Database
    from lakeworks.store.models import Instance

app = typer.Typer(
    help="Operations: watch instances, read logs, rerun, stop, freeze, prune.",
    no_args_is_help=True,
)

STATE_COLOURS = {
    "success": "green",
    "failed": "red",
    "running": "bold blue",
    "waiting_resources": "cyan",
    "stopped": "magenta",
    "frozen": "bright_cyan",
    "suspended": "yellow",
    "skipped": "blue",
}

ProdEnv = Annotated[
    str, typer.Option("--env", "-e", help=f"Environment, prod (default) or dev. {ENV_RULE}")
]
ActorOption = Annotated[
    str | None,
    typer.Option("--actor", help="Who acts (recorded); default $LAKEWORKS_ACTOR or login."),
]
IdsArgument = Annotated[list[int], typer.Argument(help="Instance ids.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def actor_name(actor: str | None) -> str:
    """The acting user: ``--actor``, else ``$LAKEWORKS_ACTOR``, else the login name."""
    if actor:
        return actor
    try:
        return os.environ.get("LAKEWORKS_ACTOR") or getpass.getuser()
    except (KeyError, OSError):
        return "cli"


def local_text(moment: datetime | None, zone: ZoneInfo, seconds: bool = False) -> str:
    """A stored (UTC-naive) time in the workspace zone."""
    if moment is None:
        return ""
    shown = moment.replace(tzinfo=UTC).astimezone(zone)
    return shown.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def _coloured(state: str) -> str:
    colour = STATE_COLOURS.get(state, "white")
    return f"[{colour}]{state}[/{colour}]"


def _instance_json(i: Instance) -> dict[str, object]:
    return {
        "id": i.id,
        "node": i.node_key,
        "workflow": i.workflow,
        "run_type": i.run_type.value,
        "run_id": i.run_id,
        "cycle_time": i.cycle_time.isoformat() + "Z",
        "bizdate": i.bizdate,
        "state": i.state.value,
        "reason": i.reason,
        "attempts": i.attempts,
        "max_attempts": i.max_attempts,
        "priority": i.priority,
        "resource_group": i.resource_group,
        "owner": i.owner,
        "worker": i.worker,
        "started_at": i.started_at.isoformat() + "Z" if i.started_at else None,
        "finished_at": i.finished_at.isoformat() + "Z" if i.finished_at else None,
        "seconds": i.duration_seconds,
    }


def _open(workspace: Path) -> tuple[Workspace, Database, ZoneInfo]:
    ws = load(workspace)
    return ws, open_database(ws), ZoneInfo(ws.config.timezone)


def _node_key(ws: Workspace, ref: str) -> str:
    node = ws.find_node(ref)
    if node is not None:
        return node.key
    if "." in ref:
        return ref  # a node that no longer exists may still have instances
    raise UserError(f"no node named '{ref}'", hint="name it as workflow.node or by file name")


def _states(values: list[str]) -> tuple[object, ...]:
    from lakeworks.store.models import InstanceState

    out = []
    for value in values:
        try:
            out.append(InstanceState(value))
        except ValueError:
            known = ", ".join(s.value for s in InstanceState)
            raise UserError(f"unknown state '{value}'", hint=f"states: {known}") from None
    return tuple(out)


@app.command("list")
@handle_errors
def list_command(
    workspace: WorkspaceOption = Path("."),
    env: ProdEnv = "prod",
    bizdate: Annotated[str | None, typer.Option("--bizdate", "-d", help="YYYYMMDD.")] = None,
    workflow: Annotated[str | None, typer.Option("--workflow", help="Workflow name.")] = None,
    node: Annotated[list[str] | None, typer.Option("--node", "-n", help="Node(s).")] = None,
    state: Annotated[list[str] | None, typer.Option("--state", "-s", help="State(s).")] = None,
    owner: Annotated[str | None, typer.Option("--owner", help="Owner.")] = None,
    run_type: Annotated[
        str | None, typer.Option("--type", help="scheduled, backfill or manual.")
    ] = None,
    run: Annotated[int | None, typer.Option("--run", help="Instances of one run.")] = None,
    before: Annotated[
        int | None, typer.Option("--before", help="Continue below this id (next page).")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="Rows per page.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """List instances, newest first, filtered by date, workflow, node, state, owner."""
    from lakeworks.runtime.ops import InstanceFilter, list_instances
    from lakeworks.schedule.bizdates import parse_bizdate
    from lakeworks.store.models import RunType

    ws, db, zone = _open(workspace)
    kind = None
    if run_type is not None:
        try:
            kind = RunType(run_type)
        except ValueError:
            raise UserError(
                f"unknown run type '{run_type}'", hint="scheduled, backfill or manual"
            ) from None
    where = InstanceFilter(
        workspace=ws.name,
        env=env,
        bizdate=f"{parse_bizdate(bizdate):%Y%m%d}" if bizdate else None,
        workflow=workflow,
        nodes=tuple(_node_key(ws, n) for n in node or []),
        states=_states(state or []),  # type: ignore[arg-type]
        owner=owner,
        run_type=kind,
        run_id=run,
    )
    page = list_instances(db, where, before_id=before, limit=limit)
    db.close()
    if as_json:
        items = [_instance_json(i) for i in page.items]
        typer.echo(json.dumps({"instances": items, "next_before": page.next_before}, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(page.items)} instances of {ws.name}/{env}")
    for column in ("id", "node", "cycle", "bizdate", "state", "try", "seconds"):
        table.add_column(column, no_wrap=True)
    table.add_column("reason", overflow="fold")
    for i in page.items:
        seconds = i.duration_seconds
        table.add_row(
            str(i.id),
            i.node_key,
            local_text(i.cycle_time, zone),
            i.bizdate,
            _coloured(i.state.value),
            f"{i.attempts}/{i.max_attempts}",
            f"{seconds:.1f}" if seconds is not None else "",
            (i.reason or "").splitlines()[0] if i.reason else "",
        )
    Console(width=None if is_tty() else 200).print(table)
    if page.next_before is not None:
        typer.echo(f"more: --before {page.next_before}")


@app.command("show")
@handle_errors
def show_command(
    instance_id: Annotated[int, typer.Argument(help="Instance id.")],
    workspace: WorkspaceOption = Path("."),
    code: Annotated[bool, typer.Option("--code", help="Print the rendered code.")] = False,
    as_json: JsonOption = False,
) -> None:
    """One instance: state, reason, timings, attempts, history, neighbours, code."""
    from lakeworks.runtime.ops import control_view, show_instance
    from lakeworks.streaming.status import StreamStatusStore, status_lines

    ws, db, zone = _open(workspace)
    detail = show_instance(db, instance_id)
    i = detail.instance
    stream = StreamStatusStore(db, i.workspace, i.env).get(i.node_key)
    db.close()
    if as_json:
        data = _instance_json(i)
        data["attempt_list"] = [
            {"number": a.number, "state": a.state.value, "worker": a.worker, "error": a.error}
            for a in detail.attempts
        ]
        data["upstream"] = [u.id for u in detail.upstream]
        data["downstream"] = [d.id for d in detail.downstream]
        data["rendered_code"] = i.rendered_code
        if stream is not None:
            data["stream"] = stream.as_dict()
        data["output"] = json.loads(detail.output) if detail.output else None
        data["iterations"] = [
            {"offset": it.offset, "item": it.item, "state": it.state, "run_id": it.run_id}
            for it in detail.iterations
        ]
        typer.echo(json.dumps(data, indent=2))
        return
    rows = [
        ("instance", f"{i.id} ({i.run_type.value}{f' run {i.run_id}' if i.run_id else ''})"),
        ("node", f"{i.node_key}  owner {i.owner or '-'}  group {i.resource_group}"),
        ("cycle", f"{local_text(i.cycle_time, zone)}  bizdate {i.bizdate}"),
        ("state", i.state.value),
        ("reason", i.reason or ""),
        ("attempts", f"{i.attempts} of {i.max_attempts}"),
        ("started", local_text(i.started_at, zone, True)),
        ("finished", local_text(i.finished_at, zone, True)),
        ("worker", i.worker or ""),
    ]
    control = control_view(ws, i, detail.output, detail.iterations)
    if control.taken is not None:
        rows.append(("branch", f"taken: {control.taken}" if control.taken else "none held"))
    if detail.output is not None:
        shown = detail.output if len(detail.output) <= 200 else detail.output[:199] + "…"
        rows.append(("output", shown))
    for name, value in rows:
        typer.echo(f"{name:>9}  {value}")
    if stream is not None:
        typer.echo("\nstream:")
        for line in status_lines(stream):
            typer.echo("  " + line)
    if detail.iterations:
        done = sum(1 for it in detail.iterations if it.state == "success")
        what = "called workflow" if control.kind == "sub-workflow" else "iterations"
        typer.echo(f"\n{what} ({done} of {len(detail.iterations)} succeeded):")
        for it in detail.iterations:
            run = f"run {it.run_id}" if it.run_id else ""
            typer.echo(f"  {it.offset + 1:>5} {it.state:<8} {run:<10} {it.item}")
    if detail.attempts:
        typer.echo("\nattempts:")
        for a in detail.attempts:
            error = (a.error or "").splitlines()[0] if a.error else ""
            typer.echo(
                f"  #{a.number} {a.state.value:<8} {local_text(a.started_at, zone, True)}"
                f" -> {local_text(a.finished_at, zone, True) or '…'}  {a.worker or ''}  {error}"
            )
    typer.echo("\nhistory:")
    for e in detail.events:
        before = e.from_state.value if e.from_state else ""
        change = f"{before} -> {e.to_state.value}" if e.to_state else ""
        typer.echo(
            f"  {local_text(e.created_at, zone, True)}  {e.actor:<12} {e.action:<14}"
            f" {change}  {e.detail or ''}".rstrip()
        )
    for title, neighbours in (("upstream", detail.upstream), ("downstream", detail.downstream)):
        if neighbours:
            typer.echo(f"\n{title}:")
            for n in neighbours:
                typer.echo(f"  {n.id:>8} {n.node_key} {local_text(n.cycle_time, zone)} {n.state}")
    if code and i.rendered_code:
        typer.echo("\nrendered code:\n" + i.rendered_code)


@app.command("logs")
@handle_errors
def logs_command(
    instance_id: Annotated[int, typer.Argument(help="Instance id.")],
    workspace: WorkspaceOption = Path("."),
    attempt: Annotated[int | None, typer.Option("--attempt", help="One attempt only.")] = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing while it runs.")
    ] = False,
) -> None:
    """Print an instance's log (``--follow`` streams it while the instance runs)."""
    from lakeworks.runtime.ops import follow_logs, read_logs

    _, db, _zone = _open(workspace)
    lines = (
        follow_logs(db, instance_id, attempt=attempt)
        if follow
        else iter(read_logs(db, instance_id, attempt=attempt))
    )
    for line in lines:
        typer.echo(f"[{line.attempt}] {line.text}")
    db.close()


def _report(result: ActionResult, zone: ZoneInfo) -> None:
    for i in result.changed:
        typer.echo(f"{i.id:>8}  {i.node_key}  {local_text(i.cycle_time, zone)}  -> {i.state.value}")
    for id_, why in result.refused:
        typer.secho(f"{id_:>8}  not changed: {why}", fg=typer.colors.YELLOW, err=True)
    typer.echo(f"{result.action}: {len(result.changed)} changed, {len(result.refused)} not")
    if result.refused and not result.changed:
        raise typer.Exit(1)


def _action(name: str, help_text: str, call: str) -> None:
    """A command that applies ``runtime.ops.<call>`` to instances (loaded when it runs)."""

    @handle_errors
    def command(
        ids: IdsArgument, workspace: WorkspaceOption = Path("."), actor: ActorOption = None
    ) -> None:
        from lakeworks.runtime import ops

        action: Callable[[Database, str, list[int]], ActionResult] = getattr(ops, call)
        _, db, zone = _open(workspace)
        try:
            result = action(db, actor_name(actor), ids)
        finally:
            db.close()
        _report(result, zone)

    command.__doc__ = help_text
    app.command(name)(command)


def _install_actions() -> None:
    _action("run-now", "Queue waiting instances now (time and upstream not checked).", "run_now")
    _action("set-success", "Mark instances successful without running them.", "set_success")
    _action("stop", "Stop running instances (kills the work) or waiting ones.", "stop")
    _action("suspend", "Hold waiting instances until resumed.", "suspend")
    _action("resume", "Let suspended instances run again.", "resume")
    _action("freeze", "Freeze waiting instances (they and their downstream wait).", "freeze")
    _action("unfreeze", "Let frozen instances run again.", "unfreeze")


_install_actions()


@app.command("rerun")
@handle_errors
def rerun_command(
    ids: IdsArgument,
    workspace: WorkspaceOption = Path("."),
    downstream: Annotated[
        bool, typer.Option("--downstream", help="Also rerun everything downstream.")
    ] = False,
    actor: ActorOption = None,
) -> None:
    """Run finished instances again (the node's rerun policy applies)."""
    from lakeworks.runtime.ops import rerun

    _, db, zone = _open(workspace)
    try:
        result = rerun(db, actor_name(actor), ids, downstream=downstream)
    finally:
        db.close()
    _report(result, zone)


@app.command("freeze-node")
@handle_errors
def freeze_node_command(
    node: Annotated[str, typer.Argument(help="Node name or workflow.node.")],
    workspace: WorkspaceOption = Path("."),
    env: ProdEnv = "prod",
    unfreeze: Annotated[bool, typer.Option("--unfreeze", help="Unfreeze instead.")] = False,
    actor: ActorOption = None,
) -> None:
    """Freeze a node: its waiting instances and the ones planned later do not run."""
    from lakeworks.runtime.ops import freeze_node

    ws, db, zone = _open(workspace)
    try:
        result = freeze_node(
            db, actor_name(actor), ws.name, env, _node_key(ws, node), frozen=not unfreeze
        )
    finally:
        db.close()
    _report(result, zone)


@app.command("actions")
@handle_errors
def actions_command(
    workspace: WorkspaceOption = Path("."),
    env: ProdEnv = "prod",
    limit: Annotated[int, typer.Option("--limit", help="How many.")] = 50,
) -> None:
    """Who did what, when: the recorded operator actions, newest first."""
    from lakeworks.runtime.ops import recent_actions

    ws, db, zone = _open(workspace)
    actions = recent_actions(db, workspace=ws.name, env=env, limit=limit)
    db.close()
    for a in actions:
        typer.echo(
            f"{a.id:>6}  {local_text(a.created_at, zone, True)}  {a.actor:<12} {a.action:<16}"
            f" {a.target}"
        )


@app.command("processes")
@handle_errors
def processes_command(
    workspace: WorkspaceOption = Path("."),
    every: Annotated[bool, typer.Option("--all", help="Include stopped ones.")] = False,
) -> None:
    """Scheduler and worker processes and their last heartbeat."""
    from lakeworks.runtime.heartbeat import SILENT_AFTER_SECONDS
    from lakeworks.runtime.ops import processes
    from lakeworks.store.clock import utcnow

    _, db, zone = _open(workspace)
    found = processes(db, alive_within=None if every else SILENT_AFTER_SECONDS)
    db.close()
    now = utcnow()
    for p in found:
        status = "alive" if p.alive(now, SILENT_AFTER_SECONDS) else "gone"
        typer.echo(
            f"{p.name:<40} {p.kind:<10} {status:<6} {p.workspace}/{p.env} {p.groups}"
            f"  heartbeat {local_text(p.heartbeat_at, zone, True)}"
        )
    if not found:
        typer.echo("no scheduler or worker is running")


@app.command("prune")
@handle_errors
def prune_command(
    workspace: WorkspaceOption = Path("."),
    instance_days: Annotated[
        float, typer.Option("--instance-days", help="Keep finished instances this long.")
    ] = 90.0,
    log_days: Annotated[float, typer.Option("--log-days", help="Keep logs this long.")] = 30.0,
    action_days: Annotated[
        float, typer.Option("--action-days", help="Keep action records this long.")
    ] = 365.0,
) -> None:
    """Delete old finished instances, logs and action records (retention policy)."""
    from lakeworks.runtime.retention import RetentionPolicy, prune

    policy = RetentionPolicy(instance_days, log_days, action_days)
    policy.check()
    ws, db, _zone = _open(workspace)
    report = prune(db, policy, now=datetime.now(UTC).replace(tzinfo=None), workspace=ws.name)
    db.close()
    typer.echo(report.summary())


def register(root: typer.Typer) -> None:
    """Attach ``ops`` to the root app (``cli.processes`` adds ``backfill``, ``scheduler``
    and ``worker``)."""
    root.add_typer(app, name="ops")


@app.command("trigger")
@handle_errors
def trigger_command(
    instance_id: Annotated[
        int | None, typer.Argument(help="Instance id of a trigger node (or use --node).")
    ] = None,
    node: Annotated[
        str | None, typer.Option("--node", help="Trigger node (with --bizdate).")
    ] = None,
    bizdate: Annotated[
        str | None, typer.Option("--bizdate", help="Business date YYYYMMDD (with --node).")
    ] = None,
    env: Annotated[str, typer.Option("--env", help="Environment (with --node).")] = "prod",
    workspace: WorkspaceOption = Path("."),
    actor: ActorOption = None,
) -> None:
    """Release the instance of a trigger node (once); it runs when its upstream is done."""
    from lakeworks.controlflow.trigger import find_instance, trigger_instance
    from lakeworks.schedule.bizdates import parse_bizdate

    if (instance_id is None) == (node is None) or (node is not None and bizdate is None):
        raise UserError(
            "give an instance id, or --node and --bizdate",
            hint="lakeworks ops trigger 42, or lakeworks ops trigger --node wait_partner "
            "--bizdate 20260411",
        )
    ws, db, _ = _open(workspace)
    try:
        if instance_id is None:
            assert node is not None and bizdate is not None
            instance_id = find_instance(db, ws, env, node, parse_bizdate(bizdate)).id
        instance = trigger_instance(db, ws, instance_id, actor_name(actor))
    finally:
        db.close()
    typer.echo(f"triggered instance {instance.id} ({instance.node_key}): {instance.state.value}")
