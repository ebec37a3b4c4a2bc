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
from lakeworks.errors import UserError
from lakeworks.spec.models import Node, Workspace
from lakeworks.streaming import positions as pos
from lakeworks.streaming.kafka import open_follower
from lakeworks.streaming.spec import CdcSource, StreamSpec, parse_stream

if TYPE_CHECKING:
    from lakeworks.streaming.follower import Follower


def load_spec(node: Node) -> StreamSpec:
    """The node's stream spec (errors name the file and line)."""
    return parse_stream(node.code, node.path)[0]


@dataclass
class OpenSource:
    """A follower opened at ``positions``, the positions committed in the target."""

    follower: Follower
    positions: dict[str, int]


def open_source(
    workspace: Workspace,
    env: str,
    engine: Engine,
    node: Node,
    *,
    cancel: threading.Event,
    log: Callable[[str], None],
) -> OpenSource:
    """Read the node's committed positions and open its source there."""
    spec = load_spec(node)
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
    return OpenSource(follower, positions)
