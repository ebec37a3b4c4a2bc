"""``lakeworks quality``: list rules, run a table's rules, show results with a trend."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from lakeworks.cli.common import (
    EnvOption,
    WorkspaceOption,
    handle_errors,
    load,
    open_database,
    open_engine,
)

if TYPE_CHECKING:
    from lakeworks.quality.evaluator import RuleResult
    from lakeworks.quality.repository import StoredResult

app = typer.Typer(
    help="Data quality: rules on tables, checked after each write and on demand.",
    no_args_is_help=True,
)

VERDICT_COLOURS = {
    "pass": "green",
    "warn": "yellow",
    "fail": "red",
    "error": "magenta",
    "skipped": "blue",
}
SPARK = "▁▂▃▄▅▆▇█"

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def sparkline(values: list[float]) -> str:
    """Values as a row of bar characters, lowest to highest."""
    if not values:
        return ""
    low, high = min(values), max(values)
    if high == low:
        return SPARK[len(SPARK) // 2] * len(values)
    steps = len(SPARK) - 1
    return "".join(SPARK[round((v - low) / (high - low) * steps)] for v in values)


def _coloured(verdict: str) -> str:
    colour = VERDICT_COLOURS.get(verdict, "white")
    return f"[{colour}]{verdict}[/{colour}]"


@app.command("rules")
@handle_errors
def rules_command(
    table: Annotated[str | None, typer.Argument(help="Only the rules of this table.")] = None,
    workspace: WorkspaceOption = Path("."),
) -> None:
    """List (and check) the quality rules of the workspace."""
    from rich.console import Console
    from rich.table import Table

    from lakeworks.quality.workspace import load_workspace_rules

    ws = load(workspace)
    ruleset = load_workspace_rules(ws)
    rules = ruleset.for_table(table) if table else ruleset.rules
    view = Table(title=f"{len(rules)} quality rules")
    for column in ("rule", "table", "template", "strength", "warn", "fail", "file"):
        view.add_column(column)
    for rule in rules:
        where = rule.location
        file = Path(str(where.file)).resolve() if where.file else None
        shown = str(file.relative_to(ws.root)) if file and file.is_relative_to(ws.root) else ""
        view.add_row(
            rule.name,
            rule.table,
            rule.template.value + (f" vs {rule.compare.value}" if rule.compare else ""),
            rule.strength.value,
            _band(rule.warn.min, rule.warn.max),
            _band(rule.fail.min, rule.fail.max),
            f"{shown}:{where.line}" if shown else "",
        )
    Console().print(view)


def _band(low: float | None, high: float | None) -> str:
    if low is None and high is None:
        return ""
    return f"{'' if low is None else f'{low:g}'}..{'' if high is None else f'{high:g}'}"


@app.command("run")
@handle_errors
def run_command(
    table: Annotated[str, typer.Argument(help="The table whose rules to run.")],
    bizdate: Annotated[
        str, typer.Option("--bizdate", "-d", help="Business date YYYYMMDD (default: yesterday).")
    ] = "",
    rule: Annotated[str | None, typer.Option("--rule", help="Run only this rule.")] = None,
    workspace: WorkspaceOption = Path("."),
    env: EnvOption = "dev",
    as_json: JsonOption = False,
) -> None:
    """Run a table's rules for a business date and store the results.

    Exits with 1 when a strong rule fails or cannot run.
    """
    from lakeworks.quality.gate import decide
    from lakeworks.quality.manual import run_table
    from lakeworks.schedule.bizdates import parse_bizdate

    ws = load(workspace)
    day = parse_bizdate(bizdate) if bizdate else date.today() - timedelta(days=1)
    db = open_database(ws)
    try:
        engine = open_engine(ws, env)
        results = run_table(ws, engine, db, table, day, rule=rule)
    finally:
        db.close()
    if as_json:
        typer.echo(json.dumps([_result_json(r) for r in results], default=str, indent=2))
    else:
        _print_results(results, f"{table} for bizdate {day:%Y%m%d}")
    outcome = decide(results)
    if outcome.failure:
        typer.secho(outcome.failure, fg=typer.colors.RED, err=True)
        raise typer.Exit(1)


def _result_json(result: RuleResult) -> dict[str, object]:
    return {
        "rule": result.rule.name,
        "table": result.rule.table,
        "partition": result.partition,
        "verdict": result.verdict.value,
        "value": result.value,
        "observed": result.observed,
        "baseline": result.baseline,
        "message": result.message,
        "strength": result.rule.strength.value,
        "sample": list(result.sample),
        "duration_ms": round(result.duration_seconds * 1000, 3),
    }


def _print_results(results: list[RuleResult], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    view = Table(title=title)
    for column in ("rule", "strength", "verdict", "message", "ms"):
        view.add_column(column)
    for r in results:
        view.add_row(
            r.rule.name,
            r.rule.strength.value,
            _coloured(r.verdict.value),
            r.message,
            f"{r.duration_seconds * 1000:.0f}",
        )
    console = Console()
    console.print(view)
    for r in results:
        if r.sample:
            console.print(f"sample of bad rows for {r.rule.name}:")
            for row in r.sample:
                console.print(f"  {json.dumps(row, default=str)}", markup=False)


@app.command("results")
@handle_errors
def results_command(
    table: Annotated[str, typer.Argument(help="The table whose results to show.")],
    rule: Annotated[str | None, typer.Option("--rule", help="Only this rule.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="Results shown at most.")] = 50,
    workspace: WorkspaceOption = Path("."),
    env: EnvOption = "dev",
    as_json: JsonOption = False,
) -> None:
    """Show a table's stored results, newest first, and each rule's trend."""
    from lakeworks.quality.repository import QualityResultRepository

    ws = load(workspace)
    db = open_database(ws)
    try:
        stored = QualityResultRepository(db, ws.name, env).list(table=table, rule=rule, limit=limit)
    finally:
        db.close()
    if as_json:
        typer.echo(json.dumps([_stored_json(s) for s in stored], default=str, indent=2))
        return
    if not stored:
        typer.echo(f"no quality results for table '{table}' in {env}")
        return
    _print_stored(stored, table)


def _stored_json(s: StoredResult) -> dict[str, object]:
    return {
        "id": s.id,
        "rule": s.rule,
        "bizdate": s.bizdate,
        "cycle_time": s.cycle_time,
        "partition": s.partition,
        "instance_id": s.instance_id,
        "verdict": s.verdict.value,
        "strength": s.strength,
        "blocked": s.blocked,
        "value": s.value,
        "observed": s.observed,
        "baseline": s.baseline,
        "warn": [s.warn_min, s.warn_max],
        "fail": [s.fail_min, s.fail_max],
        "message": s.message,
        "sample": s.sample,
        "duration_ms": s.duration_ms,
        "created_at": s.created_at,
    }


def _print_stored(stored: list[StoredResult], table: str) -> None:
    from rich.console import Console
    from rich.table import Table

    view = Table(title=f"quality results of {table}")
    columns = ("checked at", "bizdate", "rule", "strength", "verdict", "blocked", "message")
    for column in (*columns, "instance"):
        view.add_column(column)
    for s in stored:
        view.add_row(
            f"{s.created_at:%Y-%m-%d %H:%M:%S}",
            s.bizdate or "",
            s.rule,
            s.strength,
            _coloured(s.verdict.value),
            "[red]yes[/red]" if s.blocked else "no",
            s.message,
            str(s.instance_id or ""),
        )
    trend = Table(title="trend (oldest to newest)")
    for column in ("rule", "values", "verdicts", "last", "min", "max"):
        trend.add_column(column)
    by_rule: dict[str, list[StoredResult]] = {}
    for s in reversed(stored):
        by_rule.setdefault(s.rule, []).append(s)
    for name, series in by_rule.items():
        values = [s.value for s in series if s.value is not None]
        letters = "".join(s.verdict.value[0].upper() for s in series)
        trend.add_row(
            name,
            sparkline(values),
            letters,
            f"{values[-1]:g}" if values else "",
            f"{min(values):g}" if values else "",
            f"{max(values):g}" if values else "",
        )
    console = Console()
    console.print(view)
    console.print(trend)
