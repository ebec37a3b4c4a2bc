"""A run's time and parameters: the cycle time of a business date, and a node's
parameters at a cycle time (shared by runs, renders and checks; pure: no database, no engine)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from datetime import time as dtime
from zoneinfo import ZoneInfo

from lakeworks.spec.models import Node, Workspace
from lakeworks.sql.params import ParamContext
from lakeworks.store.clock import to_utc_naive


def cycle_time_for(workspace: Workspace, bizdate: date, at: str) -> datetime:
    """The UTC-naive cycle time of a daily run for ``bizdate`` (the next day at ``at``)."""
    hour, _, minute = at.partition(":")
    local = datetime.combine(bizdate + timedelta(days=1), dtime(int(hour), int(minute or 0)))
    zone = ZoneInfo(workspace.config.timezone)
    return to_utc_naive(local.replace(tzinfo=zone))


def local_cycle_time(workspace: Workspace, cycle_time_utc: datetime) -> datetime:
    """A stored (UTC-naive) cycle time as naive wall-clock time in the workspace zone."""
    zone = ZoneInfo(workspace.config.timezone)
    return cycle_time_utc.replace(tzinfo=ZoneInfo("UTC")).astimezone(zone).replace(tzinfo=None)


def param_context(
    workspace: Workspace,
    node: Node,
    cycle_time_local: datetime,
    overrides: Mapping[str, str] | None = None,
) -> ParamContext:
    """The parameter context of a node at a (workspace-local) cycle time."""
    parameters = workspace.parameters_for(node)
    if overrides:
        parameters.update(overrides)
    return ParamContext(cycle_time=cycle_time_local, parameters=parameters)
