"""A real API over a real store: the sales example workspace, SQLite metadata, DuckDB.

``api`` builds the app around fresh services; ``member(name, *roles)`` creates a user
with those roles in the workspace and returns the headers of an API token for them.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from lakeworks.api.app import create_app
from lakeworks.api.services import ServerServices, ServerSettings
from lakeworks.engines.duckdb_engine import close_all
from lakeworks.security.passwords import CHEAP
from lakeworks.security.permissions import Role
from lakeworks.security.secrets import SecretBox
from lakeworks.security.throttle import LockoutPolicy
from lakeworks.spec.init import init_workspace
from lakeworks.store.clock import utcnow
from lakeworks.store.database import Database
from lakeworks.web.app import install_console

WORKSPACE = "sales-lab"
PASSWORD = "correct horse battery"

Headers = dict[str, str]


@dataclass
class Api:
    """The app, its services and a client; helpers to make members."""

    app: FastAPI
    services: ServerServices
    client: TestClient
    home: Path

    def member(self, name: str, *roles: Role, superuser: bool = False) -> Headers:
        """A user holding ``roles`` in the workspace; the headers of their API token."""
        users = self.services.users
        user = users.find(name) or users.create(name, PASSWORD, superuser=superuser)
        if roles:
            self.services.members.set_roles(WORKSPACE, user.id, roles, actor="test")
        secret, _ = self.services.tokens.create(
            user.id, "test", expires_at=utcnow() + timedelta(days=1)
        )
        return {"Authorization": f"Bearer {secret}"}

    def login(self, name: str, password: str = PASSWORD) -> str:
        """Sign in with the session cookie (kept by the client); returns the CSRF token."""
        response = self.client.post(
            "/api/auth/login", json={"username": name, "password": password}
        )
        assert response.status_code == 200, response.text
        return str(response.json()["csrf_token"])


def make_settings(**overrides: object) -> ServerSettings:
    values: dict[str, object] = {
        "cookie_secure": False,
        "password_cost": CHEAP,
        "lockout": LockoutPolicy(user_failures=3, address_failures=100),
        "log_poll_seconds": 0.05,
    }
    values.update(overrides)
    return ServerSettings(**values)  # type: ignore[arg-type]


def build_api(home: Path, db_url: str, settings: ServerSettings | None = None) -> Api:
    db = Database.open(db_url)
    services = ServerServices(db, SecretBox([SecretBox.new_key()]), settings or make_settings())
    services.workspaces.register(WORKSPACE, home, actor="test", require_approval=False)
    services.grants.seed_defaults(WORKSPACE, "test")
    app = create_app(services)
    install_console(app)
    client = TestClient(app, base_url="http://testserver")
    return Api(app, services, client, home)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    init_workspace(root, "sales")
    return root


@pytest.fixture
def api_factory(tmp_path: Path) -> Iterator[Callable[..., Api]]:
    built: list[Api] = []

    def factory(home: Path, settings: ServerSettings | None = None) -> Api:
        api = build_api(home, f"sqlite:///{tmp_path / 'meta.db'}", settings)
        built.append(api)
        return api

    yield factory
    for api in built:
        api.client.close()
        api.services.close()
        api.services.db.close()
    close_all()


@pytest.fixture
def api(home: Path, api_factory: Callable[..., Api]) -> Api:
    return api_factory(home)


def copy_example(target: Path) -> Path:
    """Another copy of the sales example (e.g. a git checkout to deploy from)."""
    source = Path(__file__).resolve().parents[3] / "src/lakeworks/spec/examples/sales"
    shutil.copytree(source, target)
    return target
