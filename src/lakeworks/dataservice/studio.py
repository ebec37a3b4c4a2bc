"""DataService Studio for one workspace: the service behind ``lakeworks api …`` and the
management routes (one implementation for both).

Definitions come from the workspace folder (dev). ``test`` runs one in dev;
``publish`` stores it as the next numbered version (or re-serves the latest version when
nothing changed) and serves it; ``unpublish``, ``rollback`` and ``diff`` work on the
stored versions. Applications get a key and a secret (shown once; the secret is kept
encrypted in the workspace's stored secrets, with a SHA-256 for bearer checks).
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import secrets as random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import yaml

from lakeworks.dataservice import calls as call_log
from lakeworks.dataservice.backends import QueryFailed, WarehouseBackend, open_backend
from lakeworks.dataservice.definition import (
    FOLDER,
    SUFFIX,
    WAREHOUSE,
    ApiDefinition,
    load_definitions,
    load_file,
)
from lakeworks.dataservice.repository import ApiVersion, App, DataServiceRepository, Grant
from lakeworks.dataservice.runner import Outcome, run_request
from lakeworks.dataservice.spec import Limits
from lakeworks.dataservice.template import RenderedSql, render
from lakeworks.engines.base import Engine
from lakeworks.errors import NotFound, UserError
from lakeworks.security.models import MaskingRule
from lakeworks.security.secrets import SecretStore
from lakeworks.spec.models import Workspace
from lakeworks.store.clock import to_utc_naive, utcnow

SECRET_PREFIX = "dataservice.app."


@dataclass(frozen=True)
class ApiSummary:
    key: str
    route: str
    method: str
    mode: str
    backend: str
    description: str
    versions: int
    published: int | None
    changed: bool
    """The folder's definition differs from the latest version (or there is none)."""


@dataclass(frozen=True)
class NewApp:
    app: App
    secret: str

    @property
    def token(self) -> str:
        """The bearer token: ``<key>.<secret>``."""
        return f"{self.app.app_key}.{self.secret}"


def _fingerprint(definition: ApiDefinition) -> str:
    data = definition.to_json()
    data.pop("fields", None)  # found at publish, not written in the folder
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


class DataServiceStudio:
    """Define, test, publish and govern the APIs of one workspace."""

    def __init__(
        self,
        repository: DataServiceRepository,
        workspace: Workspace,
        *,
        secrets: SecretStore,
        engine: Callable[[str], Engine],
        masking: Callable[[], list[MaskingRule]],
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.repository = repository
        self.workspace = workspace
        self.secrets = secrets
        self._engine = engine
        self._masking = masking
        self._on_change = on_change or (lambda: None)

    @property
    def name(self) -> str:
        return self.workspace.name

    # -- definitions -------------------------------------------------------------------

    def definitions(self) -> list[ApiDefinition]:
        """Every API defined in the workspace folder (checked)."""
        return load_definitions(self.workspace.root, self.name, self.workspace.config.data_sources)

    def definition(self, api: str) -> ApiDefinition:
        """The folder's definition of ``api`` (``group/name``), checked."""
        group, _, name = api.partition("/")
        path = self.workspace.root / FOLDER / group / f"{name}{SUFFIX}"
        if group and name and "/" not in name and ".." not in api and path.is_file():
            sources = self.workspace.config.data_sources
            return load_file(path, self.workspace.root, self.name, sources)
        raise NotFound(
            f"no API '{api}' in {self.workspace.root / 'dataservice'}",
            hint="name it <group>/<name>, as in dataservice/<group>/<name>.api.yml",
        )

    def summaries(self) -> list[ApiSummary]:
        published = {p.api: p.version for p in self.repository.published(self.name)}
        summaries: list[ApiSummary] = []
        seen: set[str] = set()
        for definition in self.definitions():
            seen.add(definition.key)
            versions = self.repository.versions(self.name, definition.key)
            changed = not versions or _fingerprint(versions[-1].definition) != _fingerprint(
                definition
            )
            number = published.get(definition.key)
            summaries.append(_summary(definition, len(versions), number, changed))
        for api, number in sorted(published.items()):
            if api not in seen:
                stored = self.repository.version(self.name, api, number)
                count = len(self.repository.versions(self.name, api))
                summaries.append(_summary(stored.definition, count, number, True))
        return summaries

    def show(self, api: str) -> dict[str, Any]:
        versions = self.repository.versions(self.name, api)
        published = {p.api: p for p in self.repository.published(self.name)}.get(api)
        try:
            definition: ApiDefinition | None = self.definition(api)
        except NotFound:
            definition = None
        if definition is None and not versions:
            raise NotFound(f"API '{api}' is neither defined nor published")
        current = definition or versions[-1].definition
        return {
            "api": api,
            "route": f"/dataservice/{current.route}",
            "definition": current.to_json(),
            "sql_template": current.template_text,
            "in_folder": definition is not None,
            "published_version": published.version if published else None,
            "published_at": published.published_at.isoformat() if published else None,
            "versions": [
                {
                    "version": v.version,
                    "created_at": v.created_at.isoformat(),
                    "created_by": v.created_by,
                    "note": v.note,
                }
                for v in versions
            ],
        }

    # -- test, publish, versions ------------------------------------------------------

    def test(self, api: str, parameters: Mapping[str, Any], *, from_text: bool) -> Outcome:
        """Run the folder's definition in dev with ``parameters`` (masking applies)."""
        definition = self.definition(api)
        backend = open_backend(
            definition.spec.backend, lambda: self._engine("dev"), self.workspace.config.data_sources
        )
        try:
            return run_request(
                definition, backend, parameters, from_text=from_text, masking=self._masking()
            )
        except QueryFailed as failed:
            if failed.code == "backend" and _names_something_missing(failed.message):
                raise UserError(
                    f"API '{api}' cannot run in dev: {failed.message}",
                    hint="build the tables it reads in dev first (lakeworks run), "
                    "or correct the names in its SQL",
                ) from None
            raise
        finally:
            backend.close()

    def publish(self, api: str, actor: str, note: str = "") -> ApiVersion:
        """Store the folder's definition as a new version (unless unchanged) and serve it."""
        definition = self.definition(api)
        latest = self.repository.latest_version(self.name, api)
        if latest is None or _fingerprint(latest.definition) != _fingerprint(definition):
            latest = self.repository.add_version(self._with_fields(definition), actor, note)
        self.repository.set_published(self.name, api, latest.route, latest.version, actor)
        self._changed()
        return latest

    def _with_fields(self, definition: ApiDefinition) -> ApiDefinition:
        """A warehouse API without a ``response:`` list, with the fields its statement
        returns in prod (rewritten for masking, as the gateway runs it)."""
        if definition.spec.response or definition.spec.backend != WAREHOUSE:
            return definition
        backend = WarehouseBackend(self._engine("prod"))
        sample = render(definition.template, {})
        fields = backend.describe(RenderedSql(("NULL".join(sample.parts),), ()), self._masking())
        return dataclasses.replace(definition, fields=tuple(fields))

    def unpublish(self, api: str) -> None:
        if not self.repository.unpublish(self.name, api):
            raise NotFound(f"API '{api}' is not published")
        self._changed()

    def rollback(self, api: str, version: int, actor: str) -> ApiVersion:
        """Serve an earlier ``version`` again (no new version is made)."""
        stored = self.repository.version(self.name, api, version)
        self.repository.set_published(self.name, api, stored.route, stored.version, actor)
        self._changed()
        return stored

    def _changed(self) -> None:
        """Tell the gateway, and record what the published APIs read in the Data Map
        (``data_api`` dependents of their tables, with the columns they return)."""
        from lakeworks.catalog.lineage_store import Dependent, save_dependents

        dependents: list[Dependent] = []
        for version in self.repository.published_versions():
            if version.workspace != self.name:
                continue
            definition = version.definition
            columns: dict[str, set[str]] = {t.lower(): set() for t in definition.reads}
            for _output, sources in definition.lineage:
                for table, column in sources:
                    columns.setdefault(table.lower(), set()).add(column.lower())
            dependents.extend(
                Dependent(table, "data_api", version.api, version.created_by, tuple(sorted(cols)))
                for table, cols in sorted(columns.items())
            )
        save_dependents(self.repository.db, self.name, "prod", dependents, kind="data_api")
        self._on_change()

    def diff(self, api: str, old: str, new: str) -> str:
        """A unified diff of two versions (numbers, or ``dev`` for the folder):
        settings and parameters as YAML, then the SQL."""
        left, right = self._side(api, old), self._side(api, new)
        lines: list[str] = []
        for label, a, b in (
            ("settings", _settings_text(left), _settings_text(right)),
            ("sql", left.template_text, right.template_text),
        ):
            lines.extend(
                difflib.unified_diff(
                    a.splitlines(),
                    b.splitlines(),
                    fromfile=f"{api}@{old} ({label})",
                    tofile=f"{api}@{new} ({label})",
                    lineterm="",
                )
            )
        return "\n".join(lines)

    def _side(self, api: str, which: str) -> ApiDefinition:
        if which == "dev":
            return self.definition(api)
        text = which.lower().removeprefix("v")
        if not text.isdigit():
            raise UserError(f"'{which}' is not a version", hint="a number such as 2, or dev")
        return self.repository.version(self.name, api, int(text)).definition

    # -- applications ------------------------------------------------------------------

    def create_app(
        self, name: str, actor: str, *, description: str = "", limits: Limits | None = None
    ) -> NewApp:
        if not name.strip() or len(name) > 100:
            raise UserError("an application needs a name of 1 to 100 characters")
        key = "ak" + random.token_hex(10)
        secret = random.token_urlsafe(32)
        reference = SECRET_PREFIX + key
        self.secrets.put(self.name, reference, secret, actor=actor)
        limits = limits or Limits()
        try:
            app = self.repository.add_app(
                {
                    "workspace": self.name,
                    "name": name.strip(),
                    "app_key": key,
                    "secret_ref": reference,
                    "secret_hash": hashlib.sha256(secret.encode()).hexdigest(),
                    "description": description,
                    "per_second": limits.per_second,
                    "per_day": limits.per_day,
                    "created_at": utcnow(),
                    "created_by": actor,
                    "revoked_at": None,
                }
            )
        except BaseException:
            self.secrets.delete(self.name, reference)
            raise
        return NewApp(app, secret)

    def apps(self) -> list[App]:
        return self.repository.apps(self.name)

    def app(self, name: str) -> tuple[App, list[Grant]]:
        found = self.repository.app(self.name, name)
        return found, self.repository.grants(found)

    def revoke_app(self, name: str) -> App:
        found = self.repository.app(self.name, name)
        self.repository.update_app(found.id, revoked_at=utcnow())
        self._on_change()
        return self.repository.app(self.name, name)

    def set_limits(self, name: str, limits: Limits) -> App:
        found = self.repository.app(self.name, name)
        self.repository.update_app(found.id, per_second=limits.per_second, per_day=limits.per_day)
        self._on_change()
        return self.repository.app(self.name, name)

    def grant(self, name: str, api: str, actor: str, until: datetime | None = None) -> Grant:
        found = self.repository.app(self.name, name)
        known = {d.key for d in self.definitions()} | {
            p.api for p in self.repository.published(self.name)
        }
        if api not in known:
            raise NotFound(f"API '{api}' is neither defined nor published")
        grant = self.repository.grant(found, api, actor, to_utc_naive(until) if until else None)
        self._on_change()
        return grant

    def revoke_grant(self, name: str, api: str) -> None:
        found = self.repository.app(self.name, name)
        if not self.repository.revoke_grant(found, api):
            raise NotFound(f"application '{name}' has no grant on '{api}'")
        self._on_change()

    # -- governance --------------------------------------------------------------------

    def stats(self, api: str | None = None, since: datetime | None = None) -> list[Any]:
        return call_log.stats(self.repository.db, self.name, api=api, since=since)

    def calls(self, api: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        return call_log.calls(self.repository.db, workspace=self.name, api=api, limit=limit)

    def apis_reading(self, table: str, column: str | None = None) -> list[dict[str, Any]]:
        """Published APIs that read ``table`` (and return ``column``, when given)."""
        wanted = table.lower()
        bare = wanted.rsplit(".", 1)[-1]
        found: list[dict[str, Any]] = []
        for version in self.repository.published_versions():
            if version.workspace != self.name:
                continue
            definition = version.definition
            reads = {r.lower() for r in definition.reads}
            if wanted not in reads and bare not in {r.rsplit(".", 1)[-1] for r in reads}:
                continue
            returned = [
                out
                for out, sources in definition.lineage
                if any(
                    t.rsplit(".", 1)[-1] == bare and (column is None or c == column.lower())
                    for t, c in sources
                )
            ]
            if column is not None and not returned:
                continue
            found.append(
                {
                    "api": version.api,
                    "version": version.version,
                    "route": f"/dataservice/{version.route}",
                    "fields": returned,
                }
            )
        return found


def _summary(
    definition: ApiDefinition, versions: int, published: int | None, changed: bool
) -> ApiSummary:
    spec = definition.spec
    return ApiSummary(
        definition.key,
        f"/dataservice/{definition.route}",
        spec.method,
        spec.mode,
        spec.backend,
        spec.summary or spec.description,
        versions,
        published,
        changed,
    )


def _settings_text(definition: ApiDefinition) -> str:
    data = definition.spec.model_dump(mode="json", exclude_none=True)
    data.pop("sql", None)
    return yaml.safe_dump(data, sort_keys=True, allow_unicode=True)


def _names_something_missing(message: str) -> bool:
    """Whether a warehouse failure says a table or column of the SQL does not exist."""
    return any(kind in message for kind in ("Catalog Error", "Binder Error"))
