"""What one server process keeps for DataService Studio: the gateway with its call log
and rate limiter, and a studio per workspace (built on request)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from lakeworks.dataservice.calls import CallLog
from lakeworks.dataservice.calls import prune as prune_calls
from lakeworks.dataservice.gateway import Gateway
from lakeworks.dataservice.limits import RateLimiter
from lakeworks.dataservice.repository import DataServiceRepository
from lakeworks.dataservice.studio import DataServiceStudio
from lakeworks.engines.base import Engine
from lakeworks.errors import LakeworksError
from lakeworks.security.models import MaskingRule
from lakeworks.security.secrets import SecretStore
from lakeworks.spec.models import Workspace
from lakeworks.store.clock import utcnow
from lakeworks.store.database import Database

PRUNE_SECONDS = 60.0
KEEP_CALLS = timedelta(days=30)
"""How long the call log (and so the statistics) goes back."""


class DataServiceHub:
    """The gateway of a server process plus the studios of its workspaces."""

    def __init__(
        self,
        db: Database,
        secrets: SecretStore,
        *,
        engine: Callable[[str, str], Engine],
        definition: Callable[[str, str], Workspace],
        masking: Callable[[str], list[MaskingRule]],
    ) -> None:
        self.db = db
        self.secrets = secrets
        self.repository = DataServiceRepository(db)
        self.limiter = RateLimiter(db)
        self._engine = engine
        self._definition = definition
        self._masking = masking
        self._pruned = 0.0
        self.calls = CallLog(db, on_flush=self._housekeeping)
        self.gateway = Gateway(
            self.repository,
            secret=secrets.get,
            engine=engine,
            data_sources=self._data_sources,
            masking=masking,
            call_log=self.calls,
            limiter=self.limiter,
        )

    def _data_sources(self, workspace: str) -> Mapping[str, Mapping[str, Any]]:
        """The data sources of prod's release, or of the folder before any deployment."""
        try:
            return self._definition(workspace, "prod").config.data_sources
        except LakeworksError:
            return self._definition(workspace, "dev").config.data_sources

    def _housekeeping(self) -> None:
        if time.monotonic() - self._pruned >= PRUNE_SECONDS:
            self._pruned = time.monotonic()
            now = utcnow()
            self.limiter.prune(now)
            prune_calls(self.db, now - KEEP_CALLS)

    def studio(self, workspace: str) -> DataServiceStudio:
        """The studio of ``workspace`` over its dev folder."""
        return DataServiceStudio(
            self.repository,
            self._definition(workspace, "dev"),
            secrets=self.secrets,
            engine=lambda env: self._engine(workspace, env),
            masking=lambda: self._masking(workspace),
            on_change=self.gateway.invalidate,
        )

    def close(self) -> None:
        self.calls.close()
        self.gateway.close()
