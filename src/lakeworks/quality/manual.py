"""Running a table's rules on demand (``lakeworks quality run``), outside any instance.

The check uses the parameters and cycle time the table's writer node would have for
the business date, so its results extend the same history as the gate's.
"""

from __future__ import annotations

from datetime import date, datetime
from datetime import time as dtime
from pathlib import Path

from lakeworks.engines.base import Engine
from lakeworks.errors import LakeworksError, NotFound
from lakeworks.quality.evaluator import RuleResult
from lakeworks.quality.gate import run_rules, workspace_rules
from lakeworks.quality.models import Rule
from lakeworks.quality.workspace import rule_parameters
from lakeworks.schedule.node_io import node_io
from lakeworks.spec.models import Node, Workspace
from lakeworks.sql.params import ParamContext, cycle_time_for_bizdate
from lakeworks.store.database import Database


def writer_of(workspace: Workspace, table: str) -> Node | None:
    """The node that writes ``table``, if one does (nodes that cannot be analysed are
    passed over)."""
    wanted = table.lower()
    for node in workspace.nodes():
        try:
            writes = node_io(workspace, node).writes
        except LakeworksError:
            continue
        if wanted in writes or any(w.rsplit(".", 1)[-1] == wanted for w in writes):
            return node
    return None


def params_for_table(
    workspace: Workspace, table: str, bizdate: date, rules: tuple[Rule, ...]
) -> ParamContext:
    """The parameter context of ``table``'s writer node for ``bizdate``; without a
    writer, the rule files' parameters at midnight after the business date."""
    writer = writer_of(workspace, table)
    if writer is not None:
        from lakeworks.runtime.cycles import cycle_time_for, local_cycle_time, param_context

        at = workspace.node_schedule(writer).at
        cycle = local_cycle_time(workspace, cycle_time_for(workspace, bizdate, at))
        return param_context(workspace, writer, cycle)
    parameters: dict[str, str] = {}
    for rule in rules:
        file = rule.location.file
        parameters.update(rule_parameters(workspace, None if file is None else Path(file)))
    if not rules:
        parameters = rule_parameters(workspace, None)
    return ParamContext(
        cycle_time=cycle_time_for_bizdate(bizdate, dtime(0, 0)), parameters=parameters
    )


def run_table(
    workspace: Workspace,
    engine: Engine,
    db: Database | None,
    table: str,
    bizdate: date,
    *,
    rule: str | None = None,
    now: datetime | None = None,
) -> list[RuleResult]:
    """Evaluate (and store) the rules attached to ``table`` for ``bizdate``."""
    ruleset = workspace_rules(workspace)
    rules = ruleset.for_table(table)
    if rule is not None:
        rules = tuple(r for r in rules if r.name == rule)
        if not rules:
            raise NotFound(
                f"no rule named '{rule}' on table '{table}'",
                hint="list the rules with 'lakeworks quality rules'",
            )
    if not rules:
        known = ", ".join(ruleset.tables()) or "(none)"
        raise NotFound(
            f"no quality rules are attached to table '{table}'",
            hint=f"tables with rules: {known}",
        )
    params = params_for_table(workspace, table, bizdate, rules)
    return run_rules(workspace, engine, db, rules, params, now=now)
