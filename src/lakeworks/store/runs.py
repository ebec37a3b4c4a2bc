"""Runs: one trigger of work (a manual run, a backfill, a scheduled batch)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import sqlalchemy as sa

from lakeworks.errors import NotFound, UserError
from lakeworks.store.clock import utcnow
from lakeworks.store.database import Database
from lakeworks.store.models import Run, RunState, RunType
from lakeworks.store.records import run_from_row
from lakeworks.store.schema import runs


class RunRepository:
    """Create, read and finish runs."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def create(
        self,
        workspace: str,
        env: str,
        run_type: RunType | str,
        created_by: str,
        description: str = "",
        params: dict[str, Any] | None = None,
    ) -> Run:
        """Record a new run in state ``running`` with a fresh unique ``run_key``."""
        try:
            kind = RunType(run_type)
        except ValueError as exc:
            raise UserError(
                f"unknown run type {run_type!r}",
                hint="one of: " + ", ".join(t.value for t in RunType),
            ) from exc
        try:
            params_json = json.dumps(params or {}, sort_keys=True)
        except (TypeError, ValueError) as exc:
            raise UserError(f"run parameters must be JSON values: {exc}") from exc
        values = {
            "workspace": workspace,
            "env": env,
            "run_type": kind.value,
            "run_key": uuid.uuid4().hex,
            "created_at": utcnow(),
            "created_by": created_by,
            "description": description,
            "params_json": params_json,
            "state": RunState.RUNNING.value,
            "finished_at": None,
        }
        with self._db.write() as conn:
            row = conn.execute(sa.insert(runs).values(values).returning(*runs.c)).one()
        return run_from_row(row)

    def get(self, id: int) -> Run:
        """The run with this id; ``NotFound`` if there is none."""
        with self._db.read() as conn:
            row = conn.execute(sa.select(runs).where(runs.c.id == id)).one_or_none()
        if row is None:
            raise NotFound(f"run {id} does not exist")
        return run_from_row(row)

    def get_by_key(self, run_key: str) -> Run:
        """The run with this ``run_key``; ``NotFound`` if there is none."""
        with self._db.read() as conn:
            row = conn.execute(sa.select(runs).where(runs.c.run_key == run_key)).one_or_none()
        if row is None:
            raise NotFound(f"run {run_key!r} does not exist")
        return run_from_row(row)

    def list(
        self,
        *,
        workspace: str | None = None,
        env: str | None = None,
        run_type: RunType | str | None = None,
        after_id: int | None = None,
        limit: int = 100,
    ) -> list[Run]:
        """Runs, newest first, ``after_id`` continuing a previous page."""
        query = sa.select(runs).order_by(runs.c.id.desc()).limit(limit)
        if workspace is not None:
            query = query.where(runs.c.workspace == workspace)
        if env is not None:
            query = query.where(runs.c.env == env)
        if run_type is not None:
            query = query.where(runs.c.run_type == RunType(run_type).value)
        if after_id is not None:
            query = query.where(runs.c.id < after_id)
        with self._db.read() as conn:
            return [run_from_row(row) for row in conn.execute(query)]

    def finish(self, id: int, state: RunState | str) -> Run:
        """Mark the run finished in ``state`` (success, failed, stopped)."""
        final = RunState(state)
        if final is RunState.RUNNING:
            raise ValueError("finish() needs a final state, not 'running'")
        with self._db.write() as conn:
            row = conn.execute(
                sa.update(runs)
                .where(runs.c.id == id)
                .values(state=final.value, finished_at=utcnow())
                .returning(*runs.c)
            ).one_or_none()
        if row is None:
            raise NotFound(f"run {id} does not exist")
        return run_from_row(row)
