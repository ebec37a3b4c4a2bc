"""The Data Map's runtime listener: after every instance, keep the map current.

On start it emits the OpenLineage START event. When an instance succeeds it records run
lineage (tables and partitions written and read), refreshes the catalog entries of the
tables written (columns, row counts, partitions, last change), re-analyses the node's
lineage when its code changed since the map was built, and emits COMPLETE; a failed
instance emits FAIL. Nothing here can change an instance's outcome: the runner logs a
listener's errors and carries on.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from lakeworks.catalog import lineage_store, run_lineage
from lakeworks.catalog.harvest import harvest_engine, workspace_annotations
from lakeworks.catalog.lineage_index import analyse_workspace, code_digest
from lakeworks.catalog.openlineage import Datasets, Emitter, RunInfo, run_event
from lakeworks.catalog.repository import CatalogRepository
from lakeworks.catalog.tables import catalog_columns, catalog_tables, lineage_nodes
from lakeworks.runtime.context import NodeResult, NodeRunContext
from lakeworks.spec.models import NodeKind
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
        t, c = catalog_tables, catalog_columns
        query = (
            sa.select(c.c.name)
            .join(t, t.c.id == c.c.table_id)
            .where(t.c.workspace == self.workspace, t.c.env == self.env, t.c.name == name)
            .order_by(t.c.present.desc(), t.c.id, c.c.position)
        )
        with self.db.read() as conn:
            names = tuple(dict.fromkeys(r.name for r in conn.execute(query)))
        return names or None

    def __iter__(self) -> Iterator[str]:
        return iter(k for k, v in self._cache.items() if v is not None)

    def __len__(self) -> int:
        return sum(1 for v in self._cache.values() if v is not None)


@dataclass
class DataMapListener:
    """Records run lineage, refreshes the catalog and emits OpenLineage events."""

    emitter: Emitter | None = None
    refresh_catalog: bool = True

    def on_start(self, ctx: NodeRunContext) -> None:
        if self.emitter is None or ctx.instance_id is None:
            return
        lineage = self._lineage_from_code(ctx)
        self.emitter.emit(
            run_event("START", self._run_info(ctx), _datasets(lineage, None), at=utcnow())
        )

    def on_finish(
        self,
        ctx: NodeRunContext,
        state: InstanceState,
        result: NodeResult | None,
        reason: str | None,
    ) -> None:
        if ctx.instance_id is None:
            return
        ok = state is InstanceState.SUCCESS and result is not None and not result.skipped
        lineage = self._lineage_of_result(ctx, result)
        db = ctx.extras.get("db")
        if ok and result is not None and isinstance(db, Database):
            self._record(ctx, db, result, lineage)
        if self.emitter is not None:
            event_type = "COMPLETE" if state is InstanceState.SUCCESS else "FAIL"
            self.emitter.emit(
                run_event(
                    event_type,
                    self._run_info(ctx, result),
                    _datasets(lineage, result),
                    at=utcnow(),
                    error=reason if event_type == "FAIL" else None,
                )
            )

    # -- pieces -----------------------------------------------------------------------

    def _record(
        self, ctx: NodeRunContext, db: Database, result: NodeResult, lineage: ScriptLineage | None
    ) -> None:
        now = utcnow()
        ws, env, node = ctx.workspace, ctx.env, ctx.node
        if lineage is not None:
            writes, reads = run_lineage.writes_of_lineage(lineage, rows=result.rows)
        else:
            writes = [
                run_lineage.TableWrite(t, rows=result.rows if len(result.writes) == 1 else None)
                for t in sorted(result.writes)
            ]
            reads = set(result.reads)
        assert ctx.instance_id is not None
        run_lineage.record(
            db,
            instance_id=ctx.instance_id,
            workspace=ws.name,
            env=env,
            node_key=node.key,
            writes=writes,
            reads=reads,
            at=now,
        )
        if not self.refresh_catalog:
            return
        repo = CatalogRepository(db, ws.name, env)
        if _stored_digest(db, ws.name, env, node.key) != code_digest(node):
            items = analyse_workspace(
                ws,
                SchemaLookup(db, ws.name, env),
                versions=lineage_store.stored_versions(db, ws.name, env),
                only=[node.key],
            )
            lineage_store.save_lineage(db, ws, env, items, now=now)
            repo.annotate(ctx.engine.name, workspace_annotations(ws, items))
        written = sorted({w.table for w in writes if ":" not in w.table})
        if written:
            repo.save_harvest(ctx.engine.name, harvest_engine(ctx.engine, names=written), now=now)
            for table in written:
                repo.touch(table, at=now)

    def _lineage_from_code(self, ctx: NodeRunContext) -> ScriptLineage | None:
        if ctx.node.kind is not NodeKind.SQL:
            return None
        rendered = render(ctx.node.code, ctx.params)
        return self._analyse(ctx, rendered)

    def _lineage_of_result(
        self, ctx: NodeRunContext, result: NodeResult | None
    ) -> ScriptLineage | None:
        if ctx.node.kind is not NodeKind.SQL:
            return None
        if result is not None and result.rendered_code:
            return self._analyse(ctx, result.rendered_code)
        try:
            return self._lineage_from_code(ctx)
        except Exception:
            return None

    @staticmethod
    def _analyse(ctx: NodeRunContext, sql: str) -> ScriptLineage:
        db = ctx.extras.get("db")
        schema: Mapping[str, Sequence[str]] = (
            SchemaLookup(db, ctx.workspace.name, ctx.env) if isinstance(db, Database) else {}
        )
        return script_lineage(sql, schema, dialect=ctx.workspace.dialect_for(ctx.node))

    @staticmethod
    def _run_info(ctx: NodeRunContext, result: NodeResult | None = None) -> RunInfo:
        sql = result.rendered_code if result is not None and result.rendered_code else None
        return RunInfo(
            workspace=ctx.workspace.name,
            env=ctx.env,
            node_key=ctx.node.key,
            instance_id=ctx.instance_id or 0,
            attempt=ctx.attempt,
            nominal_time=ctx.cycle_time,
            description=ctx.node.header.description,
            sql=sql if ctx.node.kind is NodeKind.SQL else None,
            dialect=ctx.workspace.dialect_for(ctx.node),
        )


def _datasets(lineage: ScriptLineage | None, result: NodeResult | None) -> Datasets:
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


def _stored_digest(db: Database, workspace: str, env: str, node_key: str) -> str | None:
    n = lineage_nodes
    with db.read() as conn:
        row = conn.execute(
            sa.select(n.c.code_hash).where(
                n.c.workspace == workspace, n.c.env == env, n.c.node_key == node_key
            )
        ).first()
    return None if row is None else str(row.code_hash)
