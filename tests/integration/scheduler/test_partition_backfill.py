"""A layered pipeline with a 7-day rolling node, backfilled on new tables in parallel.

Every instance must succeed and every partition must equal what running the dates one
by one gives, whatever the order, on SQLite and PostgreSQL metadata.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest

from lakeworks.engines.duckdb_engine import close_all
from lakeworks.engines.registry import engine_for
from lakeworks.runtime import backfill_service as backfills
from lakeworks.schedule.backfill import BackfillOrder, BackfillRequest, BackfillScope
from lakeworks.spec.loader import load_workspace
from lakeworks.store.models import InstanceState, RunState
from tests.integration.scheduler.conftest import WorldFactory
from tests.integration.scheduler.world import utc

FIRST, LAST = date(2026, 3, 1), date(2026, 3, 31)

NODES = {
    "ods_orders": """
CREATE TABLE IF NOT EXISTS ods_orders (k BIGINT, amount BIGINT) PARTITIONED BY (ds STRING);
INSERT OVERWRITE TABLE ods_orders PARTITION (ds='${bizdate}')
SELECT 1 AS k, CAST(SUBSTR('${bizdate}', 7, 2) AS BIGINT) AS amount
UNION ALL SELECT 2 AS k, 10 AS amount;
""",
    "dwd_orders": """
CREATE TABLE IF NOT EXISTS dwd_orders (k BIGINT, amount BIGINT) PARTITIONED BY (ds STRING);
INSERT OVERWRITE TABLE dwd_orders PARTITION (ds='${bizdate}')
SELECT k, amount * 2 AS amount FROM ods_orders WHERE ds = '${bizdate}';
""",
    "dws_daily": """
CREATE TABLE IF NOT EXISTS dws_daily (total BIGINT) PARTITIONED BY (ds STRING);
INSERT OVERWRITE TABLE dws_daily PARTITION (ds='${bizdate}')
SELECT SUM(amount) AS total FROM dwd_orders WHERE ds = '${bizdate}';
""",
    "ads_week": """
CREATE TABLE IF NOT EXISTS ads_week (total BIGINT, days BIGINT) PARTITIONED BY (ds STRING);
INSERT OVERWRITE TABLE ads_week PARTITION (ds='${bizdate}')
SELECT SUM(total) AS total, COUNT(*) AS days
FROM dws_daily
WHERE ds BETWEEN '${yyyymmdd-6}' AND '${bizdate}';
""",
}


def expected_week(day: date) -> tuple[int, int]:
    """ads_week of ``day`` when every date of the backfill ran in date order."""
    days = [day - timedelta(days=n) for n in range(7)]
    present = [d for d in days if FIRST <= d <= LAST]
    return sum(2 * (d.day + 10) for d in present), len(present)


@pytest.fixture(autouse=True)
def _close_warehouses() -> Iterator[None]:
    yield
    close_all()


def write_pipeline(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "lakeworks.yml").write_text(json.dumps({"name": "layers"}))
    folder = root / "workflows" / "sales"
    folder.mkdir(parents=True)
    flow = {"schedule": {"cycle": "day", "at": "02:00", "start": "2027-01-01"}}
    (folder / "workflow.yml").write_text(json.dumps(flow))
    for name, code in NODES.items():
        (folder / f"{name}.sql").write_text(code.lstrip())
    return root


@pytest.mark.parametrize("order", [BackfillOrder.DESCENDING, BackfillOrder.ASCENDING])
def test_parallel_backfill_equals_the_serial_result(
    tmp_path: Path, new_world: WorldFactory, order: BackfillOrder
) -> None:
    world = new_world(write_pipeline(tmp_path / "ws"), utc(2026, 4, 10, 3))
    ws = load_workspace(world.root)
    request = BackfillRequest(
        node="ods_orders",
        scope=BackfillScope.DOWNSTREAM,
        date_ranges=((FIRST, LAST),),
        order=order,
        parallel=4,
    )
    run, plan, created = backfills.start_backfill(world.db, "lena", ws, "prod", request)
    assert len(created) == 31 * 4
    world.settle(rounds=1000)
    progress = backfills.progress(world.db, run.id)
    failed = [
        (i.node_key, i.bizdate, i.reason)
        for i in world.instances.list(run_id=run.id, limit=1000)
        if i.state is not InstanceState.SUCCESS
    ]
    assert failed == []
    assert progress.run.state is RunState.SUCCESS
    session = engine_for(ws, "prod").session()
    try:
        rows = session.execute("SELECT ds, total, days FROM ads_week ORDER BY ds").rows
    finally:
        session.close()
    got = {str(ds): (int(str(total)), int(str(days))) for ds, total, days in rows}
    day = FIRST
    want = {}
    while day <= LAST:
        want[f"{day:%Y%m%d}"] = expected_week(day)
        day += timedelta(days=1)
    assert got == want
    if order is BackfillOrder.DESCENDING:
        assert plan.warnings[0].startswith("some instances wait for earlier dates")
