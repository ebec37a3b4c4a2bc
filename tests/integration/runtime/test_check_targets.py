"""Check nodes on S3 objects, sync cursors, stream watermarks, other nodes' instances
(this workspace or another), "unchanged for N minutes" and a deadline, in real runs
(SQLite store, DuckDB; an S3 server from moto)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import boto3
import pytest

from lakeworks.engines.duckdb_engine import close_all
from lakeworks.engines.registry import engine_for
from lakeworks.errors import ValidationFailed
from lakeworks.integration.state import SyncState
from lakeworks.runtime.runner import ManualRunner
from lakeworks.spec.loader import load_workspace
from lakeworks.store.database import Database, default_database_url
from lakeworks.store.models import Instance
from lakeworks.streaming.status import StreamStatusStore

BIZDATE = date(2026, 4, 11)
SYNC = (
    "source: {data_source: src, table: t}\n"
    "target: {table: ods_t, mode: overwrite_partition, partition: {ds: '${bizdate}'}}\n"
)
STREAM = "source: {data_source: events, topics: [ev]}\ntarget: {table: ev_t}\n"
SOURCES = (
    "data_sources:\n"
    "  src: {type: sqlite, path: src.db}\n"
    "  events: {type: kafka, bootstrap_servers: '127.0.0.1:1'}\n"
)


@pytest.fixture(autouse=True)
def _close_warehouses() -> Iterator[None]:
    yield
    close_all()


def make(root: Path, files: dict[str, str], name: str = "cf", config: str = "") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "lakeworks.yml").write_text(f"name: {name}\n{config}", encoding="utf-8")
    for rel, text in files.items():
        path = root / "workflows" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def run(root: Path, *targets: str, db_root: Path | None = None) -> dict[str, Instance]:
    """Run ``targets`` (all nodes when none) for BIZDATE; final instances by node name.
    ``db_root``: use that workspace's metadata store (two workspaces, one store)."""
    ws = load_workspace(root)
    db = Database.open(default_database_url((db_root or root) / ".lakeworks"))
    try:
        summary = ManualRunner(ws, db, engine_for(ws, "dev"), "dev").run(BIZDATE, list(targets))
        return {i.node_key.split(".")[-1]: i for i in summary.instances}
    finally:
        db.close()


def store(root: Path) -> Database:
    return Database.open(default_database_url(root / ".lakeworks"))


def test_a_check_waits_for_an_s3_object(tmp_path: Path, s3_endpoint: str) -> None:
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket="partner")
    check = (
        "file: s3://partner/inbox/${bizdate}.csv\n"
        f"endpoint: {s3_endpoint}\ninterval_seconds: 0\nmax_checks: 2\n"
    )
    root = make(tmp_path, {"p/landed.check.yml": check})
    first = run(root)["landed"]
    assert str(first.state) == "failed"
    assert first.reason is not None
    assert "check 2/2: file s3://partner/inbox/20260411.csv not found" in first.reason
    s3.put_object(Bucket="partner", Key="inbox/20260411.csv", Body=b"id\n1\n")
    assert str(run(root)["landed"].state) == "success"


def test_a_check_on_a_missing_bucket_or_bad_url_says_so(tmp_path: Path, s3_endpoint: str) -> None:
    check = f"file: s3://partner\nendpoint: {s3_endpoint}\ninterval_seconds: 0\n"
    got = run(make(tmp_path, {"p/landed.check.yml": check}))["landed"]
    assert str(got.state) == "failed" and got.attempts == 1
    assert got.reason is not None and "names no bucket and key" in got.reason


def test_a_check_waits_for_a_sync_cursor_to_pass_the_cycle_time(tmp_path: Path) -> None:
    root = make(
        tmp_path,
        {
            "ingest/ods_t.sync.yml": SYNC,
            "p/synced.check.yml": "sync_cursor: ingest.ods_t\ninterval_seconds: 0\nmax_checks: 1\n",
        },
        config=SOURCES,
    )
    before = run(root, "p.synced")["synced"]
    assert before.reason is not None and "sync ingest.ods_t has no cursor yet" in before.reason
    db = store(root)
    try:
        SyncState(db, "cf", "dev").set_cursor("ingest.ods_t", datetime(2026, 4, 11, 23, 10))
        late = run(root, "p.synced")["synced"]
        assert late.reason is not None
        assert "is 2026-04-11 23:10:00, before 2026-04-12 00:00" in late.reason
        SyncState(db, "cf", "dev").set_cursor("ingest.ods_t", datetime(2026, 4, 12, 0, 5))
        assert str(run(root, "p.synced")["synced"].state) == "success"
        SyncState(db, "cf", "dev").set_cursor("ingest.ods_t", 42)
        wrong = run(root, "p.synced")["synced"]
        assert wrong.reason is not None and "is 42, not a time" in wrong.reason
    finally:
        db.close()


def test_a_check_waits_for_a_stream_watermark(tmp_path: Path) -> None:
    root = make(
        tmp_path,
        {
            "rt/ev.stream.yml": STREAM,
            "p/streamed.check.yml": "stream: rt.ev\ninterval_seconds: 0\nmax_checks: 1\n",
        },
        config=SOURCES,
    )
    waiting = run(root, "p.streamed")["streamed"].reason or ""
    assert "stream rt.ev has committed nothing yet (cycle time 2026-04-12 00:00:00 UTC)" in waiting
    db = store(root)
    try:
        status = StreamStatusStore(db, "cf", "dev")
        status.update("rt.ev", watermark=datetime(2026, 4, 11, 22, 0))
        behind = run(root, "p.streamed")["streamed"]
        assert (
            "watermark 2026-04-11 22:00:00 UTC has not passed "
            "the cycle time 2026-04-12 00:00:00 UTC" in (behind.reason or "")
        )
        status.update("rt.ev", watermark=datetime(2026, 4, 12, 0, 1))
        assert str(run(root, "p.streamed")["streamed"].state) == "success"
    finally:
        db.close()


def test_a_file_must_stay_unchanged_for_the_minutes_given(tmp_path: Path) -> None:
    check = (
        "file: inbox/orders.csv\nunchanged_minutes: 0.02\ninterval_seconds: 0.5\nmax_checks: 20\n"
    )
    root = make(tmp_path, {"p/settled.check.yml": check})
    (root / "inbox").mkdir()
    (root / "inbox" / "orders.csv").write_text("id\n1\n")
    got = run(root)["settled"]
    assert str(got.state) == "success"
    assert got.attempts >= 2  # the first check saw it new: unchanged for 0 minutes


def test_a_table_must_keep_its_row_count_for_the_minutes_given(tmp_path: Path) -> None:
    root = make(
        tmp_path,
        {
            "p/load.sql": "CREATE OR REPLACE TABLE ods_x AS SELECT 1 AS id;\n",
            "p/settled.check.yml": (
                "table: ods_x\nunchanged_minutes: 60\ndepends_on: [load]\n"
                "interval_seconds: 0\nmax_checks: 2\n"
            ),
        },
    )
    got = run(root)["settled"]
    assert str(got.state) == "failed"
    assert "check 2/2: table ods_x found (1 rows), unchanged for 0.0 of 60 minutes" in (
        got.reason or ""
    )


def test_a_check_past_its_deadline_fails_saying_so(tmp_path: Path) -> None:
    # the cycle of 20260411 is 2026-04-12 00:00: its 06:30 deadline is long past
    root = make(tmp_path, {"p/late.check.yml": "file: never.csv\ndeadline: '06:30'\n"})
    got = run(root)["late"]
    assert str(got.state) == "failed" and got.attempts == 1
    assert got.reason == (
        "check 1 (until 06:30): file never.csv not found; gave up at the deadline 2026-04-12 06:30"
    )


def test_a_check_waits_for_nodes_and_workflows_of_this_workspace(tmp_path: Path) -> None:
    root = make(
        tmp_path,
        {
            "upstream/a.sh": "echo a\n",
            "upstream/b.sh": "exit 1\n",
            "p/all_up.check.yml": "workflows: [upstream]\ninterval_seconds: 0\nmax_checks: 1\n",
            "p/a_done.check.yml": "nodes: [upstream.a]\ninterval_seconds: 0\nmax_checks: 1\n",
            "p/either.check.yml": (
                "nodes: [upstream.a, upstream.b]\nmode: any\ninterval_seconds: 0\nmax_checks: 1\n"
            ),
            "p/yesterday.check.yml": (
                "nodes: [upstream.a]\nwindow: last_days\ndays: 2\ninterval_seconds: 0\n"
                "max_checks: 1\n"
            ),
        },
    )
    run(root, "upstream")
    got = run(root, "p")
    assert str(got["a_done"].state) == "success"
    assert str(got["either"].state) == "success"
    assert "workflow upstream not done for 20260411" in (got["all_up"].reason or "")
    assert "upstream.a not done for 20260410" in (got["yesterday"].reason or "")


def test_a_check_across_workspaces_and_a_target_that_does_not_exist(tmp_path: Path) -> None:
    other = make(tmp_path / "other", {"sales/orders.sh": "echo orders\n"}, name="other")
    mine = make(
        tmp_path / "mine",
        {
            "p/partner.check.yml": (
                "workspace: other\nnodes: [sales.orders]\ninterval_seconds: 0\nmax_checks: 1\n"
            ),
            "p/partner_2d.check.yml": (
                "workspace: other\nnodes: [sales.orders]\nwindow: last_days\ndays: 2\n"
                "interval_seconds: 0\nmax_checks: 1\n"
            ),
            "p/ghost.check.yml": (
                "workspace: other\nworkflows: [nowhere]\ninterval_seconds: 0\nmax_checks: 5\n"
            ),
        },
    )
    run(other, db_root=mine)  # the two workspaces share one metadata store
    got = run(mine)
    assert str(got["partner"].state) == "success"
    assert "sales.orders of workspace other not done for 20260410" in (
        got["partner_2d"].reason or ""
    )
    ghost = got["ghost"]
    assert str(ghost.state) == "failed" and ghost.attempts == 1  # not retried: a wrong name
    assert "workflow nowhere of workspace other does not exist in dev" in (ghost.reason or "")


def test_a_check_naming_an_unknown_node_is_reported_at_its_line(tmp_path: Path) -> None:
    root = make(
        tmp_path,
        {
            "up/a.sh": "echo a\n",
            "p/wait.check.yml": "interval_seconds: 5\nnodes:\n  - up.a\n  - up.missing\n",
            "p/sync.check.yml": "sync_cursor: up.a\n",
        },
    )
    with pytest.raises(ValidationFailed) as caught:
        load_workspace(root)
    shown = sorted(str(e) for e in caught.value.errors)
    assert len(shown) == 2, shown
    assert shown[0].endswith(
        "sync.check.yml:1 (key 'sync_cursor'): sync_cursor: up.a is a shell node, not a sync node"
    )
    assert shown[1].endswith(
        "wait.check.yml:4 (key 'nodes'): nodes: node 'up.missing' does not exist in workspace cf"
    )
