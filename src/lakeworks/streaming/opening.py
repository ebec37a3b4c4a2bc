"""Opening a stream node's source at its committed positions.

Kept apart from the runner, which imports the flush's Arrow and conversion machinery:
``stream run`` opens the source first, so that the broker prepares its first answer
while the rest of the process is imported.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lakeworks.engines.base import Engine
from lakeworks.errors import NotFound, UserError
from lakeworks.spec.models import Node, NodeKind, Workspace
from lakeworks.streaming import positions as pos
from lakeworks.streaming.kafka import open_follower
from lakeworks.streaming.spec import CdcSource, StreamSpec, parse_stream

if TYPE_CHECKING:
    from lakeworks.streaming.follower import Follower


def stream_node(workspace: Workspace, ref: str) -> Node:
    """A stream node by name or ``workflow.node``."""
    found = workspace.find_node(ref)
    if found is None or found.kind is not NodeKind.STREAM:
        known = ", ".join(n.key for n in workspace.nodes() if n.kind is NodeKind.STREAM)
        raise NotFound(
            f"no stream node named '{ref}'",
            hint=f"stream nodes: {known}" if known else "add a *.stream.yml node",
        )
    return found


def load_spec(node: Node) -> StreamSpec:
    """The node's stream spec (errors name the file and line)."""
    return parse_stream(node.code, node.path)[0]


def opens_without_key(workspace: Workspace, env: str, spec: StreamSpec) -> bool:
    """Whether the node's source and warehouse open without the workspace's key: no
    encrypted secret (``*_encrypted``) in the data source, and a DuckDB warehouse
    (which has none)."""
    environment = workspace.config.environments.get(env)
    engine = workspace.config.engines.get(environment.engine) if environment else None
    raw = workspace.config.data_sources.get(spec.source.data_source) or {}
    encrypted = any(key.endswith("_encrypted") and value for key, value in raw.items())
    return engine is not None and engine.type == "duckdb" and not encrypted


@dataclass
class OpenSource:
    """A follower opened at ``positions``, the positions committed in the target, for
    the node's ``spec``."""

    follower: Follower
    positions: dict[str, int]
    spec: StreamSpec


def open_stream_source(
    workspace: Workspace,
    env: str,
    engine: Engine,
    node: Node,
    spec: StreamSpec,
    *,
    cancel: threading.Event,
    log: Callable[[str], None],
) -> OpenSource:
    """Read the node's committed positions and open its source (``spec``) there."""
    source = spec.source
    name = source.data_source
    raw = workspace.config.data_sources.get(name)
    if raw is None:
        raise UserError(
            f"unknown data source '{name}'",
            hint="declare it under data_sources: in lakeworks.yml",
        )
    positions = pos.load_positions(engine, node.key)
    follower: Follower
    if isinstance(source, CdcSource):
        from lakeworks.streaming.postgres_cdc import open_cdc_follower, slot_name

        slot = slot_name(workspace.name, env, node.key)
        follower = open_cdc_follower(name, raw, source, spec.target, slot, cancel=cancel, log=log)
    else:
        follower = open_follower(name, raw, source, workspace.root)
    try:
        follower.open(positions)
    except BaseException:
        follower.close()
        raise
    return OpenSource(follower, positions, spec)
