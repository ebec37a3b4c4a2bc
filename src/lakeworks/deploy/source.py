"""Which workspace definition runs in an environment.

dev runs the workspace folder as it is now; prod runs the current release, whose files
are written once per machine under ``<state dir>/releases/<workspace>/<number>/`` and
loaded from there. The loaded prod workspace keeps the home folder's state directory
(metadata, warehouse, key) and resolves relative engine paths against the home folder,
so that only the definitions come from the release.
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from lakeworks.deploy.repository import DeploymentRepository
from lakeworks.deploy.snapshot import materialize
from lakeworks.spec.models import Workspace
from lakeworks.store.database import Database

RELEASES_DIR = "releases"


@dataclass(frozen=True)
class DeployedWorkspace(Workspace):
    """A workspace loaded from a release folder, bound to its home folder's state."""

    home: Path = Path()
    release: int = 0

    @property
    def state_dir(self) -> Path:
        return self.home / ".lakeworks"


def folder_fingerprint(root: Path) -> str:
    """A digest of the paths, sizes, inodes and modification times of a workspace
    folder's visible files: it changes when a file is written (in place or replaced),
    added, removed or renamed, even within one tick of a coarse file clock."""
    digest = hashlib.sha1()
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(n for n in files if not n.startswith(".")):
            path = os.path.join(folder, name)
            try:
                st = os.stat(path)
            except OSError:
                continue
            digest.update(f"{path}\0{st.st_size}\0{st.st_ino}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def bind_to_home(workspace: Workspace, home: Path, release: int) -> DeployedWorkspace:
    """``workspace`` (loaded from a release folder) with state and engine paths of ``home``."""
    engines = {}
    for name, engine in workspace.config.engines.items():
        if engine.path and not Path(engine.path).is_absolute():
            engine = engine.model_copy(update={"path": str((home / engine.path).resolve())})
        engines[name] = engine
    return DeployedWorkspace(
        root=workspace.root,
        config=workspace.config.model_copy(update={"engines": engines}),
        workflows=workspace.workflows,
        called=workspace.called,
        home=home,
        release=release,
    )


class DeployedWorkspaceSource:
    """``current(env)``: the dev folder for dev, the current release for other envs."""

    def __init__(self, db: Database, home: Path, name: str | None = None) -> None:
        self.db = db
        self.home = home.resolve()
        self._name = name
        self._repo = DeploymentRepository(db)
        self._lock = threading.Lock()
        self._dev: tuple[str, Workspace] | None = None
        self._released: dict[str, DeployedWorkspace] = {}

    @property
    def name(self) -> str:
        if self._name is None:
            self._name = self.dev().name
        return self._name

    def dev(self) -> Workspace:
        """The workspace folder, reloaded when its files changed."""
        from lakeworks.spec.loader import load_workspace

        stamp = folder_fingerprint(self.home)
        with self._lock:
            if self._dev is not None and self._dev[0] == stamp:
                return self._dev[1]
        loaded = load_workspace(self.home)
        with self._lock:
            self._dev = (stamp, loaded)
        return loaded

    def release_number(self, env: str = "prod") -> int | None:
        current = self._repo.current(self.name, env)
        return None if current is None else current.number

    def current(self, env: str) -> Workspace:
        """The definition that runs in ``env``. Before the first deployment an
        environment runs nothing: the workspace settings without any workflow."""
        if env == "dev":
            return self.dev()
        release = self._repo.current(self.name, env)
        if release is None:
            return self._empty()
        with self._lock:
            cached = self._released.get(env)
            if cached is not None and cached.release == release.number:
                return cached
        loaded = self._load_release(env, release.id, release.number)
        with self._lock:
            self._released[env] = loaded
        return loaded

    def _empty(self) -> DeployedWorkspace:
        dev = self.dev()
        return bind_to_home(Workspace(root=dev.root, config=dev.config), self.home, 0)

    def node_versions(self, env: str) -> dict[str, int]:
        """Node key → node version of ``env``'s current release (empty for dev)."""
        if env == "dev":
            return {}
        release = self._repo.current(self.name, env)
        return {} if release is None else dict(release.nodes)

    def _load_release(self, env: str, release_id: int, number: int) -> DeployedWorkspace:
        from lakeworks.spec.loader import load_workspace

        target = self.home / ".lakeworks" / RELEASES_DIR / self.name / env / str(number)
        if not target.is_dir():
            paths = self._repo.release_files(release_id)
            contents = self._repo.contents(paths.values())
            materialize({p: contents[h] for p, h in paths.items()}, target)
        loaded = load_workspace(target)
        return bind_to_home(loaded, self.home, number)
