"""Ad-hoc queries and previews are stopped at the server's deadline and return at most
the server's row cap, with clear messages."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from lakeworks.security.permissions import Role
from tests.integration.api.conftest import WORKSPACE, Api, make_settings

DEV = f"/api/workspaces/{WORKSPACE}/envs/dev"
NUMBERS = (
    "CREATE TABLE numbers AS WITH RECURSIVE r(n) AS "
    "(SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 2000) SELECT n FROM r"
)


def limited(api_factory: Callable[..., Api], home: Path, **settings: object) -> Api:
    """An API with these query settings over a warehouse holding ``numbers`` (made
    directly, so that the setup does not depend on the deadline)."""
    api = api_factory(home, make_settings(**settings))
    assert warehouse(api, NUMBERS) == [(2000,)]
    return api


def warehouse(api: Api, sql: str) -> list[tuple[object, ...]]:
    session = api.services.engine(WORKSPACE, "dev").session()
    try:
        return session.execute(sql).rows
    finally:
        session.close()


def test_a_query_past_the_deadline_is_stopped(api_factory: Callable[..., Api], home: Path) -> None:
    api = limited(api_factory, home, query_timeout_seconds=0.5)
    viewer = api.member("vic", Role.VIEWER)
    grant = {"subject": "role:viewer", "table": "numbers", "privilege": "read", "env": "dev"}
    security = api.member("sam", Role.SECURITY_ADMIN)
    response = api.client.post(f"/api/workspaces/{WORKSPACE}/grants", json=grant, headers=security)
    assert response.status_code == 201
    endless = "SELECT sum(a.n * b.n * c.n) FROM numbers a, numbers b, numbers c"
    body = {"sql": endless, "dialect": "duckdb"}
    response = api.client.post(f"{DEV}/query", json=body, headers=viewer)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["message"] == "the query ran longer than 0.5 s and was stopped"
    assert "--query-timeout" in error["details"]["hint"]
    # only that query was stopped: the warehouse answers the next one
    assert warehouse(api, "SELECT count(*) FROM numbers") == [(2000,)]


def test_results_and_previews_stop_at_the_row_cap(
    api_factory: Callable[..., Api], home: Path
) -> None:
    api = limited(api_factory, home, max_query_rows=25)
    dev = api.member("dev", Role.DEVELOPER)
    body = {"sql": "SELECT n FROM numbers ORDER BY n DESC", "dialect": "duckdb"}
    answer = api.client.post(f"{DEV}/query", json=body, headers=dev).json()
    assert answer["row_count"] == 25 and answer["truncated"] is True
    assert answer["rows"][0] == [2000]
    body = {"sql": "SELECT n FROM numbers ORDER BY n LIMIT 5", "dialect": "duckdb"}
    answer = api.client.post(f"{DEV}/query", json=body, headers=dev).json()
    assert answer["rows"] == [[1], [2], [3], [4], [5]] and answer["truncated"] is False
    body = {"sql": "SELECT n FROM numbers UNION ALL SELECT n FROM numbers", "dialect": "duckdb"}
    answer = api.client.post(f"{DEV}/query", json=body, headers=dev).json()
    assert answer["row_count"] == 25 and answer["truncated"] is True
    preview = api.client.get(f"{DEV}/tables/numbers/preview?limit=1000", headers=dev).json()
    assert preview["row_count"] == 25 and preview["truncated"] is True
    preview = api.client.get(f"{DEV}/tables/numbers/preview?limit=3", headers=dev).json()
    assert preview["rows"] == [[1], [2], [3]] and preview["truncated"] is True
