"""Reading and writing deployments, releases and file contents in the store."""

from __future__ import annotations

import builtins
import json
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa

from lakeworks.deploy.models import (
    Deployment,
    DeploymentFile,
    DeploymentState,
    FileChange,
    Problem,
    Release,
)
from lakeworks.deploy.tables import (
    deploy_blobs,
    deployment_files,
    deployments,
    release_files,
    release_nodes,
    releases,
)
from lakeworks.errors import NotFound
from lakeworks.store.database import Database
from lakeworks.store.statements import chunked, insert_ignoring

_d = deployments.c
_r = releases.c


def _deployment(row: Any, files: list[DeploymentFile] | None = None) -> Deployment:
    m = row._mapping
    return Deployment(
        id=m["id"],
        workspace=m["workspace"],
        env=m["env"],
        state=DeploymentState(m["state"]),
        kind=m["kind"],
        description=m["description"],
        source=m["source"],
        base_release=m["base_release"],
        rollback_to=m["rollback_to"],
        requires_approval=bool(m["requires_approval"]),
        summary=json.loads(m["summary_json"]),
        problems=[Problem(**p) for p in json.loads(m["problems_json"])],
        warnings=list(json.loads(m["warnings_json"])),
        created_by=m["created_by"],
        created_at=m["created_at"],
        decided_by=m["decided_by"],
        decided_at=m["decided_at"],
        decision_note=m["decision_note"],
        applied_by=m["applied_by"],
        applied_at=m["applied_at"],
        release=m["release"],
        files=files or [],
    )


def _release(row: Any, nodes: dict[str, int] | None = None) -> Release:
    m = row._mapping
    return Release(
        id=m["id"],
        workspace=m["workspace"],
        env=m["env"],
        number=m["number"],
        deployment_id=m["deployment_id"],
        created_at=m["created_at"],
        created_by=m["created_by"],
        nodes=nodes or {},
    )


def store_blobs(conn: sa.Connection, files: Mapping[str, str], hashes: Mapping[str, str]) -> None:
    """Insert the contents not stored yet (content-addressed, so never twice)."""
    rows = {
        hashes[path]: {"hash": hashes[path], "content": text, "size": len(text.encode())}
        for path, text in files.items()
    }
    wanted = sorted(rows)
    existing: set[str] = set()
    for chunk in chunked(wanted):
        existing.update(
            conn.execute(sa.select(deploy_blobs.c.hash).where(deploy_blobs.c.hash.in_(chunk)))
            .scalars()
            .all()
        )
    missing = [rows[h] for h in wanted if h not in existing]
    if missing:
        conn.execute(insert_ignoring(conn, deploy_blobs), missing)


class DeploymentRepository:
    """Deployments and releases of one store."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- deployments -----------------------------------------------------------------

    def insert(
        self,
        values: Mapping[str, Any],
        files: Iterable[DeploymentFile],
        contents: Mapping[str, str],
        hashes: Mapping[str, str],
    ) -> Deployment:
        """Record a deployment with its files (and their contents) in one transaction."""
        row_values = dict(values)
        for key in ("summary", "problems", "warnings"):
            row_values[f"{key}_json"] = json.dumps(row_values.pop(key), default=str)
        with self._db.write() as conn:
            store_blobs(conn, contents, hashes)
            row = conn.execute(
                sa.insert(deployments).values(row_values).returning(*deployments.c)
            ).one()
            file_rows = [
                {
                    "deployment_id": row.id,
                    "path": f.path,
                    "blob_hash": f.blob_hash,
                    "change": f.change.value,
                    "node_key": f.node_key,
                    "node_version": f.node_version,
                }
                for f in files
            ]
            if file_rows:
                conn.execute(sa.insert(deployment_files), file_rows)
        return self.get(row.id)

    def get(self, deployment_id: int, workspace: str | None = None) -> Deployment:
        query = sa.select(deployments).where(_d.id == deployment_id)
        if workspace is not None:
            query = query.where(_d.workspace == workspace)
        with self._db.read() as conn:
            row = conn.execute(query).one_or_none()
            if row is None:
                raise NotFound(f"deployment {deployment_id} does not exist")
            files = [
                DeploymentFile(
                    path=f.path,
                    blob_hash=f.blob_hash,
                    change=FileChange(f.change),
                    node_key=f.node_key,
                    node_version=f.node_version,
                )
                for f in conn.execute(
                    sa.select(deployment_files)
                    .where(deployment_files.c.deployment_id == deployment_id)
                    .order_by(deployment_files.c.path)
                )
            ]
        return _deployment(row, files)

    def list(
        self,
        workspace: str,
        env: str,
        *,
        state: DeploymentState | None = None,
        before_id: int | None = None,
        limit: int = 50,
    ) -> builtins.list[Deployment]:
        """Deployments newest first (without their files)."""
        query = (
            sa.select(deployments)
            .where(_d.workspace == workspace, _d.env == env)
            .order_by(_d.id.desc())
            .limit(limit)
        )
        if state is not None:
            query = query.where(_d.state == state.value)
        if before_id is not None:
            query = query.where(_d.id < before_id)
        with self._db.read() as conn:
            return [_deployment(row) for row in conn.execute(query)]

    def decide(
        self,
        deployment_id: int,
        expected: DeploymentState,
        new_state: DeploymentState,
        values: Mapping[str, Any],
    ) -> bool:
        """Compare-and-set a deployment's state; False if it was not ``expected``."""
        with self._db.write() as conn:
            result = conn.execute(
                sa.update(deployments)
                .where(_d.id == deployment_id, _d.state == expected.value)
                .values(state=new_state.value, **values)
            )
        return bool(result.rowcount)

    def contents(self, hashes: Iterable[str]) -> dict[str, str]:
        """File contents by hash."""
        wanted = sorted(set(hashes))
        found: dict[str, str] = {}
        with self._db.read() as conn:
            for chunk in chunked(wanted):
                query = sa.select(deploy_blobs.c.hash, deploy_blobs.c.content).where(
                    deploy_blobs.c.hash.in_(chunk)
                )
                found.update({h: c for h, c in conn.execute(query)})
        return found

    # -- releases --------------------------------------------------------------------

    def current(self, workspace: str, env: str) -> Release | None:
        """The newest release of ``workspace`` in ``env`` (with its node versions)."""
        query = (
            sa.select(releases)
            .where(_r.workspace == workspace, _r.env == env)
            .order_by(_r.number.desc())
            .limit(1)
        )
        with self._db.read() as conn:
            row = conn.execute(query).one_or_none()
            if row is None:
                return None
            return _release(row, self._nodes(conn, row.id))

    def release(self, workspace: str, env: str, number: int) -> Release:
        query = sa.select(releases).where(
            _r.workspace == workspace, _r.env == env, _r.number == number
        )
        with self._db.read() as conn:
            row = conn.execute(query).one_or_none()
            if row is None:
                raise NotFound(f"release {number} of {workspace} ({env}) does not exist")
            return _release(row, self._nodes(conn, row.id))

    def releases(
        self, workspace: str, env: str, *, before: int | None = None, limit: int = 50
    ) -> builtins.list[Release]:
        """Releases newest first (without node versions)."""
        query = (
            sa.select(releases)
            .where(_r.workspace == workspace, _r.env == env)
            .order_by(_r.number.desc())
            .limit(limit)
        )
        if before is not None:
            query = query.where(_r.number < before)
        with self._db.read() as conn:
            return [_release(row) for row in conn.execute(query)]

    def release_files(self, release_id: int) -> dict[str, str]:
        """Path → content hash of a release's files."""
        query = sa.select(release_files.c.path, release_files.c.blob_hash).where(
            release_files.c.release_id == release_id
        )
        with self._db.read() as conn:
            return {path: digest for path, digest in conn.execute(query)}

    @staticmethod
    def _nodes(conn: sa.Connection, release_id: int) -> dict[str, int]:
        query = sa.select(release_nodes.c.node_key, release_nodes.c.node_version).where(
            release_nodes.c.release_id == release_id
        )
        return {key: version for key, version in conn.execute(query)}
