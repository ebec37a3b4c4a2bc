"""The runner's after-success check that applies the quality gate to every instance."""

from __future__ import annotations

from lakeworks.quality.gate import check_after_write
from lakeworks.runtime import hooks
from lakeworks.runtime.context import NodeResult, NodeRunContext
from lakeworks.store.database import Database


def quality_check(ctx: NodeRunContext, result: NodeResult) -> hooks.CheckOutcome:
    """Run the rules on the tables the node wrote; strong failures fail the instance."""
    if not result.writes or result.skipped:
        return hooks.CheckOutcome()
    db = ctx.extras.get("db")
    outcome = check_after_write(
        ctx.workspace,
        ctx.engine,
        db if isinstance(db, Database) else None,
        ctx.instance_id,
        result.writes,
        ctx.params,
        env=ctx.env,
    )
    for result_ in outcome.results:
        if not result_.breached:
            ctx.log(f"quality rule {result_.rule.name} {result_.verdict.value}: {result_.message}")
    return hooks.CheckOutcome(failure=outcome.failure, warnings=outcome.warnings)


def install() -> None:
    """Register the quality gate with the runner (idempotent)."""
    hooks.register_check(quality_check)
