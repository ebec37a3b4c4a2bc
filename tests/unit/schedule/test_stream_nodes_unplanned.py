"""Stream nodes have no cycles: the planner creates no instances for them, and a batch
node reading their target table does not wait for one."""

from __future__ import annotations

import shutil
from pathlib import Path

from lakeworks.schedule.graph import build_graph
from lakeworks.schedule.planning import plan_instances
from lakeworks.spec.loader import load_workspace

from .factories import utc

EXAMPLE = Path(__file__).parents[3] / "src" / "lakeworks" / "spec" / "examples" / "sales"


def test_a_stream_node_is_never_planned(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    shutil.copytree(EXAMPLE, root)
    folder = next((root / "workflows").iterdir())
    (folder / "ev.stream.yml").write_text(
        "source: {data_source: events, topics: [ev]}\ntarget: {table: sales_raw}\n"
    )
    ws = load_workspace(root)
    planned = plan_instances(ws, build_graph(ws), utc(2026, 4, 10), utc(2026, 4, 11))
    assert planned and all(not p.node_key.endswith(".ev") for p in planned)
