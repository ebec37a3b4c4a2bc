"""Ad-hoc queries and previews: table grants, column masking, what is refused."""

from __future__ import annotations

from typing import Any

import pytest

from lakeworks.security.permissions import Role
from tests.integration.api.conftest import WORKSPACE, Api

DEV = f"/api/workspaces/{WORKSPACE}/envs/dev"
PROD = f"/api/workspaces/{WORKSPACE}/envs/prod"
SECURITY = f"/api/workspaces/{WORKSPACE}"

SETUP = """
CREATE TABLE customers (id BIGINT, name STRING, phone STRING, email STRING, city STRING);
INSERT INTO customers VALUES
  (1, 'Ann', '13812345678', 'ann@example.com', 'Hangzhou'),
  (2, 'Bo', '13987654321', 'bo@example.org', 'Beijing');
"""


Result = tuple[int, dict[str, Any]]


def query(api: Api, headers: dict[str, str], sql: str, base: str = DEV) -> Result:
    response = api.client.post(f"{base}/query", json={"sql": sql}, headers=headers)
    return response.status_code, response.json()


@pytest.fixture
def people(api: Api) -> dict[str, dict[str, str]]:
    """A dev table with personal data; a developer, a viewer and a security admin."""
    dev = api.member("dev", Role.DEVELOPER)
    status, body = query(api, dev, SETUP)
    assert status == 200, body
    return {
        "dev": dev,
        "viewer": api.member("vic", Role.VIEWER),
        "security": api.member("sam", Role.SECURITY_ADMIN),
    }


def grant(api: Api, security: dict[str, str], **body: str) -> None:
    response = api.client.post(f"{SECURITY}/grants", json=body, headers=security)
    assert response.status_code == 201, response.text


def mask(api: Api, security: dict[str, str], column: str, method: str, *exempt: str) -> None:
    body = {"table": "customers", "column": column, "method": method, "exempt": list(exempt)}
    response = api.client.post(f"{SECURITY}/masking-rules", json=body, headers=security)
    assert response.status_code == 201, response.text


def test_reading_needs_a_table_grant(api: Api, people: dict[str, dict[str, str]]) -> None:
    status, body = query(api, people["viewer"], "SELECT name FROM customers")
    assert status == 403
    assert "no read grant on customers in dev" in str(body)
    security = people["security"]
    grant(api, security, subject="role:viewer", table="cust*", privilege="read", env="dev")
    status, body = query(api, people["viewer"], "SELECT name FROM customers ORDER BY id")
    assert status == 200
    assert body["rows"] == [["Ann"], ["Bo"]]
    status, _ = query(api, people["viewer"], "SELECT name FROM customers", base=PROD)
    assert status == 403  # the grant was for dev only


def test_reading_does_not_let_a_viewer_write(api: Api, people: dict[str, dict[str, str]]) -> None:
    grant(api, people["security"], subject="user:vic", table="*", privilege="write", env="dev")
    status, body = query(api, people["viewer"], "DELETE FROM customers")
    assert status == 403
    assert "do not allow changing tables" in str(body)


def test_masked_columns_stay_masked_through_aliases_and_expressions(
    api: Api, people: dict[str, dict[str, str]]
) -> None:
    security, viewer = people["security"], people["viewer"]
    grant(api, security, subject="role:viewer", table="customers", privilege="read", env="dev")
    mask(api, security, "phone", "phone")
    mask(api, security, "email", "email")
    status, body = query(
        api,
        viewer,
        "SELECT id, phone AS p, UPPER(email) AS e, city FROM customers ORDER BY id",
    )
    assert status == 200, body
    assert body["rows"][0] == [1, "138****5678", "A***@EXAMPLE.COM", "Hangzhou"]
    assert body["masked_columns"] == {"p": "phone", "e": "email"}
    status, body = query(
        api, viewer, "SELECT x FROM (SELECT phone AS x FROM customers) t ORDER BY x"
    )
    assert body["rows"] == [["138****5678"], ["139****4321"]]
    status, body = query(api, viewer, "SELECT * FROM customers WHERE id = 2")
    assert body["rows"] == [[2, "Bo", "139****4321", "b***@example.org", "Beijing"]]
    counts = "SELECT COUNT(*) AS n, COUNT(DISTINCT city) AS c FROM customers"
    status, body = query(api, viewer, counts)
    assert body["rows"] == [[2, 2]] and body["masked_columns"] == {}


def test_exempt_subjects_see_real_values(api: Api, people: dict[str, dict[str, str]]) -> None:
    mask(api, people["security"], "phone", "full", "role:developer")
    _, body = query(api, people["dev"], "SELECT phone FROM customers ORDER BY id")
    assert body["rows"] == [["13812345678"], ["13987654321"]]
    owner = api.member("olga", Role.OWNER)
    _, body = query(api, owner, "SELECT phone FROM customers ORDER BY id")
    assert body["rows"] == [["***"], ["***"]]  # owners may read everything, masked


def test_previews_apply_grants_and_masking(api: Api, people: dict[str, dict[str, str]]) -> None:
    mask(api, people["security"], "email", "hash")
    refused = api.client.get(f"{DEV}/tables/customers/preview", headers=people["viewer"])
    assert refused.status_code == 403
    grant(api, people["security"], subject="role:viewer", table="*", privilege="read", env="dev")
    preview = api.client.get(f"{DEV}/tables/customers/preview?limit=1", headers=people["viewer"])
    row = preview.json()["rows"][0]
    assert row[3] != "ann@example.com" and len(row[3]) == 16
    tables = api.client.get(f"{DEV}/tables", headers=people["viewer"]).json()["items"]
    assert {"name": "customers", "kind": "table", "readable": True} in tables


def test_prod_is_never_changed_ad_hoc(api: Api, people: dict[str, dict[str, str]]) -> None:
    admin = api.member("dora", Role.ADMIN)
    status, body = query(api, admin, "CREATE TABLE t AS SELECT 1 AS x", base=PROD)
    assert status == 403
    assert "cannot change prod tables" in str(body)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM 'data.csv'",
        "SELECT getenv('HOME')",
        "SELECT * FROM query_table('customers')",
        "COPY customers TO 'out.csv'",
        "SET x = 1",
        "PRAGMA version",
    ],
)
def test_files_settings_and_table_functions_are_refused(
    api: Api, people: dict[str, dict[str, str]], sql: str
) -> None:
    status, body = query(api, api.member("dora", Role.ADMIN), sql)
    assert status == 400, body
    assert body["error"]["details"]["location"]["file"] == "<query>"


def test_sql_errors_come_back_as_errors(api: Api, people: dict[str, dict[str, str]]) -> None:
    status, body = query(api, people["dev"], "SELECT nope FROM customers")
    assert status == 400
    assert body["error"]["code"] == "query_failed"
    status, body = query(api, people["dev"], "SELECT FROM WHERE")
    assert status == 400
    assert body["error"]["details"]["location"]["line"] == 1


def test_a_masked_developer_cannot_unmask_by_changing_or_copying(
    api: Api, people: dict[str, dict[str, str]]
) -> None:
    mask(api, people["security"], "phone", "phone")
    dev = people["dev"]
    for sql in (
        "UPDATE customers SET city = phone",
        "DELETE FROM customers WHERE phone LIKE '1381%'",
        "MERGE INTO customers c USING customers s ON c.id = s.id "
        "WHEN MATCHED THEN UPDATE SET city = s.phone",
    ):
        status, body = query(api, dev, sql)
        assert status == 403, (sql, body)
        assert "'customers' has masked columns" in body["error"]["message"]
    status, body = query(api, dev, "CREATE TABLE copied AS SELECT * FROM customers")
    assert status == 200, body
    _, body = query(api, dev, "INSERT INTO copied SELECT * FROM customers WHERE id = 1")
    _, body = query(api, dev, "SELECT DISTINCT phone FROM copied ORDER BY phone")
    assert body["rows"] == [["138****5678"], ["139****4321"]]  # copied masked


def test_views_are_checked_when_read_and_exemptions_still_apply(
    api: Api, people: dict[str, dict[str, str]]
) -> None:
    security, viewer, dev = people["security"], people["viewer"], people["dev"]
    mask(api, security, "phone", "last4", "role:developer")
    status, body = query(api, dev, "CREATE VIEW contacts AS SELECT name, phone FROM customers")
    assert status == 200, body
    _, body = query(api, dev, "SELECT phone FROM contacts ORDER BY name")
    assert body["rows"] == [["13812345678"], ["13987654321"]]  # exempt
    grant(api, security, subject="role:viewer", table="contacts", privilege="read", env="dev")
    status, body = query(api, viewer, "SELECT phone FROM contacts")
    assert status == 403 and "no read grant on customers" in body["error"]["message"]
    grant(api, security, subject="role:viewer", table="customers", privilege="read", env="dev")
    status, body = query(api, viewer, "SELECT TO_JSON(c) FROM contacts c ORDER BY name")
    assert status == 200, body
    assert body["rows"] == [
        ['{"name":"Ann","phone":"*******5678"}'],
        ['{"name":"Bo","phone":"*******4321"}'],
    ]
    assert body["tables_read"] == ["contacts", "customers"]
