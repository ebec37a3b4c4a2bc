"""Running a scheduled rule file as a node: its rules for the instance's cycle.

A strong rule that fails (or cannot run) fails the instance, so its downstream is
blocked and alert rules see a failure; weak ones only warn. Results are stored with
the instance id, where ``quality_failed`` alert rules find them.
"""

from __future__ import annotations

from lakeworks.errors import UserCodeError
from lakeworks.quality.gate import decide, run_rules, workspace_rules
from lakeworks.runtime.context import NodeResult, NodeRunContext
from lakeworks.store.database import Database


def run_quality_node(ctx: NodeRunContext) -> NodeResult:
    path = ctx.node.path.resolve()
    rules = [
        r
        for r in workspace_rules(ctx.workspace).rules
        if r.enabled and r.location.file is not None and _same(r.location.file, path)
    ]
    db = ctx.extras.get("db")
    results = run_rules(
        ctx.workspace,
        ctx.engine,
        db if isinstance(db, Database) else None,
        rules,
        ctx.params,
        instance_id=ctx.instance_id,
        env=ctx.env,
    )
    outcome = decide(results)
    for line in outcome.log_lines:
        ctx.log(line)
    for warning in outcome.warnings:
        ctx.log(f"warning: {warning}")
    if outcome.failure:
        raise UserCodeError(outcome.failure)
    tables = frozenset(r.table for r in rules)
    return NodeResult(
        rendered_code=ctx.node.code,
        reads=tables,
        detail={"rules": len(results), "breached": sum(1 for r in results if r.breached)},
    )


def _same(file: object, path: object) -> bool:
    from pathlib import Path

    return Path(str(file)).resolve() == path
