"""The Data Map of one workspace environment: build it, then ask it questions.

``build`` harvests the warehouse engine (and the harvestable data sources), analyses
the lineage of every node against the harvested schemas, stores edges, annotations,
quality-rule dependents and search documents. ``search``, ``impact``, ``table`` and
``history`` read what was stored.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from lakeworks.catalog import lineage_store, run_lineage, search
from lakeworks.catalog.harvest import harvest_engine, workspace_annotations
from lakeworks.catalog.harvest_sources import harvest_data_source
from lakeworks.catalog.impact import Direction, ImpactReport, impact, split_target
from lakeworks.catalog.lineage_index import NodeLineage, analyse_workspace
from lakeworks.catalog.models import CatalogTable
from lakeworks.catalog.repository import CatalogRepository
from lakeworks.engines.base import Engine
from lakeworks.errors import LakeworksError, NotFound
from lakeworks.spec.models import Workspace
from lakeworks.store.clock import utcnow
from lakeworks.store.database import Database


@dataclass(frozen=True)
class BuildSummary:
    nodes: int
    complete_nodes: int
    table_edges: int
    column_edges: int
    unresolved: int
    tables: int
    seconds: float
    problems: tuple[str, ...] = ()
    sources: dict[str, int] = field(default_factory=dict)
    """Tables harvested per data source."""


class DataMap:
    """The Data Map of ``workspace`` in environment ``env``."""

    def __init__(self, db: Database, workspace: Workspace, env: str) -> None:
        self.db = db
        self.workspace = workspace
        self.env = env
        self.catalog = CatalogRepository(db, workspace.name, env)

    @property
    def warehouse_source(self) -> str:
        """The catalog source name of the environment's warehouse engine."""
        return self.workspace.config.environments[self.env].engine

    def build(
        self, engine: Engine | None = None, *, sources: bool = False, workers: int | None = None
    ) -> BuildSummary:
        """Harvest, analyse and store everything (replacing the previous map).

        Large workspaces are analysed in ``workers`` processes (default: one per CPU,
        at most 4).
        """
        started = time.perf_counter()
        now = utcnow()
        problems: list[str] = []
        harvested: dict[str, int] = {}
        source_name = engine.name if engine is not None else self.warehouse_source
        if engine is not None:
            tables = harvest_engine(engine)
            self.catalog.save_harvest(source_name, tables, now=now, complete=True)
            harvested[source_name] = len(tables)
        if sources:
            for name, config in sorted(self.workspace.config.data_sources.items()):
                try:
                    found = harvest_data_source(name, config)
                except LakeworksError as exc:
                    problems.append(f"data source '{name}': {exc.render()}")
                    continue
                if found is not None:
                    self.catalog.save_harvest(name, found, now=now, complete=True)
                    harvested[name] = len(found)
        items = analyse_workspace(
            self.workspace,
            self.catalog.schemas(warehouse=source_name),
            versions=lineage_store.stored_versions(self.db, self.workspace.name, self.env),
            workers=workers if workers is not None else default_workers(),
        )
        lineage_store.save_lineage(
            self.db, self.workspace, self.env, items, now=now, replace_all=True
        )
        self.catalog.annotate(source_name, workspace_annotations(self.workspace, items))
        dependents, rule_problems = lineage_store.quality_dependents(self.workspace)
        lineage_store.save_dependents(
            self.db,
            self.workspace.name,
            self.env,
            dependents,
            kind=("quality_rule", lineage_store.REFERENCE_KIND),
        )
        problems += rule_problems
        problems += [p for i in items for p in i.problems]
        return _summary(items, harvested, problems, time.perf_counter() - started)

    def search(
        self, text: str, *, limit: int = 20, kinds: Sequence[str] = ()
    ) -> list[search.SearchHit]:
        return search.search(self.db, self.workspace.name, self.env, text, limit=limit, kinds=kinds)

    def impact(
        self,
        target: str,
        *,
        depth: int | None = None,
        direction: Direction = Direction.DOWNSTREAM,
    ) -> ImpactReport:
        """Impact of ``TABLE`` or ``TABLE.COLUMN`` (downstream by default)."""
        table, column = split_target(self.db, self.workspace.name, self.env, target)
        return impact(
            self.db,
            self.workspace.name,
            self.env,
            table,
            column,
            depth=depth,
            direction=direction,
        )

    def table(self, name: str) -> CatalogTable:
        """A table by name; ``<data source>:<table>`` names a data source's table."""
        source, sep, bare = name.partition(":")
        if sep and source in self.workspace.config.data_sources:
            found = self.catalog.get(bare, source)
        else:
            found = self.catalog.get(name)
        if found is None:
            raise NotFound(
                f"no table '{name}' in the catalog of {self.workspace.name} ({self.env})",
                hint="lakeworks map build harvests the warehouse",
            )
        return found

    def history(self, table: str, *, limit: int = 20) -> list[run_lineage.RunLineageEntry]:
        return run_lineage.history(self.db, self.workspace.name, self.env, table, limit=limit)


def default_workers() -> int:
    """Processes for a workspace analysis: one per CPU, at most 4."""
    return max(1, min(4, os.cpu_count() or 1))


def _summary(
    items: Sequence[NodeLineage], harvested: dict[str, int], problems: list[str], seconds: float
) -> BuildSummary:
    return BuildSummary(
        nodes=len(items),
        complete_nodes=sum(1 for i in items if i.complete),
        table_edges=sum(len(i.table_edges) for i in items),
        column_edges=sum(len(i.edges) for i in items),
        unresolved=sum(len(i.unresolved) for i in items),
        tables=sum(harvested.values()),
        seconds=seconds,
        problems=tuple(problems),
        sources=harvested,
    )
