"""The gate in the runner: a strong failure blocks a 3-node chain, a weak one does not."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import pytest

from lakeworks.engines.registry import engine_for
from lakeworks.quality.models import Verdict
from lakeworks.quality.repository import QualityResultRepository
from lakeworks.runtime.execution import InstanceExecutor
from lakeworks.runtime.runner import ManualRunner, RunSummary
from lakeworks.spec.loader import load_workspace
from lakeworks.store.database import Database
from lakeworks.store.models import InstanceState
from lakeworks.store.repositories import InstanceRepository, LogRepository

BIZDATE = date(2026, 4, 10)

NODES = {
    "01_load_orders.sql": """\
CREATE TABLE IF NOT EXISTS ods_orders (id BIGINT, email STRING, amount DOUBLE, ds STRING);
INSERT OVERWRITE TABLE ods_orders
SELECT id, CASE WHEN id % 8 = 0 THEN NULL ELSE 'u' || id || '@x.com' END, id * 1.5,
       '${bizdate}'
FROM (SELECT explode(sequence(1, 16)) AS id) AS t;
""",
    "02_clean_orders.sql": """\
CREATE TABLE IF NOT EXISTS dwd_orders (id BIGINT, email STRING, amount DOUBLE, ds STRING);
INSERT OVERWRITE TABLE dwd_orders SELECT id, email, amount, ds FROM ods_orders;
""",
    "03_daily_revenue.sql": """\
CREATE TABLE IF NOT EXISTS ads_revenue (ds STRING, revenue DOUBLE);
INSERT OVERWRITE TABLE ads_revenue SELECT ds, SUM(amount) FROM dwd_orders GROUP BY ds;
""",
}

RULES = """\
table: ods_orders
partition: "ds = '${{bizdate}}'"
rules:
  - name: ods_orders_email_nulls
    template: null_ratio
    column: email
    strength: {strength}
    fail: {{max: {max_ratio}}}
  - name: ods_orders_not_empty
    template: not_empty
"""


def _workspace(root: Path, strength: str, max_ratio: float) -> Path:
    root.mkdir(parents=True)
    (root / "lakeworks.yml").write_text("name: gate-test\n")
    folder = root / "workflows" / "orders"
    folder.mkdir(parents=True)
    for name, code in NODES.items():
        (folder / name).write_text(code)
    (folder / "ods_orders.quality.yml").write_text(
        RULES.format(strength=strength, max_ratio=max_ratio)
    )
    return root


MakeRun = Callable[[str, float], tuple[RunSummary, Database]]


@pytest.fixture
def make_run(tmp_path: Path) -> Iterator[MakeRun]:
    opened: list[Database] = []

    def run(strength: str, max_ratio: float) -> tuple[RunSummary, Database]:
        root = _workspace(tmp_path / f"ws_{strength}_{len(opened)}", strength, max_ratio)
        workspace = load_workspace(root)
        db = Database.open(f"sqlite:///{root / 'meta.db'}")
        opened.append(db)
        runner = ManualRunner(workspace, db, engine_for(workspace, "dev"), "dev")
        return runner.run(BIZDATE), db

    yield run
    for db in opened:
        db.close()


def _states(summary: RunSummary) -> dict[str, InstanceState]:
    return {i.node_key.split(".")[-1]: i.state for i in summary.instances}


def test_a_strong_failure_fails_the_writer_and_blocks_the_chain(make_run: MakeRun) -> None:
    summary, db = make_run("strong", 5)
    states = _states(summary)
    assert states == {
        "01_load_orders": InstanceState.FAILED,
        "02_clean_orders": InstanceState.BLOCKED,
        "03_daily_revenue": InstanceState.BLOCKED,
    }
    writer = summary.instances[0]
    assert writer.reason == (
        "not retried: quality rule ods_orders_email_nulls failed: null ratio 12.5 % > 5 %"
    )

    stored = QualityResultRepository(db, "gate-test", "dev").list(table="ods_orders")
    by_rule = {s.rule: s for s in stored}
    assert by_rule["ods_orders_email_nulls"].verdict is Verdict.FAIL
    assert by_rule["ods_orders_email_nulls"].instance_id == writer.id
    assert by_rule["ods_orders_email_nulls"].partition == "ds = '20260410'"
    assert len(by_rule["ods_orders_email_nulls"].sample) == 2
    assert by_rule["ods_orders_not_empty"].verdict is Verdict.PASS


def test_a_weak_failure_warns_and_the_chain_runs(make_run: MakeRun) -> None:
    summary, db = make_run("weak", 5)
    assert set(_states(summary).values()) == {InstanceState.SUCCESS}
    writer = summary.instances[0]
    lines = [line.text for line in LogRepository(db).read(writer.id)]
    assert any(
        "WARNING: quality rule ods_orders_email_nulls failed: null ratio 12.5 % > 5 %" in line
        for line in lines
    )
    stored = QualityResultRepository(db, "gate-test", "dev").list(rule="ods_orders_email_nulls")
    assert [s.verdict for s in stored] == [Verdict.FAIL]


def test_passing_rules_let_the_chain_run(make_run: MakeRun) -> None:
    summary, _db = make_run("strong", 20)
    assert set(_states(summary).values()) == {InstanceState.SUCCESS}


def test_rerunning_the_instance_re_checks(make_run: MakeRun) -> None:
    summary, db = make_run("strong", 5)
    writer = summary.instances[0]
    assert writer.state is InstanceState.FAILED
    workspace_root = Path(db.engine.url.database or "").parent
    rules_file = workspace_root / "workflows" / "orders" / "ods_orders.quality.yml"
    rules_file.write_text(RULES.format(strength="strong", max_ratio=20))

    workspace = load_workspace(workspace_root)
    executor = InstanceExecutor(workspace, db, engine_for(workspace, "dev"), "dev")
    instances = InstanceRepository(db)
    reset = instances.transition(
        writer.id, InstanceState.NOT_RUN, expected=[InstanceState.FAILED], actor="operator"
    )
    assert reset is not None
    outcome = executor.run(reset)
    assert outcome is not None
    assert outcome.instance.state is InstanceState.SUCCESS

    history = QualityResultRepository(db, "gate-test", "dev").list(
        rule="ods_orders_email_nulls", instance_id=writer.id
    )
    assert [s.verdict for s in history] == [Verdict.PASS, Verdict.FAIL]  # newest first
