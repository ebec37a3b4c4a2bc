"""The data behind the console's DAG pictures (laid out and drawn in the browser)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from lakeworks.errors import LakeworksError
from lakeworks.schedule.graph import build_graph
from lakeworks.spec.models import Workspace
from lakeworks.store.database import Database
from lakeworks.store.models import Instance
from lakeworks.store.repositories import InstanceRepository
from lakeworks.web.layout import label_width, layout


def laid_out(data: dict[str, Any]) -> dict[str, Any]:
    """Add the layout (a box per node, the drawing's size) to graph data."""
    nodes = data["nodes"]
    ids = [n["id"] for n in nodes]
    widths = {n["id"]: label_width(n["label"], n.get("sub", "")) for n in nodes}
    boxes, width, height = layout(ids, [(e[0], e[1]) for e in data["edges"]], widths)
    for node in nodes:
        box = boxes[node["id"]]
        node.update(x=round(box.x, 1), y=round(box.y, 1), w=round(box.width, 1), h=box.height)
    data["width"] = round(width, 1)
    data["height"] = round(height, 1)
    return data


def definition_graph(
    ws: Workspace, workspace: str, *, workflow: str | None = None
) -> dict[str, Any]:
    """Nodes and edges of the workspace's dependency graph (one workflow and its direct
    neighbours in other workflows, or everything); edges between workflows are marked.
    A called workflow (of sub-workflow nodes) is drawn on its own."""
    if workflow is not None and workflow in ws.called:
        ws = replace(ws, workflows={workflow: ws.called[workflow]})
    try:
        graph = build_graph(ws)
    except LakeworksError as exc:
        return {"nodes": [], "edges": [], "problem": exc.render()}
    keep = set(graph.nodes)
    if workflow is not None:
        inside = {k for k, n in graph.nodes.items() if n.workflow == workflow}
        keep = set(inside)
        for edge in graph.edges:
            if edge.upstream in inside or edge.downstream in inside:
                keep |= {edge.upstream, edge.downstream}
    nodes = [
        {
            "id": key,
            "label": node.name,
            "sub": f"{node.workflow} · {node.kind.value}",
            "state": "node" if workflow is None or node.workflow == workflow else "outside",
            "href": f"/w/{workspace}/studio/{node.workflow}/{node.name}",
        }
        for key, node in graph.nodes.items()
        if key in keep
    ]
    edges = [
        [
            e.upstream,
            e.downstream,
            graph.nodes[e.upstream].workflow != graph.nodes[e.downstream].workflow,
        ]
        for e in graph.edges
        if e.upstream in keep and e.downstream in keep
    ]
    return laid_out({"nodes": nodes, "edges": edges})


def instance_graph(
    db: Database, workspace: str, env: str, instances: Sequence[Instance]
) -> dict[str, Any]:
    """The given instances coloured by state, with the dependency edges among them."""
    ids = {i.id for i in instances}
    upstream = InstanceRepository(db).dependencies_for(ids)
    nodes = [
        {
            "id": i.id,
            "label": i.node_key.split(".", 1)[-1],
            "sub": f"{i.state.value} · {i.cycle_time:%H:%M}",
            "state": i.state.value,
            "href": f"/w/{workspace}/envs/{env}/ops/instances/{i.id}",
            "tooltip": f"{i.node_key} {i.cycle_time:%Y-%m-%d %H:%M} UTC: {i.state.value}",
        }
        for i in instances
    ]
    edges = [
        [parent, child, False]
        for child, parents in upstream.items()
        for parent in parents
        if parent in ids
    ]
    return laid_out({"nodes": nodes, "edges": edges})
