"""Masking inside warehouse API queries: a masked table is read through a masking
projection for the calling application, whatever the API's SQL does with it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.dataservice.conftest import Studio, bearer

ATTEMPTS = {
    "alias": "SELECT id, email AS contact FROM orders WHERE id = 2",
    "expression": "SELECT id, upper(email) || '' AS contact FROM orders WHERE id = 2",
    "star": "SELECT * FROM orders WHERE id = 2",
    "subquery": "SELECT id, contact FROM (SELECT id, email AS contact FROM orders) o WHERE id = 2",
    "cte": "WITH o AS (SELECT * FROM orders) SELECT id, email AS contact FROM o WHERE id = 2",
}


def _rule(ds: Studio, *exempt: str) -> None:
    response = ds.client.post(
        "/api/workspaces/sales-lab/masking-rules",
        json={"table": "orders", "column": "email", "method": "email", "exempt": list(exempt)},
        headers=ds.owner,
    )
    assert response.status_code in (200, 201), response.text


def _publish(ds: Studio, name: str, sql: str, parameters: str = "") -> str:
    ds.write("sales", name, f"sql: {sql}\n{parameters}")
    ds.publish(f"sales/{name}")
    return f"sales/{name}"


def _rows(ds: Studio, app: dict[str, Any], route: str, query: str = "") -> list[Any]:
    response = ds.client.get(f"/dataservice/{route}{query}", headers=bearer(app))
    assert response.status_code == 200, response.text
    return list(response.json()["data"]["rows"])


@pytest.mark.parametrize("attempt", sorted(ATTEMPTS))
def test_masked_column_stays_masked_however_the_sql_reads_it(ds: Studio, attempt: str) -> None:
    route = _publish(ds, attempt, ATTEMPTS[attempt])
    app = ds.app("reader", route)
    _rule(ds)
    (row,) = _rows(ds, app, route)
    value = row.get("contact", row.get("email"))
    assert value == "B***@EXAMPLE.COM" if attempt == "expression" else value == "b***@example.com"


def test_filters_and_joins_only_see_masked_values(ds: Studio) -> None:
    # A filter on the raw value would leak it one guess at a time.
    probe = _publish(
        ds,
        "probe",
        "SELECT count(*) AS n FROM orders WHERE email = ${email}",
        "parameters: [{name: email, type: string, required: true}]\n",
    )
    joined = _publish(
        ds,
        "joined",
        "SELECT a.id, b.email FROM orders a JOIN orders b ON a.id = b.id WHERE a.id = 1",
    )
    app = ds.app("prober", probe, joined)
    _rule(ds)
    assert _rows(ds, app, probe, "?email=bob@example.com") == [{"n": 0}]
    assert _rows(ds, app, probe, "?email=b***@example.com") == [{"n": 1}]
    assert _rows(ds, app, joined) == [{"id": 1, "email": "a***@example.com"}]


def test_an_exempted_app_sees_raw_values_and_the_cache_keeps_them_apart(ds: Studio) -> None:
    ds.write(
        "sales",
        "emails",
        "sql: SELECT id, email FROM orders WHERE id = 2\ncache_ttl_seconds: 60\n",
    )
    ds.publish("sales/emails")
    crm = ds.app("crm", "sales/emails")
    other = ds.app("other", "sales/emails")
    _rule(ds, "app:crm")
    assert _rows(ds, crm, "sales/emails") == [{"id": 2, "email": "bob@example.com"}]
    assert _rows(ds, other, "sales/emails") == [{"id": 2, "email": "b***@example.com"}]
    assert _rows(ds, crm, "sales/emails") == [{"id": 2, "email": "bob@example.com"}]


def test_an_exemption_must_name_a_subject_or_an_app(ds: Studio) -> None:
    response = ds.client.post(
        "/api/workspaces/sales-lab/masking-rules",
        json={"table": "orders", "column": "email", "method": "email", "exempt": ["app:"]},
        headers=ds.owner,
    )
    assert response.status_code == 400
    assert "app:<application name>" in response.text


def test_openapi_lists_the_fields_of_a_select_star_api(ds: Studio) -> None:
    _rule(ds)
    _publish(ds, "everything", "SELECT * FROM orders")
    document = ds.client.get("/dataservice/openapi.json").json()
    get = document["paths"]["/dataservice/sales/everything"]["get"]
    rows = get["responses"]["200"]["content"]["application/json"]["schema"]
    text = str(rows)
    for name in ("id", "region", "amount", "day", "email", "paid"):
        assert f"'{name}'" in text
    assert "'integer'" in text and "'date'" in text and "'boolean'" in text
