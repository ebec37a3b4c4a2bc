"""Two ``lakeworks up`` processes on one PostgreSQL metadata store serve the same data
API (over a PostgreSQL data source) set up with ``lakeworks api``: the per-day limit of
the application holds across both, the limited caller gets 429 with Retry-After, and
``lakeworks api stats`` counts every call either process served."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
import yaml
from sqlalchemy.engine import make_url

from lakeworks.spec.init import init_workspace
from tests.services import lakeworks_command, require_postgres, start_server

pytestmark = pytest.mark.slow

API = """
description: Orders of a region, from the shop database
backend: shop_db
sql: |
  SELECT id, region FROM issue15_orders
  <where><if test="region != null"> AND region = ${region}</if></where>
  ORDER BY id
parameters:
  - {name: region, type: string}
"""


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    url = make_url(require_postgres())
    schema = f"issue15_e2e_{uuid.uuid4().hex[:10]}"
    connect = {
        "host": url.host,
        "port": url.port or 5432,
        "user": url.username,
        "dbname": url.database,
        "autocommit": True,
    }
    with psycopg.connect(**connect) as admin:  # type: ignore[arg-type]
        admin.execute(f'CREATE SCHEMA "{schema}"')
        admin.execute(f'CREATE TABLE "{schema}".issue15_orders (id int, region text)')
        admin.execute(
            f"INSERT INTO \"{schema}\".issue15_orders VALUES (1, 'east'), (2, 'west'), (3, 'east')"
        )
    root = tmp_path / "ws"
    init_workspace(root, "sales")
    config = yaml.safe_load((root / "lakeworks.yml").read_text())
    config["data_sources"] = {
        "shop_db": {
            "type": "postgres",
            "host": url.host,
            "port": url.port or 5432,
            "database": url.database,
            "user": url.username,
            "schema": schema,
        }
    }
    (root / "lakeworks.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    (root / "dataservice/shop").mkdir(parents=True)
    (root / "dataservice/shop/orders.api.yml").write_text(API)
    store = url.update_query_dict({"options": f"-csearch_path={schema}"})
    env = {k: v for k, v in os.environ.items() if k != "LAKEWORKS_SECRET_KEY"}
    env["LAKEWORKS_DATABASE_URL"] = store.render_as_string(hide_password=False)
    env["LAKEWORKS_ADMIN_PASSWORD"] = "first-admin-password"
    try:
        yield root, env
    finally:
        with psycopg.connect(**connect) as admin:  # type: ignore[arg-type]
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


def _cli(env: dict[str, str], root: Path, *args: str) -> str:
    done = subprocess.run(
        [lakeworks_command(), "api", *args, "-w", str(root)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _serve(env: dict[str, str], root: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    return start_server(root, env, log, "--no-scheduler", ready="/dataservice/openapi.json")


def test_limits_hold_across_two_server_processes(
    setup: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    root, env = setup
    tested = _cli(env, root, "test", "shop/orders", "-p", "region=east")
    assert '"id": 3' in tested and "2 row(s)" in tested
    assert "published shop/orders v1" in _cli(env, root, "publish", "shop/orders", "-m", "first")
    created = _cli(env, root, "apps", "create", "shop", "--per-day", "6")
    token = next(line.split()[1] for line in created.splitlines() if line.startswith("token:"))
    _cli(env, root, "apps", "grant", "shop", "shop/orders")

    servers = [_serve(env, root, tmp_path / f"server{i}.log") for i in range(2)]
    try:
        headers = {"Authorization": f"Bearer {token}"}
        statuses: list[int] = []
        retry: list[str] = []
        for index in range(8):
            _process, base = servers[index % 2]
            response = httpx.get(
                f"{base}/dataservice/shop/orders", params={"region": "east"}, headers=headers
            )
            statuses.append(response.status_code)
            if response.status_code == 200:
                assert [r["id"] for r in response.json()["data"]["rows"]] == [1, 3]
            else:
                retry.append(response.headers.get("retry-after", ""))
        assert statuses == [200] * 6 + [429, 429]
        assert all(value.isdigit() and int(value) >= 1 for value in retry)
        document = httpx.get(f"{servers[1][1]}/dataservice/openapi.json").json()
        assert "/dataservice/shop/orders" in document["paths"]

        deadline = time.monotonic() + 30
        while True:
            stats = _cli(env, root, "stats", "shop/orders")
            line = next((row for row in stats.splitlines() if row.startswith("shop/orders")), "")
            if line.split()[1:3] == ["8", "2"] or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert line.split()[1:3] == ["8", "2"], stats
    finally:
        for process, _base in servers:
            process.terminate()
            process.wait(30)
