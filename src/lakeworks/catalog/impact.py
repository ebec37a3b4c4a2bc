"""Impact analysis: everything downstream (or upstream) of a table or a column.

For a table, the table-level graph is walked: tables, the nodes that write them, the
quality rules and data APIs attached to them, and everyone to notify. For a column,
the column graph is walked level by level (one indexed query per level); a column that
decides which rows a table gets (a filter or join key) impacts that whole table and,
from there, everything downstream of it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

import sqlalchemy as sa

from lakeworks.catalog.lineage_store import FILTER, REFERENCE_KIND, Dependent
from lakeworks.catalog.tables import (
    catalog_tables,
    lineage_column_edges,
    lineage_dependents,
    lineage_nodes,
    lineage_table_edges,
)
from lakeworks.errors import NotFound
from lakeworks.store.database import Database

_PAIRS = 400
"""(table, column) pairs per query: keeps bound parameters well under SQLite's limit."""


class Direction(StrEnum):
    DOWNSTREAM = "downstream"
    UPSTREAM = "upstream"


@dataclass(frozen=True)
class ImpactedTable:
    name: str
    depth: int
    owner: str | None = None
    rows_only: bool = False
    """Reached only through a filter or join column: its rows change, not a column."""


@dataclass(frozen=True)
class ImpactedColumn:
    table: str
    column: str
    depth: int
    kind: str
    """``direct`` when every hop copies the value, else ``transform``."""


@dataclass(frozen=True)
class ImpactedNode:
    key: str
    depth: int
    owner: str | None = None


@dataclass(frozen=True)
class LineageEdge:
    source: str
    target: str
    node_key: str
    kind: str
    """``table`` for table edges, else the column edge's kind."""


@dataclass(frozen=True)
class ImpactReport:
    table: str
    column: str | None
    direction: Direction
    depth: int | None
    tables: tuple[ImpactedTable, ...]
    columns: tuple[ImpactedColumn, ...]
    nodes: tuple[ImpactedNode, ...]
    dependents: tuple[Dependent, ...]
    owners: tuple[str, ...]
    edges: tuple[LineageEdge, ...]

    @property
    def root(self) -> str:
        return f"{self.table}.{self.column}" if self.column else self.table


def split_target(db: Database, workspace: str, env: str, text: str) -> tuple[str, str | None]:
    """``TABLE`` or ``TABLE.COLUMN`` → (table, column); a known table name wins.

    Raises ``NotFound`` when neither the whole text nor its prefix is a table the
    catalog or the lineage graph knows.
    """
    name = text.strip().lower()
    candidates: list[tuple[str, str | None]] = [(name, None)]
    if "." in name:
        prefix, _, last = name.rpartition(".")
        candidates.append((prefix, last))
    with db.read() as conn:
        for table, column in candidates:
            if _known(conn, workspace, env, table):
                return table, column
    raise NotFound(
        f"no table '{text}' in the Data Map of {workspace} ({env})",
        hint="build the map first: lakeworks map build",
    )


def _known(conn: sa.Connection, workspace: str, env: str, table: str) -> bool:
    t, e = catalog_tables, lineage_table_edges
    found = conn.execute(
        sa.select(t.c.id)
        .where(t.c.workspace == workspace, t.c.env == env, t.c.name == table)
        .limit(1)
    ).first()
    if found:
        return True
    edge = conn.execute(
        sa.select(e.c.id)
        .where(
            e.c.workspace == workspace,
            e.c.env == env,
            sa.or_(e.c.source_table == table, e.c.target_table == table),
        )
        .limit(1)
    ).first()
    return edge is not None


def impact(
    db: Database,
    workspace: str,
    env: str,
    table: str,
    column: str | None = None,
    *,
    depth: int | None = None,
    direction: Direction = Direction.DOWNSTREAM,
) -> ImpactReport:
    """Everything ``depth`` hops (any depth by default) from a table or column."""
    table = table.lower()
    column = column.lower() if column else None
    with db.read() as conn:
        if column is None:
            reached, nodes, edges = _walk_tables(conn, workspace, env, {table: 0}, depth, direction)
            columns: dict[tuple[str, str], tuple[int, str]] = {}
            rows_only: set[str] = set()
        else:
            reached, nodes, edges, columns, rows_only = _walk_columns(
                conn, workspace, env, table, column, depth, direction
            )
        # The root itself is what changes: its owner and rules are not "impacted".
        names = sorted((n for n in reached if n != table), key=lambda n: (reached[n], n))
        owners = _table_owners(conn, workspace, env, names)
        node_owners = _node_owners(conn, workspace, env, nodes)
        dependents = _dependents(conn, workspace, env, names)
        dependents[:0] = [
            d for d in _dependents(conn, workspace, env, [table]) if d.kind == REFERENCE_KIND
        ]
        if direction is Direction.DOWNSTREAM:
            # Data APIs read the root itself: they return (or filter on) what changes.
            dependents[:0] = [
                d
                for d in _dependents(conn, workspace, env, [table])
                if d.kind == "data_api" and (column is None or column in d.columns)
            ]
    tables = tuple(ImpactedTable(n, reached[n], owners.get(n), n in rows_only) for n in names)
    impacted_nodes = tuple(
        ImpactedNode(k, nodes[k], node_owners.get(k))
        for k in sorted(nodes, key=lambda k: (nodes[k], k))
    )
    notify = {o for o in owners.values() if o}
    notify |= {o for o in node_owners.values() if o}
    notify |= {d.owner for d in dependents if d.owner}
    return ImpactReport(
        table=table,
        column=column,
        direction=direction,
        depth=depth,
        tables=tables,
        columns=tuple(
            ImpactedColumn(t, c, d, k)
            for (t, c), (d, k) in sorted(columns.items(), key=lambda kv: (kv[1][0], kv[0]))
        ),
        nodes=impacted_nodes,
        dependents=tuple(dependents),
        owners=tuple(sorted(notify)),
        edges=tuple(edges),
    )


def _walk_tables(
    conn: sa.Connection,
    workspace: str,
    env: str,
    start: dict[str, int],
    depth: int | None,
    direction: Direction,
) -> tuple[dict[str, int], dict[str, int], list[LineageEdge]]:
    """Breadth-first over table edges from ``start`` (table → depth it was reached at)."""
    e = lineage_table_edges
    rows = conn.execute(
        sa.select(e.c.source_table, e.c.target_table, e.c.node_key).where(
            e.c.workspace == workspace, e.c.env == env
        )
    ).all()
    adjacency: dict[str, list[tuple[str, str]]] = {}
    for source, target, node in rows:
        if source == target:
            continue
        if direction is Direction.DOWNSTREAM:
            adjacency.setdefault(source, []).append((target, node))
        else:
            adjacency.setdefault(target, []).append((source, node))
    reached = dict(start)
    nodes: dict[str, int] = {}
    edges: list[LineageEdge] = []
    frontier = sorted(start, key=lambda t: start[t])
    while frontier:
        following: list[str] = []
        for table in frontier:
            level = reached[table] + 1
            if depth is not None and level > depth:
                continue
            for other, node in adjacency.get(table, ()):
                nodes.setdefault(node, level)
                edges.append(_edge(table, other, node, "table", direction))
                if other not in reached:
                    reached[other] = level
                    following.append(other)
        frontier = following
    return reached, nodes, edges


def _walk_columns(
    conn: sa.Connection,
    workspace: str,
    env: str,
    table: str,
    column: str,
    depth: int | None,
    direction: Direction,
) -> tuple[
    dict[str, int],
    dict[str, int],
    list[LineageEdge],
    dict[tuple[str, str], tuple[int, str]],
    set[str],
]:
    down = direction is Direction.DOWNSTREAM
    columns: dict[tuple[str, str], tuple[int, str]] = {(table, column): (0, "direct")}
    reached: dict[str, int] = {table: 0}
    nodes: dict[str, int] = {}
    edges: list[LineageEdge] = []
    by_rows: dict[str, int] = {}
    frontier = [(table, column)]
    level = 0
    while frontier and (depth is None or level < depth):
        level += 1
        following: list[tuple[str, str]] = []
        for start in range(0, len(frontier), _PAIRS):
            chunk = frontier[start : start + _PAIRS]
            for n_table, n_col, f_table, f_col, kind, node in _column_step(
                conn, workspace, env, chunk, down
            ):
                nodes.setdefault(node, level)
                if kind == FILTER:
                    by_rows.setdefault(f_table, level)
                    edges.append(_edge(f"{n_table}.{n_col}", f_table, node, kind, direction))
                    continue
                edges.append(
                    _edge(f"{n_table}.{n_col}", f"{f_table}.{f_col}", node, kind, direction)
                )
                previous_kind = columns[(n_table, n_col)][1]
                path_kind = (
                    "direct" if kind == "direct" and previous_kind == "direct" else "transform"
                )
                key = (f_table, f_col)
                if key not in columns:
                    columns[key] = (level, path_kind)
                    reached.setdefault(f_table, level)
                    following.append(key)
                elif path_kind == "direct" and columns[key][0] == level:
                    columns[key] = (level, "direct")
        frontier = following
    rows_only: set[str] = set()
    if by_rows:
        start_tables = {t: d for t, d in by_rows.items()}
        more, more_nodes, more_edges = _walk_tables(
            conn, workspace, env, start_tables, depth, direction
        )
        for name, d in more.items():
            if name not in reached:
                reached[name] = d
                rows_only.add(name)
        for node_key, d in more_nodes.items():
            nodes.setdefault(node_key, d)
        edges.extend(more_edges)
    return reached, nodes, edges, columns, rows_only


def _column_step(
    conn: sa.Connection, workspace: str, env: str, chunk: list[tuple[str, str]], down: bool
) -> list[tuple[str, str, str, str, str, str]]:
    """Column edges leaving (``down``) or entering the given (table, column) pairs.

    Written as a join with a ``VALUES`` list so that both databases walk the
    (table, column) index once per pair instead of scanning the workspace's edges.
    """
    near, far = ("source", "target") if down else ("target", "source")
    pairs = ", ".join(f"(:t{i}, :c{i})" for i in range(len(chunk)))
    sql = (
        f"WITH f(t, c) AS (VALUES {pairs}) "
        f"SELECT e.{near}_table, e.{near}_column, e.{far}_table, e.{far}_column, "
        "e.kind, e.node_key "
        f"FROM f JOIN {lineage_column_edges.name} e ON e.workspace = :ws AND e.env = :env "
        f"AND e.{near}_table = f.t AND e.{near}_column = f.c"
    )
    if not down:
        sql += f" AND e.kind <> '{FILTER}'"
    params: dict[str, str] = {"ws": workspace, "env": env}
    for i, (table, column) in enumerate(chunk):
        params[f"t{i}"] = table
        params[f"c{i}"] = column
    return [tuple(row) for row in conn.execute(sa.text(sql), params)]


def _edge(near: str, far: str, node: str, kind: str, direction: Direction) -> LineageEdge:
    if direction is Direction.DOWNSTREAM:
        return LineageEdge(near, far, node, kind)
    return LineageEdge(far, near, node, kind)


def _table_owners(
    conn: sa.Connection, workspace: str, env: str, names: Sequence[str]
) -> dict[str, str | None]:
    t = catalog_tables
    out: dict[str, str | None] = {}
    for start in range(0, len(names), 900):
        for row in conn.execute(
            sa.select(t.c.name, t.c.owner).where(
                t.c.workspace == workspace, t.c.env == env, t.c.name.in_(names[start : start + 900])
            )
        ):
            out[row.name] = row.owner or out.get(row.name)
    return out


def _node_owners(
    conn: sa.Connection, workspace: str, env: str, keys: Iterable[str]
) -> dict[str, str | None]:
    n = lineage_nodes
    wanted = sorted(keys)
    out: dict[str, str | None] = {}
    for start in range(0, len(wanted), 900):
        for row in conn.execute(
            sa.select(n.c.node_key, n.c.owner).where(
                n.c.workspace == workspace,
                n.c.env == env,
                n.c.node_key.in_(wanted[start : start + 900]),
            )
        ):
            out[row.node_key] = row.owner
    return out


def _dependents(
    conn: sa.Connection, workspace: str, env: str, names: Sequence[str]
) -> list[Dependent]:
    d = lineage_dependents
    out: list[Dependent] = []
    for start in range(0, len(names), 900):
        for row in conn.execute(
            sa.select(d)
            .where(
                d.c.workspace == workspace,
                d.c.env == env,
                d.c.table_name.in_(names[start : start + 900]),
            )
            .order_by(d.c.table_name, d.c.kind, d.c.name)
        ):
            columns = tuple(c for c in row.columns.split(",") if c)
            out.append(Dependent(row.table_name, row.kind, row.name, row.owner, columns))
    return out
