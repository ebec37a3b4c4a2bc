"""Run lineage: which instance read or wrote which table (and partition), and when.

``record`` is called once per successful instance (the Data Map's runtime listener does
it); ``history`` answers "who wrote this table / partition, and when".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from lakeworks.catalog.tables import run_lineage
from lakeworks.sql.lineage import ScriptLineage, script_lineage
from lakeworks.store.database import Database

WRITE = "write"
READ = "read"


@dataclass(frozen=True)
class TableWrite:
    """A table an instance wrote; ``partition`` like ``ds=20240101`` ("" = whole table)."""

    table: str
    partition: str = ""
    rows: int | None = None


@dataclass(frozen=True)
class RunLineageEntry:
    instance_id: int
    node_key: str
    table: str
    partition: str
    direction: str
    rows: int | None
    recorded_at: datetime


def writes_of_script(
    rendered_sql: str, dialect: str | None = None, *, rows: int | None = None
) -> tuple[list[TableWrite], set[str]]:
    """Tables (with static partitions) a rendered script writes, and the tables it reads.

    ``rows`` is attributed to the written table when the script writes exactly one.
    """
    return writes_of_lineage(script_lineage(rendered_sql, dialect=dialect), rows=rows)


def writes_of_lineage(
    lineage: ScriptLineage, *, rows: int | None = None
) -> tuple[list[TableWrite], set[str]]:
    """Like ``writes_of_script`` for an already analysed script."""
    found: dict[tuple[str, str], None] = {}
    for statement in lineage.statements:
        if not (statement.writes and statement.target):
            continue
        static = [(c, v) for c, v in statement.partition if v is not None]
        whole = not statement.partition or len(static) != len(statement.partition)
        spec = "" if whole else "/".join(f"{c}={v}" for c, v in static)
        found[(statement.target, spec)] = None
    tables = {t for t, _ in found}
    writes = [
        TableWrite(t, p, rows if len(tables) == 1 and len(found) == 1 else None) for t, p in found
    ]
    written = lineage.writes
    return writes, {t for t in lineage.reads if t not in written}


@dataclass(frozen=True)
class RunRecord:
    """What one instance wrote and read."""

    instance_id: int
    workspace: str
    env: str
    node_key: str
    writes: Sequence[TableWrite | str]
    reads: Iterable[str] = ()


def record_many(db: Database, records: Sequence[RunRecord], *, at: datetime) -> None:
    """Keep what many instances wrote and read, in one transaction."""
    rows = [row for r in records for row in _rows(r, at)]
    if not rows:
        return
    ids = sorted({r.instance_id for r in records})
    with db.write() as conn:
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            conn.execute(sa.delete(run_lineage).where(run_lineage.c.instance_id.in_(chunk)))
        conn.execute(sa.insert(run_lineage), rows)


def _rows(r: RunRecord, at: datetime) -> list[dict[str, object]]:
    common = {
        "instance_id": r.instance_id,
        "workspace": r.workspace,
        "env": r.env,
        "node_key": r.node_key,
        "recorded_at": at,
    }
    rows: list[dict[str, object]] = [
        {
            **common,
            "table_name": w.table.lower(),
            "partition": w.partition,
            "direction": WRITE,
            "rows": w.rows,
        }
        for w in (x if isinstance(x, TableWrite) else TableWrite(x) for x in r.writes)
    ]
    rows += [
        {**common, "table_name": t.lower(), "partition": "", "direction": READ, "rows": None}
        for t in sorted(set(r.reads))
    ]
    return rows


def record(
    db: Database,
    *,
    instance_id: int,
    workspace: str,
    env: str,
    node_key: str,
    writes: Sequence[TableWrite | str],
    reads: Iterable[str] = (),
    at: datetime,
) -> None:
    """Keep, with the instance, what it wrote and read (one transaction)."""
    common = {
        "instance_id": instance_id,
        "workspace": workspace,
        "env": env,
        "node_key": node_key,
        "recorded_at": at,
    }
    rows = [
        {
            **common,
            "table_name": w.table.lower(),
            "partition": w.partition,
            "direction": WRITE,
            "rows": w.rows,
        }
        for w in (x if isinstance(x, TableWrite) else TableWrite(x) for x in writes)
    ]
    rows += [
        {**common, "table_name": r.lower(), "partition": "", "direction": READ, "rows": None}
        for r in sorted(set(reads))
    ]
    if not rows:
        return
    with db.write() as conn:
        conn.execute(sa.delete(run_lineage).where(run_lineage.c.instance_id == instance_id))
        conn.execute(sa.insert(run_lineage), rows)


def history(
    db: Database,
    workspace: str,
    env: str,
    table: str,
    *,
    partition: str | None = None,
    direction: str = WRITE,
    limit: int = 50,
) -> list[RunLineageEntry]:
    """The latest runs that wrote (or read) ``table``, newest first."""
    r = run_lineage
    query = sa.select(r).where(
        r.c.workspace == workspace,
        r.c.env == env,
        r.c.table_name == table.lower(),
        r.c.direction == direction,
    )
    if partition is not None:
        query = query.where(r.c.partition == partition)
    query = query.order_by(r.c.recorded_at.desc(), r.c.id.desc()).limit(limit)
    with db.read() as conn:
        return [_entry(row) for row in conn.execute(query)]


def for_instance(db: Database, instance_id: int) -> list[RunLineageEntry]:
    """What one instance read and wrote."""
    r = run_lineage
    query = sa.select(r).where(r.c.instance_id == instance_id).order_by(r.c.direction, r.c.id)
    with db.read() as conn:
        return [_entry(row) for row in conn.execute(query)]


def _entry(row: sa.Row[tuple[object, ...]]) -> RunLineageEntry:
    m = row._mapping
    return RunLineageEntry(
        instance_id=int(str(m["instance_id"])),
        node_key=str(m["node_key"]),
        table=str(m["table_name"]),
        partition=str(m["partition"]),
        direction=str(m["direction"]),
        rows=None if m["rows"] is None else int(str(m["rows"])),
        recorded_at=m["recorded_at"],
    )
