"""Unknown columns in SQL nodes, found before anything runs.

The columns of each table come from the catalog (what ``lakeworks map build`` harvested)
and from the outputs of the nodes that write them (column lineage computes those, so
a table that does not exist yet is known too). A statement whose every table has known
columns is qualified against them (sqlglot's ``qualify``); a column it cannot resolve
is a problem at its own file line and column, with the closest known names as a hint.
Statements reading a table whose columns are unknown are not checked.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlglot import exp
from sqlglot.errors import OptimizeError
from sqlglot.optimizer.qualify import qualify

from lakeworks.catalog.lineage_index import NodeLineage, analyse_workspace, code_digest
from lakeworks.errors import Location, UserError
from lakeworks.schedule.graph import DependencyGraph
from lakeworks.schedule.node_io import SAMPLE_CYCLE_TIME
from lakeworks.spec.models import Node, NodeKind, Workspace
from lakeworks.spec.suggest import did_you_mean
from lakeworks.sql.params import ParamContext, render
from lakeworks.sql.script import ParsedStatement, get_dialect, parse_script
from lakeworks.sql.tables import statement_tables
from lakeworks.store.database import Database

_UNRESOLVED = re.compile(r"Column '([^']+)' could not be resolved")


CACHE_FILE = "column_check.json"
"""Per-node results kept under the workspace's state folder between validations."""
CACHE_VERSION = 1


def known_columns(
    workspace: Workspace, catalog: Mapping[str, Sequence[str]] | None = None
) -> dict[str, tuple[str, ...]]:
    """Table -> column names, from the catalog and from the nodes that write them."""
    known = {k.lower(): tuple(v) for k, v in (catalog or {}).items()}
    from lakeworks.catalog.service import default_workers

    for item in analyse_workspace(workspace, known, workers=default_workers()):
        for table, columns in item.learned.items():
            if columns and "*" not in columns:
                known[table] = tuple(columns)
    return known


def column_problems(
    workspace: Workspace,
    catalog: Mapping[str, Sequence[str]] | None = None,
    *,
    graph: DependencyGraph | None = None,
    cache_dir: Path | None = None,
) -> list[UserError]:
    """Every unknown column of every SQL node, at its line and column.

    With the workspace's ``graph`` and a ``cache_dir``, each node's learned columns and
    problems are kept under the digest of its code, header, parameters and the known
    columns of the tables it reads: a validation after a change analyses only the
    nodes whose digest changed (and those downstream whose inputs changed)."""
    if graph is None and catalog:
        from lakeworks.schedule.graph import build_graph

        try:
            graph = build_graph(workspace)
        except UserError:
            graph = None  # validate reports the graph's own problems
    if graph is None or cache_dir is None:
        known = known_columns(workspace, catalog)
        tables = _existing(catalog, known, graph)
        problems: list[UserError] = []
        for node in workspace.nodes():
            if node.kind is NodeKind.SQL:
                problems.extend(_node_problems(workspace, node, known, tables))
        return problems
    return _ColumnCache(workspace, graph, cache_dir).problems(catalog)


def _existing(
    catalog: Mapping[str, Sequence[str]] | None,
    known: Mapping[str, Sequence[str]],
    graph: DependencyGraph | None,
) -> set[str] | None:
    """The tables a SQL node may read: catalogued, or written by a node. None (no check
    of table names) while the catalog is empty: nothing says which tables exist."""
    if not catalog:
        return None
    names = {k.lower() for k in catalog} | set(known)
    if graph is not None:
        names |= set(graph.writers)
    return names


def _learned(items: Iterable[NodeLineage]) -> dict[str, tuple[str, ...]]:
    learned: dict[str, tuple[str, ...]] = {}
    for item in items:
        for table, columns in item.learned.items():
            if columns and "*" not in columns:
                learned[table] = tuple(columns)
    return learned


class _ColumnCache:
    """Learned columns and column problems of each node, reused while its digest holds."""

    def __init__(self, workspace: Workspace, graph: DependencyGraph, folder: Path) -> None:
        self.workspace = workspace
        self.graph = graph
        self.path = folder / CACHE_FILE
        self.entries: dict[str, dict[str, Any]] = {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if data.get("version") == CACHE_VERSION and data.get("workspace") == workspace.name:
                self.entries = dict(data.get("nodes", {}))
        except (OSError, ValueError, AttributeError):
            self.entries = {}

    def _digest(
        self, node: Node, known: Mapping[str, Sequence[str]], tables: set[str] | None
    ) -> str:
        reads = sorted(self.graph.io[node.key].reads) if node.key in self.graph.io else []
        inputs: dict[str, Any] = {t: list(known[t]) for t in reads if t in known}
        if tables is not None:
            inputs["(missing)"] = [t for t in reads if t not in tables]
        digest = hashlib.sha256(code_digest(node).encode())
        digest.update(str(node.path).encode())
        digest.update(json.dumps(self.workspace.parameters_for(node), sort_keys=True).encode())
        digest.update(str(self.workspace.dialect_for(node)).encode())
        digest.update(json.dumps(inputs, sort_keys=True).encode())
        return digest.hexdigest()

    def problems(self, catalog: Mapping[str, Sequence[str]] | None) -> list[UserError]:
        from lakeworks.catalog.service import default_workers

        known: dict[str, tuple[str, ...]] = {
            k.lower(): tuple(v) for k, v in (catalog or {}).items()
        }
        nodes = {n.key: n for n in self.workspace.nodes()}
        order = [k for k in self.graph.topological_order() if k in nodes]
        # table existence needs no analysis: the catalog and the nodes' writes
        tables = _existing(catalog, {}, self.graph)
        fresh = {k for k in order if self.entries.get(k, {}).get("digest")}
        digests: dict[str, str] = {}
        if len(fresh) * 2 < len(order):
            # mostly new: one analysis of the whole workspace (in parallel when big)
            items = analyse_workspace(self.workspace, known, workers=default_workers())
            for item in items:
                learned = _learned([item])
                known.update(learned)
                self.entries[item.node_key] = {"learned": learned}
            for key in order:
                digests[key] = self._digest(nodes[key], known, tables)
        else:
            for key in order:
                node = nodes[key]
                digest = self._digest(node, known, tables)
                digests[key] = digest
                entry = self.entries.get(key)
                if entry is None or entry.get("digest") != digest:
                    items = analyse_workspace(self.workspace, known, only=[key])
                    entry = {"learned": _learned(items)}
                    self.entries[key] = entry
                known.update({t: tuple(c) for t, c in entry["learned"].items()})
        problems: list[UserError] = []
        for key in order:
            node = nodes[key]
            entry = self.entries[key]
            cached = entry.get("problems") if entry.get("digest") == digests[key] else None
            if cached is None:
                found = (
                    _node_problems(self.workspace, node, known, tables)
                    if node.kind is NodeKind.SQL
                    else []
                )
                cached = [_dump(p) for p in found]
            self.entries[key] = {**entry, "digest": digests[key], "problems": cached}
            problems.extend(_load(p) for p in cached)
        self._save(set(order))
        return problems

    def _save(self, keys: set[str]) -> None:
        data = {
            "version": CACHE_VERSION,
            "workspace": self.workspace.name,
            "nodes": {k: v for k, v in self.entries.items() if k in keys},
        }
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
            temporary.write_text(json.dumps(data), encoding="utf-8")
            os.replace(temporary, self.path)
        except OSError:
            pass  # a read-only folder: validate works, only slower next time


def _dump(problem: UserError) -> dict[str, Any]:
    where = problem.location
    return {
        "message": problem.message,
        "hint": problem.hint,
        "file": None if where.file is None else str(where.file),
        "line": where.line,
        "column": where.column,
    }


def _load(data: Mapping[str, Any]) -> UserError:
    file = data.get("file")
    return UserError(
        str(data["message"]),
        location=Location(
            None if file is None else Path(file), data.get("line"), data.get("column")
        ),
        hint=data.get("hint"),
    )


def _node_problems(
    workspace: Workspace,
    node: Node,
    known: Mapping[str, Sequence[str]],
    tables: set[str] | None = None,
) -> list[UserError]:
    ctx = ParamContext(cycle_time=SAMPLE_CYCLE_TIME, parameters=workspace.parameters_for(node))
    first = node.span.first_code_line
    try:
        text = render(node.code, ctx, path=node.path, first_line=first)
        statements = parse_script(
            text, workspace.dialect_for(node), path=node.path, first_line=first
        )
    except UserError:
        return []  # validate reports these through the dependency graph
    dialect = get_dialect(workspace.dialect_for(node))
    lines = node.path.read_text(encoding="utf-8").splitlines() if node.path.is_file() else []
    out: list[UserError] = []
    for statement in statements:
        missing = _missing_tables(statement, tables)
        for table in missing:
            out.append(_table_problem(node, statement, lines, table, tables or set()))
        if missing:
            continue
        found = _statement_problem(statement, known, dialect)
        if found is not None:
            name, candidates = found
            out.append(_problem(node, statement, lines, name, candidates))
    return out


def _reads(statement: ParsedStatement) -> set[str] | None:
    """The tables a statement's query reads (its CTEs left out); None if not a query."""
    expression = statement.expression
    query = expression.expression if isinstance(expression, exp.Insert) else expression
    if not isinstance(query, exp.Query):
        return None
    ctes = {c.alias_or_name.lower() for c in query.find_all(exp.CTE)}
    return set(statement_tables(query).reads) - ctes


def _missing_tables(statement: ParsedStatement, tables: set[str] | None) -> list[str]:
    if tables is None:
        return []
    reads = _reads(statement) or set()
    return sorted(t for t in reads if t not in tables and ":" not in t)


def _table_problem(
    node: Node, statement: ParsedStatement, lines: list[str], table: str, tables: set[str]
) -> UserError:
    line, column = _find(lines, statement.line, table.rsplit(".", 1)[-1])
    return UserError(
        f"unknown table '{table}': no node writes it and the catalog does not know it",
        location=Location(node.path, line, column),
        hint=did_you_mean(table, tables)
        or "fix the name, add the node that writes it, or run 'lakeworks map build' "
        "if it was created since the catalog was built",
    )


def _statement_problem(
    statement: ParsedStatement, known: Mapping[str, Sequence[str]], dialect: object
) -> tuple[str, list[str]] | None:
    """(unresolved column, the columns of the tables it reads) or None."""
    expression = statement.expression
    query = expression.expression if isinstance(expression, exp.Insert) else expression
    if not isinstance(query, exp.Query):
        return None
    tables = _reads(statement) or set()
    if not tables or any(t not in known for t in tables):
        return None
    schema = {t: {c: "VARCHAR" for c in known[t]} for t in tables}
    try:
        qualify(
            query.copy(),
            schema=_nested(schema),
            dialect=dialect,  # type: ignore[arg-type]
            validate_qualify_columns=True,
            identify=False,
        )
    except OptimizeError as exc:
        match = _UNRESOLVED.search(str(exc))
        if match is None:
            return None
        return match.group(1), sorted({c for t in tables for c in known[t]})
    except Exception:
        return None
    return None


def _nested(schema: dict[str, dict[str, str]]) -> dict[str, object]:
    """``{"db.t": cols}`` as sqlglot's nested mapping ``{"db": {"t": cols}}``."""
    out: dict[str, object] = {}
    for name, columns in schema.items():
        if "." in name:
            db, _, table = name.rpartition(".")
            inner = out.setdefault(db, {})
            assert isinstance(inner, dict)
            inner[table] = columns
        else:
            out[name] = columns
    if any("." in n for n in schema) and any("." not in n for n in schema):
        return dict(schema)  # mixed depths: let qualify report what it cannot map
    return out


def _problem(
    node: Node,
    statement: ParsedStatement,
    lines: list[str],
    name: str,
    candidates: Iterable[str],
) -> UserError:
    line, column = _find(lines, statement.line, name)
    close = difflib.get_close_matches(name.lower(), list(candidates), n=3, cutoff=0.6)
    hint = (
        f"did you mean {' or '.join(repr(c) for c in close)}?"
        if close
        else "known columns: " + ", ".join(candidates)
    )  # columns compare whole (a dotted name is not a qualified column)
    return UserError(
        f"unknown column '{name}'",
        location=Location(node.path, line, column),
        hint=hint,
    )


def _find(lines: list[str], start: int, name: str) -> tuple[int, int | None]:
    """The file line and column of the first ``name`` token from line ``start`` on."""
    token = re.compile(rf"(?<![\w.`]){re.escape(name)}(?![\w`])", re.IGNORECASE)
    for number in range(max(start, 1), len(lines) + 1):
        text = lines[number - 1]
        code = text.split("--", 1)[0]
        match = token.search(code)
        if match is not None:
            return number, match.start() + 1
    return start, None


CatalogLookup = Callable[[Workspace], Mapping[str, Sequence[str]]]
"""The catalogued columns of a loaded workspace's tables (table -> column names)."""


def catalog_lookup(db: Database, env: str) -> CatalogLookup:
    """What the Data Map of ``env`` knows, for checking a workspace against it."""

    def lookup(workspace: Workspace) -> Mapping[str, Sequence[str]]:
        from lakeworks.catalog.repository import CatalogRepository

        environment = workspace.config.environments.get(env)
        warehouse = environment.engine if environment is not None else None
        return CatalogRepository(db, workspace.name, env).schemas(warehouse=warehouse)

    return lookup
