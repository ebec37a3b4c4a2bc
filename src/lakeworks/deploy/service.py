"""Deployments: package, validate, approve, apply atomically, roll back.

A deployment snapshots a workspace folder (the dev folder, or a git checkout given to
``lakeworks deploy DIR``), compares it with the environment's current release, and
validates it as a whole workspace. One that fails validation is recorded as
``invalid`` and can never change anything. When the workspace requires approval a
deployer other than the author approves it. Applying writes the new release — its
files, and a node version for every node — in one transaction, and only if the
environment is still at the release the deployment was compared with. A rollback is a
deployment of an earlier release's files that reuses that release's exact node
versions.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from lakeworks.catalog.column_check import catalog_lookup
from lakeworks.deploy.diff import FileDiff, compare, summarize, unified
from lakeworks.deploy.models import (
    Deployment,
    DeploymentFile,
    DeploymentState,
    FileChange,
    Problem,
    Release,
)
from lakeworks.deploy.repository import DeploymentRepository
from lakeworks.deploy.snapshot import Snapshot, content_hash, snapshot_folder, write_files
from lakeworks.deploy.tables import deployments, release_files, release_nodes, releases
from lakeworks.deploy.validate import validate_files
from lakeworks.errors import Conflict, NotFound, PermissionDenied, UserError
from lakeworks.spec.models import Workspace
from lakeworks.store.clock import utcnow
from lakeworks.store.database import Database
from lakeworks.store.node_versions import code_hash
from lakeworks.store.schema import node_versions

PROD = "prod"


@dataclass(frozen=True)
class NodeDefinition:
    code: str
    header_json: str


def node_definitions(workspace: Workspace) -> dict[str, NodeDefinition]:
    """What a node version records for every node: its code and its header."""
    return {
        node.key: NodeDefinition(node.code, node.header.model_dump_json())
        for node in workspace.nodes()
    }


def _load_files(files: Mapping[str, str]) -> Workspace:
    from lakeworks.spec.loader import load_workspace

    with tempfile.TemporaryDirectory(prefix="lakeworks-apply-") as tmp:
        write_files(Path(tmp), files)
        return load_workspace(Path(tmp))


def _workspace_name(files: Mapping[str, str]) -> str | None:
    import yaml

    try:
        data = yaml.safe_load(files.get("lakeworks.yml", "")) or {}
    except yaml.YAMLError:
        return None
    name = data.get("name") if isinstance(data, dict) else None
    return name if isinstance(name, str) else None


class DeploymentService:
    """Deployments of one workspace to one environment (prod by default)."""

    def __init__(
        self,
        db: Database,
        workspace: str,
        *,
        env: str = PROD,
        require_approval: bool = False,
    ) -> None:
        if env == "dev":
            raise UserError("dev is the workspace folder itself; deployments target prod")
        self.db = db
        self.workspace = workspace
        self.env = env
        self.require_approval = require_approval
        self.repo = DeploymentRepository(db)

    # -- creating --------------------------------------------------------------------

    def create_from_folder(
        self, root: Path, *, actor: str, description: str = "", source: str | None = None
    ) -> Deployment:
        """Package the workspace folder at ``root`` as a deployment and validate it."""
        snapshot = snapshot_folder(root)
        return self.create(
            snapshot, actor=actor, description=description, source=source or f"folder {root}"
        )

    def create(
        self,
        snapshot: Snapshot,
        *,
        actor: str,
        description: str = "",
        source: str = "api",
        rollback_to: int | None = None,
        pinned_versions: Mapping[str, int] | None = None,
    ) -> Deployment:
        """Record a deployment of ``snapshot``: diff against the current release,
        validation, and the state it starts in (invalid, pending approval, ready)."""
        files = dict(snapshot.files)
        hashes = snapshot.hashes()
        base = self.repo.current(self.workspace, self.env)
        old = self.repo.release_files(base.id) if base else {}
        diffs = compare(hashes, old)
        summary = summarize(diffs)
        if summary["changes"] == 0:
            raise Conflict(
                f"nothing to deploy: the files equal release {base.number if base else 0}"
                f" of {self.env}",
                hint="change something in the workspace first",
            )
        report = validate_files(files, catalog=catalog_lookup(self.db, self.env))
        problems = list(report.problems)
        named = _workspace_name(files)
        if named is not None and named != self.workspace:
            problems.insert(
                0,
                Problem(
                    f"the folder holds workspace '{named}', not '{self.workspace}'",
                    file="lakeworks.yml",
                    key="name",
                    hint="deploy it to its own workspace, or rename it",
                ),
            )
        if problems:
            state = DeploymentState.INVALID
        elif self.require_approval:
            state = DeploymentState.PENDING_APPROVAL
        else:
            state = DeploymentState.READY
        pinned = dict(pinned_versions or {})
        values: dict[str, Any] = {
            "workspace": self.workspace,
            "env": self.env,
            "state": state.value,
            "kind": "rollback" if rollback_to is not None else "change",
            "description": description,
            "source": source,
            "base_release": base.number if base else None,
            "rollback_to": rollback_to,
            "requires_approval": self.require_approval,
            "summary": summary,
            "problems": [asdict(p) for p in problems],
            "warnings": [*snapshot.warnings, *report.warnings],
            "created_by": actor,
            "created_at": utcnow(),
        }
        entries = [self._file(d, pinned) for d in diffs]
        return self.repo.insert(values, entries, files, hashes)

    @staticmethod
    def _file(diff: FileDiff, pinned: Mapping[str, int]) -> DeploymentFile:
        digest = diff.new_hash if diff.new_hash is not None else diff.old_hash
        assert digest is not None
        version = None
        if diff.node_key is not None and diff.change is not FileChange.REMOVED:
            version = pinned.get(diff.node_key)
        return DeploymentFile(diff.path, digest, diff.change, diff.node_key, version)

    def create_rollback(self, to_release: int, *, actor: str, description: str = "") -> Deployment:
        """A deployment that restores release ``to_release`` (files and node versions)."""
        target = self.repo.release(self.workspace, self.env, to_release)
        current = self.repo.current(self.workspace, self.env)
        if current is not None and current.number == to_release:
            raise Conflict(f"{self.env} is at release {to_release} already")
        paths = self.repo.release_files(target.id)
        contents = self.repo.contents(paths.values())
        snapshot = Snapshot({path: contents[digest] for path, digest in paths.items()})
        return self.create(
            snapshot,
            actor=actor,
            description=description or f"roll back to release {to_release}",
            source=f"rollback to release {to_release}",
            rollback_to=to_release,
            pinned_versions=target.nodes,
        )

    # -- deciding --------------------------------------------------------------------

    def get(self, deployment_id: int) -> Deployment:
        return self.repo.get(deployment_id, self.workspace)

    def approve(self, deployment_id: int, *, actor: str, note: str | None = None) -> Deployment:
        """Approve a deployment waiting for approval (not by its author)."""
        deployment = self.get(deployment_id)
        if deployment.state is not DeploymentState.PENDING_APPROVAL:
            raise Conflict(
                f"deployment {deployment_id} is {deployment.state.value}, not waiting for approval"
            )
        if deployment.created_by == actor:
            raise PermissionDenied(
                "a deployment cannot be approved by its author",
                hint="another deployer must approve it",
            )
        self._decide(deployment, DeploymentState.READY, actor, note)
        return self.get(deployment_id)

    def reject(self, deployment_id: int, *, actor: str, note: str | None = None) -> Deployment:
        """Reject a deployment that has not been applied."""
        deployment = self.get(deployment_id)
        if deployment.state not in (DeploymentState.PENDING_APPROVAL, DeploymentState.READY):
            raise Conflict(f"deployment {deployment_id} is {deployment.state.value}")
        self._decide(deployment, DeploymentState.REJECTED, actor, note)
        return self.get(deployment_id)

    def _decide(
        self, deployment: Deployment, state: DeploymentState, actor: str, note: str | None
    ) -> None:
        changed = self.repo.decide(
            deployment.id,
            deployment.state,
            state,
            {"decided_by": actor, "decided_at": utcnow(), "decision_note": note},
        )
        if not changed:
            raise Conflict(f"deployment {deployment.id} changed meanwhile; look again")

    # -- applying --------------------------------------------------------------------

    def apply(self, deployment_id: int, *, actor: str) -> Release:
        """Make the deployment the environment's new release, all at once."""
        deployment = self.get(deployment_id)
        self._check_applicable(deployment)
        live = [f for f in deployment.files if f.change is not FileChange.REMOVED]
        contents = self.repo.contents(f.blob_hash for f in live)
        files = {f.path: contents[f.blob_hash] for f in live}
        try:
            workspace = _load_files(files)
        except UserError as exc:
            raise Conflict(f"deployment {deployment_id} no longer loads: {exc}") from None
        definitions = node_definitions(workspace)
        pinned = {f.node_key: f.node_version for f in live if f.node_key and f.node_version}
        now = utcnow()
        try:
            with self.db.write() as conn:
                number = self._lock_and_check(conn, deployment)
                versions = self._node_versions(conn, definitions, pinned, now)
                release_id = conn.execute(
                    sa.insert(releases)
                    .values(
                        workspace=self.workspace,
                        env=self.env,
                        number=number,
                        deployment_id=deployment.id,
                        created_at=now,
                        created_by=actor,
                    )
                    .returning(releases.c.id)
                ).scalar_one()
                conn.execute(
                    sa.insert(release_files),
                    [
                        {"release_id": release_id, "path": f.path, "blob_hash": f.blob_hash}
                        for f in live
                    ],
                )
                if versions:
                    conn.execute(
                        sa.insert(release_nodes),
                        [
                            {"release_id": release_id, "node_key": k, "node_version": v}
                            for k, v in sorted(versions.items())
                        ],
                    )
                conn.execute(
                    sa.update(deployments)
                    .where(deployments.c.id == deployment.id)
                    .values(
                        state=DeploymentState.APPLIED.value,
                        applied_by=actor,
                        applied_at=now,
                        release=number,
                    )
                )
        except sa.exc.IntegrityError:
            raise Conflict(
                f"another deployment was applied to {self.env} at the same time",
                hint="create the deployment again against the new release",
            ) from None
        return self.repo.release(self.workspace, self.env, number)

    def _check_applicable(self, deployment: Deployment) -> None:
        state = deployment.state
        if state is DeploymentState.READY:
            return
        if state is DeploymentState.INVALID:
            raise Conflict(
                f"deployment {deployment.id} failed validation and cannot be applied",
                hint="fix the problems and create a new deployment",
            )
        if state is DeploymentState.PENDING_APPROVAL:
            raise Conflict(
                f"deployment {deployment.id} waits for a deployer's approval",
                hint="a deployer other than the author approves it first",
            )
        raise Conflict(f"deployment {deployment.id} is {state.value}")

    def _lock_and_check(self, conn: sa.Connection, deployment: Deployment) -> int:
        state = conn.execute(
            sa.select(deployments.c.state)
            .where(deployments.c.id == deployment.id)
            .with_for_update()
        ).scalar_one()
        if state != DeploymentState.READY.value:
            raise Conflict(f"deployment {deployment.id} is {state} now")
        current = conn.execute(
            sa.select(sa.func.max(releases.c.number)).where(
                releases.c.workspace == self.workspace, releases.c.env == self.env
            )
        ).scalar_one_or_none()
        if current != deployment.base_release:
            raise Conflict(
                f"{self.env} moved to release {current} after deployment {deployment.id} was"
                f" prepared against release {deployment.base_release}",
                hint="create the deployment again so that it shows the real changes",
            )
        return (current or 0) + 1

    def _node_versions(
        self,
        conn: sa.Connection,
        definitions: Mapping[str, NodeDefinition],
        pinned: Mapping[str, int],
        now: Any,
    ) -> dict[str, int]:
        nv = node_versions.c
        versions: dict[str, int] = {}
        for key, definition in sorted(definitions.items()):
            scope = (nv.workspace == self.workspace, nv.env == self.env, nv.node_key == key)
            if key in pinned:
                exists = conn.execute(
                    sa.select(nv.version).where(*scope, nv.version == pinned[key])
                ).scalar_one_or_none()
                if exists is None:
                    raise NotFound(f"version {pinned[key]} of node {key} no longer exists")
                versions[key] = pinned[key]
                continue
            digest = code_hash(definition.code, definition.header_json)
            same = conn.execute(
                sa.select(nv.version)
                .where(*scope, nv.code_hash == digest)
                .order_by(nv.version.desc())
                .limit(1)
            ).scalar_one_or_none()
            if same is not None:
                versions[key] = same
                continue
            latest = conn.execute(sa.select(sa.func.max(nv.version)).where(*scope)).scalar()
            version = (latest or 0) + 1
            conn.execute(
                sa.insert(node_versions).values(
                    workspace=self.workspace,
                    env=self.env,
                    node_key=key,
                    version=version,
                    code_hash=digest,
                    code=definition.code,
                    header_json=definition.header_json,
                    created_at=now,
                )
            )
            versions[key] = version
        return versions

    # -- reading ---------------------------------------------------------------------

    def diff(self, deployment_id: int, path: str | None = None) -> dict[str, str]:
        """Unified diffs of the deployment's changed files (or of one file)."""
        deployment = self.get(deployment_id)
        base = (
            self.repo.release(self.workspace, self.env, deployment.base_release)
            if deployment.base_release
            else None
        )
        old_paths = self.repo.release_files(base.id) if base else {}
        changed = [
            f
            for f in deployment.files
            if f.change is not FileChange.UNCHANGED and (path is None or f.path == path)
        ]
        if path is not None and not changed:
            raise NotFound(f"deployment {deployment_id} does not change {path}")
        wanted = {f.blob_hash for f in changed} | {
            old_paths[f.path] for f in changed if f.path in old_paths
        }
        contents = self.repo.contents(wanted)
        result: dict[str, str] = {}
        for f in changed:
            old = contents.get(old_paths[f.path]) if f.path in old_paths else None
            new = None if f.change is FileChange.REMOVED else contents.get(f.blob_hash)
            result[f.path] = unified(f.path, old, new)
        return result

    def release_files(self, number: int | None = None) -> dict[str, str]:
        """Path → content of a release's files (the current one by default)."""
        release = (
            self.repo.current(self.workspace, self.env)
            if number is None
            else self.repo.release(self.workspace, self.env, number)
        )
        if release is None:
            return {}
        paths = self.repo.release_files(release.id)
        contents = self.repo.contents(paths.values())
        return {path: contents[digest] for path, digest in sorted(paths.items())}


def digest_files(files: Mapping[str, str]) -> dict[str, str]:
    """Path → content hash."""
    return {path: content_hash(text) for path, text in files.items()}
