"""Node versions: every distinct code and header a node has had, numbered 1, 2, 3…"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from lakeworks.errors import Conflict
from lakeworks.store.clock import utcnow
from lakeworks.store.database import Database
from lakeworks.store.models import NodeVersion
from lakeworks.store.records import node_version_from_row
from lakeworks.store.schema import node_versions

_RECORD_ATTEMPTS = 3


def code_hash(code: str, header_json: str) -> str:
    """The SHA-256 of a node's code and header; equal hashes mean the same version."""
    digest = hashlib.sha256()
    digest.update(code.encode())
    digest.update(b"\0")
    digest.update(header_json.encode())
    return digest.hexdigest()


class NodeVersionRepository:
    """Record and read node versions."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def record(
        self,
        workspace: str,
        env: str,
        node_key: str,
        code: str,
        header_json: str | Mapping[str, Any],
    ) -> NodeVersion:
        """The latest version if code and header are unchanged, else a new version.

        ``header_json`` may be a mapping; it is then stored as sorted JSON. Two
        writers recording at once both end with the same version.
        """
        header = (
            header_json
            if isinstance(header_json, str)
            else json.dumps(dict(header_json), sort_keys=True)
        )
        digest = code_hash(code, header)
        for _ in range(_RECORD_ATTEMPTS):
            try:
                with self._db.write() as conn:
                    latest = self._latest(conn, workspace, env, node_key)
                    if latest is not None and latest.code_hash == digest:
                        return latest
                    values = {
                        "workspace": workspace,
                        "env": env,
                        "node_key": node_key,
                        "version": 1 if latest is None else latest.version + 1,
                        "code_hash": digest,
                        "code": code,
                        "header_json": header,
                        "created_at": utcnow(),
                    }
                    row = conn.execute(
                        sa.insert(node_versions).values(values).returning(*node_versions.c)
                    ).one()
                    return node_version_from_row(row)
            except sa.exc.IntegrityError:
                continue  # another writer took this version number; look again
        raise Conflict(f"could not record a version of node {node_key!r}: too many writers")

    def record_many(
        self, workspace: str, env: str, nodes: Sequence[tuple[str, str, str]]
    ) -> dict[str, int]:
        """``record`` for many ``(node_key, code, header_json)`` in one transaction.

        Returns the version number of each node key.
        """
        digests = {key: code_hash(code, header) for key, code, header in nodes}
        for _ in range(_RECORD_ATTEMPTS):
            try:
                with self._db.write() as conn:
                    latest = self._latest_hashes(conn, workspace, env)
                    versions: dict[str, int] = {}
                    rows: list[dict[str, Any]] = []
                    now = utcnow()
                    for key, code, header in nodes:
                        number, digest = latest.get(key, (0, ""))
                        if digest == digests[key]:
                            versions[key] = number
                            continue
                        versions[key] = number + 1
                        rows.append(
                            {
                                "workspace": workspace,
                                "env": env,
                                "node_key": key,
                                "version": number + 1,
                                "code_hash": digests[key],
                                "code": code,
                                "header_json": header,
                                "created_at": now,
                            }
                        )
                    if rows:
                        conn.execute(sa.insert(node_versions), rows)
                    return versions
            except sa.exc.IntegrityError:
                continue  # another writer took a version number; look again
        raise Conflict(f"could not record versions of {len(nodes)} nodes: too many writers")

    @staticmethod
    def _latest_hashes(conn: sa.Connection, workspace: str, env: str) -> dict[str, tuple[int, str]]:
        v = node_versions
        newest = (
            sa.select(v.c.node_key, sa.func.max(v.c.version).label("version"))
            .where(v.c.workspace == workspace, v.c.env == env)
            .group_by(v.c.node_key)
            .subquery()
        )
        query = sa.select(v.c.node_key, v.c.version, v.c.code_hash).join(
            newest,
            sa.and_(
                v.c.workspace == workspace,
                v.c.env == env,
                v.c.node_key == newest.c.node_key,
                v.c.version == newest.c.version,
            ),
        )
        return {row.node_key: (row.version, row.code_hash) for row in conn.execute(query)}

    def latest(self, workspace: str, env: str, node_key: str) -> NodeVersion | None:
        """The newest version of the node, or ``None`` if it has none."""
        with self._db.read() as conn:
            return self._latest(conn, workspace, env, node_key)

    def get(self, workspace: str, env: str, node_key: str, version: int) -> NodeVersion | None:
        """One version of the node, or ``None``."""
        query = sa.select(node_versions).where(
            node_versions.c.workspace == workspace,
            node_versions.c.env == env,
            node_versions.c.node_key == node_key,
            node_versions.c.version == version,
        )
        with self._db.read() as conn:
            row = conn.execute(query).one_or_none()
        return None if row is None else node_version_from_row(row)

    def history(self, workspace: str, env: str, node_key: str) -> list[NodeVersion]:
        """Every version of the node, oldest first."""
        query = (
            sa.select(node_versions)
            .where(
                node_versions.c.workspace == workspace,
                node_versions.c.env == env,
                node_versions.c.node_key == node_key,
            )
            .order_by(node_versions.c.version)
        )
        with self._db.read() as conn:
            return [node_version_from_row(row) for row in conn.execute(query)]

    @staticmethod
    def _latest(conn: sa.Connection, workspace: str, env: str, node_key: str) -> NodeVersion | None:
        query = (
            sa.select(node_versions)
            .where(
                node_versions.c.workspace == workspace,
                node_versions.c.env == env,
                node_versions.c.node_key == node_key,
            )
            .order_by(node_versions.c.version.desc())
            .limit(1)
        )
        row = conn.execute(query).one_or_none()
        return None if row is None else node_version_from_row(row)
