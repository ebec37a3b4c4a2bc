"""Fixtures for the Data Map tests: metadata stores and a five-layer workspace.

The PostgreSQL store lives in a throwaway schema of the shared ``test`` database, so
concurrent runs never see each other's tables.
"""

from __future__ import annotations

import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from lakeworks.spec.loader import load_workspace
from lakeworks.spec.models import Workspace
from lakeworks.store.database import Database
from tests.services import require_postgres


def _admin(url: str) -> psycopg.Connection[tuple[object, ...]]:
    parsed = make_url(url)
    return psycopg.connect(
        host=parsed.host,
        port=parsed.port or 5432,
        user=parsed.username,
        dbname=parsed.database,
        autocommit=True,
    )


@pytest.fixture
def pg_schema() -> Iterator[tuple[str, str]]:
    """(SQLAlchemy URL whose search_path is a new schema, that schema's name)."""
    base = require_postgres()
    schema = f"lw_map_{uuid.uuid4().hex[:10]}"
    with _admin(base) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False), schema
    finally:
        with _admin(base) as admin:
            admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    db = Database.open(f"sqlite:///{tmp_path / 'meta.db'}")
    yield db
    db.close()


@pytest.fixture
def pg_db(pg_schema: tuple[str, str]) -> Iterator[Database]:
    db = Database.open(pg_schema[0])
    yield db
    db.close()


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest) -> Database:
    """The metadata store on each backend."""
    name = "sqlite_db" if request.param == "sqlite" else "pg_db"
    return request.getfixturevalue(name)  # type: ignore[no-any-return]


FILES: dict[str, str] = {
    "lakeworks.yml": """
        name: map-test
        sql_dialect: maxcompute
        defaults:
          owner: data-eng
        data_sources:
          shop_pg:
            type: postgres
            database: test
    """,
    "workflows/shop/workflow.yml": """
        description: Orders from the shop into the warehouse.
        tags: [shop]
    """,
    "workflows/shop/ods_orders.sync.yml": """
        source:
          data_source: shop_pg
          table: orders
        target:
          table: ods_orders
        columns:
          - id
          - customer_id
          - {source: amt, name: amount, type: "decimal(12,2)"}
          - status
    """,
    "workflows/shop/load_customers.py": """
        # ---
        # outputs: [ods_customers]
        # description: Customer master data from the CRM export.
        # ---
        print("loaded")
    """,
    "workflows/shop/dwd_orders.sql": """
        -- ---
        -- owner: alice
        -- description: Cleaned paid orders, one row per order.
        -- tags: [orders, pii]
        -- ---
        CREATE TABLE IF NOT EXISTS dwd_orders (
          order_id    BIGINT COMMENT 'order id from the shop',
          customer_id BIGINT,
          amount      DOUBLE COMMENT 'order amount in yuan'
        ) PARTITIONED BY (ds STRING) LIFECYCLE 365;
        INSERT OVERWRITE TABLE dwd_orders PARTITION (ds='${bizdate}')
        SELECT id AS order_id, customer_id, amount FROM ods_orders WHERE status = 'paid';
    """,
    "workflows/shop/dwd_customers.sql": """
        INSERT OVERWRITE TABLE dwd_customers
        SELECT id AS customer_id, name, city FROM ods_customers;
    """,
    "workflows/report/workflow.yml": """
        description: Reports.
    """,
    "workflows/report/dws_customer_daily.sql": """
        -- ---
        -- owner: alice
        -- ---
        INSERT OVERWRITE TABLE dws_customer_daily PARTITION (ds='${bizdate}')
        SELECT o.customer_id, c.city, COUNT(*) AS orders, SUM(o.amount) AS revenue
        FROM dwd_orders o JOIN dwd_customers c ON o.customer_id = c.customer_id
        WHERE o.ds = '${bizdate}'
        GROUP BY o.customer_id, c.city;
    """,
    "workflows/report/ads_city_revenue.sql": """
        -- ---
        -- owner: bob
        -- description: Revenue per city for the sales dashboard.
        -- ---
        INSERT OVERWRITE TABLE ads_city_revenue PARTITION (ds='${bizdate}')
        SELECT city, SUM(revenue) AS revenue, SUM(orders) AS orders
        FROM dws_customer_daily WHERE ds = '${bizdate}' GROUP BY city;
    """,
    "workflows/report/ads_top_customers.sql": """
        INSERT OVERWRITE TABLE ads_top_customers
        SELECT * FROM dws_customer_daily WHERE revenue > 100 ORDER BY revenue DESC LIMIT 10;
    """,
    "quality/report.quality.yml": """
        table: ads_city_revenue
        owner: carol
        rules:
          - name: city_revenue_not_empty
            template: not_empty
    """,
}


def write_workspace(root: Path, files: dict[str, str] | None = None) -> Workspace:
    """Write workspace files (dedented) under ``root`` and load the workspace."""
    for rel, text in (files or FILES).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    return load_workspace(root)


@pytest.fixture
def five_layers(tmp_path: Path) -> Workspace:
    """source (PostgreSQL) → ods → dwd → dws → ads, with owners, tags and a quality rule."""
    return write_workspace(tmp_path / "ws")
