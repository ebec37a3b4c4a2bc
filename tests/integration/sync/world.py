"""A throwaway workspace with a warehouse and a store, for running sync nodes."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from lakeworks.engines.duckdb_engine import DuckDBEngine, close_all
from lakeworks.integration.service import SyncResult, SyncService
from lakeworks.integration.state import SyncState
from lakeworks.spec.loader import load_workspace
from lakeworks.sql.params import ParamContext, cycle_time_for_bizdate
from lakeworks.store.database import Database


def unique(prefix: str) -> str:
    """A table name no concurrent test run uses."""
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


class SyncWorld:
    """Writes a workspace folder, runs its sync nodes, and inspects the results."""

    def __init__(self, root: Path) -> None:
        (root / "workflows" / "wf").mkdir(parents=True)
        self.reopen(root, {})

    def reopen(self, root: Path, data_sources: dict[str, dict[str, Any]]) -> None:
        """Open an existing world's warehouse and store (e.g. in another process)."""
        self.root = root
        self.data_sources = dict(data_sources)
        self.engine = DuckDBEngine(root / "warehouse.duckdb", "dev")
        self.db = Database.open(f"sqlite:///{root / 'meta.db'}")
        self.log: list[str] = []

    def add_source(self, name: str, config: dict[str, Any]) -> None:
        self.data_sources[name] = config

    def node(self, name: str, spec: dict[str, Any] | str) -> None:
        text = spec if isinstance(spec, str) else yaml.safe_dump(spec, sort_keys=False)
        (self.root / "workflows" / "wf" / f"{name}.sync.yml").write_text(text)

    def run(
        self,
        name: str,
        bizdate: str = "20240101",
        *,
        cancel: threading.Event | None = None,
        on_source: Callable[[Any], None] | None = None,
        listeners: list[Any] | None = None,
    ) -> SyncResult:
        config = {"name": "syncws", "data_sources": self.data_sources}
        (self.root / "lakeworks.yml").write_text(yaml.safe_dump(config))
        workspace = load_workspace(self.root)
        node = workspace.find_node(f"wf.{name}")
        assert node is not None
        day = datetime.strptime(bizdate, "%Y%m%d").date()
        params = ParamContext(cycle_time=cycle_time_for_bizdate(day))
        service = SyncService(workspace, "dev", self.engine, self.db, retry_delay=0.05)
        return service.run(
            node,
            params,
            log=self.log.append,
            cancel=cancel,
            on_source=on_source,
            listeners=listeners,
        )

    def state(self) -> SyncState:
        return SyncState(self.db, "syncws", "dev")

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        session = self.engine.session()
        try:
            return session.execute(sql).rows
        finally:
            session.close()

    def close(self) -> None:
        self.db.engine.dispose()
        close_all()
