"""Generated workspaces for simulations and benchmarks of the scheduler.

``synthetic_workspace(200, seed=1)`` builds a random but reproducible workspace of
virtual nodes (no code) with a mix of hourly, daily, weekly, monthly and cron
schedules, explicit dependencies on earlier nodes (so the graph is acyclic),
self-dependencies, previous-cycle dependencies, retries and resource groups.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

from lakeworks.spec.models import (
    Defaults,
    Node,
    NodeHeader,
    NodeKind,
    ResourceGroupConfig,
    RunMode,
    ScheduleSpec,
    SourceSpan,
    Workflow,
    WorkflowConfig,
    Workspace,
    WorkspaceConfig,
)

SYNTHETIC_ROOT = Path("/synthetic")


@dataclass(frozen=True)
class Mix:
    """Shares of each kind of schedule (normalised; need not sum to 1)."""

    hourly: float = 0.15
    daily: float = 0.6
    weekly: float = 0.1
    monthly: float = 0.08
    cron: float = 0.07
    groups: dict[str, int] = field(default_factory=lambda: {"default": 8, "etl": 4})


def _schedule(kind: str, rng: random.Random) -> ScheduleSpec:
    at = f"{rng.randrange(0, 6):02d}:{rng.choice([0, 10, 15, 30, 45]):02d}"
    if kind == "hourly":
        return ScheduleSpec(cycle="hour", every=rng.choice([1, 1, 2, 3]), at=f"00:{at[3:]}")
    if kind == "weekly":
        return ScheduleSpec(cycle="week", weekdays=[rng.randrange(1, 8)], at=at)
    if kind == "monthly":
        return ScheduleSpec(cycle="month", monthdays=[rng.choice([1, 10, 15, 28, -1])], at=at)
    if kind == "cron":
        return ScheduleSpec(cron=rng.choice(["30 4 * * 1-5", "0 */6 * * *", "15 3 L * *"]))
    return ScheduleSpec(cycle="day", at=at)


def synthetic_workspace(
    nodes: int = 200,
    *,
    seed: int = 0,
    timezone: str = "UTC",
    workflows: int = 10,
    mix: Mix | None = None,
    frozen_last: bool = True,
) -> Workspace:
    """A reproducible generated workspace of ``nodes`` virtual nodes.

    With ``frozen_last`` the last node (which has no children) is frozen, and one node
    in the middle runs in dry-run mode.
    """
    rng = random.Random(seed)
    mix = mix or Mix()
    kinds = ["hourly", "daily", "weekly", "monthly", "cron"]
    weights = [mix.hourly, mix.daily, mix.weekly, mix.monthly, mix.cron]
    per_flow = max(1, -(-nodes // workflows))
    flows: dict[str, Workflow] = {}
    keys: list[str] = []
    for index in range(nodes):
        wf_name = f"wf_{index // per_flow:02d}"
        flow = flows.get(wf_name)
        if flow is None:
            flow = Workflow(wf_name, SYNTHETIC_ROOT / "workflows" / wf_name, WorkflowConfig())
            flows[wf_name] = flow
        name = f"n{index:03d}"
        parents: list[str] = []
        if keys:
            count = rng.choice([0, 1, 1, 2, 2, 3]) if index > 3 else rng.choice([0, 1])
            window = keys[-40:]
            parents = sorted(set(rng.sample(window, min(count, len(window)))))
        kind = rng.choices(kinds, weights)[0]
        schedule = _schedule(kind, rng)
        if kind != "hourly" and rng.random() < 0.06:
            schedule = schedule.model_copy(update={"self_dependency": True})
        elif keys and rng.random() < 0.05:
            schedule = schedule.model_copy(update={"depends_on_previous": [rng.choice(keys)]})
        run_mode = RunMode.NORMAL
        if frozen_last and index == nodes - 1 and nodes > 1:
            run_mode = RunMode.FROZEN
        elif frozen_last and index == nodes // 2:
            run_mode = RunMode.DRY_RUN
        settings = Defaults(
            retries=rng.choice([0, 1, 1, 2, 2, 2, 3, 3]),
            retry_delay_seconds=float(rng.choice([30, 60, 120])),
            retry_backoff=rng.choice([1.0, 2.0]),
            priority=rng.randrange(0, 4),
            resource_group=rng.choice(sorted(mix.groups)),
            owner="synthetic",
        )
        path = flow.path / f"{name}.sql"
        flow.nodes[name] = Node(
            workflow=wf_name,
            name=name,
            kind=NodeKind.VIRTUAL,
            path=path,
            code="",
            header=NodeHeader(depends_on=parents, schedule=schedule, run_mode=run_mode),
            span=SourceSpan(path),
            settings=settings,
        )
        keys.append(f"{wf_name}.{name}")
    config = WorkspaceConfig(
        name="synthetic",
        timezone=timezone,
        resource_groups={g: ResourceGroupConfig(slots=s) for g, s in mix.groups.items()},
    )
    return Workspace(root=SYNTHETIC_ROOT, config=config, workflows=flows)
