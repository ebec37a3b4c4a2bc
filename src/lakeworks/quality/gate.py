"""The quality gate: rules on the tables an instance wrote run right after it succeeds.

A strong rule at its fail level (or a strong rule that cannot run) fails the instance
with a reason such as ``quality rule orders_email failed: null ratio 12.5 % > 5 %``, so
its downstream does not run. Weak rules, and strong rules at their warn level, are
recorded as warnings. Every evaluation is stored; rerunning the instance re-checks.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from lakeworks.engines.base import Engine
from lakeworks.errors import UserError, ValidationFailed
from lakeworks.quality.evaluator import Evaluator, RuleResult
from lakeworks.quality.files import rule_files
from lakeworks.quality.models import Rule, RuleSet, Strength, Verdict
from lakeworks.quality.repository import QualityResultRepository
from lakeworks.quality.workspace import load_workspace_rules
from lakeworks.spec.models import Workspace
from lakeworks.sql.params import ParamContext
from lakeworks.store.database import Database


@dataclass(frozen=True)
class GateOutcome:
    """What the gate decided: a failure reason (or None), warnings, every result."""

    failure: str | None = None
    warnings: tuple[str, ...] = ()
    results: tuple[RuleResult, ...] = ()
    log_lines: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return self.failure is None


def local_now(workspace: Workspace) -> datetime:
    """The wall-clock time in the workspace's zone, naive (as warehouse timestamps are)."""
    return datetime.now(ZoneInfo(workspace.config.timezone)).replace(tzinfo=None)


def result_line(result: RuleResult) -> str:
    """One log line for a result: ``quality rule X failed: null ratio 12.5 % > 5 %``."""
    verb = {
        Verdict.PASS: "passed",
        Verdict.WARN: "warned",
        Verdict.FAIL: "failed",
        Verdict.ERROR: "could not run",
        Verdict.SKIPPED: "skipped",
    }[result.verdict]
    where = f" [{result.partition}]" if result.partition else ""
    return f"quality rule {result.rule.name} {verb}: {result.message}{where}"


def _blocks(result: RuleResult) -> bool:
    return result.rule.strength is Strength.STRONG and result.verdict in (
        Verdict.FAIL,
        Verdict.ERROR,
    )


def decide(results: Iterable[RuleResult]) -> GateOutcome:
    """The gate's decision for a set of results (pure)."""
    ordered = tuple(results)
    failures = [r for r in ordered if _blocks(r)]
    warnings = tuple(_plain_line(r) for r in ordered if r.breached and not _blocks(r))
    failure = "; ".join(_plain_line(r) for r in failures) if failures else None
    return GateOutcome(
        failure=failure,
        warnings=warnings,
        results=ordered,
        log_lines=tuple(result_line(r) for r in ordered),
    )


def _plain_line(result: RuleResult) -> str:
    verb = {
        Verdict.WARN: "warned",
        Verdict.FAIL: "failed",
        Verdict.ERROR: "could not run",
    }.get(result.verdict, result.verdict.value)
    return f"quality rule {result.rule.name} {verb}: {result.message}"


class _RuleCache:
    """Rules per workspace, reloaded when a rule file is added, removed or changed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[Path, tuple[tuple[tuple[str, int, int], ...], RuleSet]] = {}

    def rules(self, workspace: Workspace) -> RuleSet:
        files = rule_files.files(workspace.root)
        stamp = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files)
        with self._lock:
            cached = self._entries.get(workspace.root)
            if cached is not None and cached[0] == stamp:
                return cached[1]
        loaded = load_workspace_rules(workspace)
        with self._lock:
            self._entries[workspace.root] = (stamp, loaded)
        return loaded


_cache = _RuleCache()


def workspace_rules(workspace: Workspace) -> RuleSet:
    """The workspace's rules, cached until a rule file changes."""
    return _cache.rules(workspace)


def run_rules(
    workspace: Workspace,
    engine: Engine,
    db: Database | None,
    rules: Iterable[Rule],
    params: ParamContext,
    *,
    instance_id: int | None = None,
    env: str | None = None,
    now: datetime | None = None,
) -> list[RuleResult]:
    """Evaluate ``rules`` for the cycle of ``params`` and store the results (if ``db``)."""
    selected = list(rules)
    if not selected:
        return []
    environment = env or engine.environment
    repo = QualityResultRepository(db, workspace.name, environment) if db is not None else None
    evaluator = Evaluator(engine, params, now=now or local_now(workspace), history=repo)
    results = evaluator.evaluate(selected)
    if repo is not None:
        repo.record(
            results,
            cycle_time=params.cycle_time,
            bizdate=f"{params.bizdate:%Y%m%d}",
            instance_id=instance_id,
        )
    return results


def check_after_write(
    workspace: Workspace,
    engine: Engine,
    db: Database | None,
    instance_id: int | None,
    tables: Iterable[str],
    ctx: ParamContext,
    *,
    env: str | None = None,
    rules: RuleSet | None = None,
    now: datetime | None = None,
) -> GateOutcome:
    """Run the rules attached to ``tables`` (just written by an instance) and decide.

    Partition filters are rendered with the instance's parameters (``ctx``). Results
    are stored against ``instance_id``. Rule files that do not load fail the gate:
    a broken rule must not silently stop guarding a table.
    """
    written = list(dict.fromkeys(t.lower() for t in tables))
    if not written:
        return GateOutcome()
    try:
        ruleset = rules if rules is not None else workspace_rules(workspace)
    except ValidationFailed as exc:
        return GateOutcome(failure=f"quality rules cannot be loaded:\n{exc.render()}")
    except UserError as exc:
        return GateOutcome(failure=f"quality rules cannot be loaded: {exc.render()}")
    selected = [rule for table in written for rule in _rules_for(ruleset, table)]
    if not selected:
        return GateOutcome()
    results = run_rules(
        workspace, engine, db, selected, ctx, instance_id=instance_id, env=env, now=now
    )
    return decide(results)


def _rules_for(ruleset: RuleSet, table: str) -> tuple[Rule, ...]:
    """The rules run after a write of ``table`` (not those on their own schedule)."""
    found = ruleset.for_table(table)
    if not found and "." in table:
        found = ruleset.for_table(table.rsplit(".", 1)[-1])
    return tuple(r for r in found if not r.scheduled)
