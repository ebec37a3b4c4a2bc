"""Where the scheduler and workers get the workspace definition from.

``WorkspaceSource.current(env)`` returns the workspace to schedule and run. Today it is
read from the workspace folder (``FolderWorkspaceSource``), reloaded when its files
change; deployments (versioned definitions kept in the store) can stand in behind the
same interface.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from lakeworks.errors import LakeworksError
from lakeworks.spec.models import Workspace


class WorkspaceSource(Protocol):
    """The current definition of a workspace for an environment."""

    def current(self, env: str) -> Workspace:
        """The workspace to schedule and run in ``env`` now."""
        ...


def _fingerprint(root: Path) -> tuple[int, int]:
    """(file count, newest modification time in ns) of the workspace's files."""
    newest = 0
    count = 0
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            if name.startswith("."):
                continue
            try:
                stat = os.stat(os.path.join(folder, name))
            except OSError:
                continue
            count += 1
            newest = max(newest, stat.st_mtime_ns)
    return count, newest


class FolderWorkspaceSource:
    """The workspace in a folder, reloaded at most every ``refresh_seconds`` when changed.

    A change that does not load (a syntax error, a cycle) keeps the previous
    definition in service; the problem is passed to ``on_error``.
    """

    def __init__(
        self,
        root: Path,
        *,
        refresh_seconds: float = 5.0,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        from lakeworks.spec.roots import find_workspace_root

        self.root = find_workspace_root(root)
        self.refresh_seconds = refresh_seconds
        self.on_error = on_error
        self._lock = threading.Lock()
        self._workspace: Workspace | None = None
        self._fingerprint: tuple[int, int] | None = None
        self._checked = 0.0

    def current(self, env: str) -> Workspace:
        """The loaded workspace (the same object until the folder changes)."""
        with self._lock:
            now = time.monotonic()
            if self._workspace is not None and now - self._checked < self.refresh_seconds:
                return self._workspace
            self._checked = now
            print_ = _fingerprint(self.root)
            if self._workspace is not None and print_ == self._fingerprint:
                return self._workspace
            try:
                self._workspace = self._load()
            except LakeworksError as exc:
                if self._workspace is None:
                    raise
                if self.on_error is not None:
                    self.on_error(f"workspace change not applied: {exc.render()}")
            self._fingerprint = print_
            return self._workspace

    def _load(self) -> Workspace:
        from lakeworks.schedule.graph import build_graph
        from lakeworks.schedule.planning import Planner
        from lakeworks.spec.loader import load_workspace

        workspace = load_workspace(self.root)
        # a broken graph or schedule must not replace a working definition
        Planner(workspace, build_graph(workspace))
        return workspace


class FixedWorkspaceSource:
    """Always the same workspace (tests, generated workspaces)."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace

    def current(self, env: str) -> Workspace:
        return self.workspace


class ThrottledSource:
    """Asks ``inner`` at most every ``refresh_seconds`` per environment (for sources
    that read the store on every call, such as deployed releases)."""

    def __init__(self, inner: WorkspaceSource, refresh_seconds: float = 5.0) -> None:
        self.inner = inner
        self.refresh_seconds = refresh_seconds
        self._lock = threading.Lock()
        self._cached: dict[str, tuple[float, Workspace]] = {}

    def current(self, env: str) -> Workspace:
        with self._lock:
            cached = self._cached.get(env)
            if cached is not None and time.monotonic() - cached[0] < self.refresh_seconds:
                return cached[1]
        workspace = self.inner.current(env)
        with self._lock:
            self._cached[env] = (time.monotonic(), workspace)
        return workspace


def pinned_versions(source: WorkspaceSource, env: str) -> dict[str, int]:
    """Node versions fixed by the source (a deployed release), or none.

    A deployment-backed source knows the exact node versions of the release it serves,
    so instances record the release's numbers, also after a rollback.
    """
    getter = getattr(source, "node_versions", None)
    if not callable(getter):
        return {}
    found = getter(env)
    return {str(k): int(v) for k, v in dict(found).items()}
