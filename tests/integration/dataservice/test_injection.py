"""An injection corpus through every parameter type, in both modes, on DuckDB,
PostgreSQL and MariaDB: every answer is a typed 400 or the rows a bound equality gives,
and no statement but the API's SELECT ever runs (the canary table and the rows survive).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import pytest
import yaml
from sqlalchemy.engine import make_url

from lakeworks.security.permissions import Role
from tests.integration.api.conftest import Api
from tests.integration.dataservice.conftest import Studio, bearer
from tests.services import require_mysql, require_postgres

ROWS = [
    (1, "alpha", 10, 1.5, True, date(2026, 4, 1), datetime(2026, 4, 1, 8, 0)),
    (2, "o'hara", 20, 2.5, False, date(2026, 4, 2), datetime(2026, 4, 2, 9, 30)),
    (3, "中文 ünï", 30, 3.5, True, date(2026, 4, 3), datetime(2026, 4, 3, 10, 0)),
]
COLUMNS = ("id", "s", "i", "n", "b", "d", "ts")
CORPUS = [
    "alpha",
    "o'hara",
    "中文 ünï",
    "' OR '1'='1",
    "alpha' OR 'x'='x",
    "1; DROP TABLE {canary}; --",
    "1' ; DELETE FROM {table}; --",
    "alpha'/*",
    "*/ OR 1=1 --",
    "' UNION SELECT 1,2,3,4,5,6,7 --",
    "1 UNION SELECT id FROM {canary}",
    "admin'--",
    "1 OR 1=1",
    '"; SELECT 1; --',
    "\\'; TRUNCATE {table}; --",
    "%",
    "_",
    "NULL",
    "10",
    "1e999",
    "-1",
    "9223372036854775808",
    "true",
    "2026-04-02",
    "2026-13-45",
    "2026-04-01T08:00:00",
    "0x41",
    "\u202e\u0000nul",
    "💥" * 3,
    "x" * 5000,
]
SCRIPT = """
sql: |
  SELECT id, s, i, n, b, d, ts FROM {table}
  <where>
    <if test="s != null"> AND s = ${{s}}</if>
    <if test="i != null"> AND i = #{{i}}</if>
    <if test="n != null"> AND n = ${{n}}</if>
    <if test="b != null"> AND b = ${{b}}</if>
    <if test="d != null"> AND d = ${{d}}</if>
    <if test="ts != null"> AND ts = ${{ts}}</if>
    <if test="ss != null"> AND s IN
      <foreach collection="ss" item="v" open="(" separator="," close=")">${{v}}</foreach></if>
    <if test="ii != null"> AND i IN
      <foreach collection="ii" item="v" open="(" separator="," close=")">${{v}}</foreach></if>
  </where>
  ORDER BY id
parameters:
  - {{name: s, type: string, max_length: 100}}
  - {{name: i, type: integer}}
  - {{name: n, type: number}}
  - {{name: b, type: boolean}}
  - {{name: d, type: date}}
  - {{name: ts, type: datetime}}
  - {{name: ss, type: "list[string]"}}
  - {{name: ii, type: "list[integer]"}}
backend: {backend}
"""
TABLE = """
table: {table}
columns: [id, s, i, n, b, d, ts]
filters: [s, i, n, b, d, ts]
order_by: [id]
parameters:
  - {{name: s, type: string, max_length: 100}}
  - {{name: i, type: integer}}
  - {{name: n, type: number}}
  - {{name: b, type: boolean}}
  - {{name: d, type: date}}
  - {{name: ts, type: datetime}}
backend: {backend}
"""


def _typed(kind: str, text: str) -> object:
    """What a correct API compares with, or None when the value must be refused."""
    try:
        if kind == "s":
            return text if len(text) <= 100 and "\x00" not in text else None
        if kind == "i":
            value = int(text) if text.isascii() and text.lstrip("-").isdigit() else None
            return value if value is not None and abs(value) < 2**63 else None
        if kind == "n":
            number = float(text)
            return number if number not in (float("inf"), float("-inf")) else None
        if kind == "b":
            return {"true": True, "false": False}.get(text)
        if kind == "d":
            return date.fromisoformat(text)
        return datetime.fromisoformat(text)
    except ValueError:
        return None


class Backend:
    def __init__(self, name: str, table: str, canary: str, count: Callable[[], tuple[int, int]]):
        self.name = name
        self.table = table
        self.canary = canary
        self.count = count


def _pg_backend(home: Path) -> Iterator[Backend]:
    url = make_url(require_postgres())
    suffix = uuid.uuid4().hex[:8]
    table, canary = f"issue15_inj_{suffix}", f"issue15_canary_{suffix}"
    connect = {
        "host": url.host,
        "port": url.port or 5432,
        "user": url.username,
        "dbname": url.database,
        "autocommit": True,
    }
    with psycopg.connect(**connect) as conn:  # type: ignore[arg-type]
        conn.execute(
            f"CREATE TABLE {table} (id int, s text, i bigint, n double precision, b boolean,"
            " d date, ts timestamp)"
        )
        with conn.cursor() as cur:
            cur.executemany(f"INSERT INTO {table} VALUES (%s,%s,%s,%s,%s,%s,%s)", ROWS)
        conn.execute(f"CREATE TABLE {canary} AS SELECT 1 AS id")
    _add_source(
        home,
        "pg",
        {
            "type": "postgres",
            "host": url.host,
            "port": url.port or 5432,
            "database": url.database,
            "user": url.username,
        },
    )

    def count() -> tuple[int, int]:
        with psycopg.connect(**connect) as conn:  # type: ignore[arg-type]
            rows = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
            canaries = conn.execute(f"SELECT count(*) FROM {canary}").fetchone()
        return int(rows[0]), int(canaries[0])  # type: ignore[index]

    try:
        yield Backend("pg", table, canary, count)
    finally:
        with psycopg.connect(**connect) as conn:  # type: ignore[arg-type]
            conn.execute(f"DROP TABLE IF EXISTS {table}")
            conn.execute(f"DROP TABLE IF EXISTS {canary}")


def _mysql_backend(home: Path) -> Iterator[Backend]:
    host, port = require_mysql()
    suffix = uuid.uuid4().hex[:8]
    table, canary = f"issue15_inj_{suffix}", f"issue15_canary_{suffix}"

    def connect() -> Any:
        return pymysql.connect(
            host=host,
            port=port,
            user="root",
            password="",
            database="test",
            autocommit=True,
            charset="utf8mb4",
        )

    conn = connect()
    with conn.cursor() as cur:
        cur.execute(
            f"CREATE TABLE {table} (id int, s varchar(200), i bigint, n double, b boolean,"
            " d date, ts datetime) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
        )
        cur.executemany(f"INSERT INTO {table} VALUES (%s,%s,%s,%s,%s,%s,%s)", ROWS)
        cur.execute(f"CREATE TABLE {canary} (id int)")
        cur.execute(f"INSERT INTO {canary} VALUES (1)")
    conn.close()
    _add_source(home, "maria", {"type": "mariadb", "host": host, "port": port, "database": "test"})

    def count() -> tuple[int, int]:
        with connect() as c, c.cursor() as cur:
            cur.execute(f"SELECT count(*) FROM {table}")
            rows = cur.fetchone()[0]
            cur.execute(f"SELECT count(*) FROM {canary}")
            return int(rows), int(cur.fetchone()[0])

    try:
        yield Backend("maria", table, canary, count)
    finally:
        with connect() as c, c.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {table}")
            cur.execute(f"DROP TABLE IF EXISTS {canary}")


def _add_source(home: Path, name: str, config: dict[str, Any]) -> None:
    path = home / "lakeworks.yml"
    data = yaml.safe_load(path.read_text())
    data.setdefault("data_sources", {})[name] = config
    path.write_text(yaml.safe_dump(data, sort_keys=False))


@pytest.fixture(params=["warehouse", "postgres", "mariadb"])
def backend(request: pytest.FixtureRequest, home: Path) -> Iterator[Backend]:
    if request.param == "postgres":
        yield from _pg_backend(home)
    elif request.param == "mariadb":
        yield from _mysql_backend(home)
    else:
        yield Backend("warehouse", "inj_t", "inj_canary", lambda: (0, 0))


def test_injection_corpus_is_refused_or_bound(
    backend: Backend, api_factory: Callable[..., Api], home: Path
) -> None:
    api = api_factory(home)
    ds = Studio(api, api.member("olivia", Role.OWNER))
    if backend.name == "warehouse":
        session = api.services.engine("sales-lab", "prod").session()
        session.execute(
            "CREATE TABLE inj_t (id INTEGER, s VARCHAR, i BIGINT, n DOUBLE, b BOOLEAN,"
            " d DATE, ts TIMESTAMP)"
        )
        for row in ROWS:
            session.execute("INSERT INTO inj_t VALUES (?,?,?,?,?,?,?)", list(row))
        session.execute("CREATE TABLE inj_canary AS SELECT 1 AS id")
        session.close()

        def count() -> tuple[int, int]:
            s = api.services.engine("sales-lab", "prod").session()
            try:
                rows = s.execute("SELECT count(*) FROM inj_t").rows[0][0]
                canary = s.execute("SELECT count(*) FROM inj_canary").rows[0][0]
            finally:
                s.close()
            return int(rows), int(canary)  # type: ignore[call-overload]

        backend.count = count
    fill = {"table": backend.table, "backend": backend.name}
    ds.write("inj", "script", SCRIPT.format(**fill))
    ds.write("inj", "table", TABLE.format(**fill))
    ds.publish("inj/script")
    ds.publish("inj/table")
    app = ds.app("probe", "inj/script", "inj/table")
    headers = bearer(app)
    outcomes = {200: 0, 400: 0}
    for mode in ("script", "table"):
        for parameter in ("s", "i", "n", "b", "d", "ts", "ss", "ii"):
            if mode == "table" and parameter in ("ss", "ii"):
                continue
            for raw in CORPUS:
                value = raw.format(table=backend.table, canary=backend.canary)
                params: list[tuple[str, str]] = [(parameter, value)]
                if parameter in ("ss", "ii"):
                    params.append((parameter, "alpha" if parameter == "ss" else "10"))
                response = ds.client.get(f"/dataservice/inj/{mode}", params=params, headers=headers)
                assert response.status_code in (200, 400), (mode, parameter, value, response.text)
                outcomes[response.status_code] += 1
                expected = _expected(parameter, [v for _, v in params])
                got = [r["id"] for r in response.json().get("data", {}).get("rows", [])]
                if expected is None:
                    assert response.status_code == 400, (mode, parameter, value, got)
                else:
                    assert response.status_code == 200, (mode, parameter, value, response.text)
                    assert got == expected, (mode, parameter, value)
    assert outcomes[200] > 20 and outcomes[400] > 20
    assert backend.count() == (3, 1)


def _expected(parameter: str, values: list[str]) -> list[int] | None:
    """The ids a bound equality returns, or None when the value must be refused."""
    kind = parameter[0] if parameter in ("ss", "ii") else parameter
    typed = [_typed(kind, v) for v in values]
    if any(t is None for t in typed):
        return None
    if kind == "s" and any(len(v) > 100 for v in values):
        return None
    column = COLUMNS.index(kind)
    return [row[0] for row in ROWS if any(row[column] == t for t in typed)]
