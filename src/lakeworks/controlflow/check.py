"""The check (sensor) node: does a table, partition or file exist yet, has a stream
node committed everything up to the cycle time?

Each check is one attempt. When the condition does not hold, the node raises
``CheckAgain``: the runtime records ``waiting_time`` with the reason ("check 3/10:
partition ds=20260411 of ods_orders not found") and runs it again after the interval,
with no worker slot held meanwhile. After ``max_checks`` the node fails, saying what
was checked.
"""

from __future__ import annotations

import re
from datetime import UTC
from pathlib import Path

from lakeworks.errors import CheckAgain, LakeworksError, UserCodeError, UserError
from lakeworks.runtime.context import NodeResult, NodeRunContext
from lakeworks.spec.models import CheckConfig
from lakeworks.sql.params import render

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _partition_filter(spec: str, where: str) -> str:
    """``ds=20260411,hh=01`` as a WHERE condition with quoted values."""
    terms: list[str] = []
    for part in spec.split(","):
        key, sep, value = part.partition("=")
        key, value = key.strip(), value.strip().strip("'\"")
        if not sep or not _KEY.match(key):
            raise UserError(f"{where}: partition '{spec}' is not like ds=20260411")
        terms.append(f"{key} = '{value.replace(chr(39), chr(39) * 2)}'")
    return " AND ".join(terms)


def _table_holds(ctx: NodeRunContext, config: CheckConfig) -> tuple[bool, str]:
    assert config.table is not None
    where = ctx.node.path.name
    what = f"table {config.table}"
    sql = f"SELECT 1 FROM {config.table}"
    if config.partition:
        spec = render(config.partition, ctx.params, path=ctx.node.path)
        what = f"partition {spec} of {config.table}"
        sql += f" WHERE {_partition_filter(spec, where)}"
    session = ctx.engine.session()
    try:
        rows = session.execute(sql + " LIMIT 1").rows
    except LakeworksError:
        return False, f"{what} not found (the table does not exist)"
    finally:
        session.close()
    return bool(rows), f"{what} {'found' if rows else 'not found'}"


def _file_holds(ctx: NodeRunContext, config: CheckConfig) -> tuple[bool, str]:
    assert config.file is not None
    rendered = render(config.file, ctx.params, path=ctx.node.path)
    if "://" in rendered:
        raise UserError(
            f"{ctx.node.path.name}: only local files can be checked, not {rendered}",
            hint="give a path on this machine (relative to the workspace)",
        )
    path = Path(rendered)
    path = path if path.is_absolute() else ctx.workspace.root / path
    found = path.exists()
    return found, f"file {rendered} {'found' if found else 'not found'}"


def _stream_holds(ctx: NodeRunContext, config: CheckConfig) -> tuple[bool, str]:
    """Whether the stream's committed watermark (the newest source time whose changes
    are all in the target) has reached this instance's cycle time."""
    from lakeworks.store.database import Database
    from lakeworks.streaming.service import stream_node
    from lakeworks.streaming.status import StreamStatusStore

    assert config.stream is not None
    node = stream_node(ctx.workspace, config.stream)
    db = ctx.extras.get("db")
    if not isinstance(db, Database):
        raise UserError(f"{ctx.node.path.name}: stream checks need the metadata store")
    cycle = ctx.cycle_time
    if cycle.tzinfo is not None:
        cycle = cycle.astimezone(UTC).replace(tzinfo=None)
    status = StreamStatusStore(db, ctx.workspace.name, ctx.env).get(node.key)
    mark = status.watermark if status is not None else None
    what = f"stream {node.key}"
    if mark is None:
        return False, f"{what} has committed nothing yet (cycle time {cycle:%Y-%m-%d %H:%M:%S})"
    if mark >= cycle:
        return True, f"{what} has passed {cycle:%Y-%m-%d %H:%M:%S} (watermark {mark:%H:%M:%S})"
    return False, (
        f"{what} watermark {mark:%Y-%m-%d %H:%M:%S} has not passed the cycle time "
        f"{cycle:%Y-%m-%d %H:%M:%S}"
    )


def run_check_node(ctx: NodeRunContext) -> NodeResult:
    """Check once; succeed, wait for the next check, or give up after the last one."""
    config = ctx.node.config
    assert isinstance(config, CheckConfig)
    if config.stream:
        holds, what = _stream_holds(ctx, config)
    elif config.table:
        holds, what = _table_holds(ctx, config)
    else:
        holds, what = _file_holds(ctx, config)
    label = f"check {ctx.attempt}/{config.max_checks}: {what}"
    if holds:
        ctx.log(label)
        return NodeResult(rendered_code=ctx.node.code, detail={"checks": ctx.attempt})
    if ctx.attempt >= config.max_checks:
        raise UserCodeError(f"{label}; gave up after {config.max_checks} checks")
    raise CheckAgain(label, delay_seconds=config.interval_seconds)
