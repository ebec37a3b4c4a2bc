"""Ad-hoc SQL and table previews on an environment's warehouse, with table grants and
column masking applied (see ``security.adhoc``), and the list of warehouse tables."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import Field

from lakeworks.api.auth import Access
from lakeworks.api.routes.common import Body, Out, Services, audit_detail, guard
from lakeworks.errors import LakeworksError
from lakeworks.security.adhoc import AdhocQueries, QueryOutcome
from lakeworks.security.grants import denied_tables
from lakeworks.security.permissions import Permission as Perm

router = APIRouter(tags=["query"])


class QueryBody(Body):
    sql: str = Field(min_length=1, max_length=1_000_000)
    dialect: str | None = Field(default=None, description="Default: the workspace's dialect.")
    limit: int = Field(default=1000, ge=1, le=100_000)


class QueryOut(Out):
    columns: list[str]
    rows: list[list[Any]]
    row_count: int
    truncated: bool
    masked_columns: dict[str, str]
    """Result column → masking method."""
    tables_read: list[str]
    tables_written: list[str]
    seconds: float


class TableItem(Out):
    name: str
    kind: str
    readable: bool


class TableList(Out):
    items: list[TableItem]


def _value(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.hex()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def outcome_json(outcome: QueryOutcome) -> dict[str, Any]:
    return {
        "columns": outcome.columns,
        "rows": [[_value(v) for v in row] for row in outcome.rows],
        "row_count": len(outcome.rows),
        "truncated": outcome.truncated,
        "masked_columns": outcome.masked,
        "tables_read": outcome.reads,
        "tables_written": outcome.writes,
        "seconds": round(outcome.seconds, 4),
    }


def _queries(services: Services, workspace: str, env: str) -> AdhocQueries:
    return AdhocQueries(
        services.engine(workspace, env),
        env,
        grants=services.grants.grants(workspace),
        masking=services.grants.masking_rules(workspace),
        max_rows=services.settings.max_query_rows,
        timeout_seconds=services.settings.query_timeout_seconds,
    )


@router.post("/workspaces/{workspace}/envs/{env}/query", response_model=QueryOut)
def run_query(
    workspace: str,
    env: str,
    body: QueryBody,
    request: Request,
    services: Services,
    access: Access = guard(Perm.DATA_QUERY, data_access=True),
) -> dict[str, Any]:
    """Run ad-hoc SQL: reads need read grants (views: on what they read too), writes (dev
    only) write grants; masked columns are masked before the query sees them. Stopped
    after the server's query timeout; at most the server's row cap comes back."""
    dialect = body.dialect or services.definition(workspace, "dev").config.sql_dialect
    audit_detail(request, sql=body.sql[:4000], env=env)
    try:
        outcome = _queries(services, workspace, env).run(
            body.sql,
            access.subjects,
            dialect=dialect,
            may_write=access.can(Perm.DATA_WRITE),
            limit=body.limit,
        )
    except LakeworksError as exc:
        audit_detail(request, refused=exc.message[:1000])
        raise
    audit_detail(
        request,
        tables_read=outcome.reads,
        tables_written=outcome.writes,
        rows=len(outcome.rows),
        masked=sorted(outcome.masked),
    )
    return outcome_json(outcome)


@router.get("/workspaces/{workspace}/envs/{env}/tables", response_model=TableList)
def list_tables(
    workspace: str, env: str, services: Services, access: Access = guard(Perm.DATA_QUERY)
) -> dict[str, Any]:
    """Warehouse tables of the environment, and whether the caller may read each."""
    engine = services.engine(workspace, env)
    tables = engine.list_tables()
    names = [
        t.name if not t.schema or t.schema == "main" else f"{t.schema}.{t.name}" for t in tables
    ]
    refused = set(
        denied_tables(services.grants.grants(workspace), access.subjects, env, names, "read")
    )
    return {
        "items": [
            {"name": name, "kind": t.kind, "readable": name not in refused}
            for name, t in zip(names, tables, strict=True)
        ]
    }


@router.get("/workspaces/{workspace}/envs/{env}/tables/{table}/preview", response_model=QueryOut)
def preview_table(
    workspace: str,
    env: str,
    table: str,
    request: Request,
    services: Services,
    limit: int = Query(50, ge=1, le=1000),
    access: Access = guard(Perm.DATA_QUERY, data_access=True),
) -> dict[str, Any]:
    """The first rows of a table (read grant needed, masking applied)."""
    audit_detail(request, table=table, env=env)
    try:
        outcome = _queries(services, workspace, env).preview(table, access.subjects, limit=limit)
    except LakeworksError as exc:
        audit_detail(request, refused=exc.message[:1000])
        raise
    audit_detail(request, rows=len(outcome.rows), masked=sorted(outcome.masked))
    return outcome_json(outcome)
