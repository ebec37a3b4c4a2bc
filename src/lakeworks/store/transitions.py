"""What a state change writes besides the state: timestamps, lease, reason.

Pure functions shared by ``InstanceRepository``, the scheduler's writes and ``store.leases``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from lakeworks.store.clock import optional_utc_naive
from lakeworks.store.models import InstanceState

SETTABLE_FIELDS = frozenset(
    {
        "attempts",
        "max_attempts",
        "priority",
        "resource_group",
        "owner",
        "node_version",
        "rendered_code",
        "started_at",
        "finished_at",
        "next_attempt_at",
        "worker",
        "lease_expires_at",
        "run_id",
    }
)
"""Instance columns a transition may set alongside the state."""

_DATETIME_FIELDS = frozenset({"started_at", "finished_at", "next_attempt_at", "lease_expires_at"})


def settable_values(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Check and normalise extra columns given to a transition (datetimes to UTC-naive)."""
    unknown = sorted(set(fields) - SETTABLE_FIELDS)
    if unknown:
        raise TypeError(
            f"cannot set {', '.join(unknown)} on an instance; settable: "
            + ", ".join(sorted(SETTABLE_FIELDS))
        )
    return {
        name: optional_utc_naive(value) if name in _DATETIME_FIELDS else value
        for name, value in fields.items()
    }


def state_changes(
    to_state: InstanceState,
    now: datetime,
    reason: str | None,
    fields: Mapping[str, Any],
) -> dict[str, Any]:
    """The column values a move to ``to_state`` writes.

    - to ``running``: ``started_at`` = now, ``finished_at`` cleared;
    - to a terminal state: ``finished_at`` = now (``started_at`` kept);
    - to any other state (waiting, frozen, suspended…): both cleared, since the
      instance has not started its next run yet;
    - leaving ``running`` clears ``lease_expires_at``;
    - ``reason`` replaces the instance's reason (``None`` clears it).

    Explicit ``fields`` win over all of these.
    """
    values: dict[str, Any] = {"state": to_state.value, "reason": reason}
    if to_state is InstanceState.RUNNING:
        values.update(started_at=now, finished_at=None)
    elif to_state.is_terminal:
        values.update(finished_at=now, lease_expires_at=None)
    else:
        values.update(started_at=None, finished_at=None, lease_expires_at=None)
    values.update(fields)
    return values


def states_of(values: Iterable[InstanceState | str]) -> frozenset[InstanceState]:
    """A set of states from states or their string values (``ValueError`` if unknown)."""
    return frozenset(InstanceState(v) for v in values)
