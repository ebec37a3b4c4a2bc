"""Names of the variables that carry a declared data source's settings."""

from __future__ import annotations

from lakeworks.runtime.connections import env_name


def test_variable_names_are_upper_case_with_underscores() -> None:
    assert env_name("crm", "host") == "LAKEWORKS_CONN_CRM_HOST"
    assert env_name("pg-sales.eu", "password") == "LAKEWORKS_CONN_PG_SALES_EU_PASSWORD"
