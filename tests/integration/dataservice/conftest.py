"""A server with DataService Studio over the sales example: SQLite metadata, DuckDB
warehouses, an ``orders`` table in dev and prod, and helpers to write API files."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from lakeworks.dataservice.studio import DataServiceStudio
from tests.integration.api.conftest import WORKSPACE, Api, api, api_factory, home

__all__ = ["api", "api_factory", "home"]

ORDERS = """
CREATE TABLE orders (id INTEGER, region VARCHAR, amount DOUBLE, day DATE,
                     email VARCHAR, paid BOOLEAN);
INSERT INTO orders VALUES
  (1, 'east', 10.5, DATE '2026-04-01', 'ann@example.com', true),
  (2, 'west', 20.0, DATE '2026-04-02', 'bob@example.com', false),
  (3, 'east', 30.0, DATE '2026-04-03', 'cyd@example.com', true),
  (4, 'north', 40.0, DATE '2026-04-04', 'dan@example.com', true),
  (5, 'east', 50.0, DATE '2026-04-05', 'eve@example.com', false);
"""


@dataclass
class Studio:
    api: Api
    owner: dict[str, str]

    @property
    def client(self) -> TestClient:
        return self.api.client

    @property
    def studio(self) -> DataServiceStudio:
        return self.api.services.dataservice.studio(WORKSPACE)

    def write(self, group: str, name: str, text: str) -> Path:
        path = self.api.home / "dataservice" / group / f"{name}.api.yml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    def url(self, suffix: str = "") -> str:
        return f"/api/workspaces/{WORKSPACE}/dataservice{suffix}"

    def publish(self, api: str) -> dict[str, Any]:
        response = self.client.post(self.url(f"/apis/{api}/publish"), json={}, headers=self.owner)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def app(self, name: str, *grants: str, **limits: int) -> dict[str, Any]:
        response = self.client.post(
            self.url("/apps"), json={"name": name, **limits}, headers=self.owner
        )
        assert response.status_code == 201, response.text
        for granted_api in grants:
            granted = self.client.put(
                self.url(f"/apps/{name}/grants/{granted_api}"), json={}, headers=self.owner
            )
            assert granted.status_code == 200, granted.text
        return dict(response.json())

    def calls(self) -> list[dict[str, Any]]:
        response = self.client.get(self.url("/calls?limit=1000"), headers=self.owner)
        assert response.status_code == 200, response.text
        return list(response.json()["items"])


def seed(api: Api, sql: str = ORDERS) -> None:
    for env in ("dev", "prod"):
        session = api.services.engine(WORKSPACE, env).session()
        try:
            for statement in sql.split(";"):
                if statement.strip():
                    session.execute(statement)
        finally:
            session.close()


@pytest.fixture
def ds(api: Api) -> Studio:
    seed(api)
    from lakeworks.security.permissions import Role

    return Studio(api, api.member("olivia", Role.OWNER))


def bearer(app: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {app['token']}"}


ParamsFor = Callable[..., Any]
