"""The Data Map of an environment: search, table pages, lineage and impact, which
instance wrote which partition, and rebuilding the map."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Query, Request

from lakeworks.api.auth import Access
from lakeworks.api.routes.common import Out, Services, audit_detail, guard, iso
from lakeworks.catalog.impact import Direction, ImpactReport
from lakeworks.catalog.models import CatalogTable
from lakeworks.catalog.run_lineage import RunLineageEntry
from lakeworks.catalog.search import SearchHit
from lakeworks.catalog.service import BuildSummary, DataMap
from lakeworks.security.permissions import EnvPermission
from lakeworks.security.permissions import Permission as Perm

router = APIRouter(tags=["data map"])

BUILD = EnvPermission(dev=Perm.MAP_BUILD, prod=Perm.PROD_OPERATE)


class SearchResults(Out):
    items: list[SearchHit]


class TableHistory(Out):
    items: list[RunLineageEntry]


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if hasattr(value, "isoformat"):
        return iso(value) if getattr(value, "tzinfo", None) is None else value.isoformat()
    return value


def _map(services: Services, workspace: str, env: str) -> DataMap:
    return DataMap(services.db, services.definition(workspace, env), env)


@router.get("/workspaces/{workspace}/envs/{env}/map/search", response_model=SearchResults)
def search(
    workspace: str,
    env: str,
    services: Services,
    q: str = Query(min_length=1, description="Words to find in names, columns, docs, code."),
    kind: list[str] | None = Query(None, description="table and/or node"),
    limit: int = Query(20, ge=1, le=200),
    access: Access = guard(Perm.MAP_READ),
) -> dict[str, Any]:
    hits = _map(services, workspace, env).search(q, limit=limit, kinds=kind or ())
    return {"items": [_jsonable(asdict(h)) for h in hits]}


@router.get("/workspaces/{workspace}/envs/{env}/map/tables/{table}", response_model=CatalogTable)
def table_page(
    workspace: str, env: str, table: str, services: Services, access: Access = guard(Perm.MAP_READ)
) -> dict[str, Any]:
    """A table as the catalog knows it: columns, partitions, owner, layer, writer."""
    return _jsonable(asdict(_map(services, workspace, env).table(table)))  # type: ignore[no-any-return]


@router.get(
    "/workspaces/{workspace}/envs/{env}/map/tables/{table}/history", response_model=TableHistory
)
def table_history(
    workspace: str,
    env: str,
    table: str,
    services: Services,
    limit: int = Query(20, ge=1, le=500),
    access: Access = guard(Perm.MAP_READ),
) -> dict[str, Any]:
    """Which instances wrote which partitions of the table, newest first."""
    entries = _map(services, workspace, env).history(table, limit=limit)
    return {"items": [_jsonable(asdict(e)) for e in entries]}


@router.get("/workspaces/{workspace}/envs/{env}/map/impact/{target}", response_model=ImpactReport)
def impact(
    workspace: str,
    env: str,
    target: str,
    services: Services,
    depth: int | None = Query(None, ge=1, le=1000),
    direction: Direction = Direction.DOWNSTREAM,
    access: Access = guard(Perm.MAP_READ),
) -> dict[str, Any]:
    """Everything downstream (or upstream) of ``table`` or ``table.column``."""
    report = _map(services, workspace, env).impact(target, depth=depth, direction=direction)
    return _jsonable(asdict(report))  # type: ignore[no-any-return]


@router.post("/workspaces/{workspace}/envs/{env}/map/build", response_model=BuildSummary)
def build(
    workspace: str,
    env: str,
    request: Request,
    services: Services,
    sources: bool = Query(False, description="Harvest the data sources too."),
    access: Access = guard(BUILD),
) -> dict[str, Any]:
    """Harvest the warehouse (and optionally the data sources) and rebuild lineage."""
    summary = _map(services, workspace, env).build(services.engine(workspace, env), sources=sources)
    audit_detail(request, tables=summary.tables, nodes=summary.nodes)
    return _jsonable(asdict(summary))  # type: ignore[no-any-return]
