"""The ends of several runs in one statement (PostgreSQL).

``store.leases.finish_many`` records, per run: its attempt's outcome (or the attempt
itself when the claim recorded none), its last log lines, its follow-up row, and, only
while the worker still holds that attempt, the instance's end state with a ``finish``
event and a notification. On PostgreSQL all of it is one statement of data-modifying
CTEs over arrays (one array per column, ``unnest`` into rows), so a batch of ends costs
one round trip inside its transaction whatever its size, instead of eight.

The instance columns a batch sets vary with the ends (a retry sets
``next_attempt_at``, a success ``finished_at`` and ``rendered_code`` …): each column
set by any end of the batch gets an array of values and an array of flags, and an end
that does not set it keeps the stored value. Statements are cached by that column set.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from lakeworks.store.followups import instance_followups
from lakeworks.store.models import InstanceState
from lakeworks.store.schema import instances

_RUNNING = InstanceState.RUNNING.value
_ALWAYS = ("state", "reason")
"""Columns every end sets (``state_changes``)."""
_FOLLOWUP_COLUMNS = tuple(c.name for c in instance_followups.c if c.name != "id")
_STATEMENTS: dict[tuple[str, ...], Any] = {}


def _array_type(column: sa.Column[Any]) -> str:
    """The PostgreSQL array type for values of ``column``."""
    kind = column.type
    if isinstance(kind, sa.DateTime):
        return "timestamp[]"
    if isinstance(kind, sa.Integer):
        return "bigint[]"
    if isinstance(kind, sa.Boolean):
        return "boolean[]"
    return "text[]"


def _unnest(names: Sequence[str], types: Sequence[str], prefix: str) -> str:
    arrays = ", ".join(
        f"CAST(:{prefix}{name} AS {type_})" for name, type_ in zip(names, types, strict=True)
    )
    return f"unnest({arrays}) AS {prefix.rstrip('_')}({', '.join(names)})"


def _sql(columns: tuple[str, ...]) -> str:
    ends = ["id", "worker", "attempt", "at", "actor", "a_state", "a_error", "channel"]
    end_types = ["bigint[]", "text[]", "integer[]", "timestamp[]", "text[]", "text[]"]
    end_types += ["text[]", "text[]"]
    for name in columns:
        ends += [f"c_{name}", f"s_{name}"]
        end_types += [_array_type(instances.c[name]), "boolean[]"]
    sets = ", ".join(
        f"{name} = v.c_{name}"
        if name in _ALWAYS
        else f"{name} = CASE WHEN v.s_{name} THEN v.c_{name} ELSE instances.{name} END"
        for name in columns
    )
    followup_types = [_array_type(instance_followups.c[n]) for n in _FOLLOWUP_COLUMNS]
    return f"""
WITH v AS MATERIALIZED (
    SELECT * FROM {_unnest(ends, end_types, "e_")}
),
ended AS (
    UPDATE attempts SET state = v.a_state, finished_at = v.at, error = v.a_error
    FROM v WHERE attempts.instance_id = v.id AND attempts.number = v.attempt
),
unclaimed AS (
    INSERT INTO attempts (instance_id, number, worker, started_at, state, finished_at, error)
    SELECT v.id, v.attempt, v.worker, v.at, v.a_state, v.at, v.a_error FROM v
    WHERE NOT EXISTS (
        SELECT 1 FROM attempts AS a WHERE a.instance_id = v.id AND a.number = v.attempt
    )
    ON CONFLICT DO NOTHING
),
logged AS (
    INSERT INTO instance_logs (instance_id, attempt, created_at, text)
    SELECT * FROM {
        _unnest(
            ["id", "attempt", "at", "text"],
            ["bigint[]", "integer[]", "timestamp[]", "text[]"],
            "l_",
        )
    }
),
queued AS (
    INSERT INTO instance_followups ({", ".join(_FOLLOWUP_COLUMNS)})
    SELECT * FROM {_unnest(_FOLLOWUP_COLUMNS, followup_types, "f_")}
),
moved AS (
    UPDATE instances SET {sets}
    FROM v
    WHERE instances.id = v.id AND instances.state = '{_RUNNING}'
      AND instances.worker = v.worker AND instances.attempts = v.attempt
    RETURNING instances.*
),
event AS (
    INSERT INTO instance_events
        (instance_id, created_at, actor, action, from_state, to_state, detail)
    SELECT moved.id, v.at, v.actor, 'finish', '{_RUNNING}', moved.state, moved.reason
    FROM moved JOIN v ON v.id = moved.id
),
notified AS (
    SELECT pg_notify(channel, '') FROM (
        SELECT DISTINCT v.channel FROM moved JOIN v ON v.id = moved.id
        WHERE v.channel IS NOT NULL
    ) AS held
)
SELECT moved.*, (SELECT count(*) FROM notified) AS notified FROM moved
"""


def end_statement(columns: tuple[str, ...]) -> Any:
    """The statement ending a batch that sets ``columns`` of its instances."""
    statement = _STATEMENTS.get(columns)
    if statement is None:
        statement = sa.text(_sql(columns)).columns(*instances.c, sa.column("notified"))
        _STATEMENTS[columns] = statement
    return statement


def end_parameters(
    ends: Sequence[tuple[int, str, int, Any, str, str, str | None, str | None]],
    values: Sequence[Mapping[str, Any]],
    columns: tuple[str, ...],
    logs: Sequence[tuple[int, int, Any, str]],
    followups: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """The arrays of ``end_statement(columns)``.

    ``ends``: (instance id, worker, attempt, at, actor, attempt state, attempt error,
    channel) per end; ``values``: the instance columns each end sets; ``logs``:
    (instance id, attempt, at, text) per line; ``followups``: follow-up rows.
    """
    names = ("id", "worker", "attempt", "at", "actor", "a_state", "a_error", "channel")
    params: dict[str, Any] = {f"e_{name}": [end[i] for end in ends] for i, name in enumerate(names)}
    for name in columns:
        params[f"e_c_{name}"] = [v.get(name) for v in values]
        params[f"e_s_{name}"] = [name in v for v in values]
    for i, name in enumerate(("id", "attempt", "at", "text")):
        params[f"l_{name}"] = [line[i] for line in logs]
    for name in _FOLLOWUP_COLUMNS:
        params[f"f_{name}"] = [row[name] for row in followups]
    return params
