"""What the API works with: settings and the services of one server process.

``ServerServices`` opens nothing itself: ``lakeworks up`` (or a test) opens the store
and the key, then builds it. Engines are opened lazily, once per workspace and
environment; workspace definitions come from one ``DeployedWorkspaceSource`` per
registered workspace (the folder for dev, the current release for prod).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from lakeworks.api.inputs import DEFAULT_MAX_BODY_BYTES
from lakeworks.deploy.service import DeploymentService
from lakeworks.deploy.source import DeployedWorkspaceSource
from lakeworks.engines.base import Engine
from lakeworks.errors import NotFound, UserError
from lakeworks.security.audit import AuditLog
from lakeworks.security.credentials import SessionRepository, TokenRepository
from lakeworks.security.grants import GrantRepository
from lakeworks.security.members import MemberRepository
from lakeworks.security.models import WorkspaceRecord
from lakeworks.security.passwords import HashCost, Passwords
from lakeworks.security.secrets import SecretBox, SecretStore, redact
from lakeworks.security.throttle import LockoutPolicy, LoginThrottle
from lakeworks.security.users import UserRepository
from lakeworks.security.workspaces import WorkspaceRepository
from lakeworks.spec.models import Workspace
from lakeworks.store.database import Database

if TYPE_CHECKING:
    from lakeworks.dataservice.hub import DataServiceHub

ENVIRONMENTS = ("dev", "prod")
WORKSPACE_NAMES_SECONDS = 5.0


@dataclass(frozen=True)
class ServerSettings:
    """Knobs of the API server."""

    cookie_secure: bool = True
    session_ttl: timedelta = timedelta(hours=12)
    token_max_days: int = 366
    lockout: LockoutPolicy = field(default_factory=LockoutPolicy)
    password_cost: HashCost = field(default_factory=HashCost)
    max_query_rows: int = 10000
    """Rows an ad-hoc query or data preview returns at most."""
    query_timeout_seconds: float = 30.0
    """How long an ad-hoc query or data preview may run before it is stopped."""
    log_poll_seconds: float = 0.5
    workspaces_dir: Path | None = None
    """Where ``POST /api/workspaces`` creates new workspace folders."""
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    """Request bodies above this many bytes are refused with 413."""
    trusted_proxies: tuple[str, ...] = ()
    """Addresses or networks (CIDR) of reverse proxies whose ``X-Forwarded-For`` is
    believed; from any other peer the header is ignored."""


class ServerServices:
    """The store-backed services one server process shares between requests."""

    def __init__(
        self,
        db: Database,
        box: SecretBox,
        settings: ServerSettings | None = None,
        *,
        key_file: Path | None = None,
    ) -> None:
        self.db = db
        self.settings = settings or ServerSettings()
        self.passwords = Passwords(self.settings.password_cost)
        self.users = UserRepository(db, self.passwords)
        self.sessions = SessionRepository(db)
        self.tokens = TokenRepository(db)
        self.throttle = LoginThrottle(db, self.settings.lockout)
        self.members = MemberRepository(db)
        self.workspaces = WorkspaceRepository(db)
        self.grants = GrantRepository(db)
        self.audit = AuditLog(db, redact)
        self.secrets = SecretStore(db, box, key_file=key_file)
        self.background = ThreadPoolExecutor(max_workers=4, thread_name_prefix="lakeworks-api")
        self._sources: dict[str, DeployedWorkspaceSource] = {}
        self._engines: dict[tuple[str, str], Engine] = {}
        self._lock = threading.Lock()
        self._dataservice: DataServiceHub | None = None
        self._workspace_names: tuple[float, list[str]] | None = None

    @property
    def dataservice(self) -> DataServiceHub:
        """DataService Studio of this process (gateway, call log), made on first use."""
        with self._lock:
            if self._dataservice is None:
                from lakeworks.dataservice.hub import DataServiceHub

                self._dataservice = DataServiceHub(
                    self.db,
                    self.secrets,
                    engine=self.engine,
                    definition=self.definition,
                    masking=self.grants.masking_rules,
                )
            return self._dataservice

    # -- workspaces ------------------------------------------------------------------

    def workspace_names(self) -> list[str]:
        """Names of the registered workspaces, read again at most every
        ``WORKSPACE_NAMES_SECONDS`` (the console's switcher asks on every page)."""
        now = time.monotonic()
        with self._lock:
            cached = self._workspace_names
            if cached is not None and now - cached[0] < WORKSPACE_NAMES_SECONDS:
                return cached[1]
        names = [w.name for w in self.workspaces.list()]
        with self._lock:
            self._workspace_names = (now, names)
        return names

    def forget_workspace_names(self) -> None:
        """Read the workspace names again on the next ask (one was added or removed)."""
        with self._lock:
            self._workspace_names = None

    def record(self, name: str) -> WorkspaceRecord:
        """The registered workspace ``name``; ``NotFound`` otherwise."""
        return self.workspaces.get(name)

    def source(self, name: str) -> DeployedWorkspaceSource:
        """Where the definitions of workspace ``name`` come from (dev folder, releases)."""
        with self._lock:
            found = self._sources.get(name)
        if found is not None:
            return found
        record = self.record(name)
        created = DeployedWorkspaceSource(self.db, Path(record.root), name)
        with self._lock:
            return self._sources.setdefault(name, created)

    def definition(self, name: str, env: str) -> Workspace:
        """The workspace definition that runs in ``env`` (``UserError`` if it does not load)."""
        check_env(env)
        return self.source(name).current(env)

    def deployments(self, name: str, env: str = "prod") -> DeploymentService:
        record = self.record(name)
        return DeploymentService(self.db, name, env=env, require_approval=record.require_approval)

    def engine(self, name: str, env: str) -> Engine:
        """The warehouse engine of a workspace environment (opened once per process)."""
        from lakeworks.engines.registry import engine_for

        check_env(env)
        key = (name, env)
        with self._lock:
            found = self._engines.get(key)
        if found is not None:
            return found
        opened = engine_for(self.source(name).dev(), env)
        with self._lock:
            return self._engines.setdefault(key, opened)

    def close(self) -> None:
        self.background.shutdown(wait=True, cancel_futures=False)
        if self._dataservice is not None:
            self._dataservice.close()
        with self._lock:
            engines = list(self._engines.values())
            self._engines.clear()
        for engine in engines:
            engine.close()


def check_env(env: str) -> str:
    """``env`` if it is dev or prod; ``NotFound`` otherwise."""
    if env not in ENVIRONMENTS:
        raise NotFound(f"unknown environment '{env}'", hint="dev or prod")
    return env


def require_text(value: str, what: str) -> str:
    cleaned = value.strip()
    if not cleaned:
        raise UserError(f"{what} must not be empty")
    return cleaned
