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
import re
from collections.abc import Iterable, Mapping, Sequence

from sqlglot import exp
from sqlglot.errors import OptimizeError
from sqlglot.optimizer.qualify import qualify

from lakeworks.catalog.lineage_index import analyse_workspace
from lakeworks.errors import Location, UserError
from lakeworks.schedule.node_io import SAMPLE_CYCLE_TIME
from lakeworks.spec.models import Node, NodeKind, Workspace
from lakeworks.sql.params import ParamContext, render
from lakeworks.sql.script import ParsedStatement, get_dialect, parse_script
from lakeworks.sql.tables import statement_tables

_UNRESOLVED = re.compile(r"Column '([^']+)' could not be resolved")


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
    workspace: Workspace, catalog: Mapping[str, Sequence[str]] | None = None
) -> list[UserError]:
    """Every unknown column of every SQL node, at its line and column."""
    known = known_columns(workspace, catalog)
    problems: list[UserError] = []
    for node in workspace.nodes():
        if node.kind is NodeKind.SQL:
            problems.extend(_node_problems(workspace, node, known))
    return problems


def _node_problems(
    workspace: Workspace, node: Node, known: Mapping[str, Sequence[str]]
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
        found = _statement_problem(statement, known, dialect)
        if found is not None:
            name, candidates = found
            out.append(_problem(node, statement, lines, name, candidates))
    return out


def _statement_problem(
    statement: ParsedStatement, known: Mapping[str, Sequence[str]], dialect: object
) -> tuple[str, list[str]] | None:
    """(unresolved column, the columns of the tables it reads) or None."""
    expression = statement.expression
    query = expression.expression if isinstance(expression, exp.Insert) else expression
    if not isinstance(query, exp.Query):
        return None
    reads = statement_tables(query).reads
    ctes = {c.alias_or_name.lower() for c in query.find_all(exp.CTE)}
    tables = reads - ctes
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
    )
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
