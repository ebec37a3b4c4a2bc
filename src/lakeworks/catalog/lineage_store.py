"""Storing workspace lineage: node summaries, table and column edges, unresolved
columns, and the things attached to tables (quality rules, data APIs).

Lineage is replaced per node: analysing a node again deletes what its previous version
created and writes the new edges, all in one transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from lakeworks.catalog import search
from lakeworks.catalog.bulk import insert_plain
from lakeworks.catalog.lineage_index import NodeLineage, code_digest
from lakeworks.catalog.tables import (
    lineage_column_edges,
    lineage_dependents,
    lineage_nodes,
    lineage_table_edges,
    lineage_unresolved,
)
from lakeworks.spec.models import Node, Workspace
from lakeworks.store.database import Database, serialize_writers
from lakeworks.store.schema import node_versions

FILTER = "filter"
"""Kind of a column edge whose source decides which rows the target table gets."""

_BATCH = 5000


REFERENCE_KIND = "quality_reference"
"""The dependent kind of a referential-integrity rule on the table it checks against: a
change of that table itself reaches the rule."""


@dataclass(frozen=True)
class Dependent:
    """Something attached to a table that must hear about changes upstream."""

    table: str
    kind: str
    """``quality_rule`` or ``data_api``."""
    name: str
    owner: str | None = None
    columns: tuple[str, ...] = ()


def stored_digests(db: Database, workspace: str, env: str, keys: list[str]) -> dict[str, str]:
    """The code digest each node's stored lineage was analysed from."""
    n = lineage_nodes
    found: dict[str, str] = {}
    with db.read() as conn:
        for start in range(0, len(keys), 500):
            rows = conn.execute(
                sa.select(n.c.node_key, n.c.code_hash).where(
                    n.c.workspace == workspace,
                    n.c.env == env,
                    n.c.node_key.in_(keys[start : start + 500]),
                )
            )
            found.update({r.node_key: str(r.code_hash) for r in rows})
    return found


def changed_nodes(db: Database, workspace: str, env: str, nodes: Sequence[Node]) -> list[Node]:
    """The ``nodes`` whose code differs from the code their stored lineage was analysed
    from (or that have none stored)."""
    stored = stored_digests(db, workspace, env, [n.key for n in nodes])
    return [n for n in nodes if stored.get(n.key) != code_digest(n)]


def stored_versions(
    db: Database, workspace: str, env: str, keys: Sequence[str] | None = None
) -> dict[tuple[str, str], int]:
    """(node key, code digest) → version number of every recorded node version (of the
    nodes in ``keys`` only, when given: a batch of a run needs no others)."""
    v = node_versions
    query = sa.select(v.c.node_key, v.c.code_hash, v.c.version).where(
        v.c.workspace == workspace, v.c.env == env
    )
    with db.read() as conn:
        if keys is None:
            rows = list(conn.execute(query))
        else:
            wanted = sorted(set(keys))
            rows = [
                r
                for start in range(0, len(wanted), 500)
                for r in conn.execute(query.where(v.c.node_key.in_(wanted[start : start + 500])))
            ]
        return {(r.node_key, r.code_hash): r.version for r in rows}


def save_lineage(
    db: Database,
    workspace: Workspace | str,
    env: str,
    items: Sequence[NodeLineage],
    *,
    now: datetime,
    replace_all: bool = False,
) -> None:
    """Replace the stored lineage of the given nodes (of every node with ``replace_all``)."""
    ws_name = workspace if isinstance(workspace, str) else workspace.name
    nodes = {} if isinstance(workspace, str) else _nodes_named(workspace, items)
    scope = {"workspace": ws_name, "env": env}
    keys = [i.node_key for i in items]
    with db.write() as conn:
        # two workers replacing the same nodes' lineage at once would both delete, then
        # both insert: one would hit the unique constraint
        serialize_writers(conn, f"lineage/{ws_name}/{env}")
        for table in (
            lineage_nodes,
            lineage_table_edges,
            lineage_column_edges,
            lineage_unresolved,
        ):
            where = sa.and_(table.c.workspace == ws_name, table.c.env == env)
            if replace_all:
                conn.execute(sa.delete(table).where(where))
                continue
            for start in range(0, len(keys), 500):
                conn.execute(
                    sa.delete(table).where(where, table.c.node_key.in_(keys[start : start + 500]))
                )
        if replace_all:
            search.remove_kind(conn, ws_name, env, "node")
        _insert(conn, lineage_nodes, [_node_row(scope, i, now) for i in items])
        insert_plain(
            conn,
            lineage_table_edges.name,
            [
                {
                    **scope,
                    "source_table": s,
                    "target_table": t,
                    "node_key": i.node_key,
                    "node_version": i.node_version,
                }
                for i in items
                for s, t in sorted(i.table_edges)
            ],
        )
        insert_plain(conn, lineage_column_edges.name, list(_column_rows(scope, items)))
        insert_plain(
            conn,
            lineage_unresolved.name,
            [
                {
                    **scope,
                    "node_key": i.node_key,
                    "target_table": ref.table,
                    "target_column": ref.column,
                }
                for i in items
                for ref in i.unresolved
            ],
        )
        docs = [node_document(nodes[i.node_key]) for i in items if i.node_key in nodes]
        search.index(conn, ws_name, env, docs)


def _nodes_named(workspace: Workspace, items: Sequence[NodeLineage]) -> dict[str, Node]:
    """The workspace's nodes of ``items`` by key (found by key, not by listing them all:
    a batch of a run names a few of a workspace's thousands of nodes)."""
    found = ((item.node_key, workspace.find_node(item.node_key)) for item in items)
    return {key: node for key, node in found if node is not None and node.key == key}


def save_dependents(
    db: Database,
    workspace: str,
    env: str,
    dependents: Iterable[Dependent],
    *,
    kind: str | tuple[str, ...],
) -> None:
    """Replace every stored dependent of ``kind`` (one or several) with ``dependents``."""
    kinds = (kind,) if isinstance(kind, str) else kind
    d = lineage_dependents
    rows = [
        {
            "workspace": workspace,
            "env": env,
            "table_name": x.table.lower(),
            "kind": x.kind,
            "name": x.name,
            "owner": x.owner,
            "columns": ",".join(x.columns),
        }
        for x in dependents
    ]
    with db.write() as conn:
        conn.execute(
            sa.delete(d).where(d.c.workspace == workspace, d.c.env == env, d.c.kind.in_(kinds))
        )
        _insert(conn, d, rows)


def quality_dependents(workspace: Workspace) -> tuple[list[Dependent], list[str]]:
    """The workspace's quality rules as dependents of their tables, and any problems."""
    from lakeworks.errors import UserError, ValidationFailed
    from lakeworks.quality.loader import find_rule_files, load_rules

    try:
        rules = load_rules(
            find_rule_files(workspace.root), default_dialect=workspace.config.sql_dialect
        )
    except ValidationFailed as exc:
        return [], [e.render() for e in exc.errors]
    except UserError as exc:
        return [], [exc.render()]
    out: list[Dependent] = []
    for r in rules.rules:
        if not r.enabled:
            continue
        out.append(
            Dependent(r.table, "quality_rule", r.name, r.owner, tuple(c.lower() for c in r.columns))
        )
        if r.ref_table and r.ref_table != r.table:
            # a referential-integrity rule reads the table it checks against, too
            columns = tuple(c.lower() for c in r.ref_columns)
            out.append(Dependent(r.ref_table, REFERENCE_KIND, r.name, r.owner, columns))
    return out, []


def node_document(node: Node) -> search.SearchDoc:
    """The search document of a node: its key, description, tags and code."""
    return search.SearchDoc(
        kind="node",
        ref=node.key,
        name=f"{node.key} {node.name}",
        docs=node.header.description or "",
        tags=" ".join([*node.header.tags, node.settings.owner or "", node.kind.value]),
        code=node.code,
    )


def _node_row(scope: dict[str, str], item: NodeLineage, now: datetime) -> dict[str, Any]:
    return {
        **scope,
        "node_key": item.node_key,
        "node_version": item.node_version,
        "code_hash": item.code_hash,
        "kind": item.kind,
        "owner": item.owner,
        "complete": item.complete,
        "problems": json.dumps(list(item.problems)),
        "analysed_at": now,
    }


def _column_rows(scope: dict[str, str], items: Sequence[NodeLineage]) -> Iterable[dict[str, Any]]:
    for item in items:
        common = {**scope, "node_key": item.node_key, "node_version": item.node_version}
        for edge in item.edges:
            yield {
                **common,
                "source_table": edge.source.table,
                "source_column": edge.source.column,
                "target_table": edge.target.table,
                "target_column": edge.target.column,
                "kind": edge.kind.value,
            }
        for ref, target in sorted(item.filters):
            yield {
                **common,
                "source_table": ref.table,
                "source_column": ref.column,
                "target_table": target,
                "target_column": "",
                "kind": FILTER,
            }


def _insert(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), _BATCH):
        conn.execute(sa.insert(table), rows[start : start + _BATCH])
