"""``lakeworks alerts``: rules, channels, incidents, alert history, baselines, the sender."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from lakeworks.cli.common import WorkspaceOption, handle_errors, load, open_database
from lakeworks.errors import Location

app = typer.Typer(
    help="Alerts and SLA baselines: rules, channels, incidents, deliveries, predictions.",
    no_args_is_help=True,
)

ProdEnv = Annotated[str, typer.Option("--env", "-e", help="Environment (default prod).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
STATE_COLOURS = {
    "safe": "green",
    "finished": "green",
    "warning": "yellow",
    "breached": "red",
    "open": "red",
    "closed": "green",
    "sent": "green",
    "pending": "yellow",
    "failed": "red",
}


def _json_default(value: object) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _print_json(data: object) -> None:
    typer.echo(json.dumps(data, default=_json_default, indent=2))


def _coloured(state: str) -> str:
    colour = STATE_COLOURS.get(state, "white")
    return f"[{colour}]{state}[/{colour}]"


def _time(value: datetime | None) -> str:
    return "" if value is None else f"{value:%Y-%m-%d %H:%M}"


def _read_mapping(path: Path) -> Any:
    from lakeworks.errors import Location, UserError

    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UserError(f"malformed YAML: {exc}", location=Location(path)) from None


def _where(location: Location, root: Path) -> str:
    file = Path(str(location.file)).resolve()
    shown = file.relative_to(root.resolve()) if file.is_relative_to(root.resolve()) else file
    return f"{shown}:{location.line}"


@app.command("rules")
@handle_errors
def rules_command(
    workspace: WorkspaceOption = Path("."), env: ProdEnv = "prod", as_json: JsonOption = False
) -> None:
    """List alert rules: those of alerts/*.yml and those added with 'alerts add-rule'."""
    from rich.console import Console
    from rich.table import Table

    from lakeworks.alerts.loader import load_workspace_alerts
    from lakeworks.alerts.service import AlertStore

    ws = load(workspace)
    code = load_workspace_alerts(ws)
    db = open_database(ws)
    try:
        stored = AlertStore(db).rules(ws.name, env)
    finally:
        db.close()
    rows = [(r, _where(code.where[f"rule:{n}"], ws.root)) for n, r in code.rules.items()]
    rows += [(r, "added with the CLI or API") for r in stored.values()]
    if as_json:
        _print_json([{**r.model_dump(mode="json"), "defined_in": where} for r, where in rows])
        return
    table = Table(title=f"alert rules of {ws.name}/{env}")
    for column in ("rule", "trigger", "watches", "channels", "limits", "defined in"):
        table.add_column(column)
    for rule, where in rows:
        o = rule.objects
        watches = ", ".join(
            [
                *(["workspace"] if o.workspace else []),
                *o.nodes,
                *o.workflows,
                *o.baselines,
                *(f"group {g}" for g in o.resource_groups),
            ]
        )
        limits = f"max {rule.max_alerts}/{rule.min_interval_minutes:g} min"
        if rule.quiet_hours:
            limits += f", quiet {rule.quiet_hours}"
        table.add_row(
            rule.name, rule.trigger.type.value, watches, ", ".join(rule.channels), limits, where
        )
    Console().print(table)


@app.command("add-rule")
@handle_errors
def add_rule(
    file: Annotated[Path, typer.Argument(help="A YAML or JSON file with one rule ('-': stdin).")],
    workspace: WorkspaceOption = Path("."),
    env: ProdEnv = "prod",
) -> None:
    """Add or replace an alert rule kept in the metadata store (not in alerts/*.yml)."""
    from lakeworks.alerts.loader import check_references, load_workspace_alerts
    from lakeworks.alerts.service import AlertStore, parse_rule
    from lakeworks.errors import ValidationFailed

    ws = load(workspace)
    rule = parse_rule(_read_mapping(file))
    code = load_workspace_alerts(ws)
    db = open_database(ws)
    try:
        store = AlertStore(db)
        code.channels.update(store.channels(ws.name))
        problems = check_references(
            code,
            (n.key for n in ws.nodes()),
            ws.workflows,
            ws.config.resource_groups,
            {rule.name: rule},
        )
        if problems:
            raise ValidationFailed(problems)
        store.put_rule(ws.name, env, rule, load_workspace_alerts(ws), actor="cli")
    finally:
        db.close()
    typer.echo(f"rule '{rule.name}' saved; a running scheduler uses it from its next reload")


@app.command("remove-rule")
@handle_errors
def remove_rule(
    name: Annotated[str, typer.Argument(help="Rule name.")],
    workspace: WorkspaceOption = Path("."),
    env: ProdEnv = "prod",
) -> None:
    """Remove a rule added with 'alerts add-rule' (rules of alerts/*.yml are edited there)."""
    from lakeworks.alerts.service import AlertStore

    ws = load(workspace)
    db = open_database(ws)
    try:
        AlertStore(db).delete_rule(ws.name, env, name)
    finally:
        db.close()
    typer.echo(f"rule '{name}' removed")


@app.command("add-channel")
@handle_errors
def add_channel(
    name: Annotated[str, typer.Argument(help="Channel name.")],
    file: Annotated[Path, typer.Argument(help="A YAML or JSON file with the channel.")],
    workspace: WorkspaceOption = Path("."),
    secret_stdin: Annotated[
        bool,
        typer.Option(
            "--secret-stdin",
            help="Read the signing secret or SMTP password from stdin; it is stored encrypted.",
        ),
    ] = False,
) -> None:
    """Add or replace a channel kept in the metadata store."""
    from lakeworks.alerts.loader import load_workspace_alerts
    from lakeworks.alerts.service import AlertStore, parse_channel
    from lakeworks.errors import UserError
    from lakeworks.security.secrets import SecretBox, SecretStore, load_keys, reference

    ws = load(workspace)
    data = _read_mapping(file)
    if not isinstance(data, dict):
        raise UserError(f"{file}: expected a mapping with the channel's keys")
    db = open_database(ws)
    try:
        if secret_stdin:
            secret = sys.stdin.readline().strip()
            if not secret:
                raise UserError("no secret on stdin", hint="pipe it: echo $SECRET | lakeworks …")
            box = SecretBox(load_keys(ws.state_dir, create=True).keys)
            secret_name = f"alert-channel-{name}"
            SecretStore(db, box).put(ws.name, secret_name, secret, actor="cli")
            data = {**data, "secret_encrypted": reference(ws.name, secret_name)}
        channel = parse_channel(data)
        AlertStore(db).put_channel(ws.name, name, channel, load_workspace_alerts(ws))
    finally:
        db.close()
    typer.echo(f"channel '{name}' saved")


@app.command("incidents")
@handle_errors
def incidents_command(
    workspace: WorkspaceOption = Path("."),
    env: ProdEnv = "prod",
    open_only: Annotated[bool, typer.Option("--open", help="Only open incidents.")] = False,
    limit: Annotated[int, typer.Option("--limit", help="At most this many.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """Incidents, newest first: one per rule and instance (or baseline period)."""
    from rich.console import Console
    from rich.table import Table

    from lakeworks.alerts.service import AlertStore

    ws = load(workspace)
    db = open_database(ws)
    try:
        found = AlertStore(db).incidents(
            ws.name, env, state="open" if open_only else None, limit=limit
        )
    finally:
        db.close()
    if as_json:
        _print_json([asdict(i) for i in found])
        return
    table = Table(title=f"incidents of {ws.name}/{env} (UTC)")
    for column in ("id", "state", "rule", "summary", "alerts", "opened", "closed"):
        table.add_column(column)
    for i in found:
        table.add_row(
            str(i.id),
            _coloured(i.state),
            i.rule,
            i.summary,
            str(i.alerts_sent),
            _time(i.opened_at),
            _time(i.closed_at),
        )
    Console().print(table)


@app.command("history")
@handle_errors
def history_command(
    workspace: WorkspaceOption = Path("."),
    env: ProdEnv = "prod",
    incident: Annotated[int | None, typer.Option("--incident", help="One incident.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many alerts.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """Alerts, newest first, each with its deliveries and every delivery attempt."""
    from rich.console import Console
    from rich.table import Table

    from lakeworks.alerts.service import AlertStore

    ws = load(workspace)
    db = open_database(ws)
    try:
        found = AlertStore(db).alerts(ws.name, env, incident=incident, limit=limit)
    finally:
        db.close()
    if as_json:
        _print_json([asdict(a) for a in found])
        return
    table = Table(title=f"alerts of {ws.name}/{env} (UTC)")
    for column in ("alert", "incident", "kind", "title", "created", "deliveries"):
        table.add_column(column)
    for a in found:
        lines = []
        for d in a.deliveries:
            tries = "; ".join(
                f"#{t.number} {'ok' if t.ok else 'failed'} {_time(t.at)} {t.detail or ''}".strip()
                for t in d.attempts
            )
            lines.append(f"{d.channel}: {_coloured(d.state)} {tries}")
        table.add_row(
            str(a.id), str(a.incident_id), a.kind, a.title, _time(a.created_at), "\n".join(lines)
        )
    Console().print(table)


@app.command("baselines")
@handle_errors
def baselines_command(
    workspace: WorkspaceOption = Path("."),
    env: ProdEnv = "prod",
    as_json: JsonOption = False,
) -> None:
    """Baselines: state, committed and predicted finish, and the key path."""
    from rich.console import Console
    from rich.table import Table

    from lakeworks.alerts.service import AlertStore

    ws = load(workspace)
    db = open_database(ws)
    try:
        found = AlertStore(db).baselines(ws.name, env)
    finally:
        db.close()
    if as_json:
        _print_json([asdict(b) for b in found])
        return
    if not found:
        typer.echo("no baseline predictions yet: baselines are predicted by a running scheduler")
        return
    table = Table(title=f"baselines of {ws.name}/{env} (UTC)")
    for column in ("baseline", "period", "prio", "state", "committed", "predicted", "key path"):
        table.add_column(column)
    for b in found:
        events = "".join(f"\n! {e['instance']} {e['kind']}: {e['detail']}" for e in b.events)
        table.add_row(
            b.baseline,
            _time(b.period),
            str(b.priority),
            _coloured(b.state),
            _time(b.committed_at),
            _time(b.predicted_finish),
            " -> ".join(b.key_path[-4:]) + events,
        )
    Console().print(table)


@app.command("send")
@handle_errors
def send_command(
    workspace: WorkspaceOption = Path("."),
    once: Annotated[bool, typer.Option("--once", help="Send what is due once and exit.")] = False,
    interval: Annotated[float, typer.Option("--interval", help="Seconds between rounds.")] = 1.0,
    claim_seconds: Annotated[
        float,
        typer.Option(
            "--claim-seconds",
            help="How long a delivery is held; if this sender dies, another one retries it"
            " after this (with the same idempotency key).",
            min=1,
        ),
    ] = 60.0,
) -> None:
    """Deliver pending alerts (the scheduler does this too; run more senders for volume)."""
    import threading

    from lakeworks.alerts.plugin import channel_lookup
    from lakeworks.alerts.sender import Sender
    from lakeworks.security.secrets import install_workspace_key

    ws = load(workspace)
    db = open_database(ws)
    install_workspace_key(ws.state_dir, db)
    sender = Sender(
        db,
        channel_lookup(db, lambda name: ws if name == ws.name else None),
        claim=timedelta(seconds=claim_seconds),
    )
    try:
        if once:
            report = sender.send_once()
            typer.echo(f"sent {report.sent}, failed {report.failed}, to retry {report.retrying}")
            return
        from lakeworks.cli.processes import _stop_on_signals

        stop: threading.Event = _stop_on_signals()
        typer.echo(f"sending alerts of {ws.name} ({db.url})", err=True)
        sender.run(stop, interval, log=lambda line: typer.echo(line, err=True))
    finally:
        db.close()


@app.command("evaluate")
@handle_errors
def evaluate_command(
    workspace: WorkspaceOption = Path("."),
    env: ProdEnv = "prod",
    at: Annotated[
        str | None,
        typer.Option("--at", help="The pass's time, ISO 8601 (default now; naive means UTC)."),
    ] = None,
    passes: Annotated[
        int, typer.Option("--passes", help="Run this many passes back to back.", min=1)
    ] = 1,
    step: Annotated[
        float,
        typer.Option("--step", help="Seconds the pass time moves on between passes.", min=0),
    ] = 1.0,
    as_json: JsonOption = False,
) -> None:
    """Evaluate alert rules and predict baselines now, as the scheduler does after each pass."""
    import time as wall

    from lakeworks.alerts.plugin import evaluators
    from lakeworks.errors import UserError

    ws = load(workspace)
    if at is None:
        moment = datetime.now(UTC)
    else:
        try:
            moment = datetime.fromisoformat(at)
        except ValueError:
            raise UserError(
                f"--at: cannot read {at!r} as a time", hint="e.g. 2026-04-11T09:30"
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
    db = open_database(ws)
    reports = []
    try:
        for number in range(1, passes + 1):
            started = wall.perf_counter()
            evaluators(db, ws, env, moment + timedelta(seconds=step * (number - 1)))
            seconds = wall.perf_counter() - started
            report = evaluators.last
            assert report is not None
            reports.append({"pass": number, **asdict(report), "seconds": seconds})
    finally:
        db.close()
    if as_json:
        _print_json(reports)
        return
    for r in reports:
        typer.echo(
            f"pass {r['pass']}: {r['signals']} signals, {r['opened']} incidents opened, "
            f"{r['closed']} closed, {r['repeated']} repeated, {r['baselines']} baseline "
            f"periods in {r['seconds'] * 1000:.1f} ms"
        )
