"""Instance retention: how long finished instances, their logs and actions are kept.

``prune(db, RetentionPolicy(instance_days=90, log_days=30), now=...)`` deletes
finished instances whose cycle is older than ``instance_days`` (with their attempts,
events and logs), the log lines of finished instances older than ``log_days``, emptied
backfill runs and old operator action records. Waiting, queued, running, frozen and
suspended instances are never deleted, whatever their age.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from lakeworks.errors import UserError
from lakeworks.store.clock import to_utc_naive
from lakeworks.store.database import Database
from lakeworks.store.pruning import Pruner


@dataclass(frozen=True)
class RetentionPolicy:
    """Days to keep; ``log_days`` may be shorter than ``instance_days``."""

    instance_days: float = 90.0
    log_days: float = 30.0
    action_days: float = 365.0

    def check(self) -> None:
        """``UserError`` for a policy that would delete what it must keep."""
        for name in ("instance_days", "log_days", "action_days"):
            value = getattr(self, name)
            if value <= 0:
                raise UserError(f"retention {name} must be positive, not {value:g}")
        if self.log_days > self.instance_days:
            raise UserError(
                f"logs cannot be kept longer ({self.log_days:g} days) than their instances"
                f" ({self.instance_days:g} days)",
                hint="lower --log-days or raise --instance-days",
            )


@dataclass(frozen=True)
class PruneReport:
    """What a pruning pass deleted."""

    instances: int = 0
    log_lines: int = 0
    runs: int = 0
    actions: int = 0

    def summary(self) -> str:
        return (
            f"deleted {self.instances} instances, {self.log_lines} log lines,"
            f" {self.runs} runs and {self.actions} action records"
        )


def prune(
    db: Database,
    policy: RetentionPolicy,
    *,
    now: datetime,
    workspace: str | None = None,
    env: str | None = None,
    batch: int = 2000,
) -> PruneReport:
    """Delete what ``policy`` no longer keeps (all workspaces unless one is given)."""
    policy.check()
    now = to_utc_naive(now)
    pruner = Pruner(db, batch=batch)
    instance_cutoff = now - timedelta(days=policy.instance_days)
    log_cutoff = now - timedelta(days=policy.log_days)
    deleted_instances = 0
    deleted_lines = 0
    for node_key in pruner.node_keys(workspace, env):
        deleted_lines += pruner.logs(node_key, log_cutoff, workspace=workspace, env=env)
        deleted_instances += pruner.instances(
            node_key, instance_cutoff, workspace=workspace, env=env
        )
    return PruneReport(
        instances=deleted_instances,
        log_lines=deleted_lines,
        runs=pruner.empty_runs(instance_cutoff),
        actions=pruner.actions(now - timedelta(days=policy.action_days)),
    )
