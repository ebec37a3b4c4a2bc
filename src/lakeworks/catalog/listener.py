"""The Data Map's runtime listener: the OpenLineage START event of every instance.

Everything that follows an instance's end (run lineage, catalog harvest, column
lineage, COMPLETE/FAIL events) is done in batches by ``catalog.recorder`` from the
follow-up queue, off the instance's critical path. Nothing here can change an
instance's outcome: the runner logs a listener's errors and carries on.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import sqlalchemy as sa

from lakeworks.catalog.openlineage import Datasets, Emitter, RunInfo, run_event
from lakeworks.catalog.tables import catalog_columns, catalog_tables
from lakeworks.runtime.context import NodeResult, NodeRunContext
from lakeworks.spec.models import Node, NodeKind, Workspace
from lakeworks.sql.lineage import ScriptLineage, script_lineage
from lakeworks.sql.params import render
from lakeworks.store.clock import utcnow
from lakeworks.store.database import Database
from lakeworks.store.models import InstanceState


class SchemaLookup(Mapping[str, Sequence[str]]):
    """Table columns read from the catalog on demand (and cached): lineage asks only for
    the tables a script names, so nothing is loaded for the rest of the catalog."""

    def __init__(self, db: Database, workspace: str, env: str) -> None:
        self.db = db
        self.workspace = workspace
        self.env = env
        self._cache: dict[str, tuple[str, ...] | None] = {}

    def __getitem__(self, key: str) -> Sequence[str]:
        if key not in self._cache:
            self._cache[key] = self._load(key)
        value = self._cache[key]
        if value is None:
            raise KeyError(key)
        return value

    def _load(self, name: str) -> tuple[str, ...] | None:
        self.preload([name])
        return self._cache[name]

    def preload(self, names: Iterable[str]) -> None:
        """Read the columns of every table in ``names`` not looked up yet, in one query
        per 500 tables (a batch of lineage asks for hundreds)."""
        wanted = sorted({n for n in names if n not in self._cache})
        t, c = catalog_tables, catalog_columns
        found: dict[str, dict[str, None]] = {}
        with self.db.read() as conn:
            for start in range(0, len(wanted), 500):
                query = (
                    sa.select(t.c.name.label("table_name"), c.c.name)
                    .join(t, t.c.id == c.c.table_id)
                    .where(
                        t.c.workspace == self.workspace,
                        t.c.env == self.env,
                        t.c.name.in_(wanted[start : start + 500]),
                    )
                    .order_by(t.c.name, t.c.present.desc(), t.c.id, c.c.position)
                )
                for row in conn.execute(query):
                    found.setdefault(row.table_name, {})[row.name] = None
        for name in wanted:
            columns = found.get(name)
            self._cache[name] = tuple(columns) if columns else None

    def __iter__(self) -> Iterator[str]:
        return iter(k for k, v in self._cache.items() if v is not None)

    def __len__(self) -> int:
        return sum(1 for v in self._cache.values() if v is not None)


@dataclass
class DataMapListener:
    """Emits the OpenLineage START event of every instance (when an emitter is set)."""

    emitter: Emitter | None = None

    def on_start(self, ctx: NodeRunContext) -> None:
        if self.emitter is None or ctx.instance_id is None:
            return
        lineage = _lineage_from_code(ctx)
        self.emitter.emit(run_event("START", run_info(ctx), datasets(lineage, None), at=utcnow()))

    def on_finish(
        self,
        ctx: NodeRunContext,
        state: InstanceState,
        result: NodeResult | None,
        reason: str | None,
    ) -> None:
        """Nothing on the instance's thread: the recorder does it from the queue."""


class RunSubject(Protocol):
    """What an OpenLineage run is about: a running or a finished instance."""

    @property
    def workspace(self) -> Workspace: ...
    @property
    def env(self) -> str: ...
    @property
    def node(self) -> Node: ...
    @property
    def instance_id(self) -> int | None: ...
    @property
    def attempt(self) -> int: ...
    @property
    def cycle_time(self) -> datetime: ...


def run_info(subject: RunSubject, result: NodeResult | None = None) -> RunInfo:
    """The OpenLineage run of an instance."""
    sql = result.rendered_code if result is not None and result.rendered_code else None
    return RunInfo(
        workspace=subject.workspace.name,
        env=subject.env,
        node_key=subject.node.key,
        instance_id=subject.instance_id or 0,
        attempt=subject.attempt,
        nominal_time=subject.cycle_time,
        description=subject.node.header.description,
        sql=sql if subject.node.kind is NodeKind.SQL else None,
        dialect=subject.workspace.dialect_for(subject.node),
    )


def _lineage_from_code(ctx: NodeRunContext) -> ScriptLineage | None:
    if ctx.node.kind is not NodeKind.SQL:
        return None
    db = ctx.extras.get("db")
    schema: Mapping[str, Sequence[str]] = (
        SchemaLookup(db, ctx.workspace.name, ctx.env) if isinstance(db, Database) else {}
    )
    rendered = render(ctx.node.code, ctx.params)
    return script_lineage(rendered, schema, dialect=ctx.workspace.dialect_for(ctx.node))


def datasets(lineage: ScriptLineage | None, result: NodeResult | None) -> Datasets:
    """The inputs and outputs of a run, with column edges when the lineage is known."""
    if lineage is None:
        reads = sorted(result.reads) if result is not None else []
        writes = sorted(result.writes) if result is not None else []
        return Datasets(inputs=reads, outputs=writes)
    writes = sorted(lineage.writes)
    return Datasets(
        inputs=sorted(t for t in lineage.reads if t not in lineage.writes),
        outputs=writes,
        edges=sorted(lineage.column_edges),
        filters={(ref, s.target) for s in lineage.statements if s.target for ref in s.filters},
    )
