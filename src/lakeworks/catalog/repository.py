"""Reading and writing catalog entries (tables, columns, partitions) in batches.

Harvest results and workspace annotations are merged per table: what the engine says
(columns, types, comments, sizes) never erases what the workspace files say (owner,
layer, tags, descriptions), and the other way round. Every change also refreshes the
table's search document in the same transaction.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from lakeworks.catalog import search
from lakeworks.catalog.bulk import insert_plain
from lakeworks.catalog.models import (
    CatalogColumn,
    CatalogPartition,
    CatalogTable,
    HarvestedTable,
    TableAnnotation,
)
from lakeworks.catalog.tables import catalog_columns, catalog_partitions, catalog_tables
from lakeworks.store.database import Database

_CHUNK = 500


class CatalogRepository:
    """The catalog of one workspace environment."""

    def __init__(self, db: Database, workspace: str, env: str) -> None:
        self.db = db
        self.workspace = workspace
        self.env = env

    # -- writes -----------------------------------------------------------------------

    def save_harvest(
        self,
        source: str,
        tables: Sequence[HarvestedTable],
        *,
        now: datetime,
        complete: bool = False,
        indexed_later: Collection[str] = (),
    ) -> int:
        """Store what harvest found in ``source``; returns how many tables changed.

        With ``complete`` the harvest covered the whole source: tables it did not find
        are marked absent (their workspace annotations are kept). The search documents
        of ``indexed_later`` are left to the caller's ``annotate`` that follows.
        """
        t = catalog_tables
        with self.db.write() as conn:
            query = sa.select(
                t.c.id, t.c.name, t.c.row_count, t.c.last_modified, t.c.partition_columns
            ).where(t.c.workspace == self.workspace, t.c.env == self.env, t.c.source == source)
            # a partial harvest (a run's batch) reads only its own tables: reading the
            # whole catalog for every batch made a large run quadratic
            existing = {
                row.name: row
                for row in self._rows_named(
                    conn, query, None if complete else [tb.name for tb in tables]
                )
            }
            old_columns = self._column_signatures(conn, [r.id for r in existing.values()])
            inserts: list[dict[str, Any]] = []
            updates: list[dict[str, Any]] = []
            for table in tables:
                values = {
                    "kind": table.kind,
                    "present": True,
                    "comment": table.comment,
                    "row_count": table.row_count,
                    "size_bytes": table.size_bytes,
                    "harvested_at": now,
                    "partition_columns": ",".join(table.partition_columns),
                }
                row = existing.get(table.name)
                if row is None:
                    inserts.append(
                        {
                            **values,
                            "workspace": self.workspace,
                            "env": self.env,
                            "source": source,
                            "name": table.name,
                            "tags": "[]",
                            "last_modified": table.last_modified or now,
                        }
                    )
                    continue
                changed = row.row_count != table.row_count or old_columns.get(row.id) != _signature(
                    table.columns
                )
                values["last_modified"] = table.last_modified or (
                    now if changed else row.last_modified
                )
                if not table.partition_columns:
                    values["partition_columns"] = row.partition_columns
                updates.append({**values, "b_id": row.id})
            ids = self._insert_tables(conn, inserts)
            if updates:
                conn.execute(
                    sa.update(t).where(t.c.id == sa.bindparam("b_id")),
                    updates,
                )
            by_name = {**{n: r.id for n, r in existing.items()}, **ids}
            columns = self._replace_columns(conn, [(by_name[tb.name], tb.columns) for tb in tables])
            self._replace_partitions(
                conn,
                [(by_name[tb.name], tb.partitions) for tb in tables if tb.partitions is not None],
            )
            if complete:
                found = {tb.name for tb in tables}
                gone = [r.id for n, r in existing.items() if n not in found]
                for chunk in _chunks(gone):
                    conn.execute(
                        sa.update(t)
                        .where(t.c.id.in_(chunk))
                        .values(present=False, row_count=None, size_bytes=None)
                    )
            self._reindex(
                conn, [by_name[tb.name] for tb in tables if tb.name not in indexed_later], columns
            )
        return len(tables)

    def annotate(self, source: str, annotations: Sequence[TableAnnotation]) -> None:
        """Apply what the workspace files say about tables (creating unknown ones)."""
        t = catalog_tables
        with self.db.write() as conn:
            query = sa.select(t.c.id, t.c.name).where(
                t.c.workspace == self.workspace, t.c.env == self.env, t.c.source == source
            )
            existing = {
                row.name: row.id
                for row in self._rows_named(conn, query, [a.name for a in annotations])
            }
            new = [
                {
                    "workspace": self.workspace,
                    "env": self.env,
                    "source": source,
                    "name": a.name,
                    "kind": "table",
                    "present": False,
                    "tags": "[]",
                    "partition_columns": ",".join(a.partition_columns),
                }
                for a in annotations
                if a.name not in existing
            ]
            ids = {**existing, **self._insert_tables(conn, new)}
            if annotations:
                conn.execute(
                    sa.update(t).where(t.c.id == sa.bindparam("b_id")),
                    [
                        {
                            "b_id": ids[a.name],
                            "owner": a.owner,
                            "layer": a.layer,
                            "tags": json.dumps(list(a.tags)),
                            "description": a.description,
                            "writer_node": a.writer_node,
                        }
                        for a in annotations
                    ],
                )
            declared_only = [
                (ids[a.name], a.declared) for a in annotations if a.name not in existing
            ]
            self._replace_columns(conn, declared_only)
            for a in annotations:
                if a.partition_columns and a.name in existing:
                    conn.execute(
                        sa.update(t)
                        .where(t.c.id == ids[a.name], t.c.partition_columns == "")
                        .values(partition_columns=",".join(a.partition_columns))
                    )
            self._describe_columns(conn, [(ids[a.name], a) for a in annotations])
            self._reindex(conn, [ids[a.name] for a in annotations])

    @staticmethod
    def _rows_named(
        conn: sa.Connection, query: sa.Select[Any], names: Sequence[str] | None
    ) -> list[sa.Row[Any]]:
        """The rows of a catalog table ``query``, only those of ``names`` unless None."""
        if names is None:
            return list(conn.execute(query))
        wanted = sorted(set(names))
        return [
            row
            for chunk in _chunks(wanted)
            for row in conn.execute(query.where(catalog_tables.c.name.in_(chunk)))
        ]

    def touch(self, name: str, *, at: datetime) -> None:
        """Note that ``name`` was just modified (a run wrote it)."""
        t = catalog_tables
        with self.db.write() as conn:
            conn.execute(
                sa.update(t)
                .where(t.c.workspace == self.workspace, t.c.env == self.env, t.c.name == name)
                .values(last_modified=at)
            )

    # -- reads ------------------------------------------------------------------------

    def get(self, name: str, source: str | None = None) -> CatalogTable | None:
        """The table called ``name`` (in ``source``, else any source; present first)."""
        t = catalog_tables
        query = sa.select(t).where(
            t.c.workspace == self.workspace, t.c.env == self.env, t.c.name == name.lower()
        )
        if source is not None:
            query = query.where(t.c.source == source)
        query = query.order_by(t.c.present.desc(), t.c.id).limit(1)
        with self.db.read() as conn:
            row = conn.execute(query).one_or_none()
            if row is None:
                return None
            return self._full(conn, row)

    def tables(self, *, source: str | None = None, layer: str | None = None) -> list[CatalogTable]:
        """Every table (columns included, partitions not), by name."""
        t = catalog_tables
        query = sa.select(t).where(t.c.workspace == self.workspace, t.c.env == self.env)
        if source is not None:
            query = query.where(t.c.source == source)
        if layer is not None:
            query = query.where(t.c.layer == layer)
        with self.db.read() as conn:
            rows = list(conn.execute(query.order_by(t.c.name, t.c.source)))
            columns = self._columns(conn, [r.id for r in rows])
        return [_table(r, columns.get(r.id, ()), ()) for r in rows]

    def schemas(self, warehouse: str | None = None) -> dict[str, tuple[str, ...]]:
        """Column names of every table with known columns, for lineage ``*`` expansion.

        With ``warehouse`` (its catalog source name) the tables of other sources are
        named as lineage names them, ``<data source>:<table>``.
        """
        t, c = catalog_tables, catalog_columns
        query = (
            sa.select(t.c.name, t.c.source, c.c.name.label("column"))
            .join(c, c.c.table_id == t.c.id)
            .where(t.c.workspace == self.workspace, t.c.env == self.env)
            .order_by(t.c.present.desc(), t.c.id, c.c.position)
        )
        out: dict[str, list[str]] = {}
        with self.db.read() as conn:
            for row in conn.execute(query):
                name = row.name
                if warehouse is not None and row.source != warehouse:
                    name = f"{row.source}:{row.name}"
                out.setdefault(name, []).append(row.column)
        return {name: tuple(dict.fromkeys(cols)) for name, cols in out.items()}

    def owners(self, names: Iterable[str]) -> dict[str, str | None]:
        """Owner of each named table (absent names are left out)."""
        t = catalog_tables
        wanted = sorted(set(names))
        out: dict[str, str | None] = {}
        with self.db.read() as conn:
            for chunk in _chunks(wanted):
                for row in conn.execute(
                    sa.select(t.c.name, t.c.owner).where(
                        t.c.workspace == self.workspace, t.c.env == self.env, t.c.name.in_(chunk)
                    )
                ):
                    out[row.name] = row.owner or out.get(row.name)
        return out

    # -- helpers ----------------------------------------------------------------------

    def _insert_tables(self, conn: sa.Connection, rows: list[dict[str, Any]]) -> dict[str, int]:
        if not rows:
            return {}
        t = catalog_tables
        result = conn.execute(sa.insert(t).returning(t.c.id, t.c.name), rows)
        return {r.name: r.id for r in result}

    @staticmethod
    def _column_signatures(conn: sa.Connection, ids: list[int]) -> dict[int, tuple[Any, ...]]:
        c = catalog_columns
        out: dict[int, list[tuple[str, str | None]]] = {}
        for chunk in _chunks(ids):
            for row in conn.execute(
                sa.select(c.c.table_id, c.c.name, c.c.type)
                .where(c.c.table_id.in_(chunk))
                .order_by(c.c.table_id, c.c.position)
            ):
                out.setdefault(row.table_id, []).append((row.name, row.type))
        return {k: tuple(v) for k, v in out.items()}

    @staticmethod
    def _replace_columns(
        conn: sa.Connection, items: Sequence[tuple[int, Sequence[CatalogColumn]]]
    ) -> dict[int, tuple[CatalogColumn, ...]]:
        """Replace the columns of the given tables (keeping descriptions); returns them."""
        c = catalog_columns
        ids = [table_id for table_id, _ in items]
        descriptions: dict[tuple[int, str], str] = {}
        for chunk in _chunks(ids):
            for row in conn.execute(
                sa.select(c.c.table_id, c.c.name, c.c.description).where(
                    c.c.table_id.in_(chunk), c.c.description.is_not(None)
                )
            ):
                descriptions[(row.table_id, row.name)] = row.description
            conn.execute(sa.delete(c).where(c.c.table_id.in_(chunk)))
        rows: list[dict[str, Any]] = [
            {
                "table_id": table_id,
                "position": position,
                "name": col.name,
                "type": col.type,
                "nullable": col.nullable,
                "comment": col.comment,
                "description": col.description or descriptions.get((table_id, col.name)),
                "is_partition": col.is_partition,
            }
            for table_id, columns in items
            for position, col in enumerate(_unique(columns), 1)
        ]
        insert_plain(conn, c.name, rows)
        stored: dict[int, list[CatalogColumn]] = {}
        for item in rows:
            stored.setdefault(item["table_id"], []).append(
                CatalogColumn(
                    item["name"],
                    item["type"],
                    item["nullable"],
                    item["comment"],
                    item["description"],
                    item["is_partition"],
                )
            )
        return {k: tuple(v) for k, v in stored.items()}

    @staticmethod
    def _replace_partitions(
        conn: sa.Connection, items: Sequence[tuple[int, Sequence[CatalogPartition] | None]]
    ) -> None:
        p = catalog_partitions
        ids = [table_id for table_id, _ in items]
        for chunk in _chunks(ids):
            conn.execute(sa.delete(p).where(p.c.table_id.in_(chunk)))
        rows = [
            {
                "table_id": table_id,
                "spec": part.spec,
                "row_count": part.row_count,
                "size_bytes": part.size_bytes,
                "last_modified": part.last_modified,
            }
            for table_id, parts in items
            for part in parts or ()
        ]
        if rows:
            conn.execute(sa.insert(p), rows)

    @staticmethod
    def _describe_columns(
        conn: sa.Connection, items: Sequence[tuple[int, TableAnnotation]]
    ) -> None:
        c = catalog_columns
        rows = [
            {"b_table": table_id, "b_name": name.lower(), "description": text}
            for table_id, a in items
            for name, text in a.column_descriptions.items()
        ]
        if rows:
            conn.execute(
                sa.update(c).where(
                    c.c.table_id == sa.bindparam("b_table"), c.c.name == sa.bindparam("b_name")
                ),
                rows,
            )

    def _columns(
        self, conn: sa.Connection, ids: Sequence[int]
    ) -> dict[int, tuple[CatalogColumn, ...]]:
        c = catalog_columns
        out: dict[int, list[CatalogColumn]] = {}
        for chunk in _chunks(list(ids)):
            for row in conn.execute(
                sa.select(c).where(c.c.table_id.in_(chunk)).order_by(c.c.table_id, c.c.position)
            ):
                out.setdefault(row.table_id, []).append(
                    CatalogColumn(
                        row.name,
                        row.type,
                        row.nullable,
                        row.comment,
                        row.description,
                        bool(row.is_partition),
                    )
                )
        return {k: tuple(v) for k, v in out.items()}

    def _full(self, conn: sa.Connection, row: sa.Row[Any]) -> CatalogTable:
        p = catalog_partitions
        columns = self._columns(conn, [row.id]).get(row.id, ())
        parts = tuple(
            CatalogPartition(r.spec, r.row_count, r.size_bytes, r.last_modified)
            for r in conn.execute(
                sa.select(p).where(p.c.table_id == row.id).order_by(p.c.spec.desc())
            )
        )
        return _table(row, columns, parts)

    def _reindex(
        self,
        conn: sa.Connection,
        ids: Sequence[int],
        columns: dict[int, tuple[CatalogColumn, ...]] | None = None,
    ) -> None:
        """Rebuild the search documents of the given tables (``columns`` when known)."""
        t = catalog_tables
        docs: list[search.SearchDoc] = []
        unique_ids = list(dict.fromkeys(ids))
        if columns is None:
            columns = self._columns(conn, unique_ids)
        for chunk in _chunks(unique_ids):
            for row in conn.execute(sa.select(t).where(t.c.id.in_(chunk))):
                table = _table(row, columns.get(row.id, ()), ())
                docs.append(table_document(table))
        search.index(conn, self.workspace, self.env, docs)


def table_document(table: CatalogTable) -> search.SearchDoc:
    """The search document of a catalog table."""
    texts = [table.comment or "", table.description or ""]
    texts += [c.comment or "" for c in table.columns]
    texts += [c.description or "" for c in table.columns]
    tags = [*table.tags, table.layer or "", table.owner or ""]
    return search.SearchDoc(
        kind="table",
        ref=table.name,
        name=table.name,
        columns=tuple(c.name for c in table.columns),
        docs=" ".join(t for t in texts if t),
        tags=" ".join(t for t in tags if t),
    )


def _table(
    row: sa.Row[Any],
    columns: tuple[CatalogColumn, ...],
    partitions: tuple[CatalogPartition, ...],
) -> CatalogTable:
    return CatalogTable(
        id=row.id,
        workspace=row.workspace,
        env=row.env,
        source=row.source,
        name=row.name,
        kind=row.kind,
        present=bool(row.present),
        comment=row.comment,
        description=row.description,
        owner=row.owner,
        layer=row.layer,
        tags=tuple(json.loads(row.tags or "[]")),
        partition_columns=tuple(c for c in (row.partition_columns or "").split(",") if c),
        row_count=row.row_count,
        size_bytes=row.size_bytes,
        writer_node=row.writer_node,
        last_modified=row.last_modified,
        harvested_at=row.harvested_at,
        columns=columns,
        partitions=partitions,
    )


def _signature(columns: Sequence[CatalogColumn]) -> tuple[tuple[str, str | None], ...]:
    return tuple((c.name, c.type) for c in _unique(columns))


def _unique(columns: Sequence[CatalogColumn]) -> list[CatalogColumn]:
    seen: dict[str, CatalogColumn] = {}
    for col in columns:
        seen.setdefault(col.name, col)
    return list(seen.values())


def _chunks(items: Sequence[Any]) -> Iterable[list[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield list(items[start : start + _CHUNK])
