"""The Data Map's batch listener: keeps the map current from the follow-up queue.

For a batch of finished instances, in a few transactions for the whole batch: the run
lineage of every successful instance (tables and static partitions written, tables
read, rows), the catalog entries of every table written (one listing and one count
query for all of them), the column lineage of the nodes whose code changed since it was
last analysed (unchanged code keeps its stored lineage, found by its digest), and the
OpenLineage COMPLETE/FAIL events when an emitter is configured.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa

from lakeworks.catalog import lineage_scout, lineage_store, run_lineage
from lakeworks.catalog.harvest import harvest_engine, workspace_annotations
from lakeworks.catalog.lineage_ahead import LineageAhead
from lakeworks.catalog.lineage_index import (
    ColumnsOverlay,
    Lookups,
    NodeLineage,
    SqlTask,
    analyse_workspace,
    sql_tasks,
)
from lakeworks.catalog.lineage_worker import LineageWorker, shared_worker
from lakeworks.catalog.listener import SchemaLookup, datasets, run_info
from lakeworks.catalog.models import HarvestedTable
from lakeworks.catalog.openlineage import Emitter, run_event
from lakeworks.catalog.repository import CatalogRepository
from lakeworks.catalog.tables import catalog_tables
from lakeworks.engines.base import Engine
from lakeworks.runtime.hooks import FinishedInstance
from lakeworks.spec.models import NodeKind, Workspace
from lakeworks.sql.lineage import script_lineage
from lakeworks.store.clock import utcnow
from lakeworks.store.database import Database
from lakeworks.store.models import InstanceState


@dataclass
class DataMapRecorder:
    """Records run lineage, refreshes the catalog and emits OpenLineage, per batch."""

    emitter: Emitter | None = None
    refresh_catalog: bool = True
    name: str = "Data Map"
    helper: LineageWorker | None = None
    """Where big batches' column lineage is analysed (default: this process's helper)."""
    ahead: LineageAhead = field(default_factory=LineageAhead)
    """Column lineage of runs' changed nodes, analysed as each run starts."""

    def before_run(
        self, workspace: Workspace, env: str, keys: Sequence[str], *, db: Database
    ) -> None:
        """Begin the column lineage of the run's changed SQL nodes in the helper (when
        there are enough of them to go there at all); the batches use what still holds."""
        worker = self.helper or shared_worker()
        named = (workspace.find_node(k) for k in keys)
        nodes = [n for n in named if n is not None and n.kind is NodeKind.SQL]
        if not self.refresh_catalog or not worker.wanted(len(nodes)):
            return

        scouted = lineage_scout.answer_for(workspace.root, env)

        def analysis() -> tuple[dict[str, NodeLineage], dict[str, Lookups]] | None:
            found = scouted() if scouted is not None else None
            if found is not None:  # the command's scout analysed them while it started
                return found
            changed = lineage_store.changed_nodes(db, workspace.name, env, nodes)
            if not worker.wanted(len(changed)):
                return None
            versions = lineage_store.stored_versions(
                db, workspace.name, env, keys=[n.key for n in changed]
            )
            tasks, _ = sql_tasks(workspace, changed, versions)
            catalog = SchemaLookup(db, workspace.name, env)

            def columns_of(names: Iterable[str]) -> dict[str, Sequence[str] | None]:
                wanted = list(names)
                catalog.preload(wanted)
                return {name: catalog.get(name) for name in wanted}

            return worker.analyse_recorded(tasks, {}, [], columns_of)

        self.ahead.start((workspace.name, env), analysis)

    def on_finished(
        self, batch: Sequence[FinishedInstance], *, db: Database, engine: Engine
    ) -> None:
        if not batch:
            return
        now = utcnow()
        ok = [
            i
            for i in batch
            if i.state is InstanceState.SUCCESS and i.result is not None and not i.result.skipped
        ]
        entries = [self._run_lineage(i) for i in ok]
        run_lineage.record_many(
            db,
            [
                run_lineage.RunRecord(
                    instance_id=i.instance_id,
                    workspace=i.workspace.name,
                    env=i.env,
                    node_key=i.node.key,
                    writes=writes,
                    reads=reads,
                )
                for i, (writes, reads) in zip(ok, entries, strict=True)
            ],
            at=now,
        )
        if self.refresh_catalog and ok:
            self._refresh(ok, entries, db, engine)
        if self.emitter is not None:
            for item in batch:
                self._emit(item, db)

    # -- pieces -----------------------------------------------------------------------

    @staticmethod
    def _run_lineage(item: FinishedInstance) -> tuple[list[run_lineage.TableWrite], set[str]]:
        result = item.result
        assert result is not None
        code = result.rendered_code
        if item.node.kind is NodeKind.SQL and code and "partition" in code.lower():
            # static partitions are only in the code: parse it (unpartitioned writes are not)
            dialect = item.workspace.dialect_for(item.node)
            try:
                return run_lineage.writes_of_script(code, dialect, rows=result.rows)
            except Exception:
                pass
        one = len(result.writes) == 1
        writes = [
            run_lineage.TableWrite(t, rows=result.rows if one else None)
            for t in sorted(result.writes)
        ]
        return writes, set(result.reads) - set(result.writes)

    def _refresh(
        self,
        ok: Sequence[FinishedInstance],
        entries: Sequence[tuple[list[run_lineage.TableWrite], set[str]]],
        db: Database,
        engine: Engine,
    ) -> None:
        workspace, env = ok[-1].workspace, ok[-1].env
        repo = CatalogRepository(db, workspace.name, env)
        written = sorted({w.table for writes, _ in entries for w in writes if ":" not in w.table})
        harvested = harvest_engine(engine, names=written, with_sizes=False) if written else []
        nodes = {i.node.key: i.node for i in ok}
        changed = [
            n.key
            for n in lineage_store.changed_nodes(db, workspace.name, env, list(nodes.values()))
        ]
        items: list[NodeLineage] = []
        failed: Exception | None = None
        if changed:
            try:
                items = self._column_lineage(ok, entries, harvested, changed, db)
            except Exception as exc:  # the harvest is still recorded, then reported
                failed = exc
        annotations = workspace_annotations(workspace, items) if items else []
        if harvested:
            # a table the annotations cover gets its search document once, from annotate
            repo.save_harvest(
                engine.name,
                harvested,
                now=utcnow(),
                indexed_later={a.name for a in annotations},
            )
            touch(db, workspace.name, env, [h.name for h in harvested], at=utcnow())
        if failed is not None:
            raise failed
        if changed:
            lineage_store.save_lineage(db, workspace, env, items, now=utcnow())
            repo.annotate(engine.name, annotations)

    def _column_lineage(
        self,
        ok: Sequence[FinishedInstance],
        entries: Sequence[tuple[list[run_lineage.TableWrite], set[str]]],
        harvested: Sequence[HarvestedTable],
        changed: list[str],
        db: Database,
    ) -> list[NodeLineage]:
        """Column lineage of the ``changed`` nodes: just-harvested columns, then the
        catalog's; a batch of many SQL nodes is analysed in the helper process
        (``lineage_worker``)."""
        workspace, env = ok[-1].workspace, ok[-1].env
        fresh = {h.name: tuple(c.name for c in h.columns) for h in harvested}
        preload = sorted(
            {
                t
                for (writes, reads) in entries
                for t in (*reads, *(w.table for w in writes))
                if t not in fresh
            }
        )
        catalog = SchemaLookup(db, workspace.name, env)
        known = ColumnsOverlay(catalog, fresh)
        worker = self.helper or shared_worker()
        sql_nodes = sum(1 for i in ok if i.node.key in changed and i.node.kind is NodeKind.SQL)
        beside = worker.wanted(sql_nodes)

        def columns_of(names: Iterable[str]) -> dict[str, Sequence[str] | None]:
            wanted = list(names)
            catalog.preload(n for n in wanted if n not in fresh)
            return {name: known.get(name) for name in wanted}

        def elsewhere(
            tasks: Sequence[SqlTask], learned: Mapping[str, Sequence[str]]
        ) -> dict[str, NodeLineage] | None:
            catalog.preload(preload)  # what a result ahead was given is checked against it
            view = ColumnsOverlay(known, learned)
            reused, rest = self.ahead.reuse((workspace.name, env), tasks, view)
            if not rest:
                return reused
            given = dict(learned)
            for item in reused.values():  # as if analysed here, upstream first
                given.update(item.learned)
            found = worker.analyse(rest, given, [*fresh, *preload], columns_of)
            if found is None:
                return None
            return {**reused, **found}

        if not beside:
            catalog.preload(preload)
        return analyse_workspace(
            workspace,
            known,
            versions=lineage_store.stored_versions(db, workspace.name, env, keys=changed),
            only=changed,
            parsed_before=True,  # the run's graph build and translation parsed the code
            analyse_sql=elsewhere if beside else None,
        )

    def _emit(self, item: FinishedInstance, db: Database) -> None:
        assert self.emitter is not None
        result = item.result
        lineage = None
        if item.node.kind is NodeKind.SQL and result is not None and result.rendered_code:
            schema = SchemaLookup(db, item.workspace.name, item.env)
            dialect = item.workspace.dialect_for(item.node)
            lineage = script_lineage(result.rendered_code, schema, dialect=dialect)
        event_type = "COMPLETE" if item.state is InstanceState.SUCCESS else "FAIL"
        self.emitter.emit(
            run_event(
                event_type,
                run_info(item, result),
                datasets(lineage, result),
                at=item.finished_at,
                error=item.reason if event_type == "FAIL" else None,
            )
        )


def touch(db: Database, workspace: str, env: str, names: list[str], *, at: object) -> None:
    """Note that the tables were just modified (a run wrote them)."""
    t = catalog_tables
    with db.write() as conn:
        for start in range(0, len(names), 500):
            conn.execute(
                sa.update(t)
                .where(
                    t.c.workspace == workspace,
                    t.c.env == env,
                    t.c.name.in_(names[start : start + 500]),
                )
                .values(last_modified=at)
            )
