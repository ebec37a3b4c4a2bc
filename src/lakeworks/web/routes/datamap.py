"""Data Map: the tables of an environment, a table's page (columns, partitions, a
masked preview, who wrote which partition), lineage as a graph at table and column
level in both directions, and impact analysis."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from lakeworks.api.auth import Access, services_of
from lakeworks.api.routes.common import guard
from lakeworks.catalog.impact import Direction, ImpactReport
from lakeworks.catalog.service import DataMap
from lakeworks.security.permissions import EnvPermission
from lakeworks.security.permissions import Permission as Perm
from lakeworks.web.graphs import laid_out
from lakeworks.web.render import page

router = APIRouter()

BUILD = EnvPermission(dev=Perm.MAP_BUILD, prod=Perm.PROD_OPERATE)


def _map(request: Request, workspace: str, env: str) -> DataMap:
    services = services_of(request)
    return DataMap(services.db, services.definition(workspace, env), env)


def _depth(request: Request) -> int | None:
    text = request.query_params.get("depth", "").strip()
    return int(text) if text.isdigit() and int(text) > 0 else None


@router.get("/w/{workspace}/envs/{env}/map", response_class=HTMLResponse, name="console.map")
def map_index(
    request: Request, workspace: str, env: str, access: Access = guard(Perm.MAP_READ)
) -> Response:
    """Every table the catalog knows in the environment."""
    tables = _map(request, workspace, env).catalog.tables()
    return page(
        request,
        "map/index.html",
        access,
        title="Data Map",
        module="map",
        tables=tables,
        may_build=access.can(BUILD.for_env(env)),
    )


@router.get(
    "/w/{workspace}/envs/{env}/map/tables/{table}",
    response_class=HTMLResponse,
    name="console.table",
)
def table_page(
    request: Request, workspace: str, env: str, table: str, access: Access = guard(Perm.MAP_READ)
) -> Response:
    """A table: columns, partitions, owner, layer, tags; lineage; writers; a preview."""
    data_map = _map(request, workspace, env)
    found = data_map.table(table)
    upstream = data_map.impact(found.name, depth=1, direction=Direction.UPSTREAM)
    downstream = data_map.impact(found.name, depth=1, direction=Direction.DOWNSTREAM)
    return page(
        request,
        "map/table.html",
        access,
        title=found.name,
        module="map",
        t=found,
        graph=lineage_graph(workspace, env, found.name, [upstream, downstream]),
        history=data_map.history(found.name, limit=30),
        may_preview=access.can(Perm.DATA_QUERY),
    )


def lineage_graph(
    workspace: str, env: str, root: str, reports: list[ImpactReport]
) -> dict[str, Any]:
    """The edges of impact reports as a graph; table.column names link to their column."""
    names: dict[str, None] = {root: None}
    edges: list[list[Any]] = []
    seen: set[tuple[str, str]] = set()
    for report in reports:
        for edge in report.edges:
            names.setdefault(edge.source)
            names.setdefault(edge.target)
            if (edge.source, edge.target) not in seen:
                seen.add((edge.source, edge.target))
                edges.append([edge.source, edge.target, False])
    nodes = [
        {
            "id": name,
            "label": name,
            "sub": "selected" if name == root else "",
            "state": "success" if name == root else "node",
            "href": f"/w/{workspace}/envs/{env}/map/lineage/{name}",
        }
        for name in names
    ]
    return laid_out({"nodes": nodes, "edges": edges})


@router.get(
    "/w/{workspace}/envs/{env}/map/lineage/{target}",
    response_class=HTMLResponse,
    name="console.lineage",
)
def lineage_page(
    request: Request, workspace: str, env: str, target: str, access: Access = guard(Perm.MAP_READ)
) -> Response:
    """Lineage of a table or column, upstream and downstream to a chosen depth, and
    the impact of changing it: tables, columns, nodes, rules and owners to notify."""
    data_map = _map(request, workspace, env)
    depth = _depth(request)
    up = data_map.impact(target, depth=depth, direction=Direction.UPSTREAM)
    down = data_map.impact(target, depth=depth, direction=Direction.DOWNSTREAM)
    columns = data_map.catalog.get(up.table)
    return page(
        request,
        "map/lineage.html",
        access,
        title=f"Lineage of {up.root}",
        module="map",
        root=up.root,
        table=up.table,
        column=up.column,
        depth=depth,
        up=up,
        down=down,
        columns=[c.name for c in columns.columns] if columns else [],
        graph=lineage_graph(workspace, env, up.root, [up, down]),
    )
