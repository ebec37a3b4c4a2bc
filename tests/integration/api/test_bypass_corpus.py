"""The bypass corpus (``data/bypass_corpus.yml``): every attempt to read what grants or
masking hide, run through the API as a restricted viewer on a real DuckDB warehouse, is
refused (4xx, audited) or returns masked values only."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from lakeworks.security.permissions import Role
from tests.integration.api.conftest import WORKSPACE, Api

CORPUS = Path(__file__).parent / "data" / "bypass_corpus.yml"
DEV = f"/api/workspaces/{WORKSPACE}/envs/dev"

SETUP = """
CREATE TABLE sales_daily (ds VARCHAR, region VARCHAR, revenue DOUBLE, phone VARCHAR,
  email VARCHAR);
INSERT INTO sales_daily VALUES
  ('20260101', 'east', 987654.25, '13812345678', 'ann.secret@example.com'),
  ('20260102', 'west', 123456.75, '13987654321', 'bo.hidden@example.org');
CREATE TABLE sales_raw (id INTEGER, secret VARCHAR);
INSERT INTO sales_raw VALUES (1, 'RAWSECRET-1'), (2, 'RAWSECRET-2');
CREATE VIEW v_sales AS SELECT ds, phone, email, revenue FROM sales_daily;
CREATE VIEW vv_sales AS SELECT * FROM v_sales;
CREATE VIEW v_raw AS SELECT * FROM sales_raw;
CREATE VIEW v_mixed AS SELECT s.ds, r.secret FROM sales_daily s, sales_raw r;
"""

SECRETS = (
    "13812345678",
    "13987654321",
    "2345",
    "8765",
    "ann.secret",
    "bo.hidden",
    "987654",
    "123456",
    "RAWSECRET",
)
"""Fragments of unmasked values: none may appear in any response."""

NODE_MADE = """
CREATE MACRO peek() AS (SELECT max(secret) FROM sales_raw);
CREATE MACRO peek_rows() AS TABLE SELECT * FROM sales_raw;
CREATE MACRO "left"(s, n) AS s;
CREATE MACRO upper(s) AS (SELECT max(secret) FROM sales_raw);
CREATE VIEW v_env AS SELECT current_setting('temp_directory') AS home;
CREATE VIEW v_files AS SELECT * FROM glob('/etc/*');
"""
"""What a scheduled node (not ad-hoc SQL) may have left in the warehouse."""

GRANTED = ("sales_daily", "v_sales", "vv_sales", "v_raw", "v_mixed", "v_env", "v_files")


def load_corpus() -> list[dict[str, Any]]:
    cases = yaml.safe_load(CORPUS.read_text())
    assert isinstance(cases, list)
    return cases


def restricted_viewer(api: Api) -> dict[str, str]:
    """The corpus's world: tables and views made by a developer, a viewer granted some."""
    dev = api.member("dev", Role.DEVELOPER)
    response = api.client.post(f"{DEV}/query", json={"sql": SETUP}, headers=dev)
    assert response.status_code == 200, response.text
    session = api.services.engine(WORKSPACE, "dev").session()
    try:
        for statement in NODE_MADE.strip().split(";\n"):
            session.execute(statement.rstrip(";"))
    finally:
        session.close()
    security = api.member("sam", Role.SECURITY_ADMIN)
    base = f"/api/workspaces/{WORKSPACE}"
    for table in GRANTED:
        grant = {"subject": "role:viewer", "table": table, "privilege": "read", "env": "dev"}
        response = api.client.post(f"{base}/grants", json=grant, headers=security)
        assert response.status_code == 201, response.text
    for column, method in (("phone", "phone"), ("email", "email"), ("revenue", "full")):
        rule = {"table": "sales_daily", "column": column, "method": method}
        response = api.client.post(f"{base}/masking-rules", json=rule, headers=security)
        assert response.status_code == 201, response.text
    return api.member("vic", Role.VIEWER)


def problems_of(api: Api, case: dict[str, Any], status: int, body: dict[str, Any]) -> list[str]:
    """What is wrong with one answer (empty: as the corpus expects)."""
    found: list[str] = []
    text = json.dumps(body)
    leaked = [s for s in SECRETS if s in text]
    if leaked:
        found.append(f"unmasked values {leaked} in {text[:300]}")
    if case["expect"] == "refused":
        if not 400 <= status < 500:
            found.append(f"expected a refusal, got {status}: {text[:300]}")
        elif "status" in case and status != case["status"]:
            found.append(f"expected {case['status']}, got {status}: {text[:300]}")
        message = str(body.get("error", {}).get("message", ""))
        if not message:
            found.append("a refusal without a message")
        if "message" in case and case["message"] not in message:
            found.append(f"expected {case['message']!r} in {message!r}")
        entry = api.services.audit.query(workspace=WORKSPACE, limit=1)[0]
        if entry.actor != "vic" or entry.status != status:
            found.append(f"not audited (last entry: {entry.actor} {entry.status})")
        elif message and message[:1000] != json.loads(entry.detail or "{}").get("refused"):
            found.append(f"the audit entry does not say why: {entry.detail}")
    else:
        if status != 200:
            found.append(f"expected masked rows, got {status}: {text[:300]}")
        elif "rows" in case and body["rows"] != case["rows"]:
            found.append(f"expected rows {case['rows']}, got {body['rows']}")
    return found


def test_the_corpus_is_large_and_well_formed() -> None:
    cases = load_corpus()
    assert len(cases) >= 40
    assert len({c["name"] for c in cases}) == len(cases)
    for case in cases:
        assert case["expect"] in ("refused", "masked"), case
        assert set(case) <= {"name", "sql", "dialect", "expect", "status", "message", "rows"}, case


def test_no_bypass_attempt_reads_hidden_values(api: Api) -> None:
    viewer = restricted_viewer(api)
    failures: list[str] = []
    for case in load_corpus():
        body = {"sql": case["sql"], "dialect": case.get("dialect", "duckdb")}
        response = api.client.post(f"{DEV}/query", json=body, headers=viewer)
        problems = problems_of(api, case, response.status_code, response.json())
        failures.extend(f"{case['name']}: {problem}" for problem in problems)
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize(
    "sql",
    ["SELECT phone FROM sales_daily", "SELECT * FROM v_sales", "SELECT * FROM vv_sales"],
)
def test_the_audit_log_records_every_table_read(api: Api, sql: str) -> None:
    viewer = restricted_viewer(api)
    body = {"sql": sql, "dialect": "duckdb"}
    response = api.client.post(f"{DEV}/query", json=body, headers=viewer)
    assert response.status_code == 200, response.text
    entry = api.services.audit.query(workspace=WORKSPACE, limit=1)[0]
    assert "sales_daily" in str(entry.detail)
