"""Lineage of a whole workspace: every node's table and column edges, in one pass.

SQL nodes are rendered for a sample date, parsed once, ordered by the tables they
write and read, then analysed upstream first, so that ``SELECT *`` over a table another
node creates is expanded with that node's output columns even before any run. Sync
nodes give column edges from their column mapping; other kinds (Python, shell) give
table edges from their declared inputs and outputs.

Tables outside the warehouse are named ``<data source>:<table>``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lakeworks.errors import LakeworksError, UserError
from lakeworks.schedule.node_io import SAMPLE_CYCLE_TIME, node_io
from lakeworks.spec.models import Node, NodeKind, Workspace
from lakeworks.sql.lineage import (
    ColumnEdge,
    ColumnRef,
    EdgeKind,
    ParsedStatement,
    ScriptLineage,
    TableDecl,
    parse_statements,
    quick_tables,
    statements_lineage,
)
from lakeworks.sql.params import ParamContext, render


@dataclass(frozen=True)
class NodeLineage:
    """The lineage one node version creates."""

    node_key: str
    kind: str
    code_hash: str
    node_version: int | None = None
    owner: str | None = None
    reads: frozenset[str] = frozenset()
    writes: frozenset[str] = frozenset()
    table_edges: frozenset[tuple[str, str]] = frozenset()
    edges: tuple[ColumnEdge, ...] = ()
    filters: frozenset[tuple[ColumnRef, str]] = frozenset()
    """(source column, target table): the column decides which rows the table gets."""
    unresolved: tuple[ColumnRef, ...] = ()
    problems: tuple[str, ...] = ()
    declared: tuple[TableDecl, ...] = ()
    column_level: bool = True
    """False for node kinds whose code Lakeworks cannot read (Python, shell)."""
    learned: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return self.column_level and not self.unresolved and not self.problems


class ColumnsOverlay(Mapping[str, Sequence[str]]):
    """Columns learned (from the workspace's own nodes, or just harvested) over a base
    schema that may be lazy and database-backed: only the tables a script names are
    ever looked up."""

    def __init__(
        self,
        base: Mapping[str, Sequence[str]],
        learned: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self.base = base
        self.learned: dict[str, Sequence[str]] = dict(learned or {})

    def update(self, more: Mapping[str, Sequence[str]]) -> None:
        self.learned.update(more)

    def __getitem__(self, key: str) -> Sequence[str]:
        if key in self.learned:
            return self.learned[key]
        return self.base[key]

    def __iter__(self) -> Iterator[str]:
        yield from self.learned
        yield from (k for k in self.base if k not in self.learned)

    def __len__(self) -> int:
        return len(self.learned) + sum(1 for k in self.base if k not in self.learned)


ColumnMapper = Callable[[Workspace, Node, Mapping[str, Sequence[str]]], NodeLineage]
"""Builds the lineage of a node kind that is not SQL (e.g. sync)."""

_mappers: dict[NodeKind, ColumnMapper] = {}


def register_column_mapper(kind: NodeKind, mapper: ColumnMapper) -> None:
    """Teach lineage how a node kind's column edges are found."""
    _mappers[kind] = mapper


def code_digest(node: Node) -> str:
    """The same digest the store's node versions use for this node's code and header."""
    digest = hashlib.sha256()
    digest.update(node.code.encode())
    digest.update(b"\0")
    digest.update(node.header.model_dump_json().encode())
    return digest.hexdigest()


def analyse_workspace(
    workspace: Workspace,
    schema: Mapping[str, Sequence[str]] | None = None,
    *,
    versions: Mapping[tuple[str, str], int] | None = None,
    only: Iterable[str] | None = None,
    workers: int = 1,
    parsed_before: bool = False,
    analyse_sql: SqlAnalysis | None = None,
) -> list[NodeLineage]:
    """The lineage of every node (or of the nodes keyed in ``only``).

    ``schema`` gives known table columns (the catalog); ``versions`` maps
    (node key, code digest) to the stored node version number. With ``workers`` > 1
    the SQL nodes are first analysed in that many processes against ``schema`` alone;
    the few whose result depends on another node's output columns are then analysed
    again, upstream first, as the one-process analysis would. ``parsed_before``: this
    process parsed the nodes' SQL already (a run): the analysis copies those trees.
    ``analyse_sql`` may analyse the SQL nodes elsewhere (another process), given the
    columns the other nodes define; when it returns None they are analysed here.
    """
    wanted = set(only) if only is not None else None
    nodes = [n for n in workspace.nodes() if wanted is None or n.key in wanted]
    versions = versions or {}
    known = ColumnsOverlay(schema if schema is not None else {})
    sql_nodes: list[Node] = []
    results: dict[str, NodeLineage] = {}
    for node in nodes:
        base = _base(node, versions)
        if node.kind is NodeKind.SQL:
            sql_nodes.append(node)
            continue
        mapper = _mappers.get(node.kind)
        try:
            if mapper is not None:
                results[node.key] = stamped(mapper(workspace, node, known), base)
                known.update(results[node.key].learned)
            else:
                results[node.key] = _declared_only(workspace, node, base)
        except LakeworksError as exc:
            results[node.key] = _replace(base, problems=(exc.render(),), column_level=False)
    first: dict[str, NodeLineage] | None = None
    if workers > 1 and len(sql_nodes) >= PARALLEL_MIN_NODES:
        from concurrent.futures.process import BrokenProcessPool

        try:
            first = first_pass(workspace, [n.key for n in sql_nodes], known, versions, workers)
        except (BrokenProcessPool, OSError):
            first = None  # no worker processes here: analyse in this one
    if first is not None:
        results.update(_settle(workspace, sql_nodes, first, known, versions))
    else:
        tasks, failed = sql_tasks(workspace, sql_nodes, versions)
        results.update(failed)
        done = analyse_sql(tasks, dict(known.learned)) if analyse_sql and tasks else None
        if done is None:
            done = analyse_tasks(tasks, known, shared=parsed_before)
        results.update(done)
    return [results[n.key] for n in nodes if n.key in results]


PARALLEL_MIN_NODES = 64
"""Below this many SQL nodes, starting worker processes costs more than it saves."""


def analyse_sql_node(
    workspace: Workspace,
    node: Node,
    known: Mapping[str, Sequence[str]],
    versions: Mapping[tuple[str, str], int],
) -> NodeLineage:
    """The lineage of one SQL node against the table columns in ``known``."""
    tasks, failed = sql_tasks(workspace, [node], versions)
    if failed:
        return failed[node.key]
    task = tasks[0]
    try:
        statements = parse_statements(task.sql, task.dialect)
    except UserError as exc:
        return _replace(task.base, problems=(exc.render(),), column_level=False)
    return _from_script(task, statements_lineage(statements, known, dialect=task.dialect))


@dataclass(frozen=True)
class SqlTask:
    """What analysing one SQL node needs, as plain data (it may cross to a process)."""

    base: NodeLineage
    sql: str
    """The node's code rendered for the sample date."""
    dialect: str
    path: Path
    first_code_line: int


SqlAnalysis = Callable[
    [Sequence[SqlTask], Mapping[str, Sequence[str]]], dict[str, NodeLineage] | None
]
"""Analyses SQL tasks elsewhere, given the columns the other nodes define; None: here."""


def sql_tasks(
    workspace: Workspace, nodes: Sequence[Node], versions: Mapping[tuple[str, str], int]
) -> tuple[list[SqlTask], dict[str, NodeLineage]]:
    """The analysis task of each SQL node; the nodes whose code cannot be rendered get
    their result (a problem) at once."""
    tasks: list[SqlTask] = []
    failed: dict[str, NodeLineage] = {}
    for node in nodes:
        try:
            sql = _rendered(workspace, node)
        except UserError as exc:
            base = _base(node, versions)
            failed[node.key] = _replace(base, problems=(exc.render(),), column_level=False)
            continue
        tasks.append(
            SqlTask(
                _base(node, versions),
                sql,
                workspace.dialect_for(node),
                node.path,
                node.span.first_code_line,
            )
        )
    return tasks, failed


Lookups = dict[str, tuple[str, ...] | None]
"""The columns one node's analysis was given per table it asked about (None: unknown)."""
UNSEEN = "\x00every table"
"""A key of ``Lookups``: the analysis listed the whole schema (its result is not reused)."""


class RecordedLookups(Mapping[str, Sequence[str]]):
    """A schema that notes every table asked of it, with what it answered."""

    def __init__(self, schema: Mapping[str, Sequence[str]], into: Lookups) -> None:
        self.schema = schema
        self.into = into

    def __getitem__(self, key: str) -> Sequence[str]:
        try:
            columns = self.schema[key]
        except KeyError:
            self.into[key] = None
            raise
        self.into[key] = tuple(columns)
        return columns

    def __iter__(self) -> Iterator[str]:
        self.into[UNSEEN] = None
        return iter(self.schema)

    def __len__(self) -> int:
        self.into[UNSEEN] = None
        return len(self.schema)


def analyse_tasks(
    tasks: Sequence[SqlTask],
    known: Mapping[str, Sequence[str]],
    *,
    shared: bool = False,
    lookups: dict[str, Lookups] | None = None,
) -> dict[str, NodeLineage]:
    """The lineage of SQL tasks, upstream first, against ``known`` (extended with the
    columns each analysed node defines). ``shared``: see ``parse_statements``. With
    ``lookups``, each node's ``Lookups`` are noted there by node key."""
    overlay = known if isinstance(known, ColumnsOverlay) else ColumnsOverlay(known)
    parsed: dict[str, tuple[list[ParsedStatement], set[str], set[str]]] = {}
    results: dict[str, NodeLineage] = {}
    for task in tasks:
        key = task.base.node_key
        try:
            statements = parse_statements(task.sql, task.dialect, shared=shared)
        except UserError as exc:
            results[key] = _replace(task.base, problems=(exc.render(),), column_level=False)
            continue
        reads, writes = quick_tables(statements)
        parsed[key] = (statements, reads, writes)
    by_key = {t.base.node_key: t for t in tasks}
    for key in _upstream_first(parsed):
        statements, _, _ = parsed[key]
        task = by_key[key]
        schema: Mapping[str, Sequence[str]] = overlay
        if lookups is not None:
            schema = RecordedLookups(overlay, lookups.setdefault(key, {}))
        script = statements_lineage(statements, schema, dialect=task.dialect)
        item = _from_script(task, script)
        overlay.update(item.learned)
        results[key] = item
    return results


def _settle(
    workspace: Workspace,
    nodes: Sequence[Node],
    first: dict[str, NodeLineage],
    known: ColumnsOverlay,
    versions: Mapping[tuple[str, str], int],
) -> dict[str, NodeLineage]:
    """Analyse again, upstream first, the nodes whose first-pass result could change
    once other nodes' output columns are known: an incomplete node that touches a
    table another node defines, and any node writing a table another node defines."""
    given = set(known)
    defined_by: dict[str, str] = {}
    for key, item in first.items():
        for table in item.learned:
            defined_by.setdefault(table, key)
    by_key = {n.key: n for n in nodes}
    order = _upstream_first({k: (None, set(i.reads), set(i.writes)) for k, i in first.items()})
    for key in order:
        item = first[key]

        def elsewhere(tables: Iterable[str], key: str = key) -> bool:
            return any(t not in given and defined_by.get(t, key) != key for t in tables)

        if elsewhere(item.writes) or (not item.complete and elsewhere(item.reads | item.writes)):
            item = first[key] = analyse_sql_node(workspace, by_key[key], known, versions)
        known.update(item.learned)
    return first


def _rendered(workspace: Workspace, node: Node) -> str:
    ctx = ParamContext(cycle_time=SAMPLE_CYCLE_TIME, parameters=workspace.parameters_for(node))
    return render(node.code, ctx, path=node.path, first_line=node.span.first_code_line)


def _base(node: Node, versions: Mapping[tuple[str, str], int]) -> NodeLineage:
    digest = code_digest(node)
    return NodeLineage(
        node_key=node.key,
        kind=node.kind.value,
        code_hash=digest,
        node_version=versions.get((node.key, digest)),
        owner=node.settings.owner,
    )


def _replace(base: NodeLineage, **changes: object) -> NodeLineage:
    from dataclasses import replace

    return replace(base, **changes)  # type: ignore[arg-type]


def stamped(item: NodeLineage, base: NodeLineage) -> NodeLineage:
    """``item`` with the identity, version and owner of the node ``base`` describes."""
    return _replace(
        item,
        node_key=base.node_key,
        kind=base.kind,
        code_hash=base.code_hash,
        node_version=base.node_version,
        owner=base.owner,
    )


def _declared_only(workspace: Workspace, node: Node, base: NodeLineage) -> NodeLineage:
    io = node_io(workspace, node)
    return _replace(
        base,
        reads=io.reads,
        writes=io.writes,
        table_edges=frozenset((r, w) for r in io.reads for w in io.writes),
        column_level=False,
    )


def _from_script(task: SqlTask, script: ScriptLineage) -> NodeLineage:
    offset = task.first_code_line - 1
    base = task.base
    written: set[str] = set()
    external: set[str] = set()
    for statement in script.statements:
        external.update(statement.reads - written)
        if statement.writes and statement.target:
            written.add(statement.target)
    problems = tuple(
        f"{task.path}:{(s.line or 1) + offset}: {p}" for s in script.statements for p in s.problems
    )
    filters = frozenset((ref, s.target) for s in script.statements if s.target for ref in s.filters)
    declared = tuple(s.declared for s in script.statements if s.declared is not None)
    learned = {t: cols for t, cols in script.schemas.items() if t in written and t not in external}
    return _replace(
        base,
        reads=frozenset(external),
        writes=frozenset(written),
        table_edges=frozenset(script.table_edges),
        edges=tuple(sorted(script.column_edges, key=_edge_key)),
        filters=filters,
        unresolved=tuple(sorted(script.unresolved)),
        problems=problems,
        declared=declared,
        learned=learned,
    )


def _edge_key(edge: ColumnEdge) -> tuple[str, str, str, str, str]:
    s, t = edge.source, edge.target
    return (s.table, s.column, t.table, t.column, edge.kind.value)


def _upstream_first(parsed: Mapping[str, tuple[object, set[str], set[str]]]) -> list[str]:
    """Node keys ordered so that writers come before readers (cycles: file order)."""
    writers: dict[str, list[str]] = {}
    for key, (_, _, writes) in parsed.items():
        for table in writes:
            writers.setdefault(table, []).append(key)
    waiting = {
        key: {w for t in reads for w in writers.get(t, ()) if w != key}
        for key, (_, reads, _) in parsed.items()
    }
    dependents: dict[str, list[str]] = {}
    for key, ups in waiting.items():
        for up in ups:
            dependents.setdefault(up, []).append(key)
    ready = [k for k in parsed if not waiting[k]]
    order: list[str] = []
    done: set[str] = set()
    while ready:
        key = ready.pop()
        if key in done:
            continue
        done.add(key)
        order.append(key)
        for child in dependents.get(key, ()):
            waiting[child].discard(key)
            if not waiting[child]:
                ready.append(child)
    order.extend(k for k in parsed if k not in done)
    return order


# -- sync nodes ------------------------------------------------------------------------


def _sync_lineage(
    workspace: Workspace, node: Node, known: Mapping[str, Sequence[str]]
) -> NodeLineage:
    """Column edges of a sync node from its column mapping (source → target)."""
    from lakeworks.integration.plan import parse_node
    from lakeworks.integration.spec import WAREHOUSE

    ctx = ParamContext(cycle_time=SAMPLE_CYCLE_TIME, parameters=workspace.parameters_for(node))
    spec, _, _ = parse_node(workspace, node, ctx)
    source_name = spec.source.object_name
    base = NodeLineage(node_key=node.key, kind=node.kind.value, code_hash="")
    if source_name is None:
        return _replace(base, problems=("a sync from a query has no column lineage",))
    source = dataset_name(spec.source.data_source, source_name, WAREHOUSE)
    target = dataset_name(spec.target.data_source, spec.target.table, WAREHOUSE)
    mapping = spec.column_specs()
    edges: list[ColumnEdge] = []
    unresolved: list[ColumnRef] = []
    if mapping is None:
        columns = known.get(source)
        if columns:
            edges = [
                ColumnEdge(ColumnRef(source, c), ColumnRef(target, c), EdgeKind.DIRECT)
                for c in columns
            ]
        else:
            unresolved = [ColumnRef(target, "*")]
    else:
        for column in mapping:
            kind = EdgeKind.TRANSFORM if column.type else EdgeKind.DIRECT
            edges.append(
                ColumnEdge(
                    ColumnRef(source, column.source.lower()),
                    ColumnRef(target, column.target.lower()),
                    kind,
                )
            )
    learned = {target: tuple(e.target.column for e in edges)} if edges else {}
    return _replace(
        base,
        reads=frozenset({source}),
        writes=frozenset({target}),
        table_edges=frozenset({(source, target)}),
        edges=tuple(sorted(edges)),
        unresolved=tuple(unresolved),
        learned=learned,
    )


def dataset_name(data_source: str, table: str, warehouse: str = "warehouse") -> str:
    """How lineage names a table: plain in the warehouse, ``source:table`` elsewhere."""
    name = table.lower()
    return name if data_source == warehouse else f"{data_source}:{name}"


register_column_mapper(NodeKind.SYNC, _sync_lineage)


# -- the first pass of a parallel analysis, in worker processes ----------------------
# Processes are started with ``spawn`` (never ``fork``), so a server with threads and
# open database connections can use them safely. Each worker receives the workspace and
# the known table columns once, then analyses chunks of SQL nodes.

_state: dict[str, Any] = {}


def _init(
    workspace: Workspace,
    known: Mapping[str, Sequence[str]],
    versions: Mapping[tuple[str, str], int],
) -> None:
    _state.update(workspace=workspace, known=known, versions=versions)


def _analyse(keys: list[str]) -> list[NodeLineage]:
    workspace: Workspace = _state["workspace"]
    out: list[NodeLineage] = []
    for key in keys:
        node = workspace.find_node(key)
        if node is not None:
            out.append(analyse_sql_node(workspace, node, _state["known"], _state["versions"]))
    return out


def first_pass(
    workspace: Workspace,
    keys: Sequence[str],
    known: Mapping[str, Sequence[str]],
    versions: Mapping[tuple[str, str], int],
    workers: int,
) -> dict[str, NodeLineage]:
    """Every node in ``keys`` analysed against ``known`` alone, in ``workers`` processes."""
    chunks = [list(keys[i :: workers * 4]) for i in range(workers * 4)]
    import multiprocessing  # only for a parallel analysis: it costs start-up time
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("spawn")
    results: dict[str, NodeLineage] = {}
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=_init,
        initargs=(workspace, dict(known), dict(versions)),
    ) as pool:
        for items in pool.map(_analyse, [c for c in chunks if c]):
            for item in items:
                results[item.node_key] = item
    return results
