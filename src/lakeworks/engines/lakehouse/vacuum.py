"""Vacuum: delete the files no reader needs any more.

Two kinds of files pile up in a lakehouse: files retired by a commit (an overwrite
replaced them; earlier versions still name them) and orphans — files no commit ever
named, left by a writer that was killed between writing its files and committing
(Spark's ``_staging`` folders, a sync's part files). Both are deleted once they are
older than the retention period, so that a reader still on an earlier version and a
writer still writing are left alone. After a vacuum, versions older than the newest
retirement it cleaned are no longer readable (``Lakehouse.snapshot`` says so).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pyarrow.fs as pafs
import sqlalchemy as sa

from lakeworks.engines.lakehouse.catalog import Lakehouse
from lakeworks.engines.lakehouse.tables import lakehouse_commits, lakehouse_files, lakehouse_tables
from lakeworks.store.clock import to_utc_naive, utcnow

DEFAULT_RETAIN = timedelta(hours=1)


@dataclass(frozen=True)
class VacuumReport:
    tables: int
    retired_files: int
    """Files retired by commits older than the retention period, now deleted."""
    orphan_files: int
    """Files no commit named (killed writers), now deleted."""
    bytes_freed: int


def vacuum(
    lakehouse: Lakehouse,
    *,
    retain: timedelta = DEFAULT_RETAIN,
    now: datetime | None = None,
    tables: list[str] | None = None,
) -> VacuumReport:
    """Delete retired and orphaned files older than ``retain`` in every table (or in
    ``tables``); returns what was deleted."""
    cutoff = (now or utcnow()) - retain
    names = tables if tables is not None else lakehouse.list_tables()
    retired = orphans = freed = 0
    for name in names:
        r, o, b = _vacuum_table(lakehouse, name.lower(), cutoff)
        retired, orphans, freed = retired + r, orphans + o, freed + b
    return VacuumReport(len(names), retired, orphans, freed)


def _vacuum_table(lakehouse: Lakehouse, name: str, cutoff: datetime) -> tuple[int, int, int]:
    f, c, t = lakehouse_files, lakehouse_commits, lakehouse_tables
    where = (f.c.warehouse == lakehouse.warehouse, f.c.table_name == name)
    with lakehouse.db.read() as conn:
        expired = conn.execute(
            sa.select(f.c.id, f.c.path, f.c.bytes, f.c.removed_version)
            .join(
                c,
                sa.and_(
                    c.c.warehouse == f.c.warehouse,
                    c.c.table_name == f.c.table_name,
                    c.c.version == f.c.removed_version,
                ),
            )
            .where(*where, f.c.removed_version.is_not(None), c.c.committed_at <= cutoff)
        ).all()
        known = {str(p) for (p,) in conn.execute(sa.select(f.c.path).where(*where))}
    freed = 0
    for _id, path, size, _removed in expired:
        lakehouse.delete_quietly(str(path))
        freed += int(size)
    if expired:
        newest = max(int(r.removed_version) for r in expired)
        with lakehouse.db.write() as conn:
            conn.execute(sa.delete(f).where(f.c.id.in_([int(r.id) for r in expired])))
            conn.execute(
                sa.update(t)
                .where(
                    t.c.warehouse == lakehouse.warehouse,
                    t.c.name == name,
                    sa.or_(t.c.vacuumed_version.is_(None), t.c.vacuumed_version < newest),
                )
                .values(vacuumed_version=newest)
            )
    orphans, orphan_bytes = _delete_orphans(lakehouse, name, known, cutoff)
    return len(expired), orphans, freed + orphan_bytes


def _delete_orphans(
    lakehouse: Lakehouse, name: str, known: set[str], cutoff: datetime
) -> tuple[int, int]:
    """Delete files under the table's folder that no commit names, older than ``cutoff``;
    then the empty staging folders."""
    storage = lakehouse.storage
    fs = storage.filesystem
    base = storage.path(name)
    selector = pafs.FileSelector(base, recursive=True, allow_not_found=True)
    infos = fs.get_file_info(selector)
    count = freed = 0
    prefix = storage.root + "/"
    for info in infos:
        if info.type != pafs.FileType.File:
            continue
        relative = info.path[len(prefix) :] if info.path.startswith(prefix) else info.path
        if relative in known or info.mtime is None or to_utc_naive(info.mtime) > cutoff:
            continue
        lakehouse.delete_quietly(relative)
        count += 1
        freed += int(info.size or 0)
    staging = f"{base}/_staging"
    if storage.local and fs.get_file_info(staging).type == pafs.FileType.Directory:
        for info in sorted(
            fs.get_file_info(pafs.FileSelector(staging, recursive=True)),
            key=lambda i: -len(i.path),
        ):
            if info.type == pafs.FileType.Directory and not fs.get_file_info(
                pafs.FileSelector(info.path)
            ):
                fs.delete_dir(info.path)
    return count, freed
