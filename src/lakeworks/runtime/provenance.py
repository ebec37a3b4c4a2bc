"""The node version and retry budget an instance really runs with.

The scheduler records them when it plans an instance; a worker may run it under a
newer definition (a release deployed in between). Before the attempt, the worker
records the version of the definition it holds (the release's pinned version, or the
recorded version of the folder's code) and the retry budget of its settings, so that
an instance never reports code or retries it did not run with.
"""

from __future__ import annotations

import threading
from dataclasses import replace

from lakeworks.runtime.workspace_source import WorkspaceSource, pinned_versions
from lakeworks.schedule.retries import RetryPolicy
from lakeworks.spec.models import Node, Workspace
from lakeworks.store.clock import utcnow
from lakeworks.store.database import Database
from lakeworks.store.models import Instance
from lakeworks.store.node_versions import NodeVersionRepository
from lakeworks.store.provenance import record_ran


class DefinitionRecorder:
    """Records what instances run; node versions are looked up once per definition."""

    def __init__(self, db: Database, source: WorkspaceSource) -> None:
        self.db = db
        self.source = source
        self._workspace: Workspace | None = None
        self._versions: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def _version(self, workspace: Workspace, env: str, node: Node) -> int:
        with self._lock:
            if workspace is not self._workspace:
                self._workspace, self._versions = workspace, {}
            found = self._versions.get((env, node.key))
        if found is not None:
            return found
        versions = self._all_versions(workspace, env)
        with self._lock:
            if workspace is self._workspace:
                self._versions.update({(env, key): v for key, v in versions.items()})
        return versions[node.key]

    def _all_versions(self, workspace: Workspace, env: str) -> dict[str, int]:
        """Every node's version: pinned by the release, else recorded (one transaction)."""
        versions = pinned_versions(self.source, env)
        unpinned = [
            (n.key, n.code, n.header.model_dump_json())
            for n in workspace.nodes()
            if n.key not in versions
        ]
        if unpinned:
            repo = NodeVersionRepository(self.db)
            versions.update(repo.record_many(workspace.name, env, unpinned))
        return versions

    def record(self, workspace: Workspace, instance: Instance, *, actor: str) -> Instance:
        """``instance`` with the node version and attempts of ``workspace``'s node."""
        node = workspace.find_node(instance.node_key)
        if node is None:
            return instance
        version = self._version(workspace, instance.env, node)
        max_attempts = instance.max_attempts
        if version != instance.node_version:  # another definition: its own retry budget
            policy = RetryPolicy.from_settings(node.settings)
            max_attempts = max(policy.max_attempts, instance.attempts)
        changed = record_ran(
            self.db,
            instance,
            node_version=version,
            max_attempts=max_attempts,
            actor=actor,
            now=utcnow(),
        )
        if not changed:
            return instance
        return replace(instance, node_version=version, max_attempts=max_attempts)
