"""The check (sensor) node: has what it waits for happened yet?

Each check is one attempt. When the condition does not hold, the node raises
``CheckAgain``: the runtime records ``waiting_time`` with the reason ("check 3/10:
partition ds=20260411 of ods_orders not found") and runs it again after the interval,
with no worker slot held meanwhile. After ``max_checks``, or once the ``deadline`` has
passed, the node fails, saying what was checked.

What is checked is one of: a table (or partition) with rows; a file on local disk or
S3; a sync node's committed cursor or a stream node's watermark at or past the
instance's cycle time; named nodes or workflows (of this workspace or another)
succeeded for the business dates of a window. With ``unchanged_minutes`` a table's row
count or a file's modification time must also have stayed the same that long.
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from pathlib import Path
from urllib.parse import urlparse
from zoneinfo import ZoneInfo

from lakeworks.controlflow.check_targets import cursor_holds, dependencies_hold, watermark_holds
from lakeworks.errors import CheckAgain, LakeworksError, UserCodeError, UserError
from lakeworks.runtime.clock import clock_from_env
from lakeworks.runtime.context import NodeResult, NodeRunContext
from lakeworks.spec.models import CheckConfig
from lakeworks.sql.params import render
from lakeworks.store.clock import to_utc_naive
from lakeworks.store.database import Database
from lakeworks.store.outputs import OutputRepository

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

Observation = tuple[bool, str, str | None]
"""Whether the target is there, what was seen (for a person), and its fingerprint
(what must stay unchanged: a row count, a modification time)."""


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


def _table(ctx: NodeRunContext, config: CheckConfig) -> Observation:
    assert config.table is not None
    where = ctx.node.path.name
    what = f"table {config.table}"
    condition = ""
    if config.partition:
        spec = render(config.partition, ctx.params, path=ctx.node.path)
        what = f"partition {spec} of {config.table}"
        condition = f" WHERE {_partition_filter(spec, where)}"
    session = ctx.engine.session()
    try:
        if config.unchanged_minutes is None:
            rows = session.execute(f"SELECT 1 FROM {config.table}{condition} LIMIT 1").rows
            count = len(rows)
        else:
            counted = session.execute(f"SELECT count(*) FROM {config.table}{condition}")
            count = int(str(counted.rows[0][0]))
    except LakeworksError:
        return False, f"{what} not found (the table does not exist)", None
    finally:
        session.close()
    if not count:
        return False, f"{what} not found", None
    shown = f"{what} found" + (f" ({count:,} rows)" if config.unchanged_minutes else "")
    return True, shown, f"rows={count}"


def _s3_file(url: str, endpoint: str | None) -> tuple[bool, datetime | None]:
    """Whether an ``s3://bucket/key`` object exists, and when it was last modified."""
    import pyarrow.fs as pafs

    parsed = urlparse(url)
    if not parsed.netloc or not parsed.path.strip("/"):
        raise UserError(f"'{url}' names no bucket and key", hint="write s3://bucket/path/to/file")
    options: dict[str, object] = {}
    if endpoint:
        server = urlparse(endpoint)
        options["endpoint_override"] = server.netloc or server.path
        options["scheme"] = server.scheme or "https"
    try:
        filesystem = pafs.S3FileSystem(**options)
        info = filesystem.get_file_info(f"{parsed.netloc}{parsed.path}")
    except OSError as exc:
        raise UserCodeError(f"cannot look at {url}: {exc}") from None
    if info.type is pafs.FileType.NotFound:
        return False, None
    mtime = info.mtime
    return True, None if mtime is None else to_utc_naive(mtime)


def _file(ctx: NodeRunContext, config: CheckConfig) -> Observation:
    assert config.file is not None
    rendered = render(config.file, ctx.params, path=ctx.node.path)
    if rendered.startswith("s3://"):
        found, modified = _s3_file(rendered, config.endpoint)
    elif "://" in rendered:
        raise UserError(
            f"{ctx.node.path.name}: cannot check {rendered}",
            hint="give a path on this machine (relative to the workspace) or s3://bucket/key",
        )
    else:
        path = Path(rendered)
        path = path if path.is_absolute() else ctx.workspace.root / path
        found = path.exists()
        modified = datetime.fromtimestamp(path.stat().st_mtime) if found else None
    fingerprint = None if modified is None else modified.isoformat()
    return found, f"file {rendered} {'found' if found else 'not found'}", fingerprint


def _cycle_utc(ctx: NodeRunContext) -> datetime:
    zone = ZoneInfo(ctx.workspace.config.timezone)
    return to_utc_naive(ctx.params.cycle_time.replace(tzinfo=zone))


def _db(ctx: NodeRunContext) -> Database:
    db = ctx.extras.get("db")
    if not isinstance(db, Database):
        raise UserError(f"{ctx.node.kind} nodes run only as recorded instances")
    return db


def _target(ctx: NodeRunContext, config: CheckConfig) -> Observation:
    if config.table:
        return _table(ctx, config)
    if config.file:
        return _file(ctx, config)
    if config.sync_cursor:
        holds, what = cursor_holds(_db(ctx), ctx, config.sync_cursor)
    elif config.stream:
        holds, what = watermark_holds(_db(ctx), ctx, config.stream, _cycle_utc(ctx))
    else:
        holds, what = dependencies_hold(_db(ctx), ctx, config)
    return holds, what, None


def deadline_of(cycle_time_local: datetime, deadline: str) -> datetime:
    """The first ``HH:MM`` (local wall time) at or after the cycle time."""
    hour, minute = (int(part) for part in deadline.split(":"))
    moment = datetime.combine(cycle_time_local.date(), time(hour, minute))
    return moment if moment >= cycle_time_local else moment + timedelta(days=1)


def _unchanged(
    ctx: NodeRunContext, config: CheckConfig, fingerprint: str | None, now: datetime
) -> tuple[bool, str]:
    """Whether the target has stayed the same for ``unchanged_minutes`` (recorded per
    instance between checks); ``now`` is UTC-naive."""
    assert config.unchanged_minutes is not None and fingerprint is not None
    if ctx.instance_id is None:
        return False, "unchanged since this check"
    since = OutputRepository(_db(ctx)).observe(ctx.instance_id, fingerprint, now)
    minutes = (now - since).total_seconds() / 60
    needed = config.unchanged_minutes
    return minutes >= needed, f"unchanged for {minutes:.1f} of {needed:g} minutes"


def run_check_node(ctx: NodeRunContext) -> NodeResult:
    """Check once; succeed, wait for the next check, or give up (checks or deadline)."""
    config = ctx.node.config
    assert isinstance(config, CheckConfig)
    now = clock_from_env().now()  # the scheduler's clock (simulated in tests)
    holds, what, fingerprint = _target(ctx, config)
    if holds and config.unchanged_minutes is not None:
        holds, still = _unchanged(ctx, config, fingerprint, to_utc_naive(now))
        what = f"{what}, {still}"
    counted = config.deadline is None or "max_checks" in config.model_fields_set
    limit = None
    if config.deadline is not None:
        limit = deadline_of(ctx.params.cycle_time, config.deadline)
    of = f"/{config.max_checks}" if counted else f" (until {limit:%H:%M})"
    label = f"check {ctx.attempt}{of}: {what}"
    if holds:
        ctx.log(label)
        return NodeResult(rendered_code=ctx.node.code, detail={"checks": ctx.attempt})
    wait = config.interval_seconds
    if limit is not None:
        zone = ZoneInfo(ctx.workspace.config.timezone)
        local_now = now.astimezone(zone).replace(tzinfo=None)
        if local_now >= limit:
            raise UserCodeError(f"{label}; gave up at the deadline {limit:%Y-%m-%d %H:%M}")
        wait = min(wait, (limit - local_now).total_seconds())
    if counted and ctx.attempt >= config.max_checks:
        raise UserCodeError(f"{label}; gave up after {config.max_checks} checks")
    raise CheckAgain(label, delay_seconds=wait)
