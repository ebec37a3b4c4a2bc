"""Worker processes for the first pass of a parallel workspace lineage analysis.

Processes are started with ``spawn`` (never ``fork``), so a server with threads and
open database connections can use them safely. Each worker receives the workspace and
the known table columns once, then analyses chunks of SQL nodes.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from lakeworks.catalog.lineage_index import NodeLineage, analyse_sql_node
from lakeworks.spec.models import Workspace

_state: dict[str, Any] = {}


def _init(
    workspace: Workspace,
    known: Mapping[str, Sequence[str]],
    versions: Mapping[tuple[str, str], int],
) -> None:
    _state.update(workspace=workspace, known=known, versions=versions)


def _analyse(keys: list[str]) -> list[NodeLineage]:
    workspace: Workspace = _state["workspace"]
    out: list[NodeLineage] = []
    for key in keys:
        node = workspace.find_node(key)
        if node is not None:
            out.append(analyse_sql_node(workspace, node, _state["known"], _state["versions"]))
    return out


def first_pass(
    workspace: Workspace,
    keys: Sequence[str],
    known: Mapping[str, Sequence[str]],
    versions: Mapping[tuple[str, str], int],
    workers: int,
) -> dict[str, NodeLineage]:
    """Every node in ``keys`` analysed against ``known`` alone, in ``workers`` processes."""
    chunks = [list(keys[i :: workers * 4]) for i in range(workers * 4)]
    context = multiprocessing.get_context("spawn")
    results: dict[str, NodeLineage] = {}
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=_init,
        initargs=(workspace, dict(known), dict(versions)),
    ) as pool:
        for items in pool.map(_analyse, [c for c in chunks if c]):
            for item in items:
                results[item.node_key] = item
    return results
