"""A rule file with a schedule is a node: its rules run as its own instances."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from lakeworks.engines.registry import engine_for
from lakeworks.quality.repository import QualityResultRepository
from lakeworks.runtime.runner import ManualRunner
from lakeworks.schedule.graph import build_graph
from lakeworks.schedule.planning import Planner
from lakeworks.spec.loader import load_workspace
from lakeworks.spec.models import NodeKind
from lakeworks.store.database import Database
from lakeworks.store.models import InstanceState as S
from tests.integration.quality.test_gate import BIZDATE, NODES

SCHEDULED = """\
table: ods_orders
partition: "ds = '${bizdate}'"
schedule: {cycle: day, at: "06:30"}
owner: dq-team
rules:
  - name: ods_orders_email_nulls
    template: null_ratio
    column: email
    fail: {max: 5}
  - name: ods_orders_rows
    template: row_count
    strength: weak
    warn: {min: 100}
"""


def _workspace(root: Path) -> Path:
    folder = root / "workflows" / "orders"
    folder.mkdir(parents=True)
    (root / "lakeworks.yml").write_text("name: scheduled-dq\n")
    for name, code in NODES.items():
        (folder / name).write_text(code)
    (folder / "orders_watch.quality.yml").write_text(SCHEDULED)
    return root


def test_scheduled_rules_run_as_their_own_instance_after_the_writer(tmp_path: Path) -> None:
    ws = load_workspace(_workspace(tmp_path / "ws"))
    node = ws.find_node("orders.orders_watch")
    assert node is not None
    assert node.kind is NodeKind.QUALITY and node.settings.owner == "dq-team"
    graph = build_graph(ws)
    assert ("orders.01_load_orders", "orders.orders_watch") in {
        (e.upstream, e.downstream) for e in graph.edges
    }
    day = datetime(2026, 4, 11, tzinfo=UTC)
    planned = Planner(ws, graph).plan(day, day.replace(day=12), [], history_start=day)
    watch = [p for p in planned if p.node_key == "orders.orders_watch"]
    assert [p.cycle_time.strftime("%H:%M") for p in watch] == ["06:30"]

    db = Database.open(f"sqlite:///{tmp_path / 'meta.db'}")
    try:
        runner = ManualRunner(ws, db, engine_for(ws, "dev"), "dev")
        summary = runner.run(BIZDATE)
        states = {i.node_key.split(".")[-1]: i for i in summary.instances}
        assert states["01_load_orders"].state is S.SUCCESS  # no gate for these rules
        check = states["orders_watch"]
        assert check.state is S.FAILED
        assert check.reason is not None
        assert "quality rule ods_orders_email_nulls failed: null ratio 12.5 % > 5 %" in (
            check.reason
        )
        stored = QualityResultRepository(db, "scheduled-dq", "dev").list(table="ods_orders")
        assert {s.instance_id for s in stored} == {check.id}
        assert {s.rule for s in stored} == {"ods_orders_email_nulls", "ods_orders_rows"}
    finally:
        db.close()
